"""Helpers shared by the webhook tests (importable: conftest is not)."""

from __future__ import annotations

import contextlib
import contextvars
import datetime
import itertools
import json
import socket
import threading
import time
from collections.abc import Iterator
from types import TracebackType
from typing import Any
from uuid import UUID

import stripe
import uvicorn

from prefect_stripe_identity.emulator import EmulatorConfig, EmulatorServer
from prefect_stripe_identity.models import VerificationSession
from prefect_stripe_identity.webhooks import WEBHOOK_PATH, ResumeOutcome, create_webhook_app

SECRET = "whsec_test_primary_0123456789abcdef"
OLD_SECRET = "whsec_test_rotated_out_fedcba9876543210"
FLOW_RUN = UUID("7b0f6a52-56d6-4b43-9d7e-1d0a6c3a9f10")
# Secrets and personal data a session may hold: none may ever leave the receiver.
CLIENT_SECRET = "vs_1Abc_secret_live_TOPSECRETclientsecret"
SESSION_URL = "https://verify.stripe.com/start/test_SESSIONURLTOKEN"
FIRST_NAME = "Jennyfirstnamexyz"
LAST_NAME = "Rosenlastnamexyz"
ID_NUMBER = "IDNUMBER987654"
LEAKS = (
    CLIENT_SECRET,
    SESSION_URL,
    "SESSIONURLTOKEN",
    "TOPSECRET",
    FIRST_NAME,
    LAST_NAME,
    ID_NUMBER,
    SECRET,
    OLD_SECRET,
)

_ids = itertools.count(1)


def session_object(
    session_id: str = "vs_test_1",
    status: str = "verified",
    *,
    flow_run_id: UUID | str | None = FLOW_RUN,
    sensitive: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    """A verification session as Stripe puts it in ``data.object``."""
    obj: dict[str, Any] = {
        "id": session_id,
        "object": "identity.verification_session",
        "created": 1_750_000_000,
        "livemode": False,
        "status": status,
        "type": "document",
        "metadata": {"prefect_flow_run_id": str(flow_run_id)} if flow_run_id else {},
        "client_secret": None,
        "url": None,
        "last_error": None,
        "last_verification_report": "vr_test_1" if status == "verified" else None,
        "verified_outputs": None,
    }
    if sensitive:
        obj["client_secret"] = CLIENT_SECRET
        obj["url"] = SESSION_URL
        obj["verified_outputs"] = {
            "first_name": FIRST_NAME,
            "last_name": LAST_NAME,
            "id_number": ID_NUMBER,
            "dob": {"day": 1, "month": 2, "year": 1990},
            "address": {"line1": "1 Secret Street", "city": "Hiddenville", "country": "US"},
        }
    obj.update(extra)
    return obj


def make_event(
    status: str = "verified",
    *,
    event_id: str | None = None,
    created: int | None = None,
    obj: dict[str, Any] | None = None,
    event_type: str | None = None,
    **session: Any,
) -> dict[str, Any]:
    """A Stripe event dict for a session reaching ``status`` (or of ``event_type``)."""
    session_status = {"created": "requires_input", "redacted": "verified"}.get(status, status)
    return {
        "id": event_id or f"evt_test_{next(_ids)}",
        "object": "event",
        "api_version": "2026-07-29.dahlia",
        "created": created if created is not None else int(time.time()),
        "data": {
            "object": obj if obj is not None else session_object(status=session_status, **session)
        },
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": "req_test_1", "idempotency_key": None},
        "type": event_type or f"identity.verification_session.{status}",
    }


def dumps(event: dict[str, Any]) -> bytes:
    """Serialise as Stripe does (any bytes do: signatures cover the raw body)."""
    return json.dumps(event, indent=2).encode()


def sdk_header(payload: bytes, secret: str = SECRET, timestamp: int | None = None) -> str:
    """A ``Stripe-Signature`` header made by the official SDK's own helper."""
    header: str = stripe.WebhookSignature.generate_signature_header(
        payload.decode("utf-8"), secret, timestamp=timestamp
    )
    return header


class FakeForwarder:
    """A `Forwarder` recording what it is given; can be told to fail or answer otherwise."""

    def __init__(self, resume_outcome: ResumeOutcome = ResumeOutcome.RESUMED) -> None:
        self.resume_outcome = resume_outcome
        self.emitted: list[dict[str, Any]] = []
        self.resumed: list[tuple[UUID, dict[str, Any]]] = []
        self.fail_emit: BaseException | None = None
        self.fail_resume: BaseException | None = None

    async def emit(
        self,
        session: VerificationSession,
        *,
        status: str,
        flow_run_id: UUID | None,
        stripe_event_id: str,
        occurred: datetime.datetime,
    ) -> None:
        if self.fail_emit is not None:
            raise self.fail_emit
        self.emitted.append(
            {
                "session": session,
                "status": status,
                "flow_run_id": flow_run_id,
                "stripe_event_id": stripe_event_id,
                "occurred": occurred,
            }
        )

    async def resume(self, flow_run_id: UUID, run_input: dict[str, Any]) -> ResumeOutcome:
        if self.fail_resume is not None:
            raise self.fail_resume
        self.resumed.append((flow_run_id, run_input))
        return self.resume_outcome

    def everything(self) -> str:
        """All that was forwarded, as text, to search for leaks."""
        parts = [repr(self.emitted), repr(self.resumed)]
        parts += [e["session"].model_dump_json() for e in self.emitted]
        parts += [str(e["session"].model_dump()) for e in self.emitted]
        return "\n".join(parts)


class ReceiverServer:
    """The webhook receiver on a free port, served by uvicorn in a daemon thread."""

    def __init__(self, app: Any = None) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port: int = probe.getsockname()[1]
        config = uvicorn.Config(
            app if app is not None else create_webhook_app(SECRET),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
        )
        self._server = uvicorn.Server(config)
        # The thread sees the harness's settings (PREFECT_API_URL) through a copied context.
        context = contextvars.copy_context()
        self._thread = threading.Thread(target=context.run, args=(self._server.run,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ReceiverServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            assert time.monotonic() < deadline, "the receiver did not start"
            time.sleep(0.01)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.should_exit = True
        self._thread.join(10)


@contextlib.contextmanager
def webhook_emulator(**config: Any) -> Iterator[tuple[ReceiverServer, EmulatorServer]]:
    """The emulator with its signed webhooks going to a receiver (on the test session's
    Prefect server), both on free ports; ``config`` adds to the `EmulatorConfig`."""
    with ReceiverServer() as receiver:
        settings = EmulatorConfig(
            webhook_url=receiver.url + WEBHOOK_PATH, webhook_secret=SECRET, **config
        )
        with EmulatorServer(settings) as emulator:
            yield receiver, emulator
