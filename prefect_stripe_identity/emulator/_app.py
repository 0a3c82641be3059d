"""The ASGI application: routing, auth, the request pipeline, and the edge (faults, limits).

Layout of a ``/v1`` request, outermost first:

1. `_Edge` (plain ASGI): ``Request-Id``, counters, latency, rate limits and injected
   faults. It sits outside Starlette so it can drop a connection (see `_abort`).
2. Starlette routes: auth, body/query decoding, validation, idempotency, then the
   operation on `Emulator` (``_state``), all under the emulator lock.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import datetime
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from prefect_stripe_identity import _endpoints as endpoints
from prefect_stripe_identity._endpoints import Endpoint
from prefect_stripe_identity.emulator import _page, _validation
from prefect_stripe_identity.emulator._config import EmulatorConfig
from prefect_stripe_identity.emulator._errors import StripeAPIError, invalid
from prefect_stripe_identity.emulator._faults import (
    FaultInjector,
    RateLimiter,
    fault_error,
    rate_limit_error,
)
from prefect_stripe_identity.emulator._forms import decode, parse_pairs
from prefect_stripe_identity.emulator._idempotency import (
    IdempotencyStore,
    StoredResponse,
    check_key,
    fingerprint,
    scope_key,
)
from prefect_stripe_identity.emulator._records import (
    EventRecord,
    JSONObject,
    Outcome,
    ReportRecord,
    SessionRecord,
    session_status,
)
from prefect_stripe_identity.emulator._state import (
    REPORT_EXPANDS,
    SESSION_EXPAND_PATHS,
    Emulator,
    RequestContext,
    check_expand,
    dumps,
    new_id,
)
from prefect_stripe_identity.emulator._webhooks import WebhookDispatcher

FORM = "application/x-www-form-urlencoded"
_SESSIONS = "/v1/identity/verification_sessions"
_REPORTS = "/v1/identity/verification_reports"
_EVENTS = "/v1/events"


def _route_path(endpoint: Endpoint) -> str:
    """The endpoint's path as a route: its id (``{session}``, ``{report}``) is ``{id}``."""
    name = endpoint.path_param
    return endpoint.path if name is None else endpoint.path.replace(f"{{{name}}}", "{id}")


class ConnectionDropped(Exception):
    """Raised in-process where a real server would drop the connection (injected fault)."""


@dataclass(frozen=True)
class _Call:
    """What a handler knows about the request it serves."""

    params: dict[str, Any]
    ctx: RequestContext
    base_url: str


#: A route's operation: the call (and the object id of the path, if any) → the answer.
Handler = Callable[..., JSONObject]


class EmulatorApp:
    """The emulator as an ASGI app. ``emulator`` is the state behind it (for tests)."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.dispatcher: WebhookDispatcher | None = None
        self.emulator = Emulator(config, on_event=self._deliver)
        if config.webhook_url and config.webhook_secret:
            self.dispatcher = WebhookDispatcher(
                config.webhook_url,
                config.webhook_secret,
                on_result=self.emulator.webhook_result,
                on_failed_attempt=self._count_failed_attempt,
                max_attempts=config.webhook_max_attempts,
                backoff_seconds=config.webhook_backoff_seconds,
                max_backoff_seconds=config.webhook_max_backoff_seconds,
                timeout_seconds=config.webhook_timeout_seconds,
                transport=config.webhook_transport,
            )
        self.idempotency = IdempotencyStore(self.emulator.store)
        self.rate_limiter = (
            RateLimiter(config.rate_limit, config.clock.now) if config.rate_limit else None
        )
        self.faults = FaultInjector(config.fault_rate, config.fault_kinds, config.fault_seed)
        self.starlette = Starlette(routes=self._routes(), lifespan=self._lifespan)

    # --- lifecycle of the app ---------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        ticker = asyncio.create_task(self._tick()) if self.config.tick_seconds > 0 else None
        try:
            yield
        finally:
            if ticker is not None:
                ticker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ticker

    async def _tick(self) -> None:
        # Due transitions are applied on every request anyway; ticking makes them (and
        # their webhooks) happen on time when nobody is asking.
        while True:
            await asyncio.sleep(self.config.tick_seconds)
            with self.emulator.lock:
                self.emulator.advance_due()

    def close(self) -> None:
        """Stop webhook delivery and close the state file."""
        if self.dispatcher is not None:
            self.dispatcher.stop()
        with self.emulator.lock:
            self.emulator.store.close()

    def _deliver(self, event: EventRecord) -> None:
        if self.dispatcher is not None:
            self.dispatcher.enqueue(event.id, dumps(event.to_stripe()))

    def _count_failed_attempt(self) -> None:
        with self.emulator.lock:
            self.emulator.stats["webhook_attempts_failed"] += 1

    # --- the edge: ids, counters, latency, limits, faults ----------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if scope["type"] != "http":
            await self.starlette(scope, receive, send)
            return
        request_id = new_id("req", 14)
        scope["emulator.request_id"] = request_id
        path: str = scope["path"]
        stamped = _with_headers(send, {"request-id": request_id})
        if not path.startswith("/v1/") and path != "/v1":
            with self.emulator.lock:
                self.emulator.stats["control_requests"] += 1
            await self.starlette(scope, receive, stamped)
            return
        with self.emulator.lock:
            self.emulator.stats["requests"] += 1
        if self.config.latency_ms:
            await asyncio.sleep(self.config.latency_ms / 1000)
        if self.rate_limiter is not None and not self.rate_limiter.allow(scope["method"]):
            with self.emulator.lock:
                self.emulator.stats["rate_limited"] += 1
            await _error_response(rate_limit_error(), request_id)(scope, receive, stamped)
            return
        fault = self.faults.roll()
        if fault is None:
            await self.starlette(scope, receive, stamped)
            return
        with self.emulator.lock:
            self.emulator.stats["faults_injected"] += 1
            by_kind = self.emulator.faults_by_kind
            by_kind[fault] = by_kind.get(fault, 0) + 1
        if fault == "connection_drop":
            await _abort(send)
        elif fault == "lost_response":
            # The request is processed (and its idempotency record stored), then the
            # response never reaches the client.
            async def swallow(message: Message) -> None:
                return None

            await self.starlette(scope, receive, swallow)
            await _abort(send)
        else:
            await _error_response(fault_error(fault), request_id)(scope, receive, stamped)

    # --- routes -----------------------------------------------------------------------------

    def _routes(self) -> list[Route]:
        ops = _Operations(self.emulator)
        # The Identity operations, as the endpoint table declares them (path, method,
        # parameters); the events endpoints are the emulator's own.
        identity: list[tuple[Endpoint, Handler]] = [
            (endpoints.CREATE_SESSION, ops.create),
            (endpoints.LIST_SESSIONS, ops.list_sessions),
            (endpoints.RETRIEVE_SESSION, ops.session_get),
            (endpoints.UPDATE_SESSION, ops.session_update),
            (endpoints.CANCEL_SESSION, ops.session_cancel),
            (endpoints.REDACT_SESSION, ops.session_redact),
            (endpoints.LIST_REPORTS, ops.list_reports),
            (endpoints.RETRIEVE_REPORT, ops.report_get),
        ]
        api: list[tuple[str, str, Handler, _validation.Operation]] = [
            (_route_path(e), e.method, fn, _validation.operation(e)) for e, fn in identity
        ]
        api += [
            (_EVENTS, "GET", ops.list_events, _validation.LIST_EVENTS),
            (_EVENTS + "/{id}", "GET", ops.event_get, _validation.EXPAND_ONLY),
        ]
        routes = [
            Route(path, self._endpoint(fn, op), methods=[method]) for path, method, fn, op in api
        ]
        routes += [
            Route("/_emulator/health", self._health, methods=["GET"]),
            Route("/_emulator/stats", self._stats, methods=["GET"]),
            Route("/_emulator/reset", self._reset, methods=["POST"]),
            Route("/_emulator/seed", self._seed, methods=["POST"]),
            Route("/_emulator/faults", self._script_faults, methods=["POST"]),
            Route("/_emulator/verification_sessions/{id}/submit", self._submit, methods=["POST"]),
            Route("/_emulator/verify/{id}", self._verify_page, methods=["GET"]),
            Route("/_emulator/verify/{id}", self._verify_submit, methods=["POST"]),
            # Anything else: Stripe's answer to an unknown URL (also for a wrong method).
            Route("/{path:path}", self._unrecognized, methods=_ALL_METHODS),
        ]
        return routes

    def _endpoint(
        self, fn: Handler, op: _validation.Operation
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            return await self._execute(request, fn, op)

        return endpoint

    # --- the request pipeline ---------------------------------------------------------------

    async def _execute(self, request: Request, fn: Handler, op: _validation.Operation) -> Response:
        request_id: str = request.scope["emulator.request_id"]
        version = request.headers.get("stripe-version", "").strip()
        headers = {"Stripe-Version": self.config.stripe_version}
        try:
            api_key = _authenticate(request)
            if version:
                check_stripe_version(version)
                headers["Stripe-Version"] = version
            pairs = await self._read_pairs(request)
        except StripeAPIError as exc:
            return _error_response(exc, request_id, headers)
        idempotency_key = (
            request.headers.get("idempotency-key") if request.method == "POST" else None
        )
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        # Every API key is the one platform account's; Stripe-Account names a connected
        # account. Objects and idempotency keys are scoped by account, as on Stripe.
        account = request.headers.get("stripe-account", "").strip() or None
        ctx = RequestContext(
            request_id, idempotency_key, account, restricted=api_key.startswith("rk_")
        )
        # Decoding and validation read no state: done before taking the lock, so a big
        # request does not hold everyone else up. Their error is raised in the lock, after
        # the idempotency lookup, where Stripe would give it.
        params: dict[str, Any] = {}
        invalid_params: StripeAPIError | None = None
        try:
            params = _validation.validate(decode(pairs), op)
        except StripeAPIError as exc:
            invalid_params = exc
        call = _Call(params, ctx, str(request.base_url))
        with self.emulator.lock:
            return self._answer(request, call, fn, pairs, invalid_params, headers)

    async def _read_pairs(self, request: Request) -> list[tuple[str, str]]:
        """The request's parameters as raw pairs: the form body of a POST, else the query."""
        if request.method != "POST":
            return parse_pairs(request.url.query)
        raw = await _read_body(request, self.config.max_body_bytes)
        content_type = request.headers.get("content-type", "").split(";")[0].strip()
        if raw and content_type.lower() != FORM:
            raise StripeAPIError(
                400,
                "Invalid request (check that your POST content type is "
                "application/x-www-form-urlencoded). If you have any questions, we "
                "can help at https://support.stripe.com/.",
                stored=False,
            )
        return parse_pairs(raw.decode("utf-8", errors="replace"))

    def _answer(
        self,
        request: Request,
        call: _Call,
        fn: Handler,
        pairs: list[tuple[str, str]],
        invalid_params: StripeAPIError | None,
        headers: dict[str, str],
    ) -> Response:
        """Under the lock: the idempotent replay, or the operation and its saved answer."""
        em = self.emulator
        request_id: str = request.scope["emulator.request_id"]
        idempotency_key, account = call.ctx.idempotency_key, call.ctx.account
        object_id = request.path_params.get("id")
        em.advance_due()
        now = em.now()
        record_key = print_ = None
        try:
            if idempotency_key:
                check_key(idempotency_key)
                record_key = scope_key(account, idempotency_key)
                print_ = fingerprint(request.method, request.url.path, pairs)
                stored = self.idempotency.lookup(record_key, print_, idempotency_key, now)
                if stored is not None:
                    em.stats["idempotent_replays"] += 1
                    return Response(
                        stored.body,
                        stored.status,
                        {
                            **stored.headers,
                            **headers,
                            "Idempotent-Replayed": "true",
                        },
                        media_type="application/json",
                    )
            if invalid_params is not None:
                raise invalid_params
            result = fn(call) if object_id is None else fn(call, object_id)
            status, body, keep = 200, dumps(result), True
            extra: dict[str, str] = {}
        except StripeAPIError as exc:
            status, body, keep, extra = (
                exc.status,
                dumps(exc.body(request_id)),
                exc.stored,
                (exc.headers),
            )
        if record_key is not None and print_ is not None and keep:
            self.idempotency.save(
                record_key,
                print_,
                StoredResponse(status, body, {**extra, "Original-Request": request_id}),
                now,
            )
        return Response(body, status, {**extra, **headers}, media_type="application/json")

    async def _unrecognized(self, request: Request) -> Response:
        request_id: str = request.scope["emulator.request_id"]
        if not request.url.path.startswith("/v1"):
            return _json(
                {
                    "error": {
                        "type": "invalid_request_error",
                        "message": "Unknown emulator endpoint.",
                    }
                },
                404,
            )
        error = StripeAPIError(
            404,
            f"Unrecognized request URL ({request.method}: {request.url.path}). Please see "
            "https://stripe.com/docs or we can help at https://support.stripe.com/.",
        )
        return _error_response(error, request_id)

    # --- test controls ----------------------------------------------------------------------

    async def _control_params(self, request: Request, op: _validation.Operation) -> dict[str, Any]:
        pairs = parse_pairs(request.url.query)
        raw = await _read_body(request, self.config.max_body_bytes)
        if raw:
            pairs += parse_pairs(raw.decode("utf-8", errors="replace"))
        return _validation.validate(decode(pairs), op)

    async def _health(self, request: Request) -> Response:
        return _json(
            {"status": "ok", "livemode": False, "stripe_version": self.config.stripe_version}
        )

    async def _stats(self, request: Request) -> Response:
        with self.emulator.lock:
            stats = self.emulator.snapshot_stats()
        stats["webhooks_pending"] = self.dispatcher.pending() if self.dispatcher else 0
        return _json(stats)

    async def _reset(self, request: Request) -> Response:
        with self.emulator.lock:
            self.emulator.reset()
        self.faults.clear()
        return _json({"reset": True})

    async def _script_faults(self, request: Request) -> Response:
        request_id: str = request.scope["emulator.request_id"]
        try:
            params = await self._control_params(request, _validation.FAULTS)
        except StripeAPIError as exc:
            return _error_response(exc, request_id)
        count = params.get("count", 1)
        self.faults.script(params["kind"], count)
        return _json({"kind": params["kind"], "count": count})

    async def _seed(self, request: Request) -> Response:
        request_id: str = request.scope["emulator.request_id"]
        try:
            params = await self._control_params(request, _validation.SEED)
            # Seeded sessions carry the `seeded` mark too: it counts toward Stripe's limit.
            _validation.check_metadata_count({"seeded": "true", **params.get("metadata", {})})
        except StripeAPIError as exc:
            return _error_response(exc, request_id)
        status = session_status(params.get("status", "requires_input"))
        with self.emulator.lock:
            created = int(self.emulator.now() - params.get("age_days", 0) * 86400)
            ids = self.emulator.seed(
                params["count"],
                status,
                params.get("age_days", 0),
                params.get("type", "document"),
                params.get("metadata"),
            )
        return _json({"count": len(ids), "status": status, "created": created, "ids": ids})

    async def _submit(self, request: Request) -> Response:
        request_id: str = request.scope["emulator.request_id"]
        em = self.emulator
        try:
            params = await self._control_params(request, _validation.SUBMIT)
            with em.lock:
                em.advance_due()
                record = em.submit(
                    request.path_params["id"],
                    params["outcome"],
                    params.get("error_code"),
                    RequestContext(request_id, None),
                )
                body = em.render_session(record, set(), str(request.base_url))
        except StripeAPIError as exc:
            return _error_response(exc, request_id)
        return _json(body)

    async def _verify_page(self, request: Request) -> Response:
        em = self.emulator
        token = request.query_params.get("token", "")
        with em.lock:
            em.advance_due()
            record = em.store.sessions.get(request.path_params["id"])
            link = record.private.link if record is not None else None
            valid = (
                record is not None
                and record.status == "requires_input"
                and record.redaction is None
                and bool(token)
                and link is not None
                and link.token == token
            )
            session = record.to_stripe() if record is not None and valid else None
        if session is None:
            return HTMLResponse(_page.not_found_page(), 404)
        return HTMLResponse(_page.verify_page(session, token))

    async def _verify_submit(self, request: Request) -> Response:
        em = self.emulator
        try:
            raw = await _read_body(request, self.config.max_body_bytes)
        except StripeAPIError:
            return HTMLResponse(_page.not_found_page(), 413)
        form = parse_pairs(raw.decode("utf-8", errors="replace"))
        fields: Mapping[str, str] = dict(form)
        chosen = fields.get("outcome")
        error_code = fields.get("error_code") if chosen == "unverified" else None
        if chosen not in ("verified", "unverified") or (
            error_code is not None and error_code not in _validation.LAST_ERROR_CODES
        ):
            return HTMLResponse(_page.not_found_page(), 400)
        outcome: Outcome = "verified" if chosen == "verified" else "unverified"
        try:
            with em.lock:
                em.advance_due()
                record = em.submit(
                    request.path_params["id"],
                    outcome,
                    error_code,
                    RequestContext(request.scope["emulator.request_id"], None),
                    token=fields.get("token", ""),
                )
                session = record.to_stripe()
                return_url = record.private.return_url
        except StripeAPIError:
            return HTMLResponse(_page.not_found_page(), 404)
        if return_url:
            return RedirectResponse(return_url, 303)
        return HTMLResponse(_page.done_page(session))


_ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def create_app(config: EmulatorConfig | None = None) -> EmulatorApp:
    """Build the emulator ASGI app (``config`` defaults to `EmulatorConfig()`)."""
    return EmulatorApp(config or EmulatorConfig())


# --- helpers -----------------------------------------------------------------------------


#: The filters of ``GET /v1/identity/verification_sessions``, by parameter.
_SESSION_FILTERS: dict[str, Callable[[SessionRecord], str | None]] = {
    "status": lambda record: record.status,
    "client_reference_id": lambda record: record.client_reference_id,
    "related_customer": lambda record: record.related_customer,
    "related_customer_account": lambda record: record.related_customer_account,
}
#: The filters of ``GET /v1/identity/verification_reports``, by parameter.
_REPORT_FILTERS: dict[str, Callable[[ReportRecord], str | None]] = {
    "client_reference_id": lambda report: report.client_reference_id,
    "type": lambda report: report.type,
    "verification_session": lambda report: report.verification_session,
}


class _Operations:
    """What each API operation does to the emulator's state: one method per route."""

    def __init__(self, em: Emulator) -> None:
        self.em = em

    def _session_expand(self, call: _Call, prefix: str = "") -> set[str]:
        # Checked before anything runs: a refused expansion changes nothing.
        expand = check_expand(call.params.get("expand", []), SESSION_EXPAND_PATHS, prefix)
        self.em.check_sensitive(expand, call.ctx)
        return expand

    def _on_session(
        self, call: _Call, session_id: str, operation: Callable[[], SessionRecord]
    ) -> JSONObject:
        expand = self._session_expand(call)
        self.em.check_sensitive(
            expand, call.ctx, self.em.retrieve_session(session_id, call.ctx.account)
        )
        return self.em.render_session(operation(), expand, call.base_url)

    def create(self, call: _Call) -> JSONObject:
        expand = self._session_expand(call)
        return self.em.render_session(
            self.em.create_session(call.params, call.ctx), expand, call.base_url
        )

    def list_sessions(self, call: _Call) -> JSONObject:
        params = call.params
        expand = self._session_expand(call, "data.")
        filters = [(get, params[k]) for k, get in _SESSION_FILTERS.items() if k in params]

        def keep(obj: SessionRecord) -> bool:
            return all(get(obj) == value for get, value in filters)

        data, has_more = self.em.page(
            self.em.store.sessions, "VerificationSession", params, keep, call.ctx.account
        )
        for obj in data:
            self.em.check_sensitive(expand, call.ctx, obj)
        return _list(
            [self.em.render_session(obj, expand, call.base_url) for obj in data],
            has_more,
            _SESSIONS,
        )

    def list_reports(self, call: _Call) -> JSONObject:
        params = call.params
        expand = check_expand(params.get("expand", []), REPORT_EXPANDS, "data.")
        self.em.check_sensitive(expand, call.ctx)
        filters = [(get, params[k]) for k, get in _REPORT_FILTERS.items() if k in params]

        def keep(obj: ReportRecord) -> bool:
            return all(get(obj) == value for get, value in filters)

        data, has_more = self.em.page(
            self.em.store.reports, "VerificationReport", params, keep, call.ctx.account
        )
        for obj in data:
            self.em.check_sensitive(expand, call.ctx, obj)
        return _list([self.em.render_report(obj, expand) for obj in data], has_more, _REPORTS)

    def list_events(self, call: _Call) -> JSONObject:
        params = call.params
        check_expand(params.get("expand", []), frozenset(), "data.")
        if "type" in params and "types" in params:
            raise invalid(
                "You may pass either `type` or `types`, but not both.",
                param="types",
                code="parameters_exclusive",
            )
        patterns = params.get("types") or ([params["type"]] if "type" in params else [])
        success = params.get("delivery_success")

        def keep(obj: EventRecord) -> bool:
            if patterns and not any(_type_matches(p, obj.type) for p in patterns):
                return False
            return success is None or obj.delivered == success

        data, has_more = self.em.page(self.em.store.events, "event", params, keep, call.ctx.account)
        return _list([obj.to_stripe() for obj in data], has_more, _EVENTS)

    def session_get(self, call: _Call, session_id: str) -> JSONObject:
        return self._on_session(
            call, session_id, lambda: self.em.retrieve_session(session_id, call.ctx.account)
        )

    def session_update(self, call: _Call, session_id: str) -> JSONObject:
        return self._on_session(
            call, session_id, lambda: self.em.update_session(session_id, call.params, call.ctx)
        )

    def session_cancel(self, call: _Call, session_id: str) -> JSONObject:
        return self._on_session(
            call, session_id, lambda: self.em.cancel_session(session_id, call.ctx)
        )

    def session_redact(self, call: _Call, session_id: str) -> JSONObject:
        return self._on_session(
            call, session_id, lambda: self.em.redact_session(session_id, call.ctx)
        )

    def report_get(self, call: _Call, report_id: str) -> JSONObject:
        expand = check_expand(call.params.get("expand", []), REPORT_EXPANDS)
        self.em.check_sensitive(expand, call.ctx)
        report = self.em.retrieve_report(report_id, call.ctx.account)
        self.em.check_sensitive(expand, call.ctx, report)
        return self.em.render_report(report, expand)

    def event_get(self, call: _Call, event_id: str) -> JSONObject:
        check_expand(call.params.get("expand", []), frozenset())
        return self.em.retrieve_event(event_id, call.ctx.account).to_stripe()


def _list(data: list[JSONObject], has_more: bool, url: str) -> JSONObject:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


def _type_matches(pattern: str, event_type: str) -> bool:
    # Stripe accepts a trailing wildcard (``identity.verification_session.*``).
    if pattern.endswith("*"):
        return event_type.startswith(pattern[:-1])
    return pattern == event_type


def _json(body: object, status: int = 200) -> Response:
    return Response(dumps(body), status, media_type="application/json")


def _error_response(
    error: StripeAPIError, request_id: str, headers: Mapping[str, str] | None = None
) -> Response:
    extra = dict(error.headers)
    if error.status == 401:
        extra["WWW-Authenticate"] = 'Basic realm="Stripe"'
    return Response(
        dumps(error.body(request_id)),
        error.status,
        {**extra, **(headers or {})},
        media_type="application/json",
    )


#: ``YYYY-MM-DD``, optionally ``.codename`` (``2026-07-29.dahlia``), optionally beta flags
#: (``; name=v1``) as the SDKs append them.
_VERSION_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:\.[a-z]+)?(?:;\s*[a-z0-9_]+=v\d+)*")
#: Stripe's first API version.
_FIRST_VERSION = datetime.date(2011, 1, 1)


def check_stripe_version(version: str) -> None:
    """Stripe's 400 for a ``Stripe-Version`` that is not a version.

    Stripe checks against its list of released versions, which the emulator does not
    have: it accepts any real calendar date from 2011-01-01 on, in Stripe's forms (a date,
    then ``.codename`` since 2024), and refuses anything else with Stripe's message.
    """
    match = _VERSION_RE.fullmatch(version)
    valid = match is not None
    if match is not None:
        try:
            valid = datetime.date(*(int(g) for g in match.groups())) >= _FIRST_VERSION
        except ValueError:
            valid = False
    if not valid:
        raise StripeAPIError(400, f"Invalid Stripe API version: {version[:100]}", stored=False)


def _too_large(limit: int) -> StripeAPIError:
    return StripeAPIError(
        413,
        f"Request body too large: the emulator accepts at most {limit} bytes. Stripe "
        "parameters (metadata included) fit in a small fraction of that.",
        stored=False,
    )


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refused (413) past ``limit`` bytes before it is all buffered."""
    declared = request.headers.get("content-length", "")
    if declared.strip().isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _mask(key: str) -> str:
    # Never echo a key: show its kind and last four characters at most.
    prefix = next(
        (p for p in ("sk_test_", "rk_test_", "sk_live_", "rk_live_") if key.startswith(p)), ""
    )
    tail = key[-4:] if len(key) >= len(prefix) + 12 else ""
    return f"{prefix}{'*' * 8}{tail}"


def _authenticate(request: Request) -> str:
    """The API key of the request (Bearer, or basic auth with the key as user)."""
    header = request.headers.get("authorization", "").strip()
    if not header:
        raise StripeAPIError(
            401,
            "You did not provide an API key. You need to provide your API key in the "
            "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
            "YOUR_SECRET_KEY').",
        )
    scheme, _, value = header.partition(" ")
    key = ""
    if scheme.lower() == "bearer":
        key = value.strip()
    elif scheme.lower() == "basic":
        try:
            key = base64.b64decode(value.strip(), validate=True).decode().split(":", 1)[0]
        except (binascii.Error, UnicodeDecodeError):
            key = ""
    if key.startswith(("sk_live_", "rk_live_")):
        raise StripeAPIError(
            401,
            "This emulator runs in test mode only: live keys (sk_live_, rk_live_) are not "
            "accepted. Use a sk_test_ or rk_test_ key.",
        )
    if not key.startswith(("sk_test_", "rk_test_")) or len(key) <= len("sk_test_"):
        raise StripeAPIError(401, f"Invalid API Key provided: {_mask(key)}")
    return key


def _with_headers(send: Send, headers: Mapping[str, str]) -> Send:
    encoded = [(k.lower().encode(), v.encode()) for k, v in headers.items()]

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *encoded]}
        await send(message)

    return wrapped


async def _abort(send: Send) -> None:
    """Drop the client's connection without a response.

    Under uvicorn, ``send`` is a bound method of the request cycle, which holds the socket's
    transport: aborting it is what a crashed proxy looks like to the client. In-process
    (``httpx.ASGITransport``) there is no socket, so the client gets an exception instead.
    """
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None or not hasattr(transport, "abort"):
        raise ConnectionDropped("connection dropped by the emulator (injected fault)")
    transport.abort()
    # Let the server notice the disconnect, so it does not try to answer a 500.
    for _ in range(3):
        await asyncio.sleep(0)
