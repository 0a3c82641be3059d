"""The shape of Stripe's request parameters, as data: what `_endpoints` declares each
endpoint's parameters with.

Two validators read these shapes: the client's (`_params`, before any request, on Python
values) and the emulator's (`emulator._validation`, on decoded form data, with Stripe's
wording). The shapes mirror the official OpenAPI spec; tests/client/test_endpoints.py holds them
to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Union

__all__ = [
    "MAX_STRING",
    "Arr",
    "Bool",
    "Enum",
    "Int",
    "IntOrRange",
    "Metadata",
    "Obj",
    "Schema",
    "Str",
]

MAX_STRING = 5000


@dataclass(frozen=True)
class Str:
    """A string parameter. ``unsettable``: an empty string is accepted (it unsets).

    ``nonempty``: the client refuses ``""`` before sending it (an id or a field path,
    where it can only be a mistake); other empty strings go to Stripe, which answers.
    """

    max_length: int = MAX_STRING
    unsettable: bool = False
    nonempty: bool = False


@dataclass(frozen=True)
class Enum:
    """A string parameter with a closed set of values."""

    values: tuple[str, ...]


@dataclass(frozen=True)
class Bool:
    """A ``true``/``false`` parameter."""


@dataclass(frozen=True)
class Int:
    """An integer parameter, optionally bounded."""

    minimum: int | None = None
    maximum: int | None = None


@dataclass(frozen=True)
class Arr:
    """An array (``a[0]=x`` or ``a[]=x``)."""

    items: Schema


@dataclass(frozen=True)
class Obj:
    """An object. ``unsettable``: the empty string is accepted and means "unset"."""

    props: Mapping[str, Schema]
    required: tuple[str, ...] = ()
    unsettable: bool = False


@dataclass(frozen=True)
class Metadata:
    """Stripe metadata: string values, ``""`` unsets a key, ``metadata=""`` unsets all.

    ``unset_all``: whether the client lets ``metadata=""`` through (an update; a create
    has nothing to unset)."""

    unset_all: bool = True


@dataclass(frozen=True)
class IntOrRange:
    """``created``: an integer, or a ``gt/gte/lt/lte`` range object."""


Schema = Union[Str, Enum, Bool, Int, Arr, Obj, Metadata, IntOrRange]
