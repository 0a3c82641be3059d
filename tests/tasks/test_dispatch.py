"""The sync tasks run their async twins in async contexts, as Prefect's ``async_dispatch``
decides (issue 14, item 5): in an async flow a sync task's call is the twin's coroutine;
in a sync flow it runs sync; ``_sync`` overrides; the names, retries, cache and
idempotency keys are the twin's own, as if it had been called directly."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prefect import flow, task
from prefect.futures import PrefectFuture

from prefect_stripe_identity import (
    StripeIdentityCredentials,
    VerificationSession,
    create_verification_session,
    list_verification_sessions,
    retrieve_verification_session,
    tasks,
)
from prefect_stripe_identity._task_support import AsyncDispatchingTask, in_async_context
from prefect_stripe_identity.emulator import EmulatorConfig, EmulatorServer

pytestmark = pytest.mark.usefixtures("prefect_engine")

KEY = "sk_test_dispatch4321"
SYNC_TASKS = [name for name in tasks.__all__ if not name.startswith("a")]


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(processing_seconds=0, redaction_seconds=0)) as server:
        yield server


@pytest.fixture
def credentials(emulator: EmulatorServer) -> StripeIdentityCredentials:
    httpx.post(f"{emulator.url}/_emulator/reset").raise_for_status()
    return StripeIdentityCredentials(api_key=KEY, api_base=emulator.url, max_network_retries=0)


def sessions_created(emulator: EmulatorServer) -> int:
    return int(httpx.get(f"{emulator.url}/_emulator/stats").json()["sessions_created"])


# --- the tasks and their twins ------------------------------------------------------------


@pytest.mark.parametrize("name", SYNC_TASKS)
def test_every_sync_task_dispatches_to_its_twin_with_the_same_options(name: str) -> None:
    sync_task = getattr(tasks, name)
    twin = getattr(tasks, f"a{name}")
    assert isinstance(sync_task, AsyncDispatchingTask)
    assert sync_task.aio is twin and twin.isasync and not sync_task.isasync
    for option in ("name", "task_run_name", "retries", "retry_delay_seconds", "description"):
        assert getattr(sync_task, option) == getattr(twin, option), option
    assert inspect.signature(sync_task.fn) == inspect.signature(twin.fn)


# --- where the call runs ------------------------------------------------------------------


async def test_in_an_async_flow_the_sync_task_returns_the_twins_coroutine(
    credentials: StripeIdentityCredentials, emulator: EmulatorServer
) -> None:
    @flow
    async def async_flow() -> tuple[bool, str, str]:
        pending = create_verification_session(credentials, type="document")
        was_coroutine = inspect.iscoroutine(pending)
        created: VerificationSession = await pending
        again = await retrieve_verification_session(credentials, created.id)  # type: ignore[misc]
        return was_coroutine, created.id, again.id

    was_coroutine, created, again = await async_flow()
    assert was_coroutine
    assert created == again and sessions_created(emulator) == 1


def test_in_a_sync_flow_the_sync_task_runs_sync(
    credentials: StripeIdentityCredentials, emulator: EmulatorServer
) -> None:
    @flow
    def sync_flow() -> VerificationSession:
        return create_verification_session(credentials, type="document")

    session = sync_flow()
    assert isinstance(session, VerificationSession) and sessions_created(emulator) == 1


async def test_sync_true_runs_the_sync_task_in_an_async_flow(
    credentials: StripeIdentityCredentials, emulator: EmulatorServer
) -> None:
    @flow
    async def async_flow() -> Any:
        return create_verification_session(credentials, type="document", _sync=True)  # type: ignore[call-arg]

    session = await async_flow()
    assert isinstance(session, VerificationSession) and sessions_created(emulator) == 1


def test_sync_false_runs_the_twin_in_a_sync_flow(
    credentials: StripeIdentityCredentials, emulator: EmulatorServer
) -> None:
    @flow
    def sync_flow() -> tuple[bool, VerificationSession]:
        pending: Any = create_verification_session(credentials, type="document", _sync=False)  # type: ignore[call-arg]
        return inspect.iscoroutine(pending), asyncio.run(pending)

    was_coroutine, session = sync_flow()
    assert was_coroutine and isinstance(session, VerificationSession)
    assert sessions_created(emulator) == 1


def test_outside_any_run_a_running_event_loop_decides(
    credentials: StripeIdentityCredentials, emulator: EmulatorServer
) -> None:
    assert isinstance(
        create_verification_session(credentials, type="document"), VerificationSession
    )

    async def main() -> tuple[bool, VerificationSession]:
        pending: Any = create_verification_session(credentials, type="document")
        return inspect.iscoroutine(pending), await pending

    was_coroutine, session = asyncio.run(main())
    assert was_coroutine and isinstance(session, VerificationSession)
    assert sessions_created(emulator) == 2


async def test_a_sync_subflow_or_task_of_an_async_flow_calls_the_tasks_sync(
    credentials: StripeIdentityCredentials, emulator: EmulatorServer
) -> None:
    # The running flow or task decides, not the outermost one: the package's sync flows
    # (verify_identity, the retention flows) keep working as subflows of async flows.
    @flow
    def sync_subflow() -> VerificationSession:
        return create_verification_session(credentials, type="document")

    @task
    def sync_task() -> list[VerificationSession]:
        return list_verification_sessions(credentials)

    @flow
    async def parent() -> tuple[Any, Any]:
        return sync_subflow(), sync_task()

    session, listed = await parent()
    assert isinstance(session, VerificationSession)
    assert [s.id for s in listed] == [session.id]


async def test_submit_in_an_async_flow_stays_the_sync_tasks_own(
    credentials: StripeIdentityCredentials, emulator: EmulatorServer
) -> None:
    @flow
    async def async_flow() -> tuple[bool, Any]:
        future = create_verification_session.submit(credentials, type="document")
        return isinstance(future, PrefectFuture), future.result()

    is_future, session = await async_flow()
    assert is_future and isinstance(session, VerificationSession)


# --- options, retries and idempotency -----------------------------------------------------


async def test_with_options_keeps_dispatching_and_applies_to_the_twin(
    credentials: StripeIdentityCredentials, emulator: EmulatorServer
) -> None:
    quiet = create_verification_session.with_options(retries=0, name="create-quietly")
    assert isinstance(quiet, AsyncDispatchingTask)
    assert quiet.retries == quiet.aio.retries == 0
    assert quiet.name == quiet.aio.name == "create-quietly"
    assert create_verification_session.retries == 3  # the original is unchanged
    assert create_verification_session.aio.retries == 3

    @flow
    async def async_flow() -> tuple[bool, str]:
        pending = quiet(credentials, type="document")
        return inspect.iscoroutine(pending), (await pending).id  # type: ignore[misc]

    was_coroutine, _ = await async_flow()
    assert was_coroutine


async def test_a_retried_async_flow_through_the_sync_task_makes_one_session(
    credentials: StripeIdentityCredentials, emulator: EmulatorServer
) -> None:
    # The dispatched call derives its idempotency key as the twin does: from the flow run,
    # so the flow's retries find the first session.
    ids: list[str] = []

    @flow(retries=2, retry_delay_seconds=0)
    async def flaky() -> str:
        session: VerificationSession = await create_verification_session(  # type: ignore[misc]
            credentials, type="document", metadata={"u": "7"}
        )
        ids.append(session.id)
        if len(ids) < 3:
            raise RuntimeError("something after the create failed")
        return session.id

    session_id = await flaky()
    assert ids == [session_id] * 3
    assert sessions_created(emulator) == 1


async def test_the_dispatched_call_is_the_twins_task_run(
    credentials: StripeIdentityCredentials, emulator: EmulatorServer
) -> None:
    from prefect.client.orchestration import get_client

    @flow
    async def async_flow() -> Any:
        return await create_verification_session(credentials, type="document", return_state=True)  # type: ignore[call-overload]

    state = await async_flow()
    async with get_client() as client:
        task_run = await client.read_task_run(state.state_details.task_run_id)
    assert task_run.name.startswith("create-verification-session")
    # The twin ran: the task key names its function.
    assert "acreate_verification_session" in task_run.task_key


# --- the rule is Prefect's ----------------------------------------------------------------


def test_the_rule_agrees_with_prefects_async_dispatch() -> None:
    compat = pytest.importorskip("prefect._internal.compatibility.async_dispatch")
    seen: dict[str, tuple[bool, bool]] = {}

    def record(where: str) -> None:
        seen[where] = (in_async_context(), compat.is_in_async_context())

    @task
    def sync_task() -> None:
        record("sync task in an async flow")

    @task
    async def async_task() -> None:
        record("async task in a sync flow")

    @flow
    async def async_flow() -> None:
        record("async flow")
        sync_task()

    @flow
    def sync_flow() -> None:
        record("sync flow")
        asyncio.run(async_task())

    async def loop() -> None:
        record("event loop, no run")

    record("no loop, no run")
    asyncio.run(loop())
    asyncio.run(async_flow())
    sync_flow()
    assert seen == {
        "no loop, no run": (False, False),
        "event loop, no run": (True, True),
        "async flow": (True, True),
        "sync task in an async flow": (False, False),
        "sync flow": (False, False),
        "async task in a sync flow": (True, True),
    }
