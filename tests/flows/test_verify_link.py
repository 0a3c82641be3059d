"""Sending the link without code: `verify_identity(link_notification=…)` sends the hosted
URL through a saved Prefect notification block (here a custom webhook to a loopback
server), and nowhere else; a deployment run refuses a `session_ready_hook` the worker
does not allow. Both twins, with a real Prefect engine against the emulator."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
import uuid
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import yaml
from prefect.blocks.notifications import CustomWebhookNotificationBlock
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
from prefect.flow_engine import run_flow
from prefect.settings import PREFECT_LOCAL_STORAGE_PATH

from prefect_stripe_identity import StripeIdentityClient, StripeIdentityCredentials
from prefect_stripe_identity.emulator import EmulatorServer
from prefect_stripe_identity.flows import _link, averify_identity, verify_identity

KEY = "sk_test_sendTheLink0001"
FAST: dict[str, Any] = {
    "poll_interval_seconds": 0.1,
    "max_poll_interval_seconds": 0.3,
    "redaction_deployment": None,
}
TWINS = ["sync", "async"]
ROOT = Path(__file__).resolve().parents[2]
engine = pytest.mark.usefixtures("prefect_engine")


class Receiver:
    """A loopback HTTP server that records each request's body and answers ``status``;
    stopped (and its thread joined) when the ``with`` block ends."""

    def __init__(self, status: int = 200) -> None:
        received: list[bytes] = []
        self.received = received

        class Handler(BaseHTTPRequestHandler):
            timeout = 5  # a stalled client never holds the test

            def do_POST(self) -> None:
                received.append(self.rfile.read(int(self.headers["Content-Length"])))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:  # keep the test output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/send-link"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def messages(self) -> list[dict[str, str]]:
        return [json.loads(body) for body in self.received]


def save_link_block(receiver: Receiver, name: str) -> str:
    """A custom webhook notification block that posts the message to ``receiver``."""
    CustomWebhookNotificationBlock(
        name="identity-links",
        url=receiver.url,
        json_data={"text": "{{body}}", "subject": "{{subject}}"},
    ).save(name, overwrite=True)
    return f"custom-webhook/{name}"


def stats(emulator: EmulatorServer) -> dict[str, Any]:
    return httpx.get(f"{emulator.url}/_emulator/stats").json()  # type: ignore[no-any-return]


def run(twin: str, credentials: StripeIdentityCredentials, **arguments: Any) -> Any:
    """The flow's final state; the error of a failed run is raised."""
    if twin == "sync":
        state = verify_identity(credentials, return_state=True, **arguments)
    else:
        state = asyncio.run(averify_identity(credentials, return_state=True, **arguments))
    if not state.is_completed():
        state.result()  # raises the run's error
    return state


def message_links(receiver: Receiver, count: int, timeout: float = 30) -> list[str]:
    """The links of the first ``count`` messages, once they have come."""
    deadline = time.monotonic() + timeout
    while len(receiver.received) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return [
        found.group(0)
        for message in receiver.messages()
        if (found := re.search(r"https?://\S+", message["text"]))
    ]


def submit_on_page(link: str, outcome: str) -> httpx.Response:
    """What the person does on the hosted page the link opens."""
    parts = urlsplit(link)
    token = parse_qs(parts.query)["token"][0]
    data = {"outcome": outcome, "token": token}
    if outcome == "unverified":
        data["error_code"] = "document_expired"
    return httpx.post(f"{parts.scheme}://{parts.netloc}{parts.path}", data=data)


class Person(threading.Thread):
    """Waits for the message, opens the link it holds and verifies on the hosted page.
    Before submitting, reads the session's own hosted URL, to compare."""

    def __init__(self, emulator: EmulatorServer, receiver: Receiver, reference: str) -> None:
        super().__init__(daemon=True)
        self.api, self.receiver, self.reference = emulator.url, receiver, reference
        self.link: str | None = None
        self.session_url: str | None = None

    def run(self) -> None:
        links = message_links(self.receiver, 1)
        if not links:
            return
        self.link = links[0]
        with StripeIdentityClient(KEY, api_base=self.api) as client:
            (session,) = client.verification_sessions.list(client_reference_id=self.reference).data
            session = client.verification_sessions.retrieve(session.id)
        self.session_url = session.url.get_secret_value() if session.url else None
        submit_on_page(self.link, "verified").raise_for_status()


def flow_run_logs(flow_run_id: Any, until: str) -> list[str]:
    """The flow run's log messages (its tasks' too), once ``until`` is among them."""
    deadline = time.monotonic() + 15
    with get_client(sync_client=True) as client:
        while True:
            logs = client.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))
            )
            messages = [log.message for log in logs]
            if any(until in m for m in messages) or time.monotonic() > deadline:
                return messages
            time.sleep(0.2)


def stored_results() -> dict[Path, bytes]:
    """Every file of Prefect's local result storage."""
    root = Path(PREFECT_LOCAL_STORAGE_PATH.value())
    return {path: path.read_bytes() for path in root.rglob("*") if path.is_file()}


@engine
@pytest.mark.parametrize("twin", TWINS)
def test_the_link_goes_to_the_notification_block_and_nowhere_else(
    twin: str, credentials: StripeIdentityCredentials, emulator: EmulatorServer
) -> None:
    reference = f"link-{twin}"
    with Receiver() as receiver:
        block = save_link_block(receiver, f"links-{twin}")
        person = Person(emulator, receiver, reference)
        person.start()
        state = run(
            twin,
            credentials,
            client_reference_id=reference,
            link_notification=block,
            timeout=timedelta(seconds=30),
            **FAST,
        )
        person.join(timeout=30)
    outcome = state.result()
    assert outcome.status == "verified" and outcome.verified
    # The person got the session's own hosted URL, once, and used it.
    assert person.session_url and person.link == person.session_url
    (message,) = receiver.messages()
    assert message == {
        "text": _link.DEFAULT_LINK_MESSAGE.format(url=person.link, client_reference_id=reference),
        "subject": _link.LINK_SUBJECT,
    }
    token = parse_qs(urlsplit(person.link).query)["token"][0]

    run_id = state.state_details.flow_run_id
    logs = flow_run_logs(run_id, until=f"Verification {outcome.session_id}: verified")
    assert any("Sent the link" in m and block in m for m in logs)  # the logs were read
    assert not [m for m in logs if token in m]
    with get_client(sync_client=True) as client:
        parameters = client.read_flow_run(run_id).parameters
    assert parameters["link_notification"] == block
    assert token not in json.dumps(parameters, default=str)
    stored = stored_results()
    assert state.data.metadata.storage_key in {str(p) for p in stored}  # the result is there
    assert not [path for path, data in stored.items() if token.encode() in data]


@engine
@pytest.mark.parametrize("twin", TWINS)
def test_after_a_failed_attempt_the_person_gets_a_new_link(
    twin: str, credentials: StripeIdentityCredentials, emulator: EmulatorServer
) -> None:
    used: dict[str, Any] = {}

    def person() -> None:
        # Fails with the first link; the used link is dead, the second one verifies.
        (first,) = message_links(receiver, 1)
        used["first"] = submit_on_page(first, "unverified").status_code
        links = message_links(receiver, 2)
        used["links"] = links
        if len(links) == 2:
            used["reused"] = submit_on_page(first, "verified").status_code
            used["second"] = submit_on_page(links[1], "verified").status_code

    with Receiver() as receiver:
        block = save_link_block(receiver, f"again-{twin}")
        thread = threading.Thread(target=person, daemon=True)
        thread.start()
        state = run(
            twin,
            credentials,
            client_reference_id=f"again-{twin}",
            link_notification=block,
            timeout=timedelta(seconds=40),
            **FAST,
        )
        thread.join(timeout=30)
    outcome = state.result()
    assert outcome.status == "verified"
    assert outcome.failed_attempts == ["document_expired"]
    first, second = used["links"]
    assert first != second
    assert (used["first"], used["reused"], used["second"]) == (200, 404, 200)
    assert len(receiver.messages()) == 2  # nothing more once verified


@engine
@pytest.mark.parametrize("twin", TWINS)
def test_stop_on_failure_sends_no_second_link(
    twin: str, credentials: StripeIdentityCredentials, emulator: EmulatorServer
) -> None:
    with Receiver() as receiver:
        block = save_link_block(receiver, f"once-{twin}")
        thread = threading.Thread(
            target=lambda: submit_on_page(message_links(receiver, 1)[0], "unverified"),
            daemon=True,
        )
        thread.start()
        state = run(
            twin,
            credentials,
            client_reference_id=f"once-{twin}",
            link_notification=block,
            stop_on_failure=True,
            timeout=timedelta(seconds=40),
            **FAST,
        )
        thread.join(timeout=30)
    outcome = state.result()
    assert (outcome.status, outcome.failed_attempts) == ("requires_input", ["document_expired"])
    assert len(receiver.messages()) == 1


@engine
@pytest.mark.parametrize("twin", TWINS)
def test_a_custom_message_is_sent(
    twin: str, credentials: StripeIdentityCredentials, emulator: EmulatorServer
) -> None:
    with Receiver() as receiver:
        block = save_link_block(receiver, f"custom-message-{twin}")
        state = run(
            twin,
            credentials,
            client_reference_id=f"custom-{twin}",
            link_notification=block,
            link_message="Hello {client_reference_id}, open {url} ({{single use}})",
            timeout=timedelta(seconds=1),
            **FAST,
        )
    assert state.result().canceled_by_flow  # nobody came
    (message,) = receiver.messages()
    assert re.fullmatch(
        rf"Hello custom-{twin}, open {re.escape(emulator.url)}/_emulator/verify/vs_\w+"
        r"\?token=\w+ \(\{single use\}\)",
        message["text"],
    )


@engine
@pytest.mark.parametrize("twin", TWINS)
def test_a_bad_block_fails_naming_the_parameter_before_any_session(
    twin: str, credentials: StripeIdentityCredentials, emulator: EmulatorServer
) -> None:
    credentials.save("not-a-notifier", overwrite=True)
    before = stats(emulator)
    for name, error in [
        ("custom-webhook/no-such-block", "cannot be loaded"),
        ("no-such-block", "<block type slug>/<block name>"),
        ("stripe-identity-credentials/not-a-notifier", "not a notification block"),
    ]:
        with pytest.raises(ValueError, match="`link_notification`") as caught:
            run(twin, credentials, client_reference_id="bad-block", link_notification=name, **FAST)
        assert error in str(caught.value) and name in str(caught.value)
    after = stats(emulator)
    assert (after["requests"], after["sessions_created"]) == (before["requests"], 0)


@engine
@pytest.mark.parametrize("twin", TWINS)
def test_a_failed_send_fails_the_run_and_cancels_the_session(
    twin: str, credentials: StripeIdentityCredentials, emulator: EmulatorServer
) -> None:
    reference = f"send-fails-{twin}"
    with Receiver(status=500) as receiver:
        block = save_link_block(receiver, f"failing-{twin}")
        with pytest.raises(RuntimeError, match="could not send the link") as caught:
            run(twin, credentials, client_reference_id=reference, link_notification=block, **FAST)
    (message,) = receiver.messages()
    assert "_emulator/verify/" in message["text"]
    assert "token" not in str(caught.value) and "HTTP 500" in str(caught.value)
    with StripeIdentityClient(KEY, api_base=emulator.url) as client:
        (session,) = client.verification_sessions.list(client_reference_id=reference).data
    assert session.status == "canceled"  # the person could not get the link: no orphan


@pytest.mark.parametrize(
    "template",
    [
        "Verify: {url}",
        "{url} {client_reference_id} {url}",
        "{{literal}} {url}",
    ],
)
def test_a_template_with_the_url_and_known_placeholders_passes(template: str) -> None:
    _link.check_link_message(template)


@pytest.mark.parametrize(
    ("template", "error"),
    [
        ("No link here", "must hold {url}"),
        ("Only {client_reference_id}", "must hold {url}"),
        ("Hi {name}: {url}", "not {name}"),
        ("{url.__class__}", "not {url.__class__}"),
        ("{url[0]}", "not {url[0]}"),
        ("{url!r}", "not {url!r}"),
        ("{url:>300}", "not {url:>300}"),
        ("{} {url}", "not {}"),
        ("{url", "not a valid template"),
        ("url}", "not a valid template"),
    ],
)
def test_a_bad_template_is_refused_naming_the_parameter(template: str, error: str) -> None:
    with pytest.raises(ValueError, match="`link_message`") as caught:
        _link.check_link_message(template)
    assert error in str(caught.value)


@engine
@pytest.mark.parametrize("twin", TWINS)
def test_a_bad_template_fails_the_flow_before_any_stripe_call(
    twin: str, credentials: StripeIdentityCredentials, emulator: EmulatorServer
) -> None:
    before = stats(emulator)["requests"]
    with pytest.raises(ValueError, match="`link_message`"):
        run(twin, credentials, link_message="Hi {name}", **FAST)
    assert stats(emulator)["requests"] == before


# --- session_ready_hook in a deployment run ------------------------------------------------

HOOK = "tests_hooks:never_called"


def fake_context(monkeypatch: pytest.MonkeyPatch, deployment_id: uuid.UUID | None) -> None:
    context = SimpleNamespace(flow_run=SimpleNamespace(deployment_id=deployment_id))
    monkeypatch.setattr(_link, "FlowRunContext", SimpleNamespace(get=lambda: context))


def test_a_hook_is_refused_in_a_deployment_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(_link.ALLOWED_HOOKS_ENV, raising=False)
    fake_context(monkeypatch, uuid.uuid4())
    with pytest.raises(ValueError, match=r"`session_ready_hook`.*refused in a deployment run"):
        _link.check_hook_allowed(HOOK)
    monkeypatch.setenv(_link.ALLOWED_HOOKS_ENV, "other:hook, tests_hooks:never")
    with pytest.raises(ValueError, match=_link.ALLOWED_HOOKS_ENV):
        _link.check_hook_allowed(HOOK)
    _link.check_hook_allowed(None)  # no hook, nothing to refuse


def test_a_hook_the_worker_allows_or_a_python_caller_gives_passes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_context(monkeypatch, uuid.uuid4())
    monkeypatch.setenv(_link.ALLOWED_HOOKS_ENV, f"other:hook, {HOOK} ,")
    _link.check_hook_allowed(HOOK)
    monkeypatch.delenv(_link.ALLOWED_HOOKS_ENV)
    fake_context(monkeypatch, None)  # a flow run of no deployment: a Python caller
    _link.check_hook_allowed(HOOK)


HOOK_CALLS: list[str] = []


def record_call(session: Any) -> None:
    HOOK_CALLS.append(session.id)


def run_as_worker(
    twin: str, deployment_id: uuid.UUID, credentials: StripeIdentityCredentials, **arguments: Any
) -> Any:
    """A flow run of the deployment (its credentials a block reference, as a form sends
    them), run in this process as a worker would run it."""
    flow = verify_identity if twin == "sync" else averify_identity
    block_id = credentials.save(f"worker-{twin}", overwrite=True)
    stored = {
        "credentials": {"$ref": {"block_document_id": str(block_id)}},
        **arguments,
        "timeout": 1,  # seconds, as the form takes it
    }
    with get_client(sync_client=True) as client:
        flow_run = client.create_flow_run_from_deployment(deployment_id, parameters=stored)
    resolved = {"credentials": credentials, **arguments, "timeout": timedelta(seconds=1)}
    if twin == "sync":
        return run_flow(flow, flow_run=flow_run, parameters=resolved)
    return asyncio.run(run_flow(flow, flow_run=flow_run, parameters=resolved))  # type: ignore[arg-type]


@engine
@pytest.mark.parametrize("twin", TWINS)
def test_a_deployment_run_refuses_a_hook_before_any_stripe_call(
    twin: str,
    credentials: StripeIdentityCredentials,
    emulator: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(_link.ALLOWED_HOOKS_ENV, raising=False)
    flow = verify_identity if twin == "sync" else averify_identity
    deployment_id = flow.to_deployment(name=f"hook-refusal-{twin}").apply()
    arguments = {"session_ready_hook": f"{__name__}:record_call", **FAST}
    before = stats(emulator)["requests"]
    with pytest.raises(ValueError, match=r"`session_ready_hook`.*refused in a deployment run"):
        run_as_worker(twin, deployment_id, credentials, **arguments)
    assert stats(emulator)["requests"] == before and HOOK_CALLS == []

    # The worker's allow-list lets it through.
    monkeypatch.setenv(_link.ALLOWED_HOOKS_ENV, arguments["session_ready_hook"])
    outcome = run_as_worker(twin, deployment_id, credentials, **arguments)
    assert [outcome.session_id] == HOOK_CALLS
    HOOK_CALLS.clear()


def test_the_shipped_verify_deployment_exposes_link_notification() -> None:
    config = yaml.safe_load((ROOT / "flows" / "prefect.yaml").read_text())
    (verify,) = [d for d in config["deployments"] if d["name"] == "verify-identity"]
    assert "link_notification" in verify["parameters"]
    assert "session_ready_hook" not in verify["parameters"]
