"""The Prefect block that holds a Stripe API key and the client settings."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from prefect.blocks.abstract import CredentialsBlock
from prefect.exceptions import MissingContextError
from prefect.logging.loggers import get_run_logger
from pydantic import (
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from typing_extensions import Self

from prefect_stripe_identity._base_client import (
    API_BASE_PATTERN,
    API_KEY_PATTERN,
    DEFAULT_API_BASE,
    DEFAULT_MAX_NETWORK_RETRIES,
    DEFAULT_TIMEOUT,
    LIVE_KEY_HOST_PATTERN,
    STRIPE_ACCOUNT_PATTERN,
    STRIPE_VERSION_PATTERN,
    ClientLogger,
    check_api_base,
    check_api_key,
    check_key_destination,
    check_live_key_hosts,
    check_stripe_account,
    check_stripe_version,
)
from prefect_stripe_identity._client import AsyncStripeIdentityClient, StripeIdentityClient
from prefect_stripe_identity._exceptions import AuthenticationError
from prefect_stripe_identity._logging import install_secrets_filter
from prefect_stripe_identity._secrets import key_fingerprint, key_mode
from prefect_stripe_identity.models import DEFAULT_STRIPE_VERSION
from prefect_stripe_identity.rate_limits import PrefectRateLimiter

if TYPE_CHECKING:
    from prefect.client.schemas.objects import BlockDocument

__all__ = ["StripeIdentityCredentials"]


# The form of a saved block shows its key as Prefect's mask, eight asterisks, and the server
# keeps the stored key when the mask comes back: the form must accept the mask, or no saved
# block could be edited without typing its key again. (Loading still refuses a mask saved
# as a new block's key.)
_API_KEY_FORM_PATTERN = rf"^(?:\*{{8}}|{API_KEY_PATTERN[1:-1]})$"


_LIMIT_NAME_MAX = 200


def _string_branch_pattern(pattern: str) -> Callable[[dict[str, Any]], None]:
    """Puts ``pattern`` on the string branch of an optional field's ``anyOf``, where a form
    renderer looks for it."""

    def extra(schema: dict[str, Any]) -> None:
        for branch in schema.get("anyOf", []):
            if branch.get("type") == "string":
                branch["pattern"] = pattern

    return extra


def _run_logger() -> ClientLogger | None:
    """The logger of the Prefect flow or task run this code runs in, or ``None`` outside
    any run (the client then keeps its own ``prefect_stripe_identity.client`` logger).

    Records of the client's own logger reach neither the run's logs in the UI nor Prefect's
    API; those of the run logger do, with the run's ids, through Prefect's handlers (which
    `install_secrets_filter` has equipped with the masking filter)."""
    try:
        return get_run_logger()
    except MissingContextError:
        return None


def _load_error_message(name: str | None, error: ValidationError) -> str:
    reasons = []
    for item in error.errors(include_input=False, include_url=False):
        field = ".".join(map(str, item["loc"])) or "the block"
        message = str(item["msg"]).removeprefix("Value error, ")
        reasons.append(f"{field}: {message}")
    return (
        f"The Stripe Identity Credentials block {name!r} holds settings that cannot work, "
        f"so it was not loaded. {'; '.join(reasons)}. Fix the block in the Prefect UI "
        "(Blocks) or save it again from Python."
    )


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
    # This package's page of the block (Prefect's UI links it), as prefect-aws and prefect-slack do.
    _documentation_url = "https://github.com/prefect-stripe-identity/prefect-stripe-identity/blob/main/docs/credentials.md"  # type: ignore[assignment]
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
        # pydantic puts no `pattern` on a SecretStr: written into the schema by hand, so the
        # UI form refuses a publishable key or a webhook secret before saving the block.
        json_schema_extra={"pattern": _API_KEY_FORM_PATTERN},
    )
    api_base: str = Field(
        default=DEFAULT_API_BASE,
        title="API base URL",
        description=(
            "Where the Stripe API lives: https://api.stripe.com, or the local emulator's URL "
            "for tests (e.g. http://127.0.0.1:12111). A trailing /v1 is dropped."
        ),
        json_schema_extra={"pattern": API_BASE_PATTERN},
    )
    stripe_version: str = Field(
        default=DEFAULT_STRIPE_VERSION,
        description="The Stripe API version sent with every request (e.g. 2026-07-29.dahlia).",
        json_schema_extra={"pattern": STRIPE_VERSION_PATTERN},
    )
    stripe_account: str | None = Field(
        default=None,
        description="A connected account id (acct_…) to act on behalf of, with Stripe Connect.",
        json_schema_extra=_string_branch_pattern(STRIPE_ACCOUNT_PATTERN),
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
    live_key_hosts: list[str] = Field(
        default_factory=list,
        title="Other hosts trusted with a live key",
        description=(
            "A live key (sk_live_…, rk_live_…) is sent only over https to api.stripe.com. "
            "List here any other host (host or host:port) it may go to, such as an egress "
            "proxy you run in front of Stripe. Test keys may go anywhere."
        ),
        json_schema_extra={"items": {"type": "string", "pattern": LIVE_KEY_HOST_PATTERN}},
        validate_default=True,  # its validator checks where the key may go
    )
    read_rate_limit: str | None = Field(
        default=None,
        title="Prefect rate limit for reads",
        description=(
            "The name of a Prefect global concurrency limit with a slot decay (e.g. "
            "stripe-identity-reads) that every read request (GET) takes a slot of, from "
            "every worker and machine; create it with `prefect-stripe-identity rate-limits "
            "create`. Empty: reads are not limited."
        ),
        max_length=_LIMIT_NAME_MAX,
    )
    write_rate_limit: str | None = Field(
        default=None,
        title="Prefect rate limit for writes",
        description=(
            "The same for write requests (POST: create, update, cancel, redact), which "
            "Stripe limits separately (e.g. stripe-identity-writes). Empty: not limited."
        ),
        max_length=_LIMIT_NAME_MAX,
    )

    webhook_secret: SecretStr | None = Field(
        default=None,
        title="Webhook signing secret",
        description=(
            "The signing secret of your Stripe webhook endpoint (whsec_…); while rotating, "
            "both, comma-separated. The receiver reads it with `prefect-stripe-identity "
            "webhooks serve --credentials BLOCK_NAME` (the STRIPE_WEBHOOK_SECRET variable "
            "still works)."
        ),
    )

    @field_validator("api_key")
    @classmethod
    def _valid_api_key(cls, value: SecretStr) -> SecretStr:
        # A key enters the process: from now on, records of Prefect runs mask it.
        install_secrets_filter()
        try:
            check_api_key(value)
        except AuthenticationError as exc:
            raise ValueError(exc.message) from None
        return value

    @field_validator("api_base")
    @classmethod
    def _valid_api_base(cls, value: str) -> str:
        return check_api_base(value)

    @field_validator("stripe_version")
    @classmethod
    def _valid_stripe_version(cls, value: str) -> str:
        return check_stripe_version(value)

    @field_validator("stripe_account")
    @classmethod
    def _valid_stripe_account(cls, value: str | None) -> str | None:
        return check_stripe_account(value)

    @field_validator("read_rate_limit", "write_rate_limit")
    @classmethod
    def _limit_name_or_none(cls, value: str | None) -> str | None:
        # A form sends an emptied field as "": no limit.
        return (value or "").strip() or None

    @model_validator(mode="before")
    @classmethod
    def _key_as_secret_before_any_check(cls, data: Any) -> Any:
        # `hide_input_in_errors` holds only when this model is validated on its own: nested
        # in another model (a flow's parameters), an error would show its input, the key.
        # A SecretStr input shows as '**********'.
        if isinstance(data, dict) and isinstance(data.get("api_key"), str):
            data = {**data, "api_key": SecretStr(data["api_key"])}
        return data

    @field_validator("live_key_hosts")
    @classmethod
    def _valid_live_key_hosts(cls, value: list[str], info: ValidationInfo) -> list[str]:
        hosts = check_live_key_hosts(value)
        # Where the key may go, checked with the last field (a model validator's error would
        # show the whole input, key included, when nested). The client checks it again (the
        # one rule lives there); checked here too so that a block that could never send a
        # request fails when it is made or loaded.
        api_key, api_base = info.data.get("api_key"), info.data.get("api_base")
        if isinstance(api_key, SecretStr) and isinstance(api_base, str):
            check_key_destination(api_key.get_secret_value(), api_base, hosts)
        return list(hosts)

    @classmethod
    def _load_from_block_document(
        cls, block_document: BlockDocument, validate: bool = True
    ) -> Self:
        # Prefect's own message only says "failed validation ... try validate=False": name
        # each field and the reason instead (never the values: the key is among them).
        try:
            return super()._load_from_block_document(block_document, validate=validate)
        except RuntimeError as exc:
            cause = exc.__cause__
            if not isinstance(cause, ValidationError):
                raise
            raise RuntimeError(_load_error_message(block_document.name, cause)) from None

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
            "live_key_hosts": tuple(self.live_key_hosts),
            "rate_limiter": self.rate_limiter(),
            # The run this client is built in: a task's client logs to that task run.
            "logger": _run_logger(),
        }

    def rate_limiter(self) -> PrefectRateLimiter | None:
        """The limiter every client of these credentials waits in, or ``None`` when the
        block names no Prefect rate limit."""
        if not (self.read_rate_limit or self.write_rate_limit):
            return None
        return PrefectRateLimiter(self.read_rate_limit, self.write_rate_limit)

    def get_client(self, **overrides: Any) -> StripeIdentityClient:
        """A `StripeIdentityClient` with these settings (keyword arguments override them,
        e.g. ``http_client=``). Use it as a context manager to close its connections.

        Built inside a Prefect flow or task run, the client logs its retries, rate-limit
        waits and idempotent replays to that run's logger, so they show in the run's logs;
        elsewhere to the ``prefect_stripe_identity.client`` logger (``logger=`` overrides)."""
        install_secrets_filter()  # again: logging may have been configured since
        return StripeIdentityClient(**{**self._client_settings(), **overrides})

    def get_async_client(self, **overrides: Any) -> AsyncStripeIdentityClient:
        """An `AsyncStripeIdentityClient` with these settings (keyword arguments override
        them). Use it as an async context manager to close its connections. It logs where
        `get_client`'s client does."""
        install_secrets_filter()  # again: logging may have been configured since
        return AsyncStripeIdentityClient(**{**self._client_settings(), **overrides})
