"""A flow that does nothing: `make scale` measures a worker's CPU for one such run, the
baseline of its CPU per verification."""

from prefect import flow


@flow(name="empty-flow")
def empty_flow() -> None:
    """Nothing: the cost of a flow run itself."""
