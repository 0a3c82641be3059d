"""Flow parameters that hold secrets or personal data, and how they reach a flow run.

Prefect stores a flow run's parameters as the caller sent them. Called from Python, a
block parameter is stored masked; sent to a deployment (UI form, CLI, API), a plain value
is stored in clear. So such a parameter takes a *reference* to a block document (Prefect
encrypts block data at rest and masks secret fields in its API) and `refuse_inline` adds
a rule to the parameter's schema so that the server refuses a deployment run that
carries the values themselves, before anything is stored.

An async twin's parameters are described by its sync flow's docstring (`twin_docstring`).

**Form fields.** Every parameter of a deployable flow is a form field in the Prefect UI,
built from the flow's parameter schema (`prefect.utilities.callables.parameter_schema`),
which the server also checks a deployment run's parameters against. So each parameter
carries a title in words (`form`), its description comes from the flow's docstring
(Prefect's schema takes it from there and would override any other), and every number
has bounds that both the form and Python's validation enforce. A duration is a plain
number in the form, with its unit in the title (`Duration`): a number of seconds for
`timeout`, as Prefect itself sends a `timedelta` (its parameter encoding turns one into
seconds, and pydantic reads a number as seconds), and days for `retention_days`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from prefect.blocks.core import Block
from pydantic import (
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    SecretStr,
    WithJsonSchema,
)
from pydantic.config import JsonDict
from pydantic.fields import FieldInfo

from prefect_stripe_identity.credentials import StripeIdentityCredentials
from prefect_stripe_identity.models import ProvidedDetailsParams

__all__ = [
    "Duration",
    "ProvidedDetailsInput",
    "as_timedelta",
    "form",
    "refuse_inline",
    "twin_docstring",
]

FunctionT = TypeVar("FunctionT", bound=Callable[..., Any])


def refuse_inline(*fields: str) -> FieldInfo:
    """A parameter schema rule: an object carrying any of ``fields`` is refused, so only
    a block reference (``{"$ref": {...}}``) or null gets through the server's check of a
    deployment run's parameters. Python callers are not concerned (Prefect validates them
    with the annotation, not the schema)."""
    inline: JsonDict = {"type": "object", "anyOf": [{"required": [name]} for name in fields]}
    info: FieldInfo = Field(json_schema_extra={"not": inline})
    return info


def form(title: str, **constraints: Any) -> FieldInfo:
    """A form field's title in words (and its bounds, as `pydantic.Field` takes them).

    Prefect's parameter schema sets each property's ``title`` to the parameter's name,
    over any ``Field(title=...)``; a ``json_schema_extra`` title is applied after it, so
    the title is given both ways (the first for pydantic, the second for the form)."""
    info: FieldInfo = Field(title=title, json_schema_extra={"title": title}, **constraints)
    return info


_SECONDS_PER_UNIT = {"seconds": 1, "days": 86_400}


@dataclass(frozen=True)
class Duration:
    """A duration parameter: in the form (its JSON schema) a plain number of ``unit``,
    more than 0 and at most ``maximum``; from Python also a `timedelta`. Validated, the
    value is a `timedelta` (`as_timedelta` converts a default that was not validated).
    `Timeout` and `RetentionDays` are made of one each.

    Strings are refused, ISO 8601 durations included: the form's field is a number, and
    ``"120"`` would otherwise mean seconds to pydantic whatever the unit."""

    unit: Literal["seconds", "days"]
    maximum: float

    def json_schema(self) -> JsonDict:
        """The form's field: a number in bounds."""
        return {"type": "number", "exclusiveMinimum": 0, "maximum": self.maximum}

    def validate(self, value: Any) -> timedelta:
        """``value`` (a number of ``unit`` or a `timedelta`) as a `timedelta`, in bounds."""
        if isinstance(value, timedelta):
            duration = value
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise self._error(value)
            duration = timedelta(seconds=value * _SECONDS_PER_UNIT[self.unit])
        else:
            raise self._error(value)
        longest = timedelta(seconds=self.maximum * _SECONDS_PER_UNIT[self.unit])
        if not timedelta(0) < duration <= longest:
            raise self._error(value)
        return duration

    def serialize(self, value: Any) -> Any:
        """A `timedelta` as a number of ``unit`` (what the form shows); numbers as they are."""
        if isinstance(value, timedelta):
            return value.total_seconds() / _SECONDS_PER_UNIT[self.unit]
        return value

    def _error(self, value: Any) -> ValueError:
        # The value itself only when it is a number or a timedelta: a string may be anything.
        shown = value if isinstance(value, (int, float, timedelta)) else type(value).__name__
        return ValueError(
            f"must be a number of {self.unit} more than 0 and at most {self.maximum:g} "
            f"(from Python also a timedelta), got {shown}"
        )


def as_timedelta(value: float | timedelta, unit: Literal["seconds", "days"]) -> timedelta:
    """A `Duration` parameter's value as a `timedelta`: validated values already are one,
    a default (which Prefect does not validate) is a number of ``unit``."""
    if isinstance(value, timedelta):
        return value
    return timedelta(seconds=value * _SECONDS_PER_UNIT[unit])


class ProvidedDetailsInput(Block):
    """The person's e-mail and phone for one verification, as a block: a deployment run
    refers to a saved block document, so Prefect never stores the values in the run's
    parameters. From Python, pass an unsaved instance (Prefect stores it masked)."""

    _block_type_name = "Stripe Identity Provided Details"
    _block_type_slug = "stripe-identity-provided-details"
    _logo_url = "https://avatars.githubusercontent.com/u/856813?s=250"  # type: ignore[assignment]
    _documentation_url = "https://docs.stripe.com/api/identity/verification_sessions/create#create_identity_verification_session-provided_details"  # type: ignore[assignment]
    _description = "A person's e-mail and phone for one Stripe Identity verification."
    # No extra keys: otherwise a `{"$ref": …}` would also match the block's own schema,
    # and Prefect's check (the block's data *or* a reference, exactly one) refuses both.
    model_config: ClassVar[ConfigDict] = ConfigDict(extra="forbid")

    email: SecretStr | None = Field(default=None, description="The person's email address.")
    phone: SecretStr | None = Field(default=None, description="The person's phone number.")

    def to_params(self) -> ProvidedDetailsParams:
        """The request parameter, with the values in clear for Stripe."""
        return ProvidedDetailsParams(
            email=self.email.get_secret_value() if self.email else None,
            phone=self.phone.get_secret_value() if self.phone else None,
        )


def twin_docstring(sync_function: Callable[..., Any]) -> Callable[[FunctionT], FunctionT]:
    """Give an async twin its sync flow's docstring (one summary line changed): Prefect
    reads the parameters' descriptions in the form from it, so both forms say the same."""

    def apply(function: FunctionT) -> FunctionT:
        summary, _, rest = (sync_function.__doc__ or "").partition("\n")
        function.__doc__ = f"The async twin of `{sync_function.__name__}`: {summary}\n{rest}"
        return function

    return apply


# --- the form fields the flows share (sync and async twins: one definition each) ------------

#: How long the person may take, at most: a week. A longer wait holds a worker (polling) or
#: a paused run for nothing: Stripe's hosted link lasts 48 hours.
MAX_TIMEOUT_SECONDS = 7 * 86_400
#: The longest retention period a form accepts: ten years (a typo guard, e.g. seconds
#: typed as days, or a `timedelta` that Prefect sent as a number of seconds).
MAX_RETENTION_DAYS = 3650
#: Stripe's metadata limits: 50 keys (the flow adds two of its own), keys of 40 characters
#: at most, values of 500.
_METADATA_KEYS = 48
_METADATA_KEY_LENGTH = 40
_METADATA_VALUE_LENGTH = 500
#: Stripe's limit on `client_reference_id` and `related_customer`.
_REFERENCE_LENGTH = 5000

#: The highest client-side request rate a form accepts: Stripe allows 100 requests a
#: second in live mode, the emulator (tests, benchmarks) much more.
MAX_REQUESTS_PER_SECOND = 10_000

Credentials = Annotated[
    StripeIdentityCredentials, refuse_inline("api_key"), form("Stripe Identity credentials")
]
MetadataKey = Annotated[str, Field(min_length=1, max_length=_METADATA_KEY_LENGTH)]
Metadata = Annotated[
    dict[MetadataKey, Annotated[str, Field(max_length=_METADATA_VALUE_LENGTH)]],
    Field(max_length=_METADATA_KEYS),
]
Reference = Annotated[str, Field(max_length=_REFERENCE_LENGTH)]
_TIMEOUT = Duration("seconds", maximum=MAX_TIMEOUT_SECONDS)
_RETENTION = Duration("days", maximum=MAX_RETENTION_DAYS)
Timeout = Annotated[
    float | timedelta,
    PlainValidator(_TIMEOUT.validate),
    PlainSerializer(_TIMEOUT.serialize, when_used="json"),
    WithJsonSchema(_TIMEOUT.json_schema()),
    form("Time the person has to finish (seconds)"),
]
RetentionDays = Annotated[
    float | timedelta,
    PlainValidator(_RETENTION.validate),
    PlainSerializer(_RETENTION.serialize, when_used="json"),
    WithJsonSchema(_RETENTION.json_schema()),
    form("Data retention after the verification window (days)"),
]
PollSeconds = Annotated[float, form("First poll interval (seconds)", ge=0.1, le=3600)]
MaxPollSeconds = Annotated[float, form("Longest poll interval (seconds)", ge=0.1, le=3600)]
PauseSeconds = Annotated[int, form("Resume check interval while paused (seconds)", ge=1, le=600)]
LegalHoldKey = Annotated[MetadataKey | None, form("Legal-hold metadata key")]
SweepRetentionDays = Annotated[
    float, form("Retention (days)", gt=0, le=MAX_RETENTION_DAYS, allow_inf_nan=False)
]
SessionId = Annotated[str, form("Session id (vs_…)", min_length=1)]
RequestsPerSecond = Annotated[
    float, form("Stripe request rate (requests per second)", gt=0, le=MAX_REQUESTS_PER_SECOND)
]
