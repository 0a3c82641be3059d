"""A person who submits right at the deadline keeps their result: the flow's last look saw
``requires_input``, but by the time it cancels the session is processing or verified, and
Stripe refuses the cancel (a 400). Found by `make scale` (a run failed with "cannot be
canceled" while its person was verified)."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import httpx
import pytest
from test_verify import KEY

from prefect_stripe_identity import StripeIdentityClient, StripeIdentityCredentials
from prefect_stripe_identity.emulator import EmulatorConfig, EmulatorServer
from prefect_stripe_identity.flows import _verify, _verify_async, averify_identity, verify_identity
from prefect_stripe_identity.models import VerificationSession

pytestmark = pytest.mark.usefixtures("prefect_engine")

# Processing lasts long enough that a loaded machine still sees the session in it.
EMULATOR_CONFIG = EmulatorConfig(processing_seconds=2, redaction_seconds=0, tick_seconds=0.05)

FAST: dict[str, Any] = {
    "poll_interval_seconds": 0.1,
    "max_poll_interval_seconds": 0.3,
    "redaction_deployment": None,
    "timeout": timedelta(seconds=30),
}


def submit_at_the_deadline(emulator: EmulatorServer, *, until: str) -> Any:
    """A `_wait` step whose deadline passes as the person submits: it returns the session
    it last saw (requires_input) and "timed out", once the person's session is ``until``."""

    def wait(run: Any, session: VerificationSession, **_: Any) -> tuple[VerificationSession, bool]:
        httpx.post(
            f"{emulator.url}/_emulator/verification_sessions/{session.id}/submit",
            data={"outcome": "verified"},
        ).raise_for_status()
        deadline = time.monotonic() + 30
        with StripeIdentityClient(KEY, api_base=emulator.url) as client:
            while (status := client.verification_sessions.retrieve(session.id).status) != until:
                assert time.monotonic() < deadline, f"the session never became {until}: {status}"
                time.sleep(0.02)
        return session, True

    return wait


@pytest.mark.parametrize("until", ["processing", "verified"])
def test_a_person_who_submits_at_the_deadline_is_not_canceled(
    credentials: StripeIdentityCredentials,
    emulator: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    until: str,
) -> None:
    monkeypatch.setattr(_verify, "_wait", submit_at_the_deadline(emulator, until=until))
    outcome = verify_identity(credentials, client_reference_id=f"deadline-{until}", **FAST)
    assert outcome.status == "verified" and outcome.verified
    assert outcome.timed_out and not outcome.canceled_by_flow
    assert outcome.report_id is not None


@pytest.mark.parametrize("until", ["processing", "verified"])
async def test_the_async_twin_keeps_a_result_that_came_at_the_deadline(
    credentials: StripeIdentityCredentials,
    emulator: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    until: str,
) -> None:
    sync_wait = submit_at_the_deadline(emulator, until=until)

    async def wait(run: Any, session: VerificationSession, **kw: Any) -> Any:
        return sync_wait(run, session, **kw)

    monkeypatch.setattr(_verify_async, "_await", wait)
    outcome = await averify_identity(
        credentials, client_reference_id=f"async-deadline-{until}", **FAST
    )
    assert outcome.status == "verified" and outcome.timed_out and not outcome.canceled_by_flow
