"""`prefect-stripe-identity automations create` (issue 14, item 3): the automations for the
events people act on land on a real Prefect server, once however often the command runs,
and a session event fires its automation, which sends its message (ids, statuses and error
codes only) through the saved notification block."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from prefect.blocks.notifications import CustomWebhookNotificationBlock
from prefect.blocks.system import Secret
from prefect.client.orchestration import get_client
from prefect.events.worker import EventsWorker

from prefect_stripe_identity import VerificationSession
from prefect_stripe_identity._automations import AUTOMATIONS
from prefect_stripe_identity.cli import main
from prefect_stripe_identity.events import emit_session_event

pytestmark = pytest.mark.usefixtures("prefect_engine")

EXPECTED = {
    "stripe-identity-attempt-failed": "stripe.identity.verification_session.requires_input",
    "stripe-identity-verified": "stripe.identity.verification_session.verified",
    "stripe-identity-canceled": "stripe.identity.verification_session.canceled",
    "stripe-identity-redacted": "stripe.identity.verification_session.redacted",
}
SESSION = VerificationSession.model_validate(
    {
        "id": "vs_automation1",
        "created": 1,
        "livemode": False,
        "status": "requires_input",
        "type": "document",
        "client_secret": "vs_automation1_secret_neverSent",
        "url": "https://verify.example/never-sent",
        "last_error": {"code": "document_expired", "reason": "The document is expired."},
        "last_verification_report": "vr_automation1",
        "verified_outputs": {"first_name": "Jenny"},
    }
)


class Inbox(ThreadingHTTPServer):
    """A webhook receiver standing in for Slack or e-mail: it keeps what it is sent."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

        inbox = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                inbox.messages.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/notify"


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    server = Inbox()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def ours() -> dict[str, Any]:
    with get_client(sync_client=True) as client:
        return {a.name: a for a in client.read_automations() if a.name in EXPECTED}


def test_the_command_creates_one_automation_per_event_once(
    inbox: Inbox, capsys: pytest.CaptureFixture[str]
) -> None:
    block = CustomWebhookNotificationBlock(
        name="identity-alerts",
        url=inbox.url,
        json_data={"subject": "{{subject}}", "body": "{{body}}"},
    )
    block_id = block.save("identity-alerts", overwrite=True)

    assert main(["automations", "create", "--notify", "custom-webhook/identity-alerts"]) == 0
    assert "created automation 'stripe-identity-verified'" in capsys.readouterr().out
    assert main(["automations", "create", "--notify", "custom-webhook/identity-alerts"]) == 0
    assert "updated automation 'stripe-identity-verified'" in capsys.readouterr().out

    found = ours()
    assert set(found) == set(EXPECTED) == {a.name for a in AUTOMATIONS}
    with get_client(sync_client=True) as client:
        names = [a.name for a in client.read_automations()]
    assert all(names.count(name) == 1 for name in EXPECTED), names  # updated, not doubled
    for name, event in EXPECTED.items():
        automation = found[name]
        assert automation.enabled
        assert automation.trigger.expect == {event}
        assert automation.trigger.match.model_dump() == {
            "prefect.resource.id": "stripe.identity.verification_session.*"
        }
        (action,) = automation.actions
        assert action.type == "send-notification"
        assert action.block_document_id == block_id

    # A failed attempt: the event fires the automation, the block sends the message.
    emit_session_event(SESSION, flow_run_id=None)
    EventsWorker.drain_all()
    deadline = time.monotonic() + 90
    while not inbox.messages and time.monotonic() < deadline:
        time.sleep(0.5)
    assert inbox.messages, "the automation did not send its notification"
    (message,) = inbox.messages[:1]
    assert message["subject"] == "Identity verification: an attempt failed"
    assert "vs_automation1" in message["body"] and "document_expired" in message["body"]
    assert "test mode" in message["body"]
    for secret in ("secret_neverSent", "never-sent", "Jenny", "expired."):
        assert secret not in json.dumps(inbox.messages)


def test_live_mode_only_and_a_block_that_cannot_notify_are_handled(
    capsys: pytest.CaptureFixture[str],
) -> None:
    Secret(value="not a notification").save("not-a-notifier", overwrite=True)
    assert main(["automations", "create", "--notify", "secret/not-a-notifier"]) == 2
    assert "not a notification block" in capsys.readouterr().err
    assert main(["automations", "create", "--notify", "no-slash"]) == 2
    assert "'<block type slug>/<block name>'" in capsys.readouterr().err

    CustomWebhookNotificationBlock(name="live-alerts", url="http://127.0.0.1:9/x").save(
        "live-alerts", overwrite=True
    )
    argv = ["automations", "create", "--notify", "custom-webhook/live-alerts", "--mode", "live"]
    assert main(argv) == 0
    for automation in ours().values():
        assert automation.trigger.match.model_dump()["stripe.livemode"] == "true"
