"""The credentials block's rate limits on a real Prefect server (issue 13, item 2): every
Stripe request of a task takes a slot of the Prefect global concurrency limit of its
kind, reads and writes apart; a limit that cannot be taken fails before any request;
`ensure_rate_limits` creates the limits."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

from prefect_stripe_identity import (
    StripeIdentityCredentials,
    cancel_verification_session,
    create_verification_session,
    list_verification_sessions,
    redact_expired_verification_sessions,
    retrieve_verification_session,
    verify_identity,
)
from prefect_stripe_identity.cli import main as cli_main
from prefect_stripe_identity.emulator import EmulatorConfig, EmulatorServer
from prefect_stripe_identity.rate_limits import (
    RateLimitUnavailableError,
    default_limits,
    ensure_rate_limits,
)

pytestmark = pytest.mark.usefixtures("prefect_engine")

KEY = "sk_test_sharedRateLimits42"


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(processing_seconds=0)) as server:
        yield server


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _slow_limit(name: str) -> None:
    """A limit that hardly decays (one slot per 100 s): its active slots count requests."""
    with get_client(sync_client=True) as client:
        client.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(
                name=name, limit=1000, slot_decay_per_second=0.01, active=True
            )
        )


def _active_slots(name: str) -> int:
    with get_client(sync_client=True) as client:
        return client.read_global_concurrency_limit_by_name(name).active_slots


def _requests(emulator: EmulatorServer) -> int:
    return int(httpx.get(f"{emulator.url}/_emulator/stats").json()["requests"])


def test_every_request_of_the_tasks_takes_a_slot_of_its_kind(emulator: EmulatorServer) -> None:
    reads, writes = _unique("reads"), _unique("writes")
    _slow_limit(reads)
    _slow_limit(writes)
    credentials = StripeIdentityCredentials(
        api_key=KEY,
        api_base=emulator.url,
        read_rate_limit=reads,
        write_rate_limit=writes,
    )

    @flow
    def calls() -> None:
        session = create_verification_session(credentials, type="document")  # write
        retrieve_verification_session(credentials, session.id)  # read
        list_verification_sessions(credentials, max_results=3)  # read
        list_verification_sessions(credentials, max_results=1, status="canceled")  # read
        cancel_verification_session(credentials, session.id)  # write

    calls()
    assert (_active_slots(reads), _active_slots(writes)) == (3, 2)


def test_a_missing_limit_fails_naming_the_field_before_any_request(
    emulator: EmulatorServer,
) -> None:
    missing = _unique("never-created")
    credentials = StripeIdentityCredentials(
        api_key=KEY, api_base=emulator.url, write_rate_limit=missing
    )
    before = _requests(emulator)
    with pytest.raises(RateLimitUnavailableError) as caught:
        create_verification_session(credentials, type="document")
    message = str(caught.value)
    assert missing in message
    assert "`write_rate_limit`" in message
    assert "prefect-stripe-identity rate-limits create" in message
    assert _requests(emulator) == before  # nothing was sent to Stripe
    # Reads have no limit here: they go through.
    list_verification_sessions(credentials, max_results=1)
    assert _requests(emulator) == before + 1


def test_a_form_left_empty_means_no_limit() -> None:
    credentials = StripeIdentityCredentials(api_key=KEY, read_rate_limit="", write_rate_limit="  ")
    assert (credentials.read_rate_limit, credentials.write_rate_limit) == (None, None)
    assert credentials.rate_limiter() is None
    assert credentials.get_client().rate_limiter is None


def test_ensure_rate_limits_creates_then_updates_the_two_limits() -> None:
    reads, writes = _unique("r"), _unique("w")
    specs = default_limits("test", read_name=reads, write_name=writes)
    assert ensure_rate_limits(*specs) == [
        f"created {reads!r}: 20 requests per second",
        f"created {writes!r}: 20 requests per second",
    ]
    with get_client(sync_client=True) as client:
        limit = client.read_global_concurrency_limit_by_name(reads)
    assert (limit.limit, limit.slot_decay_per_second, limit.active) == (20, 20.0, True)
    live = default_limits("live", headroom=0.5, read_name=reads, write_name=writes)
    assert ensure_rate_limits(*live)[0] == f"updated {reads!r}: 50 requests per second"
    with get_client(sync_client=True) as client:
        assert client.read_global_concurrency_limit_by_name(writes).slot_decay_per_second == 50


def test_the_cli_creates_the_limits(capsys: pytest.CaptureFixture[str]) -> None:
    reads, writes = _unique("cli-r"), _unique("cli-w")
    code = cli_main(
        ["rate-limits", "create", "--mode", "live", "--read-name", reads, "--write-name", writes]
    )
    assert code == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert f"created {reads!r}: 80 requests per second" in out
    assert f"created {writes!r}: 80 requests per second" in out
    assert "read_rate_limit" in out  # says what to put in the block


def test_the_cli_refuses_a_bad_headroom(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["rate-limits", "create", "--headroom", "1.5"]) == 2
    assert "--headroom" in capsys.readouterr().err


def _limited(emulator: EmulatorServer, reads: str, writes: str) -> StripeIdentityCredentials:
    _slow_limit(reads)
    _slow_limit(writes)
    return StripeIdentityCredentials(
        api_key=KEY, api_base=emulator.url, read_rate_limit=reads, write_rate_limit=writes
    )


def test_the_sweep_takes_a_slot_for_each_of_its_requests() -> None:
    # An emulator of its own: the sweep lists every session of the account.
    with EmulatorServer(EmulatorConfig(processing_seconds=0, redaction_seconds=0)) as server:
        due = httpx.post(
            f"{server.url}/_emulator/seed",
            data={"count": 4, "status": "verified", "age_days": 40},
        ).json()
        reads, writes = _unique("sweep-r"), _unique("sweep-w")
        credentials = _limited(server, reads, writes)
        before = _requests(server)
        report = redact_expired_verification_sessions(
            credentials, retention_days=30, requests_per_second=100
        )
        sent = _requests(server) - before
    assert report.redacted == len(due["ids"]) == 4
    # Every request took one slot: the redactions as writes, the listing as reads.
    assert _active_slots(writes) == 4
    assert _active_slots(reads) + _active_slots(writes) == sent


def test_verify_identity_and_its_polling_take_a_slot_for_each_request() -> None:
    config = EmulatorConfig(
        processing_seconds=0, tick_seconds=0.05, auto_outcome="verified", auto_submit_seconds=0.5
    )
    with EmulatorServer(config) as server:
        reads, writes = _unique("verify-r"), _unique("verify-w")
        credentials = _limited(server, reads, writes)
        before = _requests(server)
        outcome = verify_identity(
            credentials,
            client_reference_id="limited-1",
            timeout=timedelta(seconds=60),
            poll_interval_seconds=0.1,
            redaction_deployment=None,
        )
        sent = _requests(server) - before
    assert outcome.status == "verified"
    assert _active_slots(writes) >= 2  # the create and the annotate, at least
    assert _active_slots(reads) >= 2  # the replay check and the polls
    assert _active_slots(reads) + _active_slots(writes) == sent
