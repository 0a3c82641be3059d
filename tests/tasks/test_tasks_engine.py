"""The tasks inside a real Prefect engine, against the emulator: idempotency that survives
task and flow retries, failing fast on what cannot heal, async twins, and no secret or
personal datum left in Prefect's database, result storage or logs."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prefect import flow
from prefect.cache_policies import NO_CACHE
from prefect.settings import (
    PREFECT_HOME,
    PREFECT_LOGGING_LEVEL,
    PREFECT_RESULTS_PERSIST_BY_DEFAULT,
    PREFECT_SERVER_DATABASE_CONNECTION_URL,
    temporary_settings,
)
from prefect.states import State

from prefect_stripe_identity import (
    APIConnectionError,
    InvalidRequestError,
    StripeIdentityClient,
    StripeIdentityCredentials,
    VerificationSession,
    _base_client,
    acreate_verification_session,
    alist_verification_sessions,
    aretrieve_verification_session,
    cancel_verification_session,
    create_verification_session,
    list_verification_reports,
    list_verification_sessions,
    redact_verification_session,
    retrieve_verification_report,
    retrieve_verification_session,
    update_verification_session,
)
from prefect_stripe_identity._policy import attempts_per_task_call
from prefect_stripe_identity.emulator import EmulatorConfig, EmulatorServer

pytestmark = pytest.mark.usefixtures("prefect_engine")

KEY = "sk_test_tasksEngine9876"


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(processing_seconds=0, redaction_seconds=0)) as server:
        yield server


@pytest.fixture
def credentials(emulator: EmulatorServer) -> StripeIdentityCredentials:
    httpx.post(f"{emulator.url}/_emulator/reset").raise_for_status()
    return StripeIdentityCredentials(api_key=KEY, api_base=emulator.url, max_network_retries=0)


def stats(emulator: EmulatorServer) -> dict[str, Any]:
    return httpx.get(f"{emulator.url}/_emulator/stats").json()  # type: ignore[no-any-return]


def submit(emulator: EmulatorServer, session_id: str, outcome: str = "verified") -> None:
    httpx.post(
        f"{emulator.url}/_emulator/verification_sessions/{session_id}/submit",
        data={"outcome": outcome},
    ).raise_for_status()


@pytest.mark.parametrize("cached", [True, False], ids=["default-cache", "no-cache"])
def test_a_flow_retried_three_times_around_one_create_makes_one_session(
    credentials: StripeIdentityCredentials, emulator: EmulatorServer, cached: bool
) -> None:
    attempts: list[str] = []
    # Without the cache, only the idempotency key keeps the retries from creating sessions.
    create = create_verification_session.with_options(
        cache_policy=create_verification_session.cache_policy if cached else NO_CACHE
    )

    @flow(retries=3, retry_delay_seconds=0)
    def flaky() -> str:
        session = create(credentials, type="document", metadata={"u": "1"})
        attempts.append(session.id)
        if len(attempts) < 4:
            raise RuntimeError("something after the create failed")
        return session.id

    session_id = flaky()
    assert attempts == [session_id] * 4
    assert stats(emulator)["sessions_created"] == 1
    if not cached:
        assert stats(emulator)["idempotent_replays"] == 3


@pytest.mark.parametrize("retried_by", ["task", "client"])
def test_a_create_whose_response_was_lost_is_retried_into_the_same_session(
    credentials: StripeIdentityCredentials, emulator: EmulatorServer, retried_by: str
) -> None:
    # The request is processed, then its response lost: the case idempotency keys exist for.
    httpx.post(f"{emulator.url}/_emulator/faults", data={"kind": "lost_response"})
    if retried_by == "task":
        create = create_verification_session.with_options(retries=1, retry_delay_seconds=0)
    else:
        credentials = credentials.model_copy(update={"max_network_retries": 1})
        create = create_verification_session.with_options(retries=0)

    @flow
    def once() -> str:
        return create(credentials, type="document").id

    session_id = once()
    with StripeIdentityClient(KEY, api_base=emulator.url) as client:
        assert [s.id for s in client.verification_sessions.list().data] == [session_id]
    assert stats(emulator)["faults_injected"] == 1
    assert stats(emulator)["idempotent_replays"] == 1


def test_two_distinct_creates_make_two_sessions_and_so_do_two_identical_ones(
    credentials: StripeIdentityCredentials, emulator: EmulatorServer
) -> None:
    @flow
    def several() -> list[str]:
        return [
            create_verification_session(credentials, type="document").id,
            create_verification_session(credentials, type="id_number").id,
            create_verification_session(credentials, type="document").id,  # same as the 1st
        ]

    ids = several()
    assert len(set(ids)) == 3
    assert stats(emulator)["sessions_created"] == 3


def test_a_business_key_wins_across_flow_runs(
    credentials: StripeIdentityCredentials, emulator: EmulatorServer
) -> None:
    @flow
    def onboard() -> str:
        return create_verification_session(
            credentials, type="document", idempotency_key="verify:user-42"
        ).id

    assert onboard() == onboard()
    assert stats(emulator)["sessions_created"] == 1


def test_a_404_fails_at_once_with_the_typed_error_and_its_request_id(
    credentials: StripeIdentityCredentials, emulator: EmulatorServer
) -> None:
    @flow
    def missing() -> tuple[bool, str, BaseException]:
        state: State[Any] = retrieve_verification_session(  # type: ignore[call-overload]
            credentials, "vs_does_not_exist", return_state=True
        )
        return state.is_failed(), state.message or "", state.result(raise_on_failure=False)

    before = stats(emulator)["requests"]
    failed, message, error = missing()
    assert failed
    assert stats(emulator)["requests"] == before + 1  # no retry, though the task has retries
    assert isinstance(error, InvalidRequestError)
    assert error.http_status == 404 and error.request_id
    assert "InvalidRequestError" in message and error.request_id in message


def test_bad_input_fails_before_any_request(
    credentials: StripeIdentityCredentials, emulator: EmulatorServer
) -> None:
    @flow
    def bad() -> None:
        create_verification_session(credentials, type="document", metadata={"k" * 41: "v"})

    before = stats(emulator)["requests"]
    with pytest.raises(InvalidRequestError) as info:
        bad()
    assert info.value.param == "metadata[" + "k" * 41 + "]"
    assert stats(emulator)["requests"] == before


def test_dot_ids_are_refused_before_any_request(
    credentials: StripeIdentityCredentials, emulator: EmulatorServer
) -> None:
    # An HTTP client removes `.` and `..` segments: `update(".")` would POST to the list
    # path and create a session, `retrieve("..")` would list (issue 11, item 11).
    @flow
    def dots() -> list[str | None]:
        params: list[str | None] = []
        for call in (
            lambda: update_verification_session(credentials, ".", metadata={"k": "v"}),
            lambda: retrieve_verification_session(credentials, ".."),
            lambda: cancel_verification_session(credentials, "."),
            lambda: retrieve_verification_report(credentials, ".."),
        ):
            try:
                call()
            except InvalidRequestError as exc:
                params.append(exc.param)
        return params

    before = stats(emulator)
    assert dots() == ["session_id", "session_id", "session_id", "report_id"]
    after = stats(emulator)
    assert after["requests"] == before["requests"]
    assert after["sessions_created"] == before["sessions_created"]


def _closed_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_an_unreachable_api_base_fails_fast_naming_the_host(
    monkeypatch: pytest.MonkeyPatch, is_async: bool
) -> None:
    # Issue 11, item 8: a refused connection was retried 4 x 3 times over 40-62 s, and the
    # error named no host. Now: 2 task tries x 3 client attempts, and the host is named.
    port = _closed_loopback_port()
    attempts: list[str] = []
    if is_async:
        real_async = httpx.AsyncHTTPTransport.handle_async_request

        async def counting_async(
            self: httpx.AsyncHTTPTransport, request: httpx.Request
        ) -> httpx.Response:
            if request.url.port == port:
                attempts.append(request.method)
            return await real_async(self, request)

        monkeypatch.setattr(httpx.AsyncHTTPTransport, "handle_async_request", counting_async)
    else:
        real = httpx.HTTPTransport.handle_request

        def counting(self: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
            if request.url.port == port:
                attempts.append(request.method)
            return real(self, request)

        monkeypatch.setattr(httpx.HTTPTransport, "handle_request", counting)
    # The existing hooks, so that nothing really waits: client backoff and task delays.
    monkeypatch.setattr(_base_client, "retry_delay", lambda number, error: 0.0)
    credentials = StripeIdentityCredentials(api_key=KEY, api_base=f"http://127.0.0.1:{port}")
    assert credentials.max_network_retries == 2  # the default: 3 attempts per task try
    create = acreate_verification_session if is_async else create_verification_session
    create = create.with_options(retry_delay_seconds=0)  # type: ignore[attr-defined]
    assert create.retries == 3

    @flow
    def unreachable() -> None:
        if is_async:
            asyncio.run(create(credentials, type="document"))
        else:
            create(credentials, type="document")

    with pytest.raises(APIConnectionError) as info:
        unreachable()
    assert len(attempts) == 6 == attempts_per_task_call(connect_failure=True), attempts
    assert getattr(info.value, "connect_failed", False)
    message = str(info.value)
    assert f"http://127.0.0.1:{port}" in message
    assert "`api_base`" in message and "proxy" in message
    assert KEY not in message


def test_every_sync_task_through_a_whole_lifecycle(
    credentials: StripeIdentityCredentials, emulator: EmulatorServer
) -> None:
    @flow
    def lifecycle() -> dict[str, Any]:
        kept = create_verification_session(credentials, type="document", client_reference_id="a")
        dropped = create_verification_session(credentials, type="document")
        updated = update_verification_session(credentials, kept.id, metadata={"step": "2"})
        canceled = cancel_verification_session(credentials, dropped.id)
        submit(emulator, kept.id)
        verified = retrieve_verification_session(credentials, kept.id)
        assert verified.last_verification_report_id is not None
        report = retrieve_verification_report(credentials, verified.last_verification_report_id)
        reports = list_verification_reports(credentials, verification_session=kept.id)
        sessions = list_verification_sessions(credentials, max_results=1)
        redacted = redact_verification_session(credentials, kept.id)
        return {
            "metadata": updated.metadata,
            "canceled": canceled.status,
            "verified": verified.status,
            "report": report.id,
            "reports": [r.id for r in reports],
            "sessions": len(sessions),
            "redaction": redacted.redaction.status if redacted.redaction else None,
        }

    result = lifecycle()
    assert result["metadata"] == {"step": "2"}
    assert result["canceled"] == "canceled" and result["verified"] == "verified"
    assert result["reports"] == [result["report"]]
    assert result["sessions"] == 1  # max_results holds though two sessions exist
    assert result["redaction"] in ("processing", "redacted")


async def test_async_twins_work_in_an_async_flow(
    credentials: StripeIdentityCredentials, emulator: EmulatorServer
) -> None:
    @flow
    async def async_flow() -> tuple[str, str, int]:
        created = await acreate_verification_session(credentials, type="document")
        again = await aretrieve_verification_session(credentials, created.id)
        listed = await alist_verification_sessions(credentials, max_results=10)
        return created.id, again.id, len(listed)

    created, again, listed = await async_flow()
    assert created == again and listed == 1


def _sqlite_path() -> Path | None:
    url = PREFECT_SERVER_DATABASE_CONNECTION_URL.value() or ""
    return Path(url.split("///", 1)[1]) if "///" in url else None


def test_no_secret_or_personal_datum_at_rest(
    credentials: StripeIdentityCredentials,
    emulator: EmulatorServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with StripeIdentityClient(KEY, api_base=emulator.url) as client:
        probe = client.verification_sessions.create(type="document", client_reference_id="p")
        submit(emulator, probe.id)
        outputs = client.verification_sessions.retrieve(
            probe.id, expand=["verified_outputs"]
        ).verified_outputs
    assert outputs is not None and outputs.first_name and outputs.last_name
    names = [outputs.first_name, outputs.last_name]  # the emulator's fake person

    @flow(log_prints=True)
    def leaky_by_default() -> VerificationSession:
        session = create_verification_session(credentials, type="document")
        assert session.url is not None and session.client_secret is not None
        found.extend([session.url.get_secret_value(), session.client_secret.get_secret_value()])
        print(f"created {session!r} with key {KEY}")  # a careless user
        submit(emulator, session.id)
        verified = retrieve_verification_session(
            credentials, session.id, expand=["verified_outputs", "last_verification_report"]
        )
        print(f"verified {verified!r}")
        return verified

    found: list[str] = []
    with (
        temporary_settings(
            {PREFECT_RESULTS_PERSIST_BY_DEFAULT: True, PREFECT_LOGGING_LEVEL: "DEBUG"}
        ),
        caplog.at_level(logging.DEBUG),
    ):
        result = leaky_by_default()
    assert result.verified_outputs is not None  # the flow itself had the data in memory
    secrets = [KEY, *found, *names]
    storage_roots = [Path(PREFECT_HOME.value())]
    database = _sqlite_path()
    if database is not None:
        storage_roots.append(database.parent)
    scanned = 0
    for root in storage_roots:
        for path in root.rglob("*"):
            if path.is_file():
                scanned += 1
                blob = path.read_bytes()
                for secret in secrets:
                    assert secret.encode() not in blob, f"{secret[:6]}… found in {path}"
    assert scanned > 0
    for secret in secrets:
        assert secret not in caplog.text
    assert os.environ.get("PREFECT_API_KEY") is None  # the scan did not read a real profile
