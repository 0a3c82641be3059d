"""What the client does with Stripe inside a flow shows in the run's logs, read back through
Prefect's API: retries with their status and request id, rate-limit waits, idempotent
replays; never the API key nor a client secret."""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from typing import Any

import httpx
import pytest
from prefect import flow, task
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
from prefect.client.schemas.objects import Log
from prefect.logging.handlers import APILogHandler

from prefect_stripe_identity import StripeIdentityClient, StripeIdentityCredentials
from prefect_stripe_identity.emulator import EmulatorConfig
from prefect_stripe_identity.tasks import (
    acreate_verification_session,
    aretrieve_verification_session,
    create_verification_session,
    retrieve_verification_session,
)

pytestmark = pytest.mark.usefixtures("prefect_engine")

KEY = "sk_test_runLogs5678"
EMULATOR_CONFIG = EmulatorConfig()
MAX_NETWORK_RETRIES = 2
CLIENT_SECRET = "vs_1AbcDEF_secret_live_ghIJklMNop"
REPLAY = re.compile(
    r"Stripe POST /v1/identity/verification_sessions replayed idempotently "
    r"\(HTTP 200, request req_\w+\)"
)
CREATE_RETRY = re.compile(
    r"Retrying Stripe POST /v1/identity/verification_sessions: attempt 1 failed with "
    r"APIConnectionError; next in"
)
RATE_LIMITED = re.compile(
    r"Retrying Stripe GET /v1/identity/verification_sessions/vs_\w+: attempt 1 rate limited "
    r"with RateLimitError \(HTTP 429, code lock_timeout, request req_\w+\); next in"
)


def script_fault(api_base: str, kind: str) -> None:
    """The emulator's next request meets ``kind``."""
    httpx.post(f"{api_base}/_emulator/faults", data={"kind": kind}).raise_for_status()


@task
def echo_secrets(credentials: StripeIdentityCredentials) -> None:
    with credentials.get_client() as client:
        client.logger.warning("echoing %s and %s", KEY, CLIENT_SECRET)


@flow
def stripe_calls(credentials: StripeIdentityCredentials) -> str:
    # The create's answer is lost: the client retries, Stripe replays the stored answer.
    script_fault(credentials.api_base, "lost_response")
    session = create_verification_session(credentials, type="document")
    # The retrieve meets a 429 once, then succeeds.
    script_fault(credentials.api_base, "lock_timeout")
    retrieve_verification_session(credentials, session.id)
    return session.id


@task
async def aecho_secrets(credentials: StripeIdentityCredentials) -> None:
    async with credentials.get_async_client() as client:
        client.logger.warning("echoing %s and %s", KEY, CLIENT_SECRET)


@flow
async def astripe_calls(credentials: StripeIdentityCredentials) -> str:
    script_fault(credentials.api_base, "lost_response")
    session = await acreate_verification_session(credentials, type="document")
    script_fault(credentials.api_base, "lock_timeout")
    await aretrieve_verification_session(credentials, session.id)
    return session.id


@flow
def echoing(credentials: StripeIdentityCredentials) -> None:
    echo_secrets(credentials)


@flow
async def aechoing(credentials: StripeIdentityCredentials) -> None:
    await aecho_secrets(credentials)


def read_run_logs(run_id: uuid.UUID, until: list[re.Pattern[str]]) -> list[Log]:
    """The run's logs as the API holds them, once every pattern of ``until`` is there (the
    handler sends records in batches) or after 20 s."""
    deadline = time.monotonic() + 20
    with get_client(sync_client=True) as client:
        while True:
            APILogHandler().flush()
            logs = client.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id]))
            )
            text = "\n".join(log.message for log in logs)
            if all(p.search(text) for p in until) or time.monotonic() > deadline:
                return logs
            time.sleep(0.2)


def assert_stripe_activity_logged(logs: list[Log], session_id: str) -> None:
    by_message = {log.message: log for log in logs}
    text = "\n".join(by_message)
    assert CREATE_RETRY.search(text), text
    assert REPLAY.search(text), text
    assert RATE_LIMITED.search(text), text
    assert f"/v1/identity/verification_sessions/{session_id}: attempt 1 rate limited" in text
    # Each line belongs to the task run that made the request.
    for pattern in (CREATE_RETRY, REPLAY, RATE_LIMITED):
        (line,) = [m for m in by_message if pattern.search(m)]
        assert by_message[line].task_run_id is not None
    assert KEY not in text


def run_id_of(state: Any) -> uuid.UUID:
    run_id = state.state_details.flow_run_id
    assert run_id is not None
    return run_id  # type: ignore[no-any-return]


def test_a_flows_retries_rate_limits_and_replays_are_in_its_logs(
    credentials: StripeIdentityCredentials,
) -> None:
    state = stripe_calls(credentials, return_state=True)
    session_id = state.result()
    logs = read_run_logs(run_id_of(state), [CREATE_RETRY, REPLAY, RATE_LIMITED])
    assert_stripe_activity_logged(logs, session_id)


async def test_the_async_twin_logs_the_same(credentials: StripeIdentityCredentials) -> None:
    state = await astripe_calls(credentials, return_state=True)
    session_id = await state.result()
    logs = await asyncio.to_thread(
        read_run_logs, run_id_of(state), [CREATE_RETRY, REPLAY, RATE_LIMITED]
    )
    assert_stripe_activity_logged(logs, session_id)


ECHO = re.compile(r"echoing sk_test_\*+ and ")


def test_what_a_client_logs_in_a_run_reaches_the_api_masked(
    credentials: StripeIdentityCredentials,
) -> None:
    state = echoing(credentials, return_state=True)
    (log,) = [m for m in read_run_logs(run_id_of(state), [ECHO]) if ECHO.search(m.message)]
    assert log.task_run_id is not None and log.level == logging.WARNING
    assert KEY not in log.message and CLIENT_SECRET not in log.message


async def test_what_an_async_client_logs_in_a_run_reaches_the_api_masked(
    credentials: StripeIdentityCredentials,
) -> None:
    state = await aechoing(credentials, return_state=True)
    logs = await asyncio.to_thread(read_run_logs, run_id_of(state), [ECHO])
    (log,) = [m for m in logs if ECHO.search(m.message)]
    assert log.task_run_id is not None
    assert KEY not in log.message and CLIENT_SECRET not in log.message


def test_outside_a_run_the_client_logs_to_its_own_logger(
    credentials: StripeIdentityCredentials, caplog: pytest.LogCaptureFixture
) -> None:
    script_fault(credentials.api_base, "lock_timeout")
    with (
        caplog.at_level("INFO", logger="prefect_stripe_identity.client"),
        credentials.get_client() as client,
    ):
        assert client.logger.name == "prefect_stripe_identity.client"
        client.verification_sessions.list(limit=1)
    (record,) = [r for r in caplog.records if "Retrying Stripe GET" in r.getMessage()]
    assert record.name == "prefect_stripe_identity.client"
    assert "HTTP 429" in record.getMessage()
    # A plain client, with no block, too.
    with StripeIdentityClient(KEY, api_base=credentials.api_base) as plain:
        assert plain.logger.name == "prefect_stripe_identity.client"
