"""What Prefect imports through the package's ``prefect.collections`` entry point.

Prefect finds a block class by its slug in a registry that the class joins when it is
defined, and imports every installed collection before it looks one up: a server
registering the block types of what is installed, ``Block.load("stripe-identity-
credentials/…")`` in a process that never imported the package. The top-level package
loads its exports lazily, so importing it defines no block: this module imports the
package's blocks, and the result serializer, which Prefect finds by its type name in
another such registry when it reads a result back.
"""

from __future__ import annotations

from prefect_stripe_identity.credentials import StripeIdentityCredentials
from prefect_stripe_identity.flows import ProvidedDetailsInput
from prefect_stripe_identity.serializers import MaskingPickleSerializer

__all__ = ["MaskingPickleSerializer", "ProvidedDetailsInput", "StripeIdentityCredentials"]
