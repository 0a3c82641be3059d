"""Validation and building of request parameters, shared by the sync and async resources.

Every check here runs before a request is built, from the endpoint's declaration in
`_endpoints`, and every failure is an `InvalidRequestError` whose ``param`` names the
parameter in Stripe's bracket form.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

from pydantic import BaseModel, ValidationError

from prefect_stripe_identity._exceptions import InvalidRequestError
from prefect_stripe_identity._schema import Arr, Enum, Int, IntOrRange, Metadata, Obj, Schema, Str
from prefect_stripe_identity.models import (
    METADATA_MAX_KEY_LENGTH,
    METADATA_MAX_KEYS,
    METADATA_MAX_VALUE_LENGTH,
    CreatedFilter,
    StripeParams,
)

if TYPE_CHECKING:
    from prefect_stripe_identity._endpoints import Endpoint

__all__ = [
    "build_params",
    "check_id",
    "check_idempotency_key",
    "endpoint_path",
    "object_path",
    "path_segment",
]

MAX_IDEMPOTENCY_KEY_LENGTH = 255

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


def _string(name: str, value: Any, schema: Str) -> str:
    if not isinstance(value, str):
        raise invalid(name, f"expected a string, got {type(value).__name__}")
    if not value and schema.nonempty:
        raise invalid(name, "must not be empty")
    if len(value) > schema.max_length:
        raise invalid(name, f"must be at most {schema.max_length} characters")
    return value


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
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


def _array(name: str, value: Any, items: Schema) -> list[Any]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        example = " e.g. ['last_verification_report']" if name == "expand" else ""
        raise invalid(name, f"expected a list{example}")
    return [_check(f"{name}[{index}]", item, items, None) for index, item in enumerate(value)]


def _metadata(value: Any, *, allow_unset_all: bool) -> dict[str, str] | str | None:
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


def _integer(name: str, value: Any, schema: Int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise invalid(name, f"expected an integer, got {type(value).__name__}")
    low, high = schema.minimum, schema.maximum
    if (low is not None and value < low) or (high is not None and value > high):
        raise invalid(name, f"must be between {low} and {high}, got {value}")
    return value


def _check(name: str, value: Any, schema: Schema, model: type[StripeParams] | None) -> Any:
    """One parameter checked against its shape in the endpoint table (``None``: absent)."""
    if value is None:
        return None
    if isinstance(schema, Str):
        return _string(name, value, schema)
    if isinstance(schema, Enum):
        return _choice(name, value, schema.values)
    if isinstance(schema, Metadata):
        return _metadata(value, allow_unset_all=schema.unset_all)
    if isinstance(schema, Arr):
        return _array(name, value, schema.items)
    if isinstance(schema, IntOrRange):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        return _model(name, value, CreatedFilter)
    if isinstance(schema, Int):
        return _integer(name, value, schema)
    if isinstance(schema, Obj) and model is not None:
        return _model(name, value, model)
    raise AssertionError(f"no client check for {name}: {schema!r}")  # the table is wrong


def build_params(endpoint: Endpoint, values: Mapping[str, Any]) -> dict[str, Any]:
    """The validated parameters of one request to ``endpoint`` (absent ones left out)."""
    given = {name: value for name, value in values.items() if value is not None}
    if endpoint.one_of and not given.keys() & set(endpoint.one_of):
        first, *others = endpoint.one_of
        choices = _choices_text(endpoint.param(first).schema)
        raise invalid(
            first,
            f"give a `{first}`{choices} or " + " or ".join(f"a `{o}`" for o in others),
        )
    if len(given.keys() & set(endpoint.at_most_one_of)) > 1:
        named = " or ".join(f"`{name}`" for name in endpoint.at_most_one_of)
        raise invalid(endpoint.at_most_one_of[-1], f"give {named}, not both at once")
    return {
        param.name: _check(param.name, given[param.name], param.schema, param.model)
        for param in endpoint.params
        if param.name in given
    }


def _choices_text(schema: Schema) -> str:
    """`` ('document' or 'id_number')`` for a closed set of values, else ``""``."""
    if not isinstance(schema, Enum):
        return ""
    return " (" + " or ".join(map(repr, schema.values)) + ")"


def endpoint_path(endpoint: Endpoint, object_id: Any = None) -> str:
    """The request path of ``endpoint``: its id checked and quoted (`object_path`)."""
    name = endpoint.path_param
    if name is None:
        return endpoint.path
    return object_path(endpoint.collection, object_id, name, endpoint.action_suffix)
