"""State and lifecycle: the sessions, reports and events, and every transition between them.

Time-driven transitions (auto-submit, processing → outcome, redaction processing →
redacted) are stored as due timestamps and applied lazily: before any request reads state,
`Emulator.advance_due` applies every transition whose time has come, each at its own due
time. With a `FakeClock` tests move time by hand; a server also ticks in the background so
webhooks fire on time even when nobody asks.

All methods expect the caller to hold `Emulator.lock` (the app does, around each request),
which also makes check-execute-store of an idempotent request atomic.
"""

from __future__ import annotations

import copy
import heapq
import json
import secrets
import string
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from prefect_stripe_identity.emulator import _fakedata
from prefect_stripe_identity.emulator._config import EmulatorConfig
from prefect_stripe_identity.emulator._errors import (
    StripeAPIError,
    invalid,
    resource_missing,
    sensitive_denied,
    state_error,
)
from prefect_stripe_identity.emulator._store import Collection, Store
from prefect_stripe_identity.emulator._validation import check_metadata_count

_ALPHABET = string.ascii_letters + string.digits

#: ``verified_outputs`` fields Stripe calls sensitive: null unless expanded
#: (``verified_outputs.dob``), and expandable only by a restricted key (Stripe's "Access
#: verification results"; sex and place of birth since 2025-05-28.basil).
SENSITIVE_OUTPUTS = ("dob", "id_number", "sex", "unparsed_place_of_birth", "unparsed_sex")
#: Report fields that hold the most sensitive data: the same rules.
REPORT_EXPANDS = frozenset(
    {
        "document.dob",
        "document.expiration_date",
        "document.number",
        "document.sex",
        "document.unparsed_place_of_birth",
        "document.unparsed_sex",
        "id_number.dob",
        "id_number.id_number",
    }
)
#: Expansions a session accepts (besides ``last_verification_report.<report expansion>``).
SESSION_EXPANDS = frozenset(
    {"last_verification_report", "verified_outputs"}
    | {f"verified_outputs.{key}" for key in SENSITIVE_OUTPUTS}
)

#: ``last_error`` codes of a person who never submitted (Stripe: "user-session failure"):
#: nothing is processed and no report is made; the session stays ``requires_input``.
#: ``under_supported_age`` is not among them: the age comes from the document, after
#: processing (an assumption: Stripe does not say).
NOT_SUBMITTED_CODES = frozenset(
    {"abandoned", "consent_declined", "country_not_supported", "device_not_supported"}
)

SESSION_EVENT_TYPES = tuple(
    f"identity.verification_session.{name}"
    for name in ("created", "processing", "requires_input", "verified", "canceled", "redacted")
)

STAT_NAMES = (
    "requests",
    "control_requests",
    "sessions_created",
    "reports_created",
    "events_created",
    "faults_injected",
    "idempotent_replays",
    "rate_limited",
    "webhooks_delivered",
    "webhook_attempts_failed",
    "webhooks_given_up",
)


def new_id(prefix: str, length: int = 24) -> str:
    """A Stripe-looking id: ``prefix_`` and random letters and digits."""
    return f"{prefix}_" + "".join(secrets.choice(_ALPHABET) for _ in range(length))


@dataclass(frozen=True)
class RequestContext:
    """Who asks: the request id and idempotency key (for events), the connected account
    (``Stripe-Account``; None = the platform account every API key belongs to), and
    whether the key is a restricted one (``rk_test_``)."""

    request_id: str | None = None
    idempotency_key: str | None = None
    account: str | None = None
    restricted: bool = False


def account_of(obj: Mapping[str, Any]) -> str | None:
    """The connected account an object belongs to (None: the platform account)."""
    emu = obj.get("_emu")
    return emu.get("account") if isinstance(emu, Mapping) else None


def check_expand(expand: Iterable[str], allowed: frozenset[str], prefix: str = "") -> set[str]:
    """Validate ``expand`` against what an object can expand; returns the paths (no prefix).

    On lists every path carries the ``data.`` prefix, as on Stripe.
    """
    paths: set[str] = set()
    for item in expand:
        path = item[len(prefix) :] if item.startswith(prefix) else None
        if path is None or path not in allowed:
            raise invalid(f"This property cannot be expanded ({item}).", param="expand")
        paths.add(path)
    return paths


SESSION_EXPAND_PATHS = SESSION_EXPANDS | {f"last_verification_report.{p}" for p in REPORT_EXPANDS}
#: Every expansion that reaches a sensitive field, of a session or of a report.
SENSITIVE_PATHS = (
    frozenset(f"verified_outputs.{key}" for key in SENSITIVE_OUTPUTS)
    | {f"last_verification_report.{p}" for p in REPORT_EXPANDS}
    | REPORT_EXPANDS
)


class Emulator:
    """The stateful emulator: every Stripe operation and every test control, transport-free."""

    def __init__(
        self,
        config: EmulatorConfig,
        on_event: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.config = config
        self.clock = config.clock
        #: One lock for all state. Operations are short and synchronous, so a single lock
        #: keeps every request (and its idempotency record) atomic without deadlock risk.
        self.lock = threading.RLock()
        self.store = Store(config.state_file)
        self.stats: dict[str, int] = dict.fromkeys(STAT_NAMES, 0)
        self.faults_by_kind: dict[str, int] = {}
        self.on_event = on_event
        self._due: list[tuple[float, int, str]] = []
        for session_id, record in self.store.sessions.by_id.items():
            self._schedule(session_id, record)

    # --- time ------------------------------------------------------------------------------

    def now(self) -> float:
        """The emulator's current time."""
        return self.clock.now()

    def _schedule(self, session_id: str, record: Mapping[str, Any]) -> None:
        emu = record["_emu"]
        times = [
            t
            for t in (
                emu.get("auto_submit_at"),
                emu.get("processing_until"),
                emu.get("redaction_due"),
            )
            if t is not None
        ]
        if times:
            heapq.heappush(self._due, (min(times), self.store.next_seq(), session_id))

    def advance_due(self) -> None:
        """Apply every time-driven transition whose time has come."""
        now = self.now()
        while self._due and self._due[0][0] <= now:
            _, _, session_id = heapq.heappop(self._due)
            record = self.store.sessions.get(session_id)
            if record is not None:
                self._advance(record, now)

    def _advance(self, record: dict[str, Any], now: float) -> None:
        emu = record["_emu"]
        changed = False
        while True:
            auto_at = emu.get("auto_submit_at")
            until = emu.get("processing_until")
            redaction_due = emu.get("redaction_due")
            if auto_at is not None and auto_at <= now:
                emu["auto_submit_at"] = None
                if record["status"] == "requires_input" and record.get("redaction") is None:
                    outcome = self.config.auto_outcome
                    error = (
                        None
                        if outcome == "verified"
                        else _fakedata.default_error_code(record["type"])
                    )
                    self._begin_processing(record, auto_at, outcome, error, RequestContext())
            elif until is not None and until <= now and record["status"] == "processing":
                self._complete(record, until)
            elif redaction_due is not None and redaction_due <= now:
                self._finish_redaction(record, redaction_due)
            else:
                break
            changed = True
        if changed:
            self._save_session(record)
            self._schedule(record["id"], record)

    # --- persistence helpers ----------------------------------------------------------------

    def _save_session(self, record: dict[str, Any]) -> None:
        self.store.put("session", record["id"], record)

    def _session(self, session_id: str, account: str | None, param: str = "id") -> dict[str, Any]:
        # An object of another account does not exist for this one, as on Stripe.
        record = self.store.sessions.get(session_id)
        if record is None or account_of(record) != account:
            raise resource_missing("VerificationSession", session_id, param)
        return record

    # --- events -----------------------------------------------------------------------------

    def _emit(
        self, event_type: str, record: dict[str, Any], when: float, ctx: RequestContext
    ) -> None:
        event_id = new_id("evt")
        snapshot = self._public_session(record)
        # Events are readable by anyone holding the webhook secret or an API key, and are
        # logged by receivers: keep the single-use secrets out of them.
        snapshot["client_secret"] = None
        snapshot["url"] = None
        webhooks = 1 if self.config.webhook_url else 0
        event = {
            "id": event_id,
            "object": "event",
            "api_version": self.config.stripe_version,
            "created": int(when),
            "data": {"object": snapshot},
            "livemode": False,
            "pending_webhooks": webhooks,
            "request": {"id": ctx.request_id, "idempotency_key": ctx.idempotency_key},
            "type": event_type,
            "_emu": {
                "session": record["id"],
                "delivered": webhooks == 0,
                "account": account_of(record),
            },
        }
        if account_of(record) is not None:
            event["account"] = account_of(record)  # Connect events name their account
        self.store.put("event", event_id, event)
        self.stats["events_created"] += 1
        if self.on_event is not None and webhooks:
            self.on_event(public(event))

    def webhook_result(self, event_id: str, delivered: bool) -> None:
        """Record the final outcome of an event's delivery (called by the dispatcher)."""
        with self.lock:
            event = self.store.events.get(event_id)
            if event is None:
                return
            if delivered:
                event["pending_webhooks"] = 0
                event["_emu"]["delivered"] = True
                self.stats["webhooks_delivered"] += 1
            else:
                self.stats["webhooks_given_up"] += 1
            self.store.put("event", event_id, event)

    # --- rendering --------------------------------------------------------------------------

    def _public_session(self, record: Mapping[str, Any]) -> dict[str, Any]:
        out = public(record)
        out["client_secret"] = None
        out["url"] = None
        out["verified_outputs"] = None
        return out

    def render_session(
        self, record: dict[str, Any], expand: set[str], base_url: str
    ) -> dict[str, Any]:
        """A session as the API answers it: secrets only while it waits for input."""
        out = self._public_session(record)
        emu = record["_emu"]
        if out["status"] == "requires_input" and emu.get("token"):
            out["client_secret"] = emu["secret"]
            out["url"] = (
                f"{self.config.public_url or base_url.rstrip('/')}"
                f"/_emulator/verify/{record['id']}?token={emu['token']}"
            )
        report_id = record.get("last_verification_report")
        if report_id and "last_verification_report" in _heads(expand):
            report = self.store.reports.get(report_id)
            if report is not None:
                out["last_verification_report"] = self.render_report(
                    report, _sub(expand, "last_verification_report")
                )
        if emu.get("verified_outputs") is not None and "verified_outputs" in _heads(expand):
            outputs = copy.deepcopy(emu["verified_outputs"])
            sub = _sub(expand, "verified_outputs")
            for key in SENSITIVE_OUTPUTS:
                if key not in sub and outputs.get(key) != _fakedata.REDACTED:
                    outputs[key] = None
            out["verified_outputs"] = outputs
        return out

    def render_report(self, report: Mapping[str, Any], expand: set[str]) -> dict[str, Any]:
        """A report as the API answers it: the most sensitive fields only when expanded."""
        out = copy.deepcopy(public(report))
        for path in REPORT_EXPANDS:
            section, key = path.split(".")
            if isinstance(out.get(section), dict) and path not in expand:
                out[section][key] = None
        return out

    def check_sensitive(
        self, expand: set[str], ctx: RequestContext, obj: Mapping[str, Any] | None = None
    ) -> None:
        """Stripe's rule for sensitive verification results ("Access verification results").

        Expanding a sensitive field needs a restricted key (every ``rk_test_`` key of the
        emulator has the "Access recent sensitive verification results" permission), and
        such a key reaches only verifications processed within
        ``sensitive_results_window_seconds`` (48 h; Stripe lifts it only for IP-restricted
        keys). ``obj`` (a session or a report) is checked against the window; without it,
        only the key is.
        """
        if not expand & SENSITIVE_PATHS:
            return
        if not ctx.restricted:
            raise sensitive_denied()
        window = self.config.sensitive_results_window_seconds
        processed = self._processed_at(obj) if obj is not None else None
        if window is not None and processed is not None and self.now() - processed > window:
            raise sensitive_denied()

    def _processed_at(self, obj: Mapping[str, Any]) -> int | None:
        # A report is made when processing ends; a session was processed when its last
        # report was made (none: nothing sensitive to show).
        if obj.get("object") == "identity.verification_report":
            return int(obj["created"])
        report_id = obj.get("last_verification_report")
        report = self.store.reports.get(report_id) if isinstance(report_id, str) else None
        return int(report["created"]) if report is not None else None

    # --- sessions: the API operations ------------------------------------------------------

    def _fresh_secret(self, record: dict[str, Any]) -> None:
        # A new single-use url/client_secret each time the session (again) waits for input.
        token = new_id("tok", 32)[4:]
        record["_emu"]["token"] = token
        record["_emu"]["secret"] = f"{record['id']}_secret_{new_id('x', 24)[2:]}"

    def _clear_secret(self, record: dict[str, Any]) -> None:
        record["_emu"]["token"] = None
        record["_emu"]["secret"] = None

    def create_session(self, params: Mapping[str, Any], ctx: RequestContext) -> dict[str, Any]:
        """POST /v1/identity/verification_sessions."""
        session_type = params.get("type")
        flow = params.get("verification_flow")
        if session_type is None and flow is None:
            raise invalid(
                "You must provide a `type` if not passing `verification_flow`.",
                param="type",
                code="parameter_missing",
            )
        if session_type is not None and flow is not None:
            raise invalid(
                "You may pass either `type` or `verification_flow`, but not both.",
                param="verification_flow",
                code="parameters_exclusive",
            )
        metadata = {k: v for k, v in (params.get("metadata") or {}).items() if v != ""}
        check_metadata_count(metadata)
        now = self.now()
        session_id = new_id("vs")
        record: dict[str, Any] = {
            "id": session_id,
            "object": "identity.verification_session",
            "client_reference_id": params.get("client_reference_id"),
            "created": int(now),
            "last_error": None,
            "last_verification_report": None,
            "livemode": False,
            "metadata": metadata,
            "options": _options_for(session_type or "verification_flow", params.get("options")),
            "provided_details": _provided(None, params.get("provided_details")),
            "redaction": None,
            "related_customer": params.get("related_customer"),
            "related_customer_account": params.get("related_customer_account"),
            "status": "requires_input",
            "type": session_type or "verification_flow",
            "_emu": {
                "auto_submit_at": None,
                "processing_until": None,
                "outcome": None,
                "redaction_due": None,
                "verified_outputs": None,
                "return_url": params.get("return_url"),
                "account": ctx.account,
            },
        }
        if params.get("related_person"):
            record["related_person"] = dict(params["related_person"])
        if flow is not None:
            record["verification_flow"] = flow
        self._fresh_secret(record)
        if self.config.auto_outcome != "none":
            record["_emu"]["auto_submit_at"] = now + self.config.auto_submit_seconds
        self._save_session(record)
        self.stats["sessions_created"] += 1
        self._emit("identity.verification_session.created", record, now, ctx)
        self._schedule(session_id, record)
        self._advance(record, now)
        return record

    def retrieve_session(self, session_id: str, account: str | None = None) -> dict[str, Any]:
        """GET /v1/identity/verification_sessions/{id}."""
        return self._session(session_id, account)

    def update_session(
        self, session_id: str, params: Mapping[str, Any], ctx: RequestContext
    ) -> dict[str, Any]:
        """POST /v1/identity/verification_sessions/{id}: only while ``requires_input``."""
        record = self._session(session_id, ctx.account)
        if record.get("redaction") is not None:
            raise state_error(
                "This VerificationSession has been redacted and can no longer be updated."
            )
        if record["status"] != "requires_input":
            raise state_error(
                f"This VerificationSession has status `{record['status']}` and cannot be "
                "updated; only a VerificationSession in `requires_input` can be updated."
            )
        if "metadata" in params:
            record["metadata"] = _merge_metadata(record["metadata"], params["metadata"])
        if "type" in params and params["type"] != record["type"]:
            record["type"] = params["type"]
            record["options"] = _options_for(params["type"], None)
        if "options" in params:
            record["options"] = _options_for(record["type"], params["options"], record["options"])
        if "provided_details" in params:
            record["provided_details"] = _provided(
                record.get("provided_details"), params["provided_details"]
            )
        self._save_session(record)
        return record

    def cancel_session(self, session_id: str, ctx: RequestContext) -> dict[str, Any]:
        """POST .../cancel: only while ``requires_input``; irreversible."""
        record = self._session(session_id, ctx.account)
        if record["status"] != "requires_input" or record.get("redaction") is not None:
            raise state_error(
                f"This VerificationSession has status `{record['status']}` and cannot be "
                "canceled; only a VerificationSession in `requires_input` can be canceled."
            )
        self._cancel(record, self.now(), ctx)
        self._save_session(record)
        return record

    def _cancel(self, record: dict[str, Any], when: float, ctx: RequestContext) -> None:
        record["status"] = "canceled"
        record["_emu"]["auto_submit_at"] = None
        self._clear_secret(record)
        self._emit("identity.verification_session.canceled", record, when, ctx)

    def redact_session(self, session_id: str, ctx: RequestContext) -> dict[str, Any]:
        """POST .../redact: from ``requires_input`` (which also cancels) or ``verified``."""
        record = self._session(session_id, ctx.account)
        if record.get("redaction") is not None:
            return record  # Redacting again changes nothing, as on Stripe.
        if record["status"] not in ("requires_input", "verified"):
            raise state_error(
                f"This VerificationSession has status `{record['status']}` and cannot be "
                "redacted; only a VerificationSession in `requires_input` or `verified` can be "
                "redacted."
            )
        now = self.now()
        if record["status"] == "requires_input":
            self._cancel(record, now, ctx)
        record["redaction"] = {"status": "processing"}
        record["metadata"] = {}
        record["_emu"]["redaction_due"] = now + self.config.redaction_seconds
        self._save_session(record)
        self._schedule(session_id, record)
        self._advance(record, now)
        return record

    def _finish_redaction(self, record: dict[str, Any], when: float) -> None:
        emu = record["_emu"]
        emu["redaction_due"] = None
        _fakedata.redact_session_public(record)
        if emu.get("verified_outputs") is not None:
            _fakedata.redact_outputs(emu["verified_outputs"])
        emu["return_url"] = None
        record["redaction"] = {"status": "redacted"}
        # Related objects are redacted too: every report of the session, and past events.
        for report in self.store.reports.by_id.values():
            if report.get("verification_session") == record["id"]:
                _fakedata.redact_report(report)
                self.store.put("report", report["id"], report)
        for event in self.store.events.by_id.values():
            if event["_emu"].get("session") == record["id"]:
                _fakedata.redact_session_public(event["data"]["object"])
                self.store.put("event", event["id"], event)
        self._emit("identity.verification_session.redacted", record, when, RequestContext())

    # --- submission and outcome -------------------------------------------------------------

    def submit(
        self,
        session_id: str,
        outcome: str,
        error_code: str | None,
        ctx: RequestContext,
        token: str | None = None,
    ) -> dict[str, Any]:
        """The person submits (hosted page or test control): ``processing``, then the outcome.

        With ``token`` (the hosted page), the session's current single-use token must match.
        A test control: it finds the session whatever its account.
        """
        record = self.store.sessions.get(session_id)
        if record is None:
            raise resource_missing("VerificationSession", session_id)
        if token is not None and (
            not record["_emu"].get("token")
            or not secrets.compare_digest(token, record["_emu"]["token"])
        ):
            raise StripeAPIError(404, "This verification link is invalid or was already used.")
        if record["status"] != "requires_input" or record.get("redaction") is not None:
            raise state_error(
                f"This VerificationSession has status `{record['status']}` and cannot be "
                "submitted; only a VerificationSession in `requires_input` can be."
            )
        if outcome == "unverified" and error_code is None:
            error_code = _fakedata.default_error_code(record["type"])
        now = self.now()
        record["_emu"]["auto_submit_at"] = None
        if outcome == "unverified" and error_code in NOT_SUBMITTED_CODES:
            self._not_submitted(record, now, error_code, ctx)
        else:
            self._begin_processing(record, now, outcome, error_code, ctx)
        self._save_session(record)
        self._schedule(session_id, record)
        self._advance(record, now)
        return record

    def _not_submitted(
        self, record: dict[str, Any], when: float, error_code: str, ctx: RequestContext
    ) -> None:
        # The person left, declined or could not go on: no processing, no report (the
        # last report, if any, stays the last one), a fresh link for another try.
        record["last_error"] = {
            "code": error_code,
            "reason": _fakedata.REASONS.get(error_code, "Verification failed (emulated)."),
        }
        self._fresh_secret(record)
        self._emit("identity.verification_session.requires_input", record, when, ctx)

    def _begin_processing(
        self,
        record: dict[str, Any],
        when: float,
        outcome: str,
        error_code: str | None,
        ctx: RequestContext,
    ) -> None:
        record["status"] = "processing"
        record["last_error"] = None
        self._clear_secret(record)
        record["_emu"]["processing_until"] = when + self.config.processing_seconds
        record["_emu"]["outcome"] = {
            "outcome": outcome,
            "error_code": None if outcome == "verified" else error_code,
        }
        self._emit("identity.verification_session.processing", record, when, ctx)

    def _complete(self, record: dict[str, Any], when: float) -> None:
        emu = record["_emu"]
        outcome = emu.get("outcome") or {"outcome": "verified", "error_code": None}
        emu["processing_until"] = None
        emu["outcome"] = None
        error_code = outcome.get("error_code") if outcome["outcome"] != "verified" else None
        report_id = new_id("vr")
        report = _fakedata.build_report(record, report_id, int(when), error_code)
        report["_emu"] = {"account": account_of(record)}
        self.store.put("report", report_id, report)
        self.stats["reports_created"] += 1
        record["last_verification_report"] = report_id
        if error_code is None:
            record["status"] = "verified"
            emu["verified_outputs"] = _fakedata.verified_outputs(record)
            self._emit("identity.verification_session.verified", record, when, RequestContext())
        else:
            record["status"] = "requires_input"
            record["last_error"] = {
                "code": error_code,
                "reason": _fakedata.REASONS.get(error_code, "Verification failed (emulated)."),
            }
            self._fresh_secret(record)
            self._emit(
                "identity.verification_session.requires_input", record, when, RequestContext()
            )

    # --- reports ----------------------------------------------------------------------------

    def retrieve_report(self, report_id: str, account: str | None = None) -> dict[str, Any]:
        """GET /v1/identity/verification_reports/{id}."""
        report = self.store.reports.get(report_id)
        if report is None or account_of(report) != account:
            raise resource_missing("VerificationReport", report_id)
        return report

    def retrieve_event(self, event_id: str, account: str | None = None) -> dict[str, Any]:
        """GET /v1/events/{id}."""
        event = self.store.events.get(event_id)
        if event is None or account_of(event) != account:
            raise resource_missing("event", event_id)
        return event

    # --- lists ------------------------------------------------------------------------------

    def page(
        self,
        collection: Collection,
        kind: str,
        params: Mapping[str, Any],
        keep: Callable[[dict[str, Any]], bool],
        account: str | None = None,
    ) -> tuple[list[dict[str, Any]], bool]:
        """One page of ``account``'s objects, newest first, with Stripe's cursors; returns
        (objects, has_more)."""
        after, before = params.get("starting_after"), params.get("ending_before")
        if after is not None and before is not None:
            raise invalid(
                "You may only specify one of these parameters: ending_before, starting_after.",
                param="ending_before",
                code="parameters_exclusive",
            )
        limit = params.get("limit", 10)
        created = params.get("created")
        matches = _created_filter(created)
        ordered = collection.newest_first()
        cursor = after if after is not None else before
        cursor_obj = collection.get(cursor) if cursor is not None else None
        if cursor is not None and (cursor_obj is None or account_of(cursor_obj) != account):
            raise resource_missing(kind, cursor, "starting_after" if after else "ending_before")
        position = collection.position(cursor) if cursor is not None else None

        def selected(ids: Iterable[str]) -> Iterable[dict[str, Any]]:
            for object_id in ids:
                obj = collection.by_id[object_id]
                if account_of(obj) == account and matches(obj["created"]) and keep(obj):
                    yield obj

        if before is not None and position is not None:
            found: list[dict[str, Any]] = []
            for obj in selected(reversed(ordered[:position])):  # closest to the cursor first
                found.append(obj)
                if len(found) > limit:
                    break
            has_more = len(found) > limit
            return list(reversed(found[:limit])), has_more
        if position is not None:
            ordered = ordered[position + 1 :]
        result: list[dict[str, Any]] = []
        for obj in selected(ordered):
            result.append(obj)
            if len(result) > limit:
                break
        return result[:limit], len(result) > limit

    # --- test controls ----------------------------------------------------------------------

    def seed(
        self,
        count: int,
        status: str,
        age_days: int,
        session_type: str,
        metadata: Mapping[str, str] | None = None,
    ) -> list[str]:
        """Make ``count`` sessions created ``age_days`` ago, already in ``status``, with
        ``metadata`` added to the ``seeded`` mark (e.g. a legal hold on a verified session).

        Built in bulk (one write-through transaction, no events): for volume tests such as
        retention sweeps over thousands of sessions.
        """
        now = self.now()
        created = int(now - age_days * 86400)
        sessions: list[tuple[str, dict[str, Any]]] = []
        reports: list[tuple[str, dict[str, Any]]] = []
        for _ in range(count):
            session_id = new_id("vs")
            record: dict[str, Any] = {
                "id": session_id,
                "object": "identity.verification_session",
                "client_reference_id": None,
                "created": created,
                "last_error": None,
                "last_verification_report": None,
                "livemode": False,
                "metadata": {"seeded": "true", **(metadata or {})},
                "options": _options_for(session_type, None),
                "provided_details": None,
                "redaction": None,
                "related_customer": None,
                "related_customer_account": None,
                "status": status,
                "type": session_type,
                "_emu": {
                    "auto_submit_at": None,
                    "processing_until": None,
                    "outcome": None,
                    "redaction_due": None,
                    "verified_outputs": None,
                    "return_url": None,
                    "token": None,
                    "secret": None,
                },
            }
            if status == "requires_input":
                self._fresh_secret(record)
            elif status == "verified":
                report_id = new_id("vr")
                reports.append(
                    (report_id, _fakedata.build_report(record, report_id, created, None))
                )
                record["last_verification_report"] = report_id
                record["_emu"]["verified_outputs"] = _fakedata.verified_outputs(record)
            sessions.append((session_id, record))
        self.store.put_many("report", reports)
        self.store.put_many("session", sessions)
        self.stats["sessions_created"] += count
        self.stats["reports_created"] += len(reports)
        return [session_id for session_id, _ in sessions]

    def reset(self) -> None:
        """Forget every object, idempotency record and counter."""
        self.store.clear()
        self._due.clear()
        self.stats = dict.fromkeys(STAT_NAMES, 0)
        self.faults_by_kind = {}

    def snapshot_stats(self) -> dict[str, Any]:
        """Counters plus object counts, for ``GET /_emulator/stats``."""
        out: dict[str, Any] = dict(self.stats)
        out["faults_by_kind"] = dict(self.faults_by_kind)
        out["sessions"] = len(self.store.sessions)
        out["reports"] = len(self.store.reports)
        out["events"] = len(self.store.events)
        by_status: dict[str, int] = {}
        for record in self.store.sessions.by_id.values():
            by_status[record["status"]] = by_status.get(record["status"], 0) + 1
        out["sessions_by_status"] = by_status
        return out


# --- helpers -----------------------------------------------------------------------------


def public(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A copy without the emulator's private ``_emu`` state."""
    return {k: copy.deepcopy(v) for k, v in obj.items() if k != "_emu"}


def _heads(expand: set[str]) -> set[str]:
    return {path.split(".", 1)[0] for path in expand}


def _sub(expand: set[str], head: str) -> set[str]:
    prefix = head + "."
    return {path[len(prefix) :] for path in expand if path.startswith(prefix)}


def _options_for(
    session_type: str,
    given: Any,
    current: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    if session_type == "id_number":
        return {"id_number": {}}
    if session_type == "verification_flow":
        return dict(current or {})
    document = dict((current or {}).get("document") or {})
    if isinstance(given, Mapping) and "document" in given:
        # ``options[document]=""`` unsets the document options.
        document = {} if given["document"] == "" else {**document, **given["document"]}
    return {"document": document}


def _provided(current: Mapping[str, Any] | None, given: Any) -> dict[str, Any] | None:
    if given is None:
        return dict(current) if current else None
    merged = dict(current or {})
    for key, value in given.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged or None


def _merge_metadata(current: Mapping[str, str], given: Any) -> dict[str, str]:
    if given == "":
        return {}
    merged = dict(current)
    for key, value in given.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    check_metadata_count(merged)
    return merged


def _created_filter(created: Any) -> Callable[[int], bool]:
    if created is None:
        return lambda _: True
    if isinstance(created, int):
        return lambda value: value == created
    gt, gte, lt, lte = (created.get(k) for k in ("gt", "gte", "lt", "lte"))
    return lambda value: (
        (gt is None or value > gt)
        and (gte is None or value >= gte)
        and (lt is None or value < lt)
        and (lte is None or value <= lte)
    )


def dumps(obj: Any) -> bytes:
    """JSON as Stripe sends it (two-space indented)."""
    return json.dumps(obj, indent=2).encode()
