"""A result serializer that never stores secrets or personal data.

Prefect's default pickle serializer would write ``client_secret``, ``url`` and the
person's verified data to result storage in clear text. `MaskingPickleSerializer` stores
`StripeObject.masked` copies instead: secrets dropped, personal data masked. A result read
back from storage therefore has no ``client_secret``/``url`` (retrieve the session for
fresh ones: they are single-use anyway) and no personal data.
"""

from __future__ import annotations

from typing import Any

from prefect.serializers import PickleSerializer
from pydantic import BaseModel, Field

from prefect_stripe_identity.models import StripeObject

__all__ = ["MaskingPickleSerializer", "mask_sensitive"]


def mask_sensitive(value: Any) -> Any:
    """``value`` with every Stripe object in it (also inside lists, tuples, dicts, and the
    fields of pydantic models) replaced by its masked copy."""
    if isinstance(value, StripeObject):
        return value.masked()
    if isinstance(value, list):
        return [mask_sensitive(item) for item in value]
    if isinstance(value, tuple):
        return tuple(mask_sensitive(item) for item in value)
    if isinstance(value, dict):
        return {key: mask_sensitive(item) for key, item in value.items()}
    if isinstance(value, BaseModel):
        # Other pydantic models (e.g. a flow's outcome) may hold Stripe objects.
        return value.model_copy(update={name: mask_sensitive(item) for name, item in value})
    return value


class MaskingPickleSerializer(PickleSerializer[Any]):
    """Pickles results after masking secrets and personal data (see the module docstring)."""

    type: str = Field(default="stripe-identity-masked-pickle", frozen=True)

    def dumps(self, obj: Any) -> bytes:
        """Serialize the masked copy of ``obj``."""
        return super().dumps(mask_sensitive(obj))
