"""How the tasks behave inside Prefect: idempotency keys, retries and cache keys.

Idempotency keys inside a run
-----------------------------
A POST made by a task carries a key derived from what survives both task retries and
flow retries:

* the flow run id (the task run id for a task run outside any flow),
* the task's function, by module and qualified name (Prefect's ``task_key`` hashes the
  code object, which is not the same in two processes: a crashed run retried by a
  worker would get another key),
* the call's number among the calls of that task *with the same inputs* in this flow-run
  attempt: 0 for the first, 1 for the second, ... counted again from 0 on every attempt
  (Prefect gives directly called tasks a random ``dynamic_key``, so the package keeps
  its own count per attempt: the flow run id and its ``run_count``), pinned to the task
  run so that the task's own retries reuse it,
* the operation and a canonical form of its parameters.

So a task retried after a lost response, or a whole flow run retried, sends the key of
the first attempt and Stripe answers with the first answer: no second session. Two
identical creates in one flow run are calls 0 and 1: two sessions. (Submitted
concurrently, two identical calls may swap numbers on a retry; being identical, each
still finds one of the two sessions.) A caller-supplied ``idempotency_key`` (a business
key such as ``verify:{user_id}``) wins.

Retries
-------
Every layer's attempts, the worst case of one task call and every key's format are in
`prefect_stripe_identity._policy`; this module applies them inside Prefect.

Sync tasks in async contexts
----------------------------
Each sync task is an `AsyncDispatchingTask`: called where Prefect's own ``async_dispatch``
would run the async implementation (an async flow or task, or a running event loop
outside any run), it runs its async twin and returns the twin's coroutine, as
``Block.load`` or prefect-aws's tasks do; ``_sync=True`` forces the sync task and
``_sync=False`` the twin. The twin is the same task as a direct call of it: its name,
retries, cache policy and idempotency keys.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from prefect import Task, task
from prefect.cache_policies import INPUTS, RUN_ID, TASK_SOURCE, CachePolicy
from prefect.client.schemas.objects import State, TaskRun
from prefect.context import FlowRunContext, TaskRunContext, get_run_context
from prefect.exceptions import MissingContextError

from prefect_stripe_identity._client import AsyncStripeIdentityClient, StripeIdentityClient
from prefect_stripe_identity._exceptions import APIConnectionError
from prefect_stripe_identity._params import check_idempotency_key
from prefect_stripe_identity._policy import (
    TASK_CONNECT_FAILURE_RETRIES,
    TASK_RETRY_DELAYS,
    canonical_params,
    is_retryable_error,
    task_key,
)
from prefect_stripe_identity.credentials import StripeIdentityCredentials
from prefect_stripe_identity.serializers import masking_json_serializer

if TYPE_CHECKING:
    from prefect_stripe_identity._endpoints import Endpoint

__all__ = [
    "MAX_PAGE_SIZE",
    "STRIPE_CACHE_POLICY",
    "STRIPE_READ_CACHE_POLICY",
    "TASK_CONNECT_FAILURE_RETRIES",
    "TASK_RETRY_DELAYS",
    "AsyncDispatchingTask",
    "aclient_of",
    "afirst",
    "call_number",
    "canonical_params",
    "check_max_results",
    "client_of",
    "derive_idempotency_key",
    "idempotency_key_for",
    "in_async_context",
    "retry_on_retryable_stripe_errors",
    "stripe_sync_task",
    "stripe_task",
    "task_identity",
]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

#: The largest page Stripe serves; the list tasks page lazily up to ``max_results``.
MAX_PAGE_SIZE = 100


_NOT_HASHED = ("credentials", "idempotency_key")


class _CallCounters:
    """The call numbers of each flow-run attempt, kept by the package itself (Prefect's
    context is not ours to write into). An attempt is a flow run id and its
    ``run_count``; only the most recent attempts are kept, so a long-lived process that
    runs many flows holds a bounded table."""

    MAX_ATTEMPTS = 1024

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._attempts: OrderedDict[tuple[str, int], dict[str, int]] = OrderedDict()

    def number(self, attempt: tuple[str, int], task_run: str, counter: str) -> int:
        """The number of ``task_run`` among the calls counted as ``counter`` in
        ``attempt``: fixed at its first call, so its own retries keep it."""
        with self._lock:
            counts = self._attempts.get(attempt)
            if counts is None:
                counts = self._attempts[attempt] = {}
                while len(self._attempts) > self.MAX_ATTEMPTS:
                    self._attempts.popitem(last=False)
            self._attempts.move_to_end(attempt)
            pinned = f"run:{task_run}"
            if pinned not in counts:
                counts[counter] = counts.get(counter, -1) + 1
                counts[pinned] = counts[counter]
            return counts[pinned]


_COUNTERS = _CallCounters()


def task_identity(task_ctx: TaskRunContext) -> str:
    """The running task's function as ``module.qualname``: the same in every process."""
    fn = task_ctx.task.fn
    return f"{fn.__module__}.{fn.__qualname__}"


def call_number(task_ctx: TaskRunContext) -> int | None:
    """The number of this call among the calls of its task with the same inputs in the
    current flow-run attempt (``None`` outside a flow run). See the module docstring."""
    flow_ctx = FlowRunContext.get()
    task_run = task_ctx.task_run
    if (
        flow_ctx is None
        or flow_ctx.flow_run is None
        or task_run.flow_run_id != flow_ctx.flow_run.id
    ):
        return None
    inputs = {k: v for k, v in task_ctx.parameters.items() if k not in _NOT_HASHED}
    digest = hashlib.sha256(canonical_params(inputs).encode()).hexdigest()[:16]
    attempt = (str(flow_ctx.flow_run.id), int(flow_ctx.flow_run.run_count or 0))
    return _COUNTERS.number(attempt, str(task_run.id), f"{task_identity(task_ctx)}:{digest}")


def derive_idempotency_key(operation: str, params: Mapping[str, Any]) -> str | None:
    """The idempotency key of a POST made by the current task run (see the module
    docstring), or ``None`` outside a task run, where the client's own key applies."""
    context = TaskRunContext.get()
    if context is None:
        return None
    task_run = context.task_run
    call = call_number(context)
    # Outside a flow run, the task run id survives the task's retries.
    anchor = f"task_run:{task_run.id}" if call is None else f"flow_run:{task_run.flow_run_id}"
    return task_key(anchor, task_identity(context), call, operation, params)


def retry_on_retryable_stripe_errors(task: Any, task_run: TaskRun, state: State[Any]) -> bool:
    """Prefect ``retry_condition_fn``: retry the task only where Stripe says a retry can
    heal (connection errors, 409, 429, 5xx, ``Stripe-Should-Retry: true``); never a
    400, 401, 403, 404, an idempotency error, or an error that is not Stripe's. A
    connection that could not be made is retried `TASK_CONNECT_FAILURE_RETRIES` times
    only (see the module docstring)."""
    error = state.data if isinstance(state.data, BaseException) else None
    if error is None or not is_retryable_error(error):
        return False
    if isinstance(error, APIConnectionError) and error.connect_failed:
        # `run_count` counts this task run's tries so far, the failed one included.
        tries = int(getattr(task_run, "run_count", 0) or 0)
        return tries <= TASK_CONNECT_FAILURE_RETRIES
    return True


@dataclass
class CredentialsFingerprint(CachePolicy):
    """Keys the cache on the credentials' non-secret fingerprint and endpoint.

    Prefect hashes a `SecretStr` as its mask, so two blocks with different keys would
    share cached results; the credentials are excluded from the hashed inputs instead,
    and this part identifies them.
    """

    def compute_key(
        self,
        task_ctx: TaskRunContext,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        credentials = inputs.get("credentials")
        if not isinstance(credentials, StripeIdentityCredentials):
            return None
        # The fingerprint alone (mode and last four) may collide between two keys; a digest
        # of the key cannot, and reveals nothing: Prefect hashes this part into the cache key.
        digest = hashlib.sha256(credentials.api_key.get_secret_value().encode()).hexdigest()
        return f"{credentials.fingerprint}|{credentials.api_base}|{digest}"


@dataclass
class CallOrder(CachePolicy):
    """Keys the cache on the call's number (`call_number`), so two identical calls in one
    run stay two calls, while a retried run finds its own.

    ``per_attempt`` adds the flow run's attempt (its ``run_count``, and the pauses fired
    before it): a read is then never served from an earlier attempt's cache. A run resumed
    after a suspension, or retried, must see the session as it is now, not as the first
    attempt saw it."""

    per_attempt: bool = False

    def compute_key(
        self,
        task_ctx: TaskRunContext,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        if not task_ctx:
            return None
        call = call_number(task_ctx)
        if call is None:
            return str(task_ctx.task_run.id)
        flow_ctx = FlowRunContext.get()
        if self.per_attempt and flow_ctx is not None and flow_ctx.flow_run is not None:
            # A suspended run resumed in a new process keeps its run_count; the pauses that
            # had fired when this process started tell the resumed attempts apart.
            flow_run = flow_ctx.flow_run
            resumes = len(flow_run.empirical_policy.pause_keys or ())
            return f"{flow_run.run_count}:{resumes}:{call}"
        return str(call)


_CACHE_BASE = (INPUTS - "credentials") + CredentialsFingerprint() + TASK_SOURCE + RUN_ID
#: The cache policy of every write task: inputs (without the credentials), the
#: credentials' fingerprint, the task's source, the run, and the call's position in the
#: run. A retried run finds its writes' results (and their idempotency keys still apply).
STRIPE_CACHE_POLICY = _CACHE_BASE + CallOrder()
#: The cache policy of every read task: the same, within one attempt of the flow run.
STRIPE_READ_CACHE_POLICY = _CACHE_BASE + CallOrder(per_attempt=True)


# --- sync tasks that dispatch to their async twins -------------------------------------


def in_async_context() -> bool:
    """Whether a call made here should run async: the rule of Prefect's ``async_dispatch``
    (``prefect._internal.compatibility``), on Prefect's public API.

    Inside a run, the running task (or else flow) decides: async if it is async. Outside
    any run, a running event loop makes it async.
    """
    try:
        run = get_run_context()
    except MissingContextError:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return False
        return True
    parent = getattr(run, "task", None) or getattr(run, "flow", None)
    return bool(getattr(parent, "isasync", True))


class AsyncDispatchingTask(Task[P, R]):
    """A sync task that runs its async twin when called in an async context.

    Called in an async flow or task, or outside any run with an event loop running (see
    `in_async_context`), ``create_verification_session(...)`` runs
    ``acreate_verification_session`` and returns its coroutine, to await; elsewhere it
    runs as the sync task it is. ``_sync=True`` forces the sync task, ``_sync=False`` the
    twin. ``.aio`` is the twin; `with_options` gives both the same options. ``submit``,
    ``map`` and ``fn`` are the sync task's own.
    """

    def __init__(
        self, fn: Callable[P, R], aio: Task[P, Coroutine[Any, Any, R]], **options: Any
    ) -> None:
        super().__init__(fn=fn, **options)
        #: The async twin run in async contexts.
        self.aio = aio

    if not TYPE_CHECKING:  # type checkers see `Task.__call__`: the sync task's result

        def __call__(self, *args, _sync=None, **kwargs):
            return _dispatch(self, _sync, args, kwargs)

    def with_options(self, **options: Any) -> AsyncDispatchingTask[P, R]:
        """`Task.with_options`, applied to the task and to its async twin alike."""
        copy = super().with_options(**options)
        # `Task.with_options` builds a plain Task; it becomes a dispatching one again.
        copy.__class__ = type(self)
        dispatching: AsyncDispatchingTask[P, R] = copy  # type: ignore[assignment]
        dispatching.aio = self.aio.with_options(**options)
        return dispatching


def _dispatch(
    sync_task: AsyncDispatchingTask[..., Any],
    sync: bool | None,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    run_sync = bool(sync) if sync is not None else not in_async_context()
    if run_sync:
        return Task.__call__(sync_task, *args, **kwargs)
    return sync_task.aio(*args, **kwargs)


# --- what every generated task in `tasks` calls ------------------------------------------


def _task_options(endpoint: Endpoint) -> dict[str, Any]:
    """The options of ``endpoint``'s tasks: their names, the retries, cache and results."""
    return {
        "name": endpoint.task.name,
        "description": endpoint.task.description,
        "task_run_name": endpoint.task.run_name,
        "retries": len(TASK_RETRY_DELAYS),
        "retry_delay_seconds": TASK_RETRY_DELAYS,
        "retry_jitter_factor": 0.5,
        "retry_condition_fn": retry_on_retryable_stripe_errors,
        "cache_policy": STRIPE_CACHE_POLICY
        if endpoint.method == "POST"
        else STRIPE_READ_CACHE_POLICY,
        "result_serializer": masking_json_serializer(),
    }


def stripe_task(endpoint: Endpoint) -> Callable[[Callable[P, R]], Task[P, R]]:
    """The `prefect.task` of ``endpoint``'s async task: its names, the retries, cache and
    results."""
    return task(**_task_options(endpoint))


def stripe_sync_task(
    endpoint: Endpoint, async_twin: Task[P, Coroutine[Any, Any, R]]
) -> Callable[[Callable[P, R]], AsyncDispatchingTask[P, R]]:
    """The task of ``endpoint``'s sync function: the options of `stripe_task`, run as
    ``async_twin`` in async contexts (`AsyncDispatchingTask`); the two must take the same
    arguments and return the same type."""

    def decorate(fn: Callable[P, R]) -> AsyncDispatchingTask[P, R]:
        return AsyncDispatchingTask(fn, async_twin, **_task_options(endpoint))

    return decorate


def idempotency_key_for(
    operation: str, idempotency_key: str | None, params: Mapping[str, Any]
) -> str | None:
    """The caller's key, checked (never silently replaced), or one derived from the run."""
    key = check_idempotency_key(idempotency_key)
    return key if key is not None else derive_idempotency_key(operation, params)


def _credentials(credentials: Any) -> StripeIdentityCredentials:
    if not isinstance(credentials, StripeIdentityCredentials):
        raise TypeError(
            "`credentials` must be a StripeIdentityCredentials block (for example "
            f'StripeIdentityCredentials.load("BLOCK_NAME")), got {type(credentials).__name__}'
        )
    return credentials


def client_of(credentials: Any) -> StripeIdentityClient:
    """The block's client; a clear error when ``credentials`` is not the block."""
    return _credentials(credentials).get_client()


def aclient_of(credentials: Any) -> AsyncStripeIdentityClient:
    """The async twin of `client_of`."""
    return _credentials(credentials).get_async_client()


def check_max_results(max_results: Any) -> int:
    """``max_results`` of a list task: a positive integer."""
    if not isinstance(max_results, int) or isinstance(max_results, bool) or max_results < 1:
        raise ValueError(f"`max_results` must be a positive integer, got {max_results!r}")
    return max_results


async def afirst(items: AsyncIterator[T], count: int) -> list[T]:
    """The first ``count`` items; the async twin of ``list(islice(items, count))``, which
    stops fetching pages as soon as it has them."""
    first: list[T] = []
    async for item in items:
        first.append(item)
        if len(first) >= count:
            break
    return first
