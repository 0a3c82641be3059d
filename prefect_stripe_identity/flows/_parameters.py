"""Flow parameters that hold secrets or personal data, and how they reach a flow run.

Prefect stores a flow run's parameters as the caller sent them. Called from Python, a
block parameter is stored masked; sent to a deployment (UI form, CLI, API), a plain value
is stored in clear. So such a parameter takes a *reference* to a block document (Prefect
encrypts block data at rest and masks secret fields in its API) and `refuse_inline` adds
a rule to the parameter's schema so that the server refuses a deployment run that
carries the values themselves, before anything is stored.

An async twin's parameters are described by its sync flow's docstring (`twin_docstring`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from prefect.blocks.core import Block
from pydantic import ConfigDict, Field, SecretStr
from pydantic.config import JsonDict
from pydantic.fields import FieldInfo

from prefect_stripe_identity.models import ProvidedDetailsParams

__all__ = ["ProvidedDetailsInput", "refuse_inline", "twin_docstring"]

FunctionT = TypeVar("FunctionT", bound=Callable[..., Any])


def refuse_inline(*fields: str) -> FieldInfo:
    """A parameter schema rule: an object carrying any of ``fields`` is refused, so only
    a block reference (``{"$ref": {...}}``) or null gets through the server's check of a
    deployment run's parameters. Python callers are not concerned (Prefect validates them
    with the annotation, not the schema)."""
    inline: JsonDict = {"type": "object", "anyOf": [{"required": [name]} for name in fields]}
    info: FieldInfo = Field(json_schema_extra={"not": inline})
    return info


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
