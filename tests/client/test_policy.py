"""The one retry and idempotency policy (`_policy`): the figures it states are what a task
call really does, and every key the package sends has the documented shape."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prefect import flow
from prefect.context import FlowRunContext

from prefect_stripe_identity import (
    APIError,
    StripeIdentityCredentials,
    _base_client,
    _policy,
    create_verification_session,
)
from prefect_stripe_identity._policy import (
    attempts_per_task_call,
    creation_key,
    replacement_key,
    rollback_cancel_key,
    sweep_redaction_key,
    worst_case_wait_seconds,
)
from prefect_stripe_identity.emulator import EmulatorConfig, EmulatorServer

KEY = "sk_test_policyFigures001"


def test_the_stated_worst_cases_are_the_computed_ones() -> None:
    doc = _policy.__doc__ or ""
    assert attempts_per_task_call() == 12 and "**12\n  HTTP attempts**" in doc
    assert attempts_per_task_call(connect_failure=True) == 6 and "**6 HTTP attempts**" in doc
    assert worst_case_wait_seconds() == pytest.approx(69.0) and "= 69 s" in doc
    assert worst_case_wait_seconds(connect_failure=True) == pytest.approx(6.0)
    assert worst_case_wait_seconds(retry_after=True) == pytest.approx(543.0) and "543 s" in doc
    assert attempts_per_task_call(0) == 4  # fewer client retries, fewer attempts


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(processing_seconds=0)) as server:
        yield server


@pytest.mark.usefixtures("prefect_engine")
def test_a_task_call_makes_exactly_the_stated_attempts(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_base_client, "retry_delay", lambda number, error: 0.0)
    httpx.post(f"{emulator.url}/_emulator/faults", data={"kind": "503", "count": 100})
    before = httpx.get(f"{emulator.url}/_emulator/stats").json()["requests"]
    credentials = StripeIdentityCredentials(api_key=KEY, api_base=emulator.url)
    create = create_verification_session.with_options(retry_delay_seconds=0)

    @flow
    def always_unavailable() -> Any:
        return create(credentials, type="document")

    with pytest.raises(APIError):
        always_unavailable()
    after = httpx.get(f"{emulator.url}/_emulator/stats").json()
    httpx.post(f"{emulator.url}/_emulator/reset")
    assert after["requests"] - before == attempts_per_task_call() == 12
    assert after["sessions_created"] == 0


@pytest.mark.usefixtures("prefect_engine")
def test_the_tasks_write_nothing_into_prefects_run_context(emulator: EmulatorServer) -> None:
    credentials = StripeIdentityCredentials(api_key=KEY, api_base=emulator.url)

    @flow
    def two_identical_creates() -> tuple[str, str, list[str]]:
        first = create_verification_session(credentials, type="document")
        second = create_verification_session(credentials, type="document")
        context = FlowRunContext.get()
        assert context is not None
        ours = [k for k in context.task_run_dynamic_keys if "prefect_stripe_identity" in k]
        return first.id, second.id, ours

    first, second, ours = two_identical_creates()
    assert first != second  # still counted apart: calls 0 and 1 of this attempt
    assert ours == []


def test_keys_have_their_documented_shape() -> None:
    params = {"type": "document", "metadata": {"a": "1", "b": "2"}}
    reordered = {"metadata": {"b": "2", "a": "1"}, "type": "document"}
    key = creation_key("user-1", "run-1", params)
    assert key.startswith("verify_identity:user-1:") and key == creation_key(
        "user-1", None, reordered
    )
    assert creation_key(None, "run-1", params).startswith("verify_identity:run:run-1:")
    assert creation_key("user-1", None, {**params, "type": "id_number"}) != key
    assert replacement_key(key, "vs_dead") == f"{key}:after:vs_dead"
    assert rollback_cancel_key("vs_1") == "verify_identity:rollback:vs_1"
    sweep = sweep_redaction_key("run-1", "vs_1")
    assert sweep.startswith("psi-redact-") and len(sweep) == len("psi-redact-") + 40
    assert sweep == sweep_redaction_key("run-1", "vs_1") != sweep_redaction_key("run-2", "vs_1")
