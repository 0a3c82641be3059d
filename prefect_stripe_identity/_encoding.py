"""Stripe's form encoding, identical to the official SDK's.

Nested mappings become ``a[b][c]=v``, sequences are indexed (``a[0]=x``), booleans are
``true``/``false``, ``None`` is left out and ``""`` is sent (it unsets a value). Square
brackets stay literal in the output, as the SDK leaves them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from enum import Enum
from typing import Any
from urllib.parse import urlencode

from pydantic import BaseModel

__all__ = ["encode_form", "flatten_params"]


def flatten_params(params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Flatten nested parameters into ``(bracket_key, value)`` pairs, in order."""
    return list(_flatten(params, prefix=None))


def encode_form(params: Mapping[str, Any]) -> str:
    """Encode parameters as an ``application/x-www-form-urlencoded`` string."""
    return urlencode(flatten_params(params)).replace("%5B", "[").replace("%5D", "]")


def _flatten(value: Mapping[str, Any], prefix: str | None) -> Iterator[tuple[str, str]]:
    for key, item in value.items():
        name = key if prefix is None else f"{prefix}[{key}]"
        yield from _flatten_value(name, item)


def _flatten_value(name: str, value: Any) -> Iterator[tuple[str, str]]:
    if value is None:
        return
    if isinstance(value, BaseModel):
        value = value.model_dump(exclude_none=True)
    if isinstance(value, Mapping):
        yield from _flatten(value, prefix=name)
    elif isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        for index, item in enumerate(value):
            yield from _flatten_value(f"{name}[{index}]", item)
    elif isinstance(value, bool):
        yield name, "true" if value else "false"
    elif isinstance(value, Enum):
        yield name, str(value.value)
    else:
        yield name, str(value)
