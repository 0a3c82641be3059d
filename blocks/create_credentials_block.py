"""Register the block type and save a `StripeIdentityCredentials` block from the environment.

    STRIPE_API_KEY=sk_test_… python blocks/create_credentials_block.py [BLOCK_NAME]

Optional: STRIPE_API_BASE (e.g. the local emulator, http://127.0.0.1:12111) and
STRIPE_ACCOUNT (a connected account). The block names the Prefect rate limits that
``prefect-stripe-identity rate-limits create`` makes (stripe-identity-reads and
stripe-identity-writes); STRIPE_RATE_LIMITS=off saves a block without them. The key is
read from the environment, never from the command line, so it does not end up in shell
history or process listings.
"""

from __future__ import annotations

import os
import sys

from prefect_stripe_identity import StripeIdentityCredentials
from prefect_stripe_identity.rate_limits import DEFAULT_READ_LIMIT_NAME, DEFAULT_WRITE_LIMIT_NAME


def main(argv: list[str]) -> int:
    name = argv[1] if len(argv) > 1 else "stripe-identity"
    api_key = os.environ.get("STRIPE_API_KEY")
    if not api_key:
        print("Set STRIPE_API_KEY (sk_test_… or rk_test_…) first.", file=sys.stderr)
        return 2
    settings: dict[str, str] = {}
    if os.environ.get("STRIPE_API_BASE"):
        settings["api_base"] = os.environ["STRIPE_API_BASE"]
    if os.environ.get("STRIPE_ACCOUNT"):
        settings["stripe_account"] = os.environ["STRIPE_ACCOUNT"]
    if os.environ.get("STRIPE_RATE_LIMITS", "on").lower() not in ("off", "0", "false", "no"):
        settings["read_rate_limit"] = DEFAULT_READ_LIMIT_NAME
        settings["write_rate_limit"] = DEFAULT_WRITE_LIMIT_NAME
    try:
        credentials = StripeIdentityCredentials(api_key=api_key, **settings)
    except ValueError as exc:
        print(f"Invalid settings: {exc}", file=sys.stderr)
        return 2
    StripeIdentityCredentials.register_type_and_schema()
    credentials.save(name, overwrite=True)
    print(f"Saved block {name!r} ({credentials.fingerprint}).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
