"""The rollback of `verify_identity` holds when Stripe is hard to reach: a run that fails
after creating its session cancels it even when the cancel itself meets faults
(issue 11, item 13: sessions were left open after the metadata update failed)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest

from prefect_stripe_identity import (
    APIConnectionError,
    APIError,
    StripeIdentityClient,
    StripeIdentityCredentials,
    VerificationSession,
    update_verification_session,
)
from prefect_stripe_identity.emulator import EmulatorConfig, EmulatorServer
from prefect_stripe_identity.flows import _verify, verify_identity

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


def fail_the_next_requests(session: VerificationSession) -> None:
    """Ready hook: once the session exists, the next requests (the annotate update, then
    the rollback's cancels) are answered 503 before they take effect."""
    httpx.post(
        f"{EMULATOR_URL[0]}/_emulator/faults", data={"kind": "503", "count": 1 + CANCEL_FAULTS}
    ).raise_for_status()


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
    with pytest.raises(APIError):
        verify_identity(
            credentials,
            client_reference_id="rollback-1",
            session_ready_hook=f"{__name__}:fail_the_next_requests",
            timeout=timedelta(seconds=30),
            poll_interval_seconds=0.1,
            redaction_deployment=None,
        )
    with StripeIdentityClient(KEY, api_base=emulator.url) as client:
        (session,) = client.verification_sessions.list(client_reference_id="rollback-1").data
    assert session.status == "canceled"  # no session left open with nobody waiting on it
    faults = httpx.get(f"{emulator.url}/_emulator/stats").json()["faults_injected"]
    assert faults == 1 + CANCEL_FAULTS  # the update and the first cancels really failed


def test_a_create_whose_answers_were_all_lost_is_found_and_canceled(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The create took effect but every answer was lost: the run never learnt the session's
    id. The flow holds the creation key, replays it, and cancels what it finds."""
    monkeypatch.setattr(
        _verify, "_create_or_roll_back", _verify._create_or_roll_back.with_options(retries=0)
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
