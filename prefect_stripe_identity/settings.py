"""The package's settings, in the conventions of Prefect's own integrations.

Each setting has a name under ``PREFECT_INTEGRATIONS_STRIPE_IDENTITY_``, and the older
environment variable it replaces still works. Highest priority first, a setting comes
from:

1. the environment: ``PREFECT_INTEGRATIONS_STRIPE_IDENTITY_WEBHOOK_SECRET``, then the older
   name (``STRIPE_WEBHOOK_SECRET``);
2. a ``.env`` file in the working directory (the same names);
3. ``prefect.toml`` in the working directory, table ``[integrations.stripe_identity]``
   (``webhook_secret = "whsec_…"``);
4. ``pyproject.toml``, table ``[tool.prefect.integrations.stripe_identity]``;
5. the active Prefect profile, in ``profiles.toml``
   (``PREFECT_INTEGRATIONS_STRIPE_IDENTITY_WEBHOOK_SECRET = "whsec_…"``).

Settings are read when they are used (`StripeIdentitySettings()`), so a change to the
environment is seen by the next command or run. docs/settings.md lists them all.
"""

from __future__ import annotations

from typing import Annotated, Any

from prefect.settings.base import PrefectBaseSettings, build_settings_config
from pydantic import AliasChoices, AliasPath, BeforeValidator, Field, SecretStr
from pydantic_settings import NoDecode

__all__ = ["ENV_PREFIX", "StripeIdentitySettings"]

#: The prefix of every setting's environment variable (and profile entry).
ENV_PREFIX = "PREFECT_INTEGRATIONS_STRIPE_IDENTITY_"


def _names(field: str, *older: str) -> AliasChoices:
    """Where ``field`` is read from: its own name (keyword, toml), then its variable under
    `ENV_PREFIX`, then the older variables it replaces (lower-case: the names are not
    case-sensitive)."""
    return AliasChoices(
        AliasPath(field), f"{ENV_PREFIX}{field}".lower(), *(name.lower() for name in older)
    )


def _comma_separated(value: Any) -> Any:
    """A list from ``a,b`` (an environment variable or profile entry); a list as it is."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class StripeIdentitySettings(PrefectBaseSettings):
    """The settings of prefect-stripe-identity (see the module docstring for where they are
    read from)."""

    model_config = build_settings_config(("integrations", "stripe_identity"))

    webhook_secret: SecretStr | None = Field(
        default=None,
        description=(
            "The signing secret of the Stripe webhook endpoint (whsec_…); while rotating, "
            "both, comma-separated. `webhooks serve` uses it when given neither --secret "
            "nor --credentials, and `emulator --webhook-url` signs with it when given no "
            "--webhook-secret. A credentials block's webhook_secret is the alternative."
        ),
        validation_alias=_names("webhook_secret", "STRIPE_WEBHOOK_SECRET"),
    )
    api_key: SecretStr | None = Field(
        default=None,
        description=(
            "A Stripe secret or restricted key, for what runs without a credentials block: "
            "`webhooks replay` (without --api-key), `demo` (against Stripe's test mode "
            "instead of the emulator) and blocks/create_credentials_block.py (the key of "
            "the block it saves)."
        ),
        validation_alias=_names("api_key", "STRIPE_API_KEY"),
    )
    api_base: str | None = Field(
        default=None,
        description=(
            "The API base URL of the block blocks/create_credentials_block.py saves (e.g. "
            "the emulator's, http://127.0.0.1:12111); unset: Stripe's."
        ),
        validation_alias=_names("api_base", "STRIPE_API_BASE"),
    )
    # Not `stripe_account` (the block's name): Prefect ignores an environment variable
    # named as a field, and STRIPE_ACCOUNT is that name.
    account: str | None = Field(
        default=None,
        description=(
            "The connected account (acct_…) of the block that script saves (its stripe_account)."
        ),
        validation_alias=_names("account", "STRIPE_ACCOUNT"),
    )
    rate_limits: bool = Field(
        default=True,
        description=(
            "Whether the block that script saves names the Prefect rate limits "
            "`rate-limits create` makes (false/off: a block without)."
        ),
        validation_alias=_names("rate_limits", "STRIPE_RATE_LIMITS"),
    )
    allowed_hooks: Annotated[list[str], NoDecode, BeforeValidator(_comma_separated)] = Field(
        default_factory=list,
        description=(
            "The `module:function` session-ready hooks a deployment run of verify_identity "
            "may call on this worker (comma-separated); a deployment run naming any other "
            "is refused."
        ),
        validation_alias=_names("allowed_hooks", "PREFECT_STRIPE_IDENTITY_ALLOWED_HOOKS"),
    )
