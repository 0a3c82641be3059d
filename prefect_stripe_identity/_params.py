"""Validation and building of request parameters, shared by the sync and async resources.

Every check here runs before a request is built, and every failure is an
`InvalidRequestError` whose ``param`` names the parameter in Stripe's bracket form.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar, get_args
from urllib.parse import quote

from pydantic import BaseModel, ValidationError

from prefect_stripe_identity._exceptions import InvalidRequestError
from prefect_stripe_identity.models import (
    METADATA_MAX_KEY_LENGTH,
    METADATA_MAX_KEYS,
    METADATA_MAX_VALUE_LENGTH,
    CreatedFilter,
    ProvidedDetailsParams,
    RelatedPersonParams,
    ReportTypeFilter,
    SessionOptionsParams,
    SessionStatusFilter,
    SessionType,
    StripeParams,
)

__all__ = [
    "check_id",
    "check_idempotency_key",
    "list_params",
    "object_path",
    "path_segment",
    "session_create_params",
    "session_update_params",
    "with_expand",
]

MAX_STRING_LENGTH = 5000
MAX_IDEMPOTENCY_KEY_LENGTH = 255
MAX_LIST_LIMIT = 100

ModelT = TypeVar("ModelT", bound=BaseModel)


def invalid(param: str, message: str) -> InvalidRequestError:
    """An error about one parameter, raised before any request."""
    return InvalidRequestError(
        f"Invalid parameter `{param}`: {message}",
        type="invalid_request_error",
        code="parameter_invalid",
        param=param,
    )


def _bracket(root: str, loc: Sequence[int | str]) -> str:
    return root + "".join(f"[{part}]" for part in loc)


def _model(name: str, value: Any, model: type[ModelT]) -> dict[str, Any] | None:
    """Validate a nested parameter (a dict or the model) and return it as plain data."""
    if value is None:
        return None
    try:
        parsed = value if isinstance(value, model) else model.model_validate(value)
    except ValidationError as exc:
        errors = exc.errors()
        # In a union (an options model or ""), the model branch says what is wrong.
        first = next((e for e in errors if not _is_literal_branch(e["loc"])), errors[0])
        if first["type"] == "model_type" and not first["loc"]:
            raise invalid(name, f"expected a mapping or {model.__name__}") from None
        loc = [part for part in first["loc"] if part not in _UNION_TAGS]
        msg = "unknown parameter" if first["type"] == "extra_forbidden" else first["msg"]
        raise invalid(_bracket(name, loc), msg) from None
    return parsed.model_dump(exclude_none=True)


def _is_literal_branch(loc: Sequence[int | str]) -> bool:
    return any(isinstance(part, str) and part.startswith("literal[") for part in loc)


# Pydantic names the branch of a union it tried in the error location: drop those names.
_UNION_TAGS = frozenset(cls.__name__ for cls in StripeParams.__subclasses__())


def _string(name: str, value: Any, *, allow_empty: bool = True) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid(name, f"expected a string, got {type(value).__name__}")
    if not allow_empty and not value:
        raise invalid(name, "must not be empty")
    if len(value) > MAX_STRING_LENGTH:
        raise invalid(name, f"must be at most {MAX_STRING_LENGTH} characters")
    return value


def _choice(name: str, value: Any, choices: Any) -> str | None:
    allowed = get_args(choices)
    if value is None:
        return None
    if value not in allowed:
        raise invalid(name, f"must be one of {', '.join(map(repr, allowed))}, got {value!r}")
    return str(value)


def check_id(value: Any, name: str = "id") -> str:
    """Validate an object id used in a path.

    ``.`` and ``..`` are refused too: percent-encoding leaves them as they are, and an
    HTTP client removes them as dot segments (RFC 3986), so ``retrieve("..")`` would
    address the list, and ``update(".")`` would create a session.
    """
    if not isinstance(value, str) or not value.strip():
        raise invalid(name, "expected a non-empty id string")
    if value != value.strip() or "/" in value or value in (".", ".."):
        raise invalid(name, f"{value!r} is not a valid id")
    return value


def path_segment(value: str) -> str:
    """An id quoted for use as one path segment."""
    return quote(value, safe="")


def object_path(collection: str, object_id: Any, name: str, action: str = "") -> str:
    """The one place an object's path is built: ``{collection}/{id}{action}``, the id
    checked (`check_id`, naming the parameter ``name``) and percent-encoded as a single
    segment."""
    return f"{collection}/{path_segment(check_id(object_id, name))}{action}"


def is_header_safe(value: str) -> bool:
    """Whether ``value`` can be sent as an HTTP header value as it is (printable ASCII)."""
    return value.isascii() and value.isprintable() and value == value.strip()


def check_idempotency_key(value: Any) -> str | None:
    """Validate a caller-supplied idempotency key (Stripe allows up to 255 characters)."""
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise invalid("idempotency_key", "expected a non-empty string")
    if not is_header_safe(value):
        raise invalid(
            "idempotency_key",
            "must be printable ASCII without leading or trailing spaces (it is sent as a header)",
        )
    if len(value) > MAX_IDEMPOTENCY_KEY_LENGTH:
        raise invalid("idempotency_key", f"must be at most {MAX_IDEMPOTENCY_KEY_LENGTH} characters")
    return value


def _expand(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise invalid("expand", "expected a list of field paths, e.g. ['last_verification_report']")
    for index, item in enumerate(value):
        _string(f"expand[{index}]", item, allow_empty=False)
    return list(value)


def with_expand(expand: Any) -> dict[str, Any]:
    """Parameters of a request whose only parameter is ``expand``."""
    return _compact({"expand": _expand(expand)})


def _metadata(value: Any, *, allow_unset_all: bool) -> dict[str, str] | str | None:
    if value is None:
        return None
    if value == "" and allow_unset_all:
        return ""  # Stripe: an empty value unsets every key.
    if not isinstance(value, Mapping):
        raise invalid("metadata", "expected a mapping of string keys to string values")
    if len(value) > METADATA_MAX_KEYS:
        raise invalid("metadata", f"at most {METADATA_MAX_KEYS} keys, got {len(value)}")
    for key, item in value.items():
        if not isinstance(key, str) or not key:
            raise invalid("metadata", f"keys must be non-empty strings, got {key!r}")
        if len(key) > METADATA_MAX_KEY_LENGTH:
            raise invalid(
                f"metadata[{key}]", f"keys must be at most {METADATA_MAX_KEY_LENGTH} characters"
            )
        if not isinstance(item, str):
            raise invalid(f"metadata[{key}]", f"expected a string, got {type(item).__name__}")
        if len(item) > METADATA_MAX_VALUE_LENGTH:
            raise invalid(
                f"metadata[{key}]",
                f"values must be at most {METADATA_MAX_VALUE_LENGTH} characters",
            )
    return dict(value)


def _compact(params: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in params.items() if value is not None}


def session_create_params(
    *,
    type: Any,
    client_reference_id: Any,
    metadata: Any,
    options: Any,
    provided_details: Any,
    related_customer: Any,
    related_customer_account: Any,
    related_person: Any,
    return_url: Any,
    verification_flow: Any,
    expand: Any,
) -> dict[str, Any]:
    """Validated parameters of ``POST /v1/identity/verification_sessions``."""
    if type is None and verification_flow is None:
        raise invalid("type", "give a `type` ('document' or 'id_number') or a `verification_flow`")
    return _compact(
        {
            "type": _choice("type", type, SessionType),
            "client_reference_id": _string("client_reference_id", client_reference_id),
            "metadata": _metadata(metadata, allow_unset_all=False),
            "options": _model("options", options, SessionOptionsParams),
            "provided_details": _model("provided_details", provided_details, ProvidedDetailsParams),
            "related_customer": _string("related_customer", related_customer),
            "related_customer_account": _string(
                "related_customer_account", related_customer_account
            ),
            "related_person": _model("related_person", related_person, RelatedPersonParams),
            "return_url": _string("return_url", return_url),
            "verification_flow": _string("verification_flow", verification_flow),
            "expand": _expand(expand),
        }
    )


def session_update_params(
    *, type: Any, metadata: Any, options: Any, provided_details: Any, expand: Any
) -> dict[str, Any]:
    """Validated parameters of ``POST /v1/identity/verification_sessions/{id}``."""
    return _compact(
        {
            "type": _choice("type", type, SessionType),
            "metadata": _metadata(metadata, allow_unset_all=True),
            "options": _model("options", options, SessionOptionsParams),
            "provided_details": _model("provided_details", provided_details, ProvidedDetailsParams),
            "expand": _expand(expand),
        }
    )


def _created(value: Any) -> int | dict[str, Any] | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return _model("created", value, CreatedFilter)


def _limit(value: Any) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise invalid("limit", f"expected an integer, got {type(value).__name__}")
    if not 1 <= value <= MAX_LIST_LIMIT:
        raise invalid("limit", f"must be between 1 and {MAX_LIST_LIMIT}, got {value}")
    return value


def list_params(
    *,
    limit: Any,
    starting_after: Any,
    ending_before: Any,
    created: Any,
    expand: Any,
    client_reference_id: Any = None,
    status: Any = None,
    related_customer: Any = None,
    related_customer_account: Any = None,
    type: Any = None,
    verification_session: Any = None,
) -> dict[str, Any]:
    """Validated parameters of a list request (sessions or reports)."""
    if starting_after is not None and ending_before is not None:
        raise invalid("ending_before", "give `starting_after` or `ending_before`, not both at once")
    return _compact(
        {
            "limit": _limit(limit),
            "starting_after": _string("starting_after", starting_after, allow_empty=False),
            "ending_before": _string("ending_before", ending_before, allow_empty=False),
            "created": _created(created),
            "client_reference_id": _string("client_reference_id", client_reference_id),
            "status": _choice("status", status, SessionStatusFilter),
            "related_customer": _string("related_customer", related_customer),
            "related_customer_account": _string(
                "related_customer_account", related_customer_account
            ),
            "type": _choice("type", type, ReportTypeFilter),
            "verification_session": _string("verification_session", verification_session),
            "expand": _expand(expand),
        }
    )
