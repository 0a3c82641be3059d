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
from typing import Any, Protocol, TypeVar

from prefect_stripe_identity.emulator import _fakedata
from prefect_stripe_identity.emulator._config import EmulatorConfig
from prefect_stripe_identity.emulator._errors import (
    StripeAPIError,
    invalid,
    resource_missing,
    sensitive_denied,
    state_error,
)
from prefect_stripe_identity.emulator._records import (
    DocumentOption,
    EventRecord,
    JSONObject,
    LastError,
    Outcome,
    PendingOutcome,
    Redaction,
    ReportRecord,
    SessionOptions,
    SessionRecord,
    SessionStatus,
    SingleUseLink,
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


class Listed(Protocol):
    """What `Emulator.page` needs of a record it lists."""

    @property
    def id(self) -> str:
        """The object's id."""
        ...

    @property
    def created(self) -> int:
        """When it was created (unix seconds)."""
        ...

    @property
    def account(self) -> str | None:
        """The connected account it belongs to (None: the platform account)."""
        ...


L = TypeVar("L", bound=Listed)


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
        on_event: Callable[[EventRecord], None] | None = None,
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
        for record in self.store.sessions.values():
            self._schedule(record)

    # --- time ------------------------------------------------------------------------------

    def now(self) -> float:
        """The emulator's current time."""
        return self.clock.now()

    def _schedule(self, record: SessionRecord) -> None:
        due = record.private.timers.earliest()
        if due is not None:
            heapq.heappush(self._due, (due, self.store.next_seq(), record.id))

    def advance_due(self) -> None:
        """Apply every time-driven transition whose time has come."""
        now = self.now()
        while self._due and self._due[0][0] <= now:
            _, _, session_id = heapq.heappop(self._due)
            record = self.store.sessions.get(session_id)
            if record is not None:
                self._advance(record, now)

    def _advance(self, record: SessionRecord, now: float) -> None:
        timers = record.private.timers
        changed = False
        while True:
            auto_at = timers.auto_submit_at
            until = timers.processing_until
            redaction_due = timers.redaction_due
            if auto_at is not None and auto_at <= now:
                timers.auto_submit_at = None
                if record.status == "requires_input" and record.redaction is None:
                    # Any auto outcome but ``verified`` (``none`` too, for a session
                    # scheduled before a restart with other settings) fails.
                    verified = self.config.auto_outcome == "verified"
                    self._begin_processing(
                        record,
                        auto_at,
                        "verified" if verified else "unverified",
                        None if verified else _fakedata.default_error_code(record.type),
                        RequestContext(),
                    )
            elif until is not None and until <= now and record.status == "processing":
                self._complete(record, until)
            elif redaction_due is not None and redaction_due <= now:
                self._finish_redaction(record, redaction_due)
            else:
                break
            changed = True
        if changed:
            self._save_session(record)
            self._schedule(record)

    # --- persistence helpers ----------------------------------------------------------------

    def _save_session(self, record: SessionRecord) -> None:
        self.store.put(record)

    def _session(self, session_id: str, account: str | None, param: str = "id") -> SessionRecord:
        # An object of another account does not exist for this one, as on Stripe.
        record = self.store.sessions.get(session_id)
        if record is None or record.account != account:
            raise resource_missing("VerificationSession", session_id, param)
        return record

    # --- events -----------------------------------------------------------------------------

    def _emit(
        self, event_type: str, record: SessionRecord, when: float, ctx: RequestContext
    ) -> None:
        webhooks = 1 if self.config.webhook_url else 0
        event = EventRecord(
            id=new_id("evt"),
            type=event_type,
            created=int(when),
            api_version=self.config.stripe_version,
            # Events are readable by anyone holding the webhook secret or an API key, and
            # are logged by receivers: the single-use secrets stay out of them (to_stripe
            # leaves client_secret and url null unless given).
            snapshot=record.to_stripe(),
            pending_webhooks=webhooks,
            request_id=ctx.request_id,
            idempotency_key=ctx.idempotency_key,
            session_id=record.id,
            delivered=webhooks == 0,
            account=record.account,
        )
        self.store.put(event)
        self.stats["events_created"] += 1
        if self.on_event is not None and webhooks:
            self.on_event(event)

    def webhook_result(self, event_id: str, delivered: bool) -> None:
        """Record the final outcome of an event's delivery (called by the dispatcher)."""
        with self.lock:
            event = self.store.events.get(event_id)
            if event is None:
                return
            if delivered:
                event.pending_webhooks = 0
                event.delivered = True
                self.stats["webhooks_delivered"] += 1
            else:
                self.stats["webhooks_given_up"] += 1
            self.store.put(event)

    # --- rendering --------------------------------------------------------------------------

    def render_session(self, record: SessionRecord, expand: set[str], base_url: str) -> JSONObject:
        """A session as the API answers it: secrets only while it waits for input."""
        link = record.private.link
        client_secret = url = None
        if record.status == "requires_input" and link is not None:
            client_secret = link.secret
            url = (
                f"{self.config.public_url or base_url.rstrip('/')}"
                f"/_emulator/verify/{record.id}?token={link.token}"
            )
        report_out: JSONObject | None = None
        report_id = record.last_verification_report
        if report_id and "last_verification_report" in _heads(expand):
            report = self.store.reports.get(report_id)
            if report is not None:
                report_out = self.render_report(report, _sub(expand, "last_verification_report"))
        outputs_out: JSONObject | None = None
        outputs = record.private.verified_outputs
        if outputs is not None and "verified_outputs" in _heads(expand):
            outputs_out = copy.deepcopy(outputs)
            sub = _sub(expand, "verified_outputs")
            for key in SENSITIVE_OUTPUTS:
                if key not in sub and outputs_out.get(key) != _fakedata.REDACTED:
                    outputs_out[key] = None
        return record.to_stripe(
            client_secret=client_secret,
            url=url,
            last_verification_report=report_out,
            verified_outputs=outputs_out,
        )

    def render_report(self, report: ReportRecord, expand: set[str]) -> JSONObject:
        """A report as the API answers it: the most sensitive fields only when expanded."""
        out = report.to_stripe()
        for path in REPORT_EXPANDS:
            name, key = path.split(".")
            section = out.get(name)
            if isinstance(section, dict) and path not in expand:
                section[key] = None
        return out

    def check_sensitive(
        self,
        expand: set[str],
        ctx: RequestContext,
        obj: SessionRecord | ReportRecord | None = None,
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

    def _processed_at(self, obj: SessionRecord | ReportRecord) -> int | None:
        # A report is made when processing ends; a session was processed when its last
        # report was made (none: nothing sensitive to show).
        if isinstance(obj, ReportRecord):
            return obj.created
        report_id = obj.last_verification_report
        report = self.store.reports.get(report_id) if report_id is not None else None
        return report.created if report is not None else None

    # --- sessions: the API operations ------------------------------------------------------

    def _fresh_secret(self, record: SessionRecord) -> None:
        # A new single-use url/client_secret each time the session (again) waits for input.
        token = new_id("tok", 32)[4:]
        record.private.link = SingleUseLink(
            token=token, secret=f"{record.id}_secret_{new_id('x', 24)[2:]}"
        )

    def _clear_secret(self, record: SessionRecord) -> None:
        record.private.link = None

    def create_session(self, params: Mapping[str, Any], ctx: RequestContext) -> SessionRecord:
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
        kind = session_type or "verification_flow"
        related_person = params.get("related_person")
        record = SessionRecord(
            id=new_id("vs"),
            created=int(now),
            type=kind,
            client_reference_id=params.get("client_reference_id"),
            metadata=metadata,
            options=_options_for(kind, params.get("options")),
            provided_details=_provided(None, params.get("provided_details")),
            related_customer=params.get("related_customer"),
            related_customer_account=params.get("related_customer_account"),
            related_person=dict(related_person) if related_person else None,
            verification_flow=flow,
        )
        record.private.account = ctx.account
        record.private.return_url = params.get("return_url")
        self._fresh_secret(record)
        if self.config.auto_outcome != "none":
            record.private.timers.auto_submit_at = now + self.config.auto_submit_seconds
        self._save_session(record)
        self.stats["sessions_created"] += 1
        self._emit("identity.verification_session.created", record, now, ctx)
        self._schedule(record)
        self._advance(record, now)
        return record

    def retrieve_session(self, session_id: str, account: str | None = None) -> SessionRecord:
        """GET /v1/identity/verification_sessions/{id}."""
        return self._session(session_id, account)

    def update_session(
        self, session_id: str, params: Mapping[str, Any], ctx: RequestContext
    ) -> SessionRecord:
        """POST /v1/identity/verification_sessions/{id}: only while ``requires_input``."""
        record = self._session(session_id, ctx.account)
        if record.redaction is not None:
            raise state_error(
                "This VerificationSession has been redacted and can no longer be updated."
            )
        if record.status != "requires_input":
            raise state_error(
                f"This VerificationSession has status `{record.status}` and cannot be "
                "updated; only a VerificationSession in `requires_input` can be updated."
            )
        if "metadata" in params:
            record.metadata = _merge_metadata(record.metadata, params["metadata"])
        if "type" in params and params["type"] != record.type:
            record.type = params["type"]
            record.options = _options_for(params["type"], None)
        if "options" in params:
            record.options = _options_for(record.type, params["options"], record.options)
        if "provided_details" in params:
            record.provided_details = _provided(record.provided_details, params["provided_details"])
        self._save_session(record)
        return record

    def cancel_session(self, session_id: str, ctx: RequestContext) -> SessionRecord:
        """POST .../cancel: only while ``requires_input``; irreversible."""
        record = self._session(session_id, ctx.account)
        if record.status != "requires_input" or record.redaction is not None:
            raise state_error(
                f"This VerificationSession has status `{record.status}` and cannot be "
                "canceled; only a VerificationSession in `requires_input` can be canceled."
            )
        self._cancel(record, self.now(), ctx)
        self._save_session(record)
        return record

    def _cancel(self, record: SessionRecord, when: float, ctx: RequestContext) -> None:
        record.status = "canceled"
        record.private.timers.auto_submit_at = None
        self._clear_secret(record)
        self._emit("identity.verification_session.canceled", record, when, ctx)

    def redact_session(self, session_id: str, ctx: RequestContext) -> SessionRecord:
        """POST .../redact: from ``requires_input`` (which also cancels) or ``verified``."""
        record = self._session(session_id, ctx.account)
        if record.redaction is not None:
            return record  # Redacting again changes nothing, as on Stripe.
        if record.status not in ("requires_input", "verified"):
            raise state_error(
                f"This VerificationSession has status `{record.status}` and cannot be "
                "redacted; only a VerificationSession in `requires_input` or `verified` can be "
                "redacted."
            )
        now = self.now()
        if record.status == "requires_input":
            self._cancel(record, now, ctx)
        record.redaction = Redaction("processing")
        record.metadata = {}
        record.private.timers.redaction_due = now + self.config.redaction_seconds
        self._save_session(record)
        self._schedule(record)
        self._advance(record, now)
        return record

    def _finish_redaction(self, record: SessionRecord, when: float) -> None:
        record.private.timers.redaction_due = None
        _fakedata.redact_session(record)
        record.redaction = Redaction("redacted")
        # Related objects are redacted too: every report of the session, and past events.
        for report in self.store.reports.values():
            if report.verification_session == record.id:
                _fakedata.redact_report(report)
                self.store.put(report)
        for event in self.store.events.values():
            if event.session_id == record.id:
                _fakedata.redact_session_snapshot(event.snapshot)
                self.store.put(event)
        self._emit("identity.verification_session.redacted", record, when, RequestContext())

    # --- submission and outcome -------------------------------------------------------------

    def submit(
        self,
        session_id: str,
        outcome: Outcome,
        error_code: str | None,
        ctx: RequestContext,
        token: str | None = None,
    ) -> SessionRecord:
        """The person submits (hosted page or test control): ``processing``, then the outcome.

        With ``token`` (the hosted page), the session's current single-use token must match.
        A test control: it finds the session whatever its account.
        """
        record = self.store.sessions.get(session_id)
        if record is None:
            raise resource_missing("VerificationSession", session_id)
        link = record.private.link
        if token is not None and (link is None or not secrets.compare_digest(token, link.token)):
            raise StripeAPIError(404, "This verification link is invalid or was already used.")
        if record.status != "requires_input" or record.redaction is not None:
            raise state_error(
                f"This VerificationSession has status `{record.status}` and cannot be "
                "submitted; only a VerificationSession in `requires_input` can be."
            )
        if outcome == "unverified" and error_code is None:
            error_code = _fakedata.default_error_code(record.type)
        now = self.now()
        record.private.timers.auto_submit_at = None
        if outcome == "unverified" and error_code in NOT_SUBMITTED_CODES:
            self._not_submitted(record, now, error_code, ctx)
        else:
            self._begin_processing(record, now, outcome, error_code, ctx)
        self._save_session(record)
        self._schedule(record)
        self._advance(record, now)
        return record

    def _not_submitted(
        self, record: SessionRecord, when: float, error_code: str, ctx: RequestContext
    ) -> None:
        # The person left, declined or could not go on: no processing, no report (the
        # last report, if any, stays the last one), a fresh link for another try.
        record.last_error = _last_error(error_code)
        self._fresh_secret(record)
        self._emit("identity.verification_session.requires_input", record, when, ctx)

    def _begin_processing(
        self,
        record: SessionRecord,
        when: float,
        outcome: Outcome,
        error_code: str | None,
        ctx: RequestContext,
    ) -> None:
        record.status = "processing"
        record.last_error = None
        self._clear_secret(record)
        record.private.timers.processing_until = when + self.config.processing_seconds
        record.private.outcome = PendingOutcome(
            outcome, None if outcome == "verified" else error_code
        )
        self._emit("identity.verification_session.processing", record, when, ctx)

    def _complete(self, record: SessionRecord, when: float) -> None:
        private = record.private
        outcome = private.outcome or PendingOutcome("verified", None)
        private.timers.processing_until = None
        private.outcome = None
        error_code = outcome.error_code if outcome.outcome != "verified" else None
        report = _fakedata.build_report(record, new_id("vr"), int(when), error_code)
        self.store.put(report)
        self.stats["reports_created"] += 1
        record.last_verification_report = report.id
        if error_code is None:
            record.status = "verified"
            private.verified_outputs = _fakedata.verified_outputs(record)
            self._emit("identity.verification_session.verified", record, when, RequestContext())
        else:
            record.status = "requires_input"
            record.last_error = _last_error(error_code)
            self._fresh_secret(record)
            self._emit(
                "identity.verification_session.requires_input", record, when, RequestContext()
            )

    # --- reports ----------------------------------------------------------------------------

    def retrieve_report(self, report_id: str, account: str | None = None) -> ReportRecord:
        """GET /v1/identity/verification_reports/{id}."""
        report = self.store.reports.get(report_id)
        if report is None or report.account != account:
            raise resource_missing("VerificationReport", report_id)
        return report

    def retrieve_event(self, event_id: str, account: str | None = None) -> EventRecord:
        """GET /v1/events/{id}."""
        event = self.store.events.get(event_id)
        if event is None or event.account != account:
            raise resource_missing("event", event_id)
        return event

    # --- lists ------------------------------------------------------------------------------

    def page(
        self,
        collection: Collection[L],
        kind: str,
        params: Mapping[str, Any],
        keep: Callable[[L], bool],
        account: str | None = None,
    ) -> tuple[list[L], bool]:
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
        if cursor is not None and (cursor_obj is None or cursor_obj.account != account):
            raise resource_missing(kind, cursor, "starting_after" if after else "ending_before")
        position = collection.position(cursor) if cursor is not None else None

        def selected(ids: Iterable[str]) -> Iterable[L]:
            for object_id in ids:
                obj = collection.by_id[object_id]
                if obj.account == account and matches(obj.created) and keep(obj):
                    yield obj

        if before is not None and position is not None:
            found: list[L] = []
            for obj in selected(reversed(ordered[:position])):  # closest to the cursor first
                found.append(obj)
                if len(found) > limit:
                    break
            has_more = len(found) > limit
            return list(reversed(found[:limit])), has_more
        if position is not None:
            ordered = ordered[position + 1 :]
        result: list[L] = []
        for obj in selected(ordered):
            result.append(obj)
            if len(result) > limit:
                break
        return result[:limit], len(result) > limit

    # --- test controls ----------------------------------------------------------------------

    def seed(
        self,
        count: int,
        status: SessionStatus,
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
        sessions: list[SessionRecord] = []
        reports: list[ReportRecord] = []
        for _ in range(count):
            record = SessionRecord(
                id=new_id("vs"),
                created=created,
                type=session_type,
                status=status,
                metadata={"seeded": "true", **(metadata or {})},
                options=_options_for(session_type, None),
            )
            if status == "requires_input":
                self._fresh_secret(record)
            elif status == "verified":
                report = _fakedata.build_report(record, new_id("vr"), created, None)
                reports.append(report)
                record.last_verification_report = report.id
                record.private.verified_outputs = _fakedata.verified_outputs(record)
            sessions.append(record)
        self.store.put_many(reports)
        self.store.put_many(sessions)
        self.stats["sessions_created"] += count
        self.stats["reports_created"] += len(reports)
        return [record.id for record in sessions]

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
            by_status[record.status] = by_status.get(record.status, 0) + 1
        out["sessions_by_status"] = by_status
        return out


# --- helpers -----------------------------------------------------------------------------


def _last_error(error_code: str) -> LastError:
    return LastError(
        error_code, _fakedata.REASONS.get(error_code, "Verification failed (emulated).")
    )


def _heads(expand: set[str]) -> set[str]:
    return {path.split(".", 1)[0] for path in expand}


def _sub(expand: set[str], head: str) -> set[str]:
    prefix = head + "."
    return {path[len(prefix) :] for path in expand if path.startswith(prefix)}


def _options_for(
    session_type: str,
    given: Any,
    current: SessionOptions | None = None,
) -> SessionOptions:
    if session_type == "id_number":
        return {"id_number": {}}
    if session_type == "verification_flow":
        return dict(current or {})
    document: dict[str, DocumentOption] = dict((current or {}).get("document") or {})
    if isinstance(given, Mapping) and "document" in given:
        # ``options[document]=""`` unsets the document options.
        document = {} if given["document"] == "" else {**document, **given["document"]}
    return {"document": document}


def _provided(current: Mapping[str, str] | None, given: Any) -> dict[str, str] | None:
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


def dumps(obj: object) -> bytes:
    """JSON as Stripe sends it (two-space indented)."""
    return json.dumps(obj, indent=2).encode()
