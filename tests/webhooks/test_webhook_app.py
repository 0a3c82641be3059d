"""The receiver app with a fake forwarder: rejections, dedupe, ordering, nothing lost, no leaks."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any
from uuid import UUID

import httpx
import pytest
from webhook_helpers import (
    CLIENT_SECRET,
    FLOW_RUN,
    LEAKS,
    OLD_SECRET,
    SECRET,
    SESSION_URL,
    FakeForwarder,
    dumps,
    make_event,
    sdk_header,
    session_object,
)

from prefect_stripe_identity.flows import VerificationSessionUpdate
from prefect_stripe_identity.webhooks import (
    InMemoryDedupe,
    PrefectForwarder,
    ResumeOutcome,
    create_webhook_app,
)

Post = Callable[..., Any]


@pytest.fixture
async def client(forwarder: FakeForwarder) -> AsyncIterator[httpx.AsyncClient]:
    app = create_webhook_app([SECRET, OLD_SECRET], forwarder=forwarder, max_body_bytes=64_000)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://receiver") as c:
        yield c


async def deliver(
    client: httpx.AsyncClient,
    event: dict[str, Any],
    *,
    secret: str = SECRET,
    timestamp: int | None = None,
    body: bytes | None = None,
) -> httpx.Response:
    """Post ``event`` as Stripe does: raw JSON body signed by the official SDK."""
    payload = body if body is not None else dumps(event)
    header = sdk_header(dumps(event) if body is None else body, secret, timestamp)
    return await client.post(
        "/webhooks/stripe",
        content=payload,
        headers={"Stripe-Signature": header, "Content-Type": "application/json"},
    )


async def test_health(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


async def test_identity_event_resumes_the_flow_and_emits(
    client: httpx.AsyncClient, forwarder: FakeForwarder
) -> None:
    event = make_event("verified", created=1_760_000_123)
    response = await deliver(client, event)
    assert response.status_code == 200
    assert response.json() == {"outcome": "forwarded", "resume": "resumed"}
    [(flow_run_id, run_input)] = forwarder.resumed
    assert flow_run_id == FLOW_RUN
    assert run_input == VerificationSessionUpdate(
        session_id="vs_test_1",
        status="verified",
        stripe_event_id=event["id"],
        event_created=1_760_000_123,
        report_id="vr_test_1",
    ).model_dump(mode="json")
    [emitted] = forwarder.emitted
    assert emitted["status"] == "verified"
    assert emitted["flow_run_id"] == FLOW_RUN
    assert emitted["stripe_event_id"] == event["id"]
    assert emitted["occurred"].timestamp() == 1_760_000_123


@pytest.mark.parametrize(
    ("mangle", "reason"),
    [
        (lambda body, header: (body, None), "missing header"),
        (lambda body, header: (body, "t=1,v9"), "malformed header"),
        (lambda body, header: (body, sdk_header(body, "whsec_wrong")), "no matching signature"),
        (lambda body, header: (body + b" ", header), "no matching signature"),
        (
            lambda body, header: (body.replace(b"verified", b"canceled"), header),
            "no matching signature",
        ),
        (
            lambda body, header: (body, sdk_header(body, timestamp=int(time.time()) - 600)),
            "timestamp too old",
        ),
        (
            lambda body, header: (body, sdk_header(body, timestamp=int(time.time()) + 600)),
            "timestamp in the future",
        ),
        (lambda body, header: (b"[]", sdk_header(b"[]")), "not a Stripe event"),
        (lambda body, header: (b"{oops", sdk_header(b"{oops")), "not a Stripe event"),
    ],
)
async def test_rejections_are_400_with_a_reason_and_log_no_payload(
    client: httpx.AsyncClient,
    forwarder: FakeForwarder,
    caplog: pytest.LogCaptureFixture,
    mangle: Callable[[bytes, str], tuple[bytes, str | None]],
    reason: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    event = make_event("verified", sensitive=True)
    body, header = mangle(dumps(event), sdk_header(dumps(event)))
    headers = {"Stripe-Signature": header} if header is not None else {}
    response = await client.post("/webhooks/stripe", content=body, headers=headers)
    assert response.status_code == 400
    assert response.json() == {"error": reason}
    assert forwarder.emitted == [] and forwarder.resumed == []
    assert reason in caplog.text
    for leak in (*LEAKS, event["id"], "vs_test_1"):
        assert leak not in caplog.text
        assert leak not in response.text


async def test_body_cap_is_413_with_or_without_content_length(
    client: httpx.AsyncClient, forwarder: FakeForwarder
) -> None:
    big = make_event("verified", obj=session_object(padding="x" * 70_000))
    response = await deliver(client, big)
    assert response.status_code == 413 and response.json() == {"error": "body too large"}

    async def stream() -> AsyncIterator[bytes]:
        for _ in range(100):
            yield b"x" * 1000

    # No Content-Length (chunked): the cap holds while reading. (A well-formed, fresh
    # header: anything less is refused before the body is read.)
    response = await client.post(
        "/webhooks/stripe", content=stream(), headers={"Stripe-Signature": sdk_header(b"x")}
    )
    assert response.status_code == 413
    assert forwarder.emitted == []


async def test_non_identity_events_are_acknowledged_and_ignored(
    client: httpx.AsyncClient, forwarder: FakeForwarder
) -> None:
    event = make_event(event_type="payment_intent.succeeded", obj={"id": "pi_1"})
    response = await deliver(client, event)
    assert response.status_code == 200 and response.json()["outcome"] == "ignored"
    assert forwarder.emitted == [] and forwarder.resumed == []


async def test_rotated_secret_is_accepted_by_the_app(
    client: httpx.AsyncClient, forwarder: FakeForwarder
) -> None:
    response = await deliver(client, make_event("processing"), secret=OLD_SECRET)
    assert response.status_code == 200
    assert len(forwarder.emitted) == 1


async def test_redelivery_is_acknowledged_and_not_processed_twice(
    client: httpx.AsyncClient, forwarder: FakeForwarder
) -> None:
    event = make_event("verified")
    first = await deliver(client, event)
    # Stripe signs each attempt afresh: another timestamp, same event id.
    second = await deliver(client, event, timestamp=int(time.time()) - 5)
    assert first.json()["outcome"] == "forwarded"
    assert second.status_code == 200 and second.json()["outcome"] == "duplicate"
    assert len(forwarder.resumed) == 1 and len(forwarder.emitted) == 1


async def test_dedupe_store_is_bounded() -> None:
    dedupe = InMemoryDedupe(max_size=3)
    for i in range(5):
        dedupe.mark(f"evt_{i}")
    assert len(dedupe) == 3
    assert not dedupe.seen("evt_0") and not dedupe.seen("evt_1")
    assert all(dedupe.seen(f"evt_{i}") for i in (2, 3, 4))
    with pytest.raises(ValueError):
        InMemoryDedupe(max_size=0)


@pytest.mark.parametrize("where", ["resume", "emit"])
async def test_forwarding_failure_is_503_and_not_marked_seen(
    client: httpx.AsyncClient,
    forwarder: FakeForwarder,
    caplog: pytest.LogCaptureFixture,
    where: str,
) -> None:
    failure = httpx.ConnectError(f"cannot reach http://prefect/api {CLIENT_SECRET}")
    setattr(forwarder, f"fail_{where}", failure)
    event = make_event("verified", sensitive=True)
    response = await deliver(client, event)
    assert response.status_code == 503
    assert response.json()["outcome"] == "retry_later"
    assert "ConnectError" in caplog.text and CLIENT_SECRET not in caplog.text
    # Prefect is back: Stripe's redelivery is processed, not taken for a duplicate.
    setattr(forwarder, f"fail_{where}", None)
    again = await deliver(client, event)
    assert again.status_code == 200 and again.json()["outcome"] == "forwarded"
    assert len(forwarder.emitted) == 1
    # The flow was resumed exactly once, even when only the emit had failed: a second
    # resume would hand a stale update to the flow's next pause.
    assert len(forwarder.resumed) == 1
    assert (await deliver(client, event)).json()["outcome"] == "duplicate"


async def test_busy_flow_run_is_503_until_it_pauses(
    client: httpx.AsyncClient, forwarder: FakeForwarder
) -> None:
    forwarder.resume_outcome = ResumeOutcome.BUSY
    event = make_event("verified")
    response = await deliver(client, event)
    assert response.status_code == 503 and response.json()["resume"] == "busy"
    assert forwarder.emitted == []
    forwarder.resume_outcome = ResumeOutcome.RESUMED
    assert (await deliver(client, event)).json() == {"outcome": "forwarded", "resume": "resumed"}


@pytest.mark.parametrize(
    "outcome", [ResumeOutcome.FINISHED, ResumeOutcome.NOT_FOUND, ResumeOutcome.REJECTED]
)
async def test_finished_or_unknown_flow_run_is_acknowledged(
    client: httpx.AsyncClient, forwarder: FakeForwarder, outcome: ResumeOutcome
) -> None:
    forwarder.resume_outcome = outcome
    event = make_event("verified")
    response = await deliver(client, event)
    assert response.status_code == 200 and response.json()["resume"] == outcome.value
    assert len(forwarder.emitted) == 1
    assert (await deliver(client, event)).json()["outcome"] == "duplicate"


async def test_late_processing_after_verified_never_moves_the_flow_back(
    client: httpx.AsyncClient, forwarder: FakeForwarder
) -> None:
    t = 1_760_000_000
    verified = make_event("verified", created=t + 10)
    processing = make_event("processing", created=t)
    assert (await deliver(client, verified)).json()["outcome"] == "forwarded"
    late = await deliver(client, processing)
    assert late.status_code == 200 and late.json() == {
        "outcome": "out_of_order",
        "detail": "older than the session's state",
    }
    # Recorded (a Prefect event at its true time), but the flow is not resumed with it.
    assert [e["status"] for e in forwarder.emitted] == ["verified", "processing"]
    assert forwarder.emitted[1]["occurred"].timestamp() == t
    assert [r[1]["status"] for r in forwarder.resumed] == ["verified"]
    # A non-terminal event after a terminal one is backwards even when its time is later.
    odd = make_event("requires_input", created=t + 20)
    assert (await deliver(client, odd)).json()["outcome"] == "out_of_order"
    # Terminal to terminal goes on: redaction after verification resumes the flow.
    redacted = make_event("redacted", created=t + 30)
    assert (await deliver(client, redacted)).json()["outcome"] == "forwarded"
    assert [r[1]["status"] for r in forwarder.resumed] == ["verified", "redacted"]
    # Each late event is acknowledged once; its redelivery is a duplicate.
    assert (await deliver(client, processing)).json()["outcome"] == "duplicate"


async def test_older_non_terminal_events_do_not_resume_but_newer_ones_do(
    client: httpx.AsyncClient, forwarder: FakeForwarder
) -> None:
    t = 1_760_000_000
    failed = {"last_error": {"code": "document_expired", "reason": "expired"}}
    await deliver(client, make_event("requires_input", created=t + 5, **failed))
    await deliver(client, make_event("requires_input", created=t, **failed))
    await deliver(client, make_event("requires_input", created=t + 6, **failed))
    assert [r[1]["event_created"] for r in forwarder.resumed] == [t + 5, t + 6]
    # Sessions are independent.
    other = make_event("requires_input", created=t - 100, session_id="vs_other", **failed)
    assert (await deliver(client, other)).json()["outcome"] == "forwarded"
    assert len(forwarder.resumed) == 3


async def test_only_what_the_flow_acts_on_resumes_it(
    client: httpx.AsyncClient, forwarder: FakeForwarder
) -> None:
    failed = {"last_error": {"code": "document_expired", "reason": "expired"}}
    for event in (
        make_event("created"),
        make_event("processing"),
        make_event("requires_input"),  # no failed attempt: nothing new for the flow
        make_event("requires_input", **failed),
        make_event("verified"),
    ):
        assert (await deliver(client, event)).json()["outcome"] == "forwarded"
    # Every event is a Prefect event; only a failed attempt and a final status resume.
    assert [e["status"] for e in forwarder.emitted] == [
        "created",
        "processing",
        "requires_input",
        "requires_input",
        "verified",
    ]
    assert [r[1]["status"] for r in forwarder.resumed] == ["requires_input", "verified"]
    assert forwarder.resumed[0][1]["last_error_code"] == "document_expired"


async def test_created_event_emits_without_waking_the_flow(
    client: httpx.AsyncClient, forwarder: FakeForwarder
) -> None:
    response = await deliver(client, make_event("created"))
    assert response.json() == {"outcome": "forwarded"}
    assert forwarder.resumed == []
    assert [e["status"] for e in forwarder.emitted] == ["created"]


async def test_session_without_or_with_bad_flow_run_metadata(
    client: httpx.AsyncClient, forwarder: FakeForwarder, caplog: pytest.LogCaptureFixture
) -> None:
    await deliver(client, make_event("verified", flow_run_id=None))
    await deliver(client, make_event("verified", flow_run_id="not-a-uuid", session_id="vs_2"))
    assert forwarder.resumed == []
    assert [e["flow_run_id"] for e in forwarder.emitted] == [None, None]
    assert "not a flow run id" in caplog.text


async def test_identity_event_whose_object_is_not_a_session_is_400(
    client: httpx.AsyncClient, forwarder: FakeForwarder
) -> None:
    response = await deliver(client, make_event("verified", obj={"id": 3}))
    assert response.status_code == 400
    assert response.json()["outcome"] == "invalid"
    assert forwarder.emitted == []


async def test_nothing_secret_or_personal_is_forwarded_or_logged(
    client: httpx.AsyncClient, forwarder: FakeForwarder, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for status in ("processing", "verified"):
        event = make_event(status, sensitive=True, session_id="vs_sensitive")
        assert (await deliver(client, event)).status_code == 200
    forwarded = forwarder.everything()
    assert "vs_sensitive" in forwarded  # the check below looks at the right thing
    for leak in LEAKS:
        assert leak not in forwarded
        assert leak not in caplog.text
    session = forwarder.emitted[-1]["session"]
    assert session.client_secret is None and session.url is None


async def test_concurrent_delivery_of_the_same_event_is_handled_once() -> None:
    gate = asyncio.Event()

    class Slow(FakeForwarder):
        async def resume(self, flow_run_id: UUID, run_input: dict[str, Any]) -> ResumeOutcome:
            await gate.wait()
            return await super().resume(flow_run_id, run_input)

    slow = Slow()
    app = create_webhook_app(SECRET, forwarder=slow)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://r") as client:
        event = make_event("verified")
        first = asyncio.create_task(deliver(client, event))
        await asyncio.sleep(0.05)
        second = await deliver(client, event)
        assert second.status_code == 409 and second.json()["outcome"] == "in_progress"
        gate.set()
        assert (await first).status_code == 200
    assert len(slow.resumed) == 1


async def test_prefect_forwarder_emits_the_package_event_without_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import prefect_stripe_identity.events as events_module

    captured: list[dict[str, Any]] = []
    monkeypatch.setattr(events_module, "emit_event", lambda **kw: captured.append(kw))
    app = create_webhook_app(SECRET, forwarder=PrefectForwarder())
    # No resume: the session names no flow run, so the real Prefect API is not needed.
    event = make_event("verified", sensitive=True, flow_run_id=None)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://r") as client:
        response = await deliver(client, event)
    assert response.status_code == 200
    [sent] = captured
    assert sent["event"] == "stripe.identity.verification_session.verified"
    assert sent["resource"]["prefect.resource.id"] == (
        "stripe.identity.verification_session.vs_test_1"
    )
    assert sent["payload"]["stripe_event_id"] == event["id"]
    assert sent["payload"]["report_id"] == "vr_test_1"
    for leak in LEAKS:
        assert leak not in repr(sent)
    assert SESSION_URL not in repr(sent)


def test_app_needs_a_secret_and_sane_limits() -> None:
    with pytest.raises(ValueError, match="secret"):
        create_webhook_app([])
    with pytest.raises(ValueError, match="max_body_bytes"):
        create_webhook_app(SECRET, max_body_bytes=0)
