"""The Prefect block that holds a Stripe API key and the client settings."""

from __future__ import annotations

from typing import Any

from prefect.blocks.abstract import CredentialsBlock
from pydantic import ConfigDict, Field, SecretStr, field_validator

from prefect_stripe_identity._base_client import (
    DEFAULT_API_BASE,
    DEFAULT_MAX_NETWORK_RETRIES,
    DEFAULT_TIMEOUT,
    _check_api_key,
)
from prefect_stripe_identity._client import AsyncStripeIdentityClient, StripeIdentityClient
from prefect_stripe_identity._exceptions import AuthenticationError
from prefect_stripe_identity._secrets import key_fingerprint, key_mode
from prefect_stripe_identity.models import DEFAULT_STRIPE_VERSION

__all__ = ["StripeIdentityCredentials"]


class StripeIdentityCredentials(CredentialsBlock):
    """Credentials and settings for the Stripe Identity API.

    Holds a secret (``sk_…``) or restricted (``rk_…``) API key and builds typed clients.

    Example:
        Load stored credentials and create a verification session:
        ```python
        from prefect_stripe_identity import StripeIdentityCredentials

        stripe_identity_credentials = StripeIdentityCredentials.load("BLOCK_NAME")
        with stripe_identity_credentials.get_client() as client:
            session = client.verification_sessions.create(type="document")
        ```
    """

    # A rejected key must not be echoed back by pydantic's error message.
    model_config = ConfigDict(hide_input_in_errors=True)

    _block_type_name = "Stripe Identity Credentials"
    _block_type_slug = "stripe-identity-credentials"
    # Stripe's GitHub avatar: square, 250 px.
    _logo_url = "https://avatars.githubusercontent.com/u/856813?s=250"  # type: ignore[assignment]
    _documentation_url = "https://docs.stripe.com/identity"  # type: ignore[assignment]
    _description = (
        "Stripe API key and settings for Stripe Identity: verification sessions and reports."
    )

    api_key: SecretStr = Field(
        default=...,
        title="API key",
        description=(
            "A Stripe secret key (sk_test_…, sk_live_…) or restricted key (rk_…) "
            "allowed to use Identity."
        ),
    )
    api_base: str = Field(
        default=DEFAULT_API_BASE,
        title="API base URL",
        description="Where the Stripe API lives; point it at the local emulator for tests.",
    )
    stripe_version: str = Field(
        default=DEFAULT_STRIPE_VERSION,
        description="The Stripe API version sent with every request.",
    )
    stripe_account: str | None = Field(
        default=None,
        description="A connected account id (acct_…) to act on behalf of, with Stripe Connect.",
    )
    timeout: float = Field(
        default=DEFAULT_TIMEOUT,
        gt=0,
        description="Seconds before a request to Stripe counts as failed.",
    )
    max_network_retries: int = Field(
        default=DEFAULT_MAX_NETWORK_RETRIES,
        ge=0,
        le=10,
        description="How many times the client retries a request that failed retryably.",
    )

    @field_validator("api_key")
    @classmethod
    def _valid_api_key(cls, value: SecretStr) -> SecretStr:
        try:
            _check_api_key(value)
        except AuthenticationError as exc:
            raise ValueError(exc.message) from None
        return value

    @field_validator("api_base")
    @classmethod
    def _valid_api_base(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("`api_base` must be an http:// or https:// URL")
        return value.rstrip("/")

    @property
    def mode(self) -> str:
        """``"test"`` or ``"live"``, from the key's prefix."""
        return key_mode(self.api_key.get_secret_value())

    @property
    def fingerprint(self) -> str:
        """A non-secret identifier of these credentials (mode and the key's last four
        characters, plus the connected account), to keep cache keys apart."""
        base = key_fingerprint(self.api_key.get_secret_value())
        return f"{base}@{self.stripe_account}" if self.stripe_account else base

    def _client_settings(self) -> dict[str, Any]:
        return {
            "api_key": self.api_key,
            "api_base": self.api_base,
            "stripe_version": self.stripe_version,
            "stripe_account": self.stripe_account,
            "timeout": self.timeout,
            "max_network_retries": self.max_network_retries,
        }

    def get_client(self, **overrides: Any) -> StripeIdentityClient:
        """A `StripeIdentityClient` with these settings (keyword arguments override them,
        e.g. ``http_client=``). Use it as a context manager to close its connections."""
        return StripeIdentityClient(**{**self._client_settings(), **overrides})

    def get_async_client(self, **overrides: Any) -> AsyncStripeIdentityClient:
        """An `AsyncStripeIdentityClient` with these settings (keyword arguments override
        them). Use it as an async context manager to close its connections."""
        return AsyncStripeIdentityClient(**{**self._client_settings(), **overrides})
