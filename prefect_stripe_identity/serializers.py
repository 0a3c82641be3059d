"""Result serializers that never store secrets or personal data.

Prefect's default pickle serializer would write ``client_secret``, ``url`` and the
person's verified data to result storage in clear text. The package's tasks and flows
persist results with `masking_json_serializer()`: Prefect's own ``json`` serializer whose
encoder stores `StripeObject.masked` copies (secrets dropped, personal data masked). A
result read back from storage therefore has no ``client_secret``/``url`` (retrieve the
session for fresh ones: they are single-use anyway) and no personal data, and any Prefect
environment can read it: with this package installed it comes back as the models, without
it as plain JSON (Prefect's decoder leaves a class it cannot import as a dict).

`MaskingPickleSerializer` is the earlier pickle form, kept so results persisted with it
stay readable.
"""

from __future__ import annotations

from typing import Any

from prefect.serializers import JSONSerializer, PickleSerializer, prefect_json_object_encoder
from pydantic import BaseModel, Field

from prefect_stripe_identity.models import StripeObject

__all__ = [
    "MaskingPickleSerializer",
    "mask_sensitive",
    "masking_json_encoder",
    "masking_json_serializer",
]


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


def masking_json_encoder(obj: Any) -> Any:
    """Prefect's JSON object encoder, on the masked copy of ``obj`` (a pydantic model,
    possibly holding Stripe objects: e.g. a flow's outcome)."""
    return prefect_json_object_encoder(mask_sensitive(obj))


def masking_json_serializer() -> JSONSerializer[Any]:
    """Prefect's ``json`` serializer with `masking_json_encoder`: what Prefect stores with
    the result names only Prefect's own serializer type, so reading needs no import of
    this package (the encoder is looked up only when writing)."""
    return JSONSerializer(object_encoder=f"{__name__}.masking_json_encoder")
