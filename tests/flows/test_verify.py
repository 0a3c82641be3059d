"""`verify_identity` end to end with a real Prefect engine against the emulator: a person
(a thread driving the emulator's submit control) finishes, fails then retries, or never
comes; the flow waits by polling and reports what happened."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import httpx
import pytest
from prefect.exceptions import ParameterTypeError

from prefect_stripe_identity import StripeIdentityClient, StripeIdentityCredentials
from prefect_stripe_identity.emulator import EmulatorServer
from prefect_stripe_identity.flows import (
    FLOW_RUN_METADATA_KEY,
    RETENTION_METADATA_KEY,
    verify_identity,
)

pytestmark = pytest.mark.usefixtures("prefect_engine")

KEY = "sk_test_verifyFlow1234"
FAST = {
    "poll_interval_seconds": 0.1,
    "max_poll_interval_seconds": 0.3,
    "redaction_deployment": None,
}


def stats(emulator: EmulatorServer) -> dict[str, Any]:
    return httpx.get(f"{emulator.url}/_emulator/stats").json()  # type: ignore[no-any-return]


class Person(threading.Thread):
    """Finds the session made for ``reference`` and submits each outcome in turn, waiting
    for the previous attempt to be processed."""

    def __init__(self, emulator: EmulatorServer, reference: str, outcomes: list[str]) -> None:
        super().__init__(daemon=True)
        self.url, self.reference, self.outcomes = emulator.url, reference, outcomes

    def run(self) -> None:
        with StripeIdentityClient(KEY, api_base=self.url) as client:
            session_id = None
            while session_id is None:
                page = client.verification_sessions.list(client_reference_id=self.reference)
                session_id = page.data[0].id if page.data else None
                time.sleep(0.05)
            # The person opens the link once the flow has annotated the session (under
            # load, a submission between the create and the annotate would refuse it).
            while (
                RETENTION_METADATA_KEY
                not in client.verification_sessions.retrieve(session_id).metadata
            ):
                time.sleep(0.05)
            for outcome in self.outcomes:
                while client.verification_sessions.retrieve(session_id).status != "requires_input":
                    time.sleep(0.05)
                time.sleep(0.3)  # let the flow see requires_input between two attempts
                error = {"error_code": "document_expired"} if outcome == "unverified" else {}
                httpx.post(
                    f"{self.url}/_emulator/verification_sessions/{session_id}/submit",
                    data={"outcome": outcome, **error},
                ).raise_for_status()


def test_a_verified_person(
    credentials: StripeIdentityCredentials, emulator: EmulatorServer
) -> None:
    Person(emulator, "user-1", ["verified"]).start()
    outcome = verify_identity(
        credentials, client_reference_id="user-1", timeout=timedelta(seconds=30), **FAST
    )
    assert outcome.status == "verified" and outcome.verified and not outcome.timed_out
    assert outcome.report_id and outcome.checks["document"].status == "verified"
    assert outcome.verified_outputs is None  # not asked for
    assert stats(emulator)["sessions_created"] == 1
    with StripeIdentityClient(KEY, api_base=emulator.url) as client:
        session = client.verification_sessions.retrieve(outcome.session_id)
    assert outcome.retention_until is not None
    assert session.metadata[RETENTION_METADATA_KEY] == str(int(outcome.retention_until.timestamp()))
    assert session.metadata[FLOW_RUN_METADATA_KEY]


def test_a_person_who_fails_then_succeeds(
    credentials: StripeIdentityCredentials, emulator: EmulatorServer
) -> None:
    Person(emulator, "user-2", ["unverified", "verified"]).start()
    outcome = verify_identity(
        credentials, client_reference_id="user-2", timeout=timedelta(seconds=30), **FAST
    )
    assert outcome.status == "verified"
    assert outcome.failed_attempts == ["document_expired"]


def test_a_person_who_never_comes_is_canceled(credentials: StripeIdentityCredentials) -> None:
    outcome = verify_identity(
        credentials, client_reference_id="user-3", timeout=timedelta(seconds=1), **FAST
    )
    assert outcome.timed_out and outcome.canceled_by_flow
    assert outcome.status == "canceled" and outcome.report_id is None


def test_attach_to_an_existing_session(
    credentials: StripeIdentityCredentials, emulator: EmulatorServer
) -> None:
    with StripeIdentityClient(KEY, api_base=emulator.url) as client:
        session = client.verification_sessions.create(type="id_number", client_reference_id="u4")
    Person(emulator, "u4", ["verified"]).start()
    outcome = verify_identity(
        credentials,
        session_id=session.id,
        include_verified_outputs=True,
        timeout=timedelta(seconds=30),
        **FAST,
    )
    assert outcome.session_id == session.id and outcome.status == "verified"
    assert outcome.verified_outputs is not None and outcome.verified_outputs.first_name
    assert stats(emulator)["sessions_created"] == 1


def test_bad_parameters_fail_before_any_stripe_call(
    credentials: StripeIdentityCredentials, emulator: EmulatorServer
) -> None:
    before = stats(emulator)["requests"]
    with pytest.raises(ValueError, match="session_id"):
        verify_identity(credentials, session_id="vs_1", client_reference_id="x", **FAST)
    # Refused by the flow's parameter validation, as a deployment run's form value is.
    with pytest.raises(ParameterTypeError, match="timeout"):
        verify_identity(credentials, timeout=timedelta(seconds=0), **FAST)
    with pytest.raises(ValueError, match="session_ready_hook"):
        verify_identity(credentials, session_ready_hook="no_such_module:hook", **FAST)
    assert stats(emulator)["requests"] == before


def fail_on_ready(session: Any) -> None:
    raise RuntimeError("could not send the link")


def test_a_failure_after_creation_cancels_the_session(
    credentials: StripeIdentityCredentials, emulator: EmulatorServer
) -> None:
    with pytest.raises(RuntimeError, match="could not send the link"):
        verify_identity(
            credentials,
            client_reference_id="user-5",
            session_ready_hook=f"{__name__}:fail_on_ready",
            **FAST,
        )
    with StripeIdentityClient(KEY, api_base=emulator.url) as client:
        (session,) = client.verification_sessions.list(client_reference_id="user-5").data
    assert session.status == "canceled"


def test_a_lost_webhook_never_loses_a_verification(
    credentials: StripeIdentityCredentials, emulator: EmulatorServer
) -> None:
    # No receiver at all: the person verifies, no event ever reaches the paused run. When
    # the wait ends the flow looks once, and finds the person verified.
    Person(emulator, "user-6", ["verified"]).start()
    outcome = verify_identity(
        credentials,
        client_reference_id="user-6",
        wait="webhook",
        timeout=timedelta(seconds=4),
        pause_poll_seconds=1,
        **FAST,
    )
    assert outcome.status == "verified" and not outcome.timed_out
    assert outcome.checks["document"].status == "verified"


def test_redaction_is_scheduled_on_the_deployment_at_retention_end(
    credentials: StripeIdentityCredentials, emulator: EmulatorServer
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    from prefect_stripe_identity.flows import redact_verification_session_flow

    credentials.save("verify-flow-tests", overwrite=True)
    deployment = redact_verification_session_flow.to_deployment(
        name="redact-verification-session", parameters={"credentials": credentials}
    )
    deployment_id = deployment.apply()
    Person(emulator, "user-7", ["verified"]).start()
    outcome = verify_identity(
        credentials,
        client_reference_id="user-7",
        timeout=timedelta(seconds=30),
        retention_days=timedelta(days=7),
        poll_interval_seconds=0.1,
        max_poll_interval_seconds=0.3,
    )
    assert outcome.redaction_scheduled and outcome.retention_until is not None
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
        )
    # The deployment may hold other runs (another test's verify runs, on this worker's server,
    # schedule theirs there too): this session's is the one.
    (run,) = [r for r in runs if r.parameters.get("session_id") == outcome.session_id]
    assert run.state is not None and run.state.is_scheduled()
    assert run.next_scheduled_start_time is not None
    assert abs((run.next_scheduled_start_time - outcome.retention_until).total_seconds()) < 1


def test_a_run_that_cannot_pause_polls_instead(
    credentials: StripeIdentityCredentials,
    emulator: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from prefect_stripe_identity.flows import _verify

    def refuse(**kwargs: Any) -> None:
        raise RuntimeError("Flow run cannot be paused: refused by the server")

    monkeypatch.setattr(_verify, "pause_flow_run", refuse)
    Person(emulator, "user-8", ["verified"]).start()
    outcome = verify_identity(
        credentials,
        client_reference_id="user-8",
        wait="webhook",
        timeout=timedelta(seconds=30),
        **FAST,
    )
    assert outcome.status == "verified" and not outcome.timed_out


def test_a_webhook_wait_on_a_session_that_cannot_name_the_run_polls(
    credentials: StripeIdentityCredentials, emulator: EmulatorServer
) -> None:
    # Attached while already processing: Stripe refuses the update that names the run, so
    # no webhook could resume it; the flow polls and sees the outcome long before timeout.
    with StripeIdentityClient(KEY, api_base=emulator.url) as client:
        session = client.verification_sessions.create(type="document", client_reference_id="u9")
    httpx.post(
        f"{emulator.url}/_emulator/verification_sessions/{session.id}/submit",
        data={"outcome": "verified"},
    ).raise_for_status()
    outcome = verify_identity(
        credentials, session_id=session.id, wait="webhook", timeout=timedelta(hours=1), **FAST
    )
    assert outcome.status == "verified" and outcome.duration_seconds < 60


def assert_completed_without_pause_expiry(run_id: Any, started_at: Any) -> None:
    """The run ended Completed (final: the pause-expiry service only fails paused runs),
    was never failed by an expired pause, and paused with a server timeout past its
    deadline."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import StateType

    with get_client(sync_client=True) as client:
        history = client.read_flow_run_states(run_id)
        run = client.read_flow_run(run_id)
    assert run.state is not None and run.state.type == StateType.COMPLETED
    assert StateType.FAILED not in {s.type for s in history}
    (paused,) = [s for s in history if s.type == StateType.PAUSED]
    timeout = paused.state_details.pause_timeout
    assert timeout is not None and timeout > started_at + timedelta(seconds=30)


def test_a_webhook_wait_that_times_out_wakes_itself_and_ends_completed(
    credentials: StripeIdentityCredentials, emulator: EmulatorServer
) -> None:
    # Nobody comes and no event arrives. A Prefect pause that expires fails its run on the
    # server ("paused and never resumed") while the flow still cancels the session: the flow
    # instead resumes itself at its deadline, so the run ends Completed with the timeout.
    state = verify_identity(
        credentials,
        client_reference_id="user-13",
        wait="webhook",
        timeout=timedelta(seconds=3),
        pause_poll_seconds=1,
        return_state=True,
        **FAST,
    )
    outcome = state.result()
    assert outcome.timed_out and outcome.canceled_by_flow and outcome.status == "canceled"
    assert_completed_without_pause_expiry(state.state_details.flow_run_id, outcome.started_at)
