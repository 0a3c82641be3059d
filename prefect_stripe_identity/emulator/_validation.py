"""Parameter validation like Stripe's, on decoded form data.

The eight Identity operations take their parameters from the endpoint table
(`prefect_stripe_identity._endpoints`, held to the official OpenAPI spec); the events
endpoints and the emulator's own controls declare theirs here. Errors name the parameter
in bracket form (``options[document][foo]``) and use Stripe's codes and wording where
Stripe has them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from prefect_stripe_identity._endpoints import CREATE_SESSION, LIST_SESSIONS, Endpoint
from prefect_stripe_identity._schema import (
    Arr,
    Bool,
    Enum,
    Int,
    IntOrRange,
    Metadata,
    Obj,
    Schema,
    Str,
)
from prefect_stripe_identity.emulator._errors import StripeAPIError, invalid
from prefect_stripe_identity.models import (
    METADATA_MAX_KEY_LENGTH,
    METADATA_MAX_KEYS,
    METADATA_MAX_VALUE_LENGTH,
)


@dataclass(frozen=True)
class Operation:
    """The parameters one operation accepts."""

    params: Mapping[str, Schema] = field(default_factory=dict)
    required: tuple[str, ...] = ()


def _one_of(values: Sequence[str]) -> str:
    if len(values) == 1:
        return values[0]
    if len(values) == 2:
        return f"{values[0]} or {values[1]}"
    return ", ".join(values[:-1]) + f", or {values[-1]}"


def _empty(param: str) -> StripeAPIError:
    return invalid(
        f"You passed an empty string for '{param}'. We assume empty values are an attempt to "
        f"unset a parameter; however '{param}' cannot be unset. You should remove '{param}' "
        "from your request or supply a non-empty value.",
        param=param,
        code="parameter_invalid_empty",
    )


def _validate(value: Any, schema: Schema, param: str) -> Any:
    if isinstance(schema, Obj):
        if value == "" and schema.unsettable:
            return ""
        if not isinstance(value, dict):
            if value == "":
                raise _empty(param)
            raise invalid(f"Invalid object: {param} must be an object", param=param)
        return _validate_object(value, schema.props, schema.required, param)
    if isinstance(schema, Metadata):
        if value == "":
            return ""
        if not isinstance(value, dict):
            raise invalid("Invalid object: metadata must be an object", param=param)
        return _validate_metadata(value, param)
    if isinstance(schema, Arr):
        if value == "":
            raise _empty(param)
        if not isinstance(value, dict) or not all(k.isdigit() for k in value):
            raise invalid(f"Invalid array: {param} must be an array", param=param)
        ordered = sorted(value.items(), key=lambda kv: int(kv[0]))
        return [_validate(v, schema.items, f"{param}[{k}]") for k, v in ordered]
    if isinstance(schema, IntOrRange):
        if isinstance(value, dict):
            ranged = Obj({k: Int() for k in ("gt", "gte", "lt", "lte")})
            return _validate(value, ranged, param)
        return _validate(value, Int(), param)
    # Scalars from here on.
    if isinstance(value, dict):
        raise invalid(f"Invalid {param}: expected a single value, not an object", param=param)
    if isinstance(schema, Str):
        if value == "" and not schema.unsettable:
            raise _empty(param)
        if len(value) > schema.max_length:
            raise invalid(
                f"Invalid string: {value[:20]}...; must be at most {schema.max_length} characters",
                param=param,
            )
        return value
    if isinstance(schema, Enum):
        if value == "":
            raise _empty(param)
        if value not in schema.values:
            raise invalid(f"Invalid {param}: must be one of {_one_of(schema.values)}", param=param)
        return value
    if isinstance(schema, Bool):
        if value == "":
            raise _empty(param)
        if value not in ("true", "false"):
            raise invalid(f"Invalid boolean: {value}", param=param)
        return value == "true"
    if isinstance(schema, Int):
        if value == "":
            raise _empty(param)
        stripped = value[1:] if value.startswith("-") else value
        if not stripped.isdigit():
            raise invalid(
                f"Invalid integer: {value}", param=param, code="parameter_invalid_integer"
            )
        number = int(value)
        if schema.minimum is not None and number < schema.minimum:
            raise invalid(
                f"This value must be greater than or equal to {schema.minimum}.", param=param
            )
        if schema.maximum is not None and number > schema.maximum:
            raise invalid(
                f"This value must be less than or equal to {schema.maximum}.", param=param
            )
        return number
    raise AssertionError(f"unhandled schema {schema!r}")  # pragma: no cover


def _validate_object(
    value: Mapping[str, Any],
    props: Mapping[str, Schema],
    required: Sequence[str],
    prefix: str | None,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, child in value.items():
        name = key if prefix is None else f"{prefix}[{key}]"
        schema = props.get(key)
        if schema is None:
            raise invalid(
                f"Received unknown parameter: {name}", param=name, code="parameter_unknown"
            )
        out[key] = _validate(child, schema, name)
    for key in required:
        if key not in value:
            name = key if prefix is None else f"{prefix}[{key}]"
            raise invalid(f"Missing required param: {name}.", param=name, code="parameter_missing")
    return out


def _validate_metadata(value: Mapping[str, Any], param: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, child in value.items():
        name = f"{param}[{key}]"
        if not isinstance(child, str):
            raise invalid(f"Invalid metadata: {name} must be a string", param=name)
        if len(key) > METADATA_MAX_KEY_LENGTH:
            raise invalid(
                f"Metadata keys can have up to {METADATA_MAX_KEY_LENGTH} characters; "
                f"a key has {len(key)}.",
                param=name,
            )
        if len(child) > METADATA_MAX_VALUE_LENGTH:
            raise invalid(
                f"Metadata values can have up to {METADATA_MAX_VALUE_LENGTH} characters; "
                f"the value of '{key}' has {len(child)}.",
                param=name,
            )
        out[key] = child
    return out


def check_metadata_count(metadata: Mapping[str, str]) -> None:
    """Stripe's 50-key limit, checked on the merged result (an update adds to what exists)."""
    if len(metadata) > METADATA_MAX_KEYS:
        raise invalid(
            f"Invalid metadata: an object can have at most {METADATA_MAX_KEYS} metadata keys; "
            f"this request would leave {len(metadata)}.",
            param="metadata",
        )


def validate(params: Mapping[str, Any], operation: Operation) -> dict[str, Any]:
    """Check decoded parameters against an operation; returns them typed (bools, ints, lists)."""
    return _validate_object(params, operation.params, operation.required, None)


# --- the operations ----------------------------------------------------------------------


def operation(endpoint: Endpoint) -> Operation:
    """What a request to ``endpoint`` may carry: its parameters in the endpoint table."""
    return Operation({param.name: param.schema for param in endpoint.params})


# The events endpoints page and expand as the Identity lists do: the same shapes.
_PAGING: dict[str, Schema] = {
    name: schema
    for name, schema in operation(LIST_SESSIONS).params.items()
    if name in ("created", "ending_before", "expand", "limit", "starting_after")
}
_SESSION_TYPE = CREATE_SESSION.param("type").schema
EXPAND_ONLY = Operation({"expand": _PAGING["expand"]})
LIST_EVENTS = Operation(
    {
        **_PAGING,
        "delivery_success": Bool(),
        "type": Str(),
        "types": Arr(Str()),
    }
)

# --- test-control parameters (the /_emulator endpoints) ----------------------------------

LAST_ERROR_CODES: tuple[str, ...] = (
    "abandoned",
    "consent_declined",
    "country_not_supported",
    "device_not_supported",
    "document_expired",
    "document_type_not_supported",
    "document_unverified_other",
    "email_unverified_other",
    "email_verification_declined",
    "id_number_insufficient_document_data",
    "id_number_mismatch",
    "id_number_unverified_other",
    "phone_unverified_other",
    "phone_verification_declined",
    "selfie_document_missing_photo",
    "selfie_face_mismatch",
    "selfie_manipulated",
    "selfie_unverified_other",
    "under_supported_age",
)

SUBMIT = Operation(
    {"outcome": Enum(("verified", "unverified")), "error_code": Enum(LAST_ERROR_CODES)},
    required=("outcome",),
)
FAULTS = Operation(
    {
        "kind": Enum(("500", "503", "lock_timeout", "connection_drop", "lost_response")),
        "count": Int(minimum=1, maximum=1000),
    },
    required=("kind",),
)
SEED = Operation(
    {
        "count": Int(minimum=1, maximum=100_000),
        "status": Enum(("canceled", "processing", "requires_input", "verified")),
        "age_days": Int(minimum=0, maximum=36_500),
        "type": _SESSION_TYPE,
        "metadata": Metadata(),
    },
    required=("count",),
)
