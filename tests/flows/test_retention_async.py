"""The async twins of the retention flows, `aredact_expired_verification_sessions` and
`aredact_verification_session_flow`: the same parameters, the same outcome as the sync
flows against the same seeded account, awaited."""

from __future__ import annotations

from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
from test_retention import (
    FAST,
    KEY,
    World,
    flow_run_id,
    redacted_ids,
    seed,
)

from prefect_stripe_identity import (
    APIError,
    StripeIdentityCredentials,
    aredact_expired_verification_sessions,
    aredact_verification_session_flow,
    redact_expired_verification_sessions,
    redact_verification_session_flow,
)
from prefect_stripe_identity.emulator import EmulatorConfig, EmulatorServer
from prefect_stripe_identity.flows import SessionRedactionResult, SweepReport
from prefect_stripe_identity.flows._retention import ARTIFACT_KEY

pytestmark = pytest.mark.usefixtures("prefect_engine")

EMULATOR_CONFIG = EmulatorConfig(redaction_seconds=0, tick_seconds=0)
MAX_NETWORK_RETRIES = 1


@pytest.mark.parametrize(
    ("sync", "asynchronous"),
    [
        (redact_expired_verification_sessions, aredact_expired_verification_sessions),
        (redact_verification_session_flow, aredact_verification_session_flow),
    ],
)
def test_the_twins_take_the_same_parameters(sync: Any, asynchronous: Any) -> None:
    assert asynchronous.parameters.model_dump() == sync.parameters.model_dump()


async def test_the_async_sweep_stops_at_max_sessions_then_resumes(
    emulator: EmulatorServer, credentials: StripeIdentityCredentials
) -> None:
    world = World(emulator)
    half = len(world.due) // 2
    first = await aredact_expired_verification_sessions(credentials, max_sessions=half, **FAST)
    assert isinstance(first, SweepReport)
    assert (first.redacted, first.failed, first.limit_reached) == (half, {}, True)
    assert redacted_ids(emulator) <= world.due

    state = await aredact_expired_verification_sessions(credentials, return_state=True, **FAST)
    second = await state.result()
    assert (second.redacted, second.failed, second.limit_reached) == (
        len(world.due) - half,
        {},
        False,
    )
    assert second.skipped == world.expected_skips(already_redacted=half)
    assert redacted_ids(emulator) == world.due
    async with get_client() as client:
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id(state)])
            )
        )
    (artifact,) = [a for a in artifacts if a.key == ARTIFACT_KEY]
    assert f"| Redacted | {len(world.due) - half} |" in str(artifact.data)


async def test_the_async_dry_run_counts_what_the_sync_one_counts(
    emulator: EmulatorServer, credentials: StripeIdentityCredentials
) -> None:
    world = World(emulator)
    report = await aredact_expired_verification_sessions(credentials, dry_run=True, **FAST)
    again = redact_expired_verification_sessions(credentials, dry_run=True, **FAST)
    assert report.would_redact == again.would_redact == len(world.due)
    assert report.skipped == again.skipped == world.expected_skips()
    assert redacted_ids(emulator) == set()


async def test_the_async_single_session_flow(
    emulator: EmulatorServer, credentials: StripeIdentityCredentials
) -> None:
    (open_,) = seed(emulator, 1, "requires_input", 0)
    (canceled,) = seed(emulator, 1, "canceled", 0)
    result = await aredact_verification_session_flow(credentials, open_)
    assert isinstance(result, SessionRedactionResult)
    assert (result.session_id, result.outcome) == (open_, "redacted")
    again = await aredact_verification_session_flow(credentials, open_)
    assert again.outcome == "already_redacted"
    skipped = await aredact_verification_session_flow(credentials, canceled)
    assert (skipped.outcome, skipped.reason) == ("skipped", "status_canceled")
    assert redacted_ids(emulator) == {open_}


async def test_an_async_listing_that_fails_fails_the_run_after_leaving_its_artifact() -> None:
    config = EmulatorConfig(fault_rate=1.0, fault_kinds=("500",), redaction_seconds=0)
    with EmulatorServer(config) as server:
        seed(server, 5, "verified", 40)
        credentials = StripeIdentityCredentials(
            api_key=KEY, api_base=server.url, max_network_retries=0
        )
        state = await aredact_expired_verification_sessions(credentials, return_state=True, **FAST)
    assert state.is_failed()
    with pytest.raises(APIError):
        await state.result()
    async with get_client() as client:
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id(state)])
            )
        )
    (artifact,) = [a for a in artifacts if a.key == ARTIFACT_KEY]
    assert "| Listing stopped by error | api_error |" in str(artifact.data)
