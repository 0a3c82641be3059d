"""A person is never locked out by a dead session (issue 11, item 10): Stripe replays a
creation key's first answer for 24 h, even once that session is canceled or redacted, so
`verify_identity` replaces a dead replayed session with a new one, while a retried or
duplicated run still finds the one live session."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import httpx
import pytest

from prefect_stripe_identity import StripeIdentityClient, StripeIdentityCredentials
from prefect_stripe_identity.emulator import EmulatorConfig, EmulatorServer
from prefect_stripe_identity.flows import VerificationOutcome, verify_identity

pytestmark = pytest.mark.usefixtures("prefect_engine")

KEY = "sk_test_replaceDead0001"
EMULATOR_CONFIG = EmulatorConfig(processing_seconds=0, redaction_seconds=0, tick_seconds=0.05)
FAST: dict[str, Any] = {
    "poll_interval_seconds": 0.1,
    "max_poll_interval_seconds": 0.3,
    "redaction_deployment": None,
}


def sessions_of(emulator: EmulatorServer, reference: str) -> list[Any]:
    with StripeIdentityClient(KEY, api_base=emulator.url) as client:
        return list(
            client.verification_sessions.list(client_reference_id=reference).auto_paging_iter()
        )


def verify_when_open(emulator: EmulatorServer, reference: str, skip: set[str]) -> threading.Thread:
    """A person who verifies the first open session of ``reference`` not in ``skip``."""

    def run() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            open_ = [
                s
                for s in sessions_of(emulator, reference)
                if s.status == "requires_input" and s.id not in skip
            ]
            if open_:
                time.sleep(0.3)  # let the flow see requires_input first
                httpx.post(
                    f"{emulator.url}/_emulator/verification_sessions/{open_[0].id}/submit",
                    data={"outcome": "verified"},
                ).raise_for_status()
                return
            time.sleep(0.05)

    person = threading.Thread(target=run, daemon=True)
    person.start()
    return person


def test_a_new_run_after_a_timeout_gets_a_new_session_and_a_rerun_finds_it(
    credentials: StripeIdentityCredentials, emulator: EmulatorServer
) -> None:
    first = verify_identity(
        credentials, client_reference_id="late-1", timeout=timedelta(seconds=1), **FAST
    )
    assert first.canceled_by_flow and first.status == "canceled"

    person = verify_when_open(emulator, "late-1", skip={first.session_id})
    second = verify_identity(
        credentials, client_reference_id="late-1", timeout=timedelta(seconds=30), **FAST
    )
    person.join(timeout=5)
    assert second.session_id != first.session_id
    assert second.status == "verified" and not second.timed_out

    # The same request again (a rerun, a duplicate): it walks the same chain to the same
    # session instead of making a third.
    third = verify_identity(
        credentials, client_reference_id="late-1", timeout=timedelta(seconds=30), **FAST
    )
    assert third.session_id == second.session_id and third.status == "verified"
    assert sorted(s.id for s in sessions_of(emulator, "late-1")) == sorted(
        [first.session_id, second.session_id]
    )


def test_duplicated_runs_after_a_dead_session_share_one_new_session(
    credentials: StripeIdentityCredentials, emulator: EmulatorServer
) -> None:
    dead = verify_identity(
        credentials, client_reference_id="late-2", timeout=timedelta(seconds=1), **FAST
    )
    assert dead.status == "canceled"

    def run() -> VerificationOutcome:
        return verify_identity(
            credentials, client_reference_id="late-2", timeout=timedelta(seconds=30), **FAST
        )

    person = verify_when_open(emulator, "late-2", skip={dead.session_id})
    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = [f.result() for f in [pool.submit(run), pool.submit(run)]]
    person.join(timeout=5)
    assert {o.session_id for o in outcomes} != {dead.session_id}
    assert len({o.session_id for o in outcomes}) == 1  # one live session for the person
    assert [o.status for o in outcomes] == ["verified", "verified"]
    assert len(sessions_of(emulator, "late-2")) == 2  # the dead one and the new one


def test_a_redacted_session_is_replaced(
    credentials: StripeIdentityCredentials, emulator: EmulatorServer
) -> None:
    person = verify_when_open(emulator, "late-3", skip=set())
    verified = verify_identity(
        credentials, client_reference_id="late-3", timeout=timedelta(seconds=30), **FAST
    )
    person.join(timeout=5)
    assert verified.status == "verified"
    with StripeIdentityClient(KEY, api_base=emulator.url) as client:
        client.verification_sessions.redact(verified.session_id)

    # Without the check, this run would report the redacted session "verified" at once.
    again = verify_identity(
        credentials, client_reference_id="late-3", timeout=timedelta(seconds=1), **FAST
    )
    assert again.session_id != verified.session_id
    assert again.timed_out and again.status == "canceled"
