"""Register the block type and save a `StripeIdentityCredentials` block from the environment.

    STRIPE_API_KEY=sk_test_… python blocks/create_credentials_block.py [BLOCK_NAME]

Optional: STRIPE_API_BASE (e.g. the local emulator, http://127.0.0.1:12111) and
STRIPE_ACCOUNT (a connected account). The key is read from the environment, never from
the command line, so it does not end up in shell history or process listings.
"""

from __future__ import annotations

import os
import sys

from prefect_stripe_identity import StripeIdentityCredentials


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
