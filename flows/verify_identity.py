"""Deployable entry point: verify one person (`prefect_stripe_identity.verify_identity`)."""

from prefect_stripe_identity.flows import verify_identity

__all__ = ["verify_identity"]

if __name__ == "__main__":
    # Serve the flow from this process: runs triggered from the UI or API execute here.
    verify_identity.serve(name="verify-identity")
