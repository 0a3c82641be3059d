"""`averify_identity`, the async twin of `verify_identity`: the same steps, awaited, with
the same guarantees (one session per person, no session left open, no lock-out)."""

from __future__ import annotations

import inspect
from datetime import timedelta
from typing import Any

import httpx
import pytest
from test_verify import KEY, Person, assert_completed_without_pause_expiry

from prefect_stripe_identity import StripeIdentityClient, StripeIdentityCredentials
from prefect_stripe_identity.emulator import EmulatorServer
from prefect_stripe_identity.flows import FLOW_RUN_METADATA_KEY, averify_identity, verify_identity

pytestmark = pytest.mark.usefixtures("prefect_engine")

FAST: dict[str, Any] = {
    "poll_interval_seconds": 0.1,
    "max_poll_interval_seconds": 0.3,
    "redaction_deployment": None,
}


def sessions_of(emulator: EmulatorServer, reference: str) -> list[Any]:
    with StripeIdentityClient(KEY, api_base=emulator.url) as client:
        return client.verification_sessions.list(client_reference_id=reference).data


def test_the_twin_takes_the_same_parameters() -> None:
    assert inspect.iscoroutinefunction(averify_identity.fn)
    sync, asynchronous = verify_identity.parameters, averify_identity.parameters
    assert asynchronous.model_dump() == sync.model_dump()


async def test_a_verified_person(
    credentials: StripeIdentityCredentials, emulator: EmulatorServer
) -> None:
    Person(emulator, "async-1", ["unverified", "verified"]).start()
    outcome = await averify_identity(
        credentials, client_reference_id="async-1", timeout=timedelta(seconds=30), **FAST
    )
    assert outcome.status == "verified" and not outcome.timed_out
    assert outcome.failed_attempts == ["document_expired"]
    assert outcome.checks["document"].status == "verified"
    (session,) = sessions_of(emulator, "async-1")
    assert session.metadata[FLOW_RUN_METADATA_KEY]


async def test_a_person_who_never_comes_is_canceled_and_a_new_run_gets_a_new_session(
    credentials: StripeIdentityCredentials, emulator: EmulatorServer
) -> None:
    first = await averify_identity(
        credentials, client_reference_id="async-2", timeout=timedelta(seconds=1), **FAST
    )
    assert first.timed_out and first.canceled_by_flow and first.status == "canceled"
    again = await averify_identity(
        credentials, client_reference_id="async-2", timeout=timedelta(seconds=1), **FAST
    )
    assert again.session_id != first.session_id  # not locked out by the canceled one
    assert len(sessions_of(emulator, "async-2")) == 2


async def test_a_lost_webhook_never_loses_a_verification(
    credentials: StripeIdentityCredentials, emulator: EmulatorServer
) -> None:
    Person(emulator, "async-3", ["verified"]).start()
    outcome = await averify_identity(
        credentials,
        client_reference_id="async-3",
        wait="webhook",
        timeout=timedelta(seconds=4),
        pause_poll_seconds=1,
        **FAST,
    )
    assert outcome.status == "verified" and not outcome.timed_out


async def test_a_webhook_wait_that_times_out_wakes_itself_and_ends_completed(
    credentials: StripeIdentityCredentials,
) -> None:
    state = await averify_identity(
        credentials,
        client_reference_id="async-13",
        wait="webhook",
        timeout=timedelta(seconds=3),
        pause_poll_seconds=1,
        return_state=True,
        **FAST,
    )
    outcome = await state.result()
    assert outcome.timed_out and outcome.canceled_by_flow and outcome.status == "canceled"
    assert_completed_without_pause_expiry(state.state_details.flow_run_id, outcome.started_at)


async def fail_on_ready(session: Any) -> None:
    raise RuntimeError("could not send the link")


async def test_a_failure_after_creation_cancels_the_session(
    credentials: StripeIdentityCredentials, emulator: EmulatorServer
) -> None:
    with pytest.raises(RuntimeError, match="could not send the link"):
        await averify_identity(
            credentials,
            client_reference_id="async-4",
            session_ready_hook=f"{__name__}:fail_on_ready",
            **FAST,
        )
    (session,) = sessions_of(emulator, "async-4")
    assert session.status == "canceled"


async def test_a_create_whose_answer_was_lost_is_found_and_canceled(
    credentials: StripeIdentityCredentials,
    emulator: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from prefect_stripe_identity.flows import _verify_async

    monkeypatch.setattr(
        _verify_async,
        "acreate_verification_session",
        _verify_async.acreate_verification_session.with_options(retries=0),
    )
    httpx.post(
        f"{emulator.url}/_emulator/faults", data={"kind": "lost_response", "count": 1}
    ).raise_for_status()
    with pytest.raises(Exception, match="lost the connection"):
        await averify_identity(credentials, client_reference_id="async-5", **FAST)
    (session,) = sessions_of(emulator, "async-5")
    assert session.status == "canceled"
