"""Register the block type and save a `StripeIdentityCredentials` block from the settings.

    STRIPE_API_KEY=sk_test_… python blocks/create_credentials_block.py [BLOCK_NAME]

The package's settings (docs/settings.md) give the block its values: ``api_key``
(STRIPE_API_KEY), and optionally ``api_base`` (STRIPE_API_BASE, e.g. the local emulator,
http://127.0.0.1:12111) and ``account`` (STRIPE_ACCOUNT, a connected account); each
also as PREFECT_INTEGRATIONS_STRIPE_IDENTITY_<NAME>, in prefect.toml or a Prefect profile.
The block names the Prefect rate limits that ``prefect-stripe-identity rate-limits create``
makes (stripe-identity-reads and stripe-identity-writes); ``rate_limits`` off
(STRIPE_RATE_LIMITS=off) saves a block without them. The key is read from the settings,
never from the command line, so it does not end up in shell history or process listings.
"""

from __future__ import annotations

import sys

from pydantic import ValidationError

from prefect_stripe_identity import StripeIdentityCredentials
from prefect_stripe_identity.rate_limits import DEFAULT_READ_LIMIT_NAME, DEFAULT_WRITE_LIMIT_NAME
from prefect_stripe_identity.settings import StripeIdentitySettings


def main(argv: list[str]) -> int:
    name = argv[1] if len(argv) > 1 else "stripe-identity"
    try:
        package = StripeIdentitySettings()
    except ValidationError as exc:
        # The settings and what is wrong with them, never the values given.
        problems = "; ".join(f"{error['loc'][0]}: {error['msg']}" for error in exc.errors())
        print(f"Invalid settings: {problems}", file=sys.stderr)
        return 2
    if package.api_key is None or not package.api_key.get_secret_value():
        print("Set STRIPE_API_KEY (sk_test_… or rk_test_…) first.", file=sys.stderr)
        return 2
    settings: dict[str, str] = {}
    if package.api_base:
        settings["api_base"] = package.api_base
    if package.account:
        settings["stripe_account"] = package.account
    if package.rate_limits:
        settings["read_rate_limit"] = DEFAULT_READ_LIMIT_NAME
        settings["write_rate_limit"] = DEFAULT_WRITE_LIMIT_NAME
    try:
        credentials = StripeIdentityCredentials(api_key=package.api_key, **settings)
    except ValueError as exc:
        print(f"Invalid settings: {exc}", file=sys.stderr)
        return 2
    StripeIdentityCredentials.register_type_and_schema()
    credentials.save(name, overwrite=True)
    print(f"Saved block {name!r} ({credentials.fingerprint}).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
