"""The rollback of `verify_identity` holds when Stripe is hard to reach: a run that fails
after creating its session cancels it even when the cancel itself meets faults
(issue 11, item 13: sessions were left open after the metadata update failed)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from prefect_stripe_identity import (
    APIConnectionError,
    APIError,
    StripeIdentityClient,
    StripeIdentityCredentials,
    VerificationSession,
    aupdate_verification_session,
    update_verification_session,
)
from prefect_stripe_identity.emulator import EmulatorConfig, EmulatorServer
from prefect_stripe_identity.flows import (
    RETENTION_METADATA_KEY,
    _verify,
    _verify_async,
    averify_identity,
    verify_identity,
)

pytestmark = pytest.mark.usefixtures("prefect_engine")

KEY = "sk_test_rollbackFaults01"
# Faults queued once the session exists: the annotate update, then the first cancels.
CANCEL_FAULTS = 3
EMULATOR_URL: list[str] = []


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(processing_seconds=0, tick_seconds=0.05)) as server:
        EMULATOR_URL.append(server.url)
        yield server
        EMULATOR_URL.clear()


def faults_before_the_annotate(monkeypatch: pytest.MonkeyPatch, count: int) -> None:
    """Once the session exists, just before the annotate step, the next ``count`` requests
    (the annotate update, then what follows) are answered 503 before they take effect. The
    step itself is wrapped, not the ready hook: the hook runs after the annotate."""

    def script() -> None:
        httpx.post(
            f"{EMULATOR_URL[-1]}/_emulator/faults", data={"kind": "503", "count": count}
        ).raise_for_status()

    annotate, aannotate = _verify._annotate, _verify_async._aannotate

    def scripted(run: Any, session: VerificationSession) -> VerificationSession:
        script()
        return annotate(run, session)

    async def ascripted(run: Any, session: VerificationSession) -> VerificationSession:
        script()
        return await aannotate(run, session)

    monkeypatch.setattr(_verify, "_annotate", scripted)
    monkeypatch.setattr(_verify_async, "_aannotate", ascripted)


def test_a_failed_annotate_cancels_the_session_though_the_cancel_meets_faults(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One quick attempt at the update (no task-level retries), so the run fails fast.
    monkeypatch.setattr(
        _verify, "update_verification_session", update_verification_session.with_options(retries=0)
    )
    credentials = StripeIdentityCredentials(
        api_key=KEY, api_base=emulator.url, max_network_retries=0
    )
    faults_before_the_annotate(monkeypatch, 1 + CANCEL_FAULTS)
    with pytest.raises(APIError):
        verify_identity(
            credentials,
            client_reference_id="rollback-1",
            timeout=timedelta(seconds=30),
            poll_interval_seconds=0.1,
            redaction_deployment=None,
        )
    with StripeIdentityClient(KEY, api_base=emulator.url) as client:
        (session,) = client.verification_sessions.list(client_reference_id="rollback-1").data
    assert session.status == "canceled"  # no session left open with nobody waiting on it
    assert RETENTION_METADATA_KEY not in session.metadata  # it was the annotate that failed
    faults = httpx.get(f"{emulator.url}/_emulator/stats").json()["faults_injected"]
    assert faults == 1 + CANCEL_FAULTS  # the update and the first cancels really failed


def test_a_create_whose_answers_were_all_lost_is_found_and_canceled(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The create took effect but every answer was lost: the run never learnt the session's
    id. The flow holds the creation key, replays it, and cancels what it finds."""
    monkeypatch.setattr(
        _verify,
        "create_verification_session",
        _verify.create_verification_session.with_options(retries=0),
    )
    credentials = StripeIdentityCredentials(
        api_key=KEY, api_base=emulator.url, max_network_retries=0
    )
    before = httpx.get(f"{emulator.url}/_emulator/stats").json()
    httpx.post(
        f"{emulator.url}/_emulator/faults", data={"kind": "lost_response", "count": 1}
    ).raise_for_status()
    with pytest.raises(APIConnectionError):
        verify_identity(
            credentials,
            client_reference_id="rollback-2",
            timeout=timedelta(seconds=30),
            poll_interval_seconds=0.1,
            redaction_deployment=None,
        )
    with StripeIdentityClient(KEY, api_base=emulator.url) as client:
        (session,) = client.verification_sessions.list(client_reference_id="rollback-2").data
    assert session.status == "canceled"
    after = httpx.get(f"{emulator.url}/_emulator/stats").json()
    assert after["sessions_created"] - before["sessions_created"] == 1
    assert after["idempotent_replays"] > before["idempotent_replays"]  # found by its key


@pytest.mark.parametrize("twin", ["sync", "async"])
def test_a_task_attempt_that_fails_and_is_retried_does_not_cancel_the_session(
    twin: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a failed run cancels its session. Prefect rolls a transaction back when one
    attempt of a task in it fails, even one it then retries: with the rollback in a Prefect
    transaction, a 503 on the annotate update canceled the session of a run that went on
    and "finished" as canceled (found by the fault soak)."""
    monkeypatch.setattr(
        _verify,
        "update_verification_session",
        update_verification_session.with_options(retries=2, retry_delay_seconds=0),
    )
    monkeypatch.setattr(
        _verify_async,
        "aupdate_verification_session",
        aupdate_verification_session.with_options(retries=2, retry_delay_seconds=0),
    )
    config = EmulatorConfig(
        processing_seconds=0,
        tick_seconds=0.05,
        auto_outcome="verified",
        auto_submit_seconds=1.0,
    )
    # One fault, on the annotate update: its first attempt fails, the next works.
    faults_before_the_annotate(monkeypatch, 1)
    with EmulatorServer(config) as server:
        EMULATOR_URL.append(server.url)
        try:
            credentials = StripeIdentityCredentials(
                api_key=KEY, api_base=server.url, max_network_retries=0
            )
            arguments: dict[str, Any] = {
                "client_reference_id": f"retried-{twin}",
                "timeout": timedelta(seconds=30),
                "poll_interval_seconds": 0.1,
                "redaction_deployment": None,
            }
            if twin == "sync":
                outcome = verify_identity(credentials, **arguments)
            else:
                outcome = asyncio.run(averify_identity(credentials, **arguments))
            stats = httpx.get(f"{server.url}/_emulator/stats").json()
        finally:
            EMULATOR_URL.pop()
    assert stats["faults_injected"] == 1  # the update's first attempt really failed
    assert outcome.status == "verified"
    assert outcome.canceled_by_flow is False
