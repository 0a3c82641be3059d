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
  (Prefect 3.8 gives directly called tasks a random ``dynamic_key``, so the package keeps
  its own count in the flow run context, which Prefect builds anew for every attempt),
  pinned to the task run so that the task's own retries reuse it,
* the operation and a canonical form of its parameters.

So a task retried after a lost response, or a whole flow run retried, sends the key of
the first attempt and Stripe answers with the first answer: no second session. Two
identical creates in one flow run are calls 0 and 1: two sessions. (Submitted
concurrently, two identical calls may swap numbers on a retry; being identical, each
still finds one of the two sessions.) A caller-supplied ``idempotency_key`` (a business
key such as ``verify:{user_id}``) wins.

Retries, and how long a task call can take
------------------------------------------
Two layers retry, and only what Stripe calls retryable (`is_retryable_error`):

==========  =====================================  ===========================================
layer       attempts                               waits between them
==========  =====================================  ===========================================
client      1 + ``max_network_retries`` (default   backoff 0.5 s doubling, capped at 8 s,
            2): 3 HTTP attempts per task try       never under 0.5 s; or the server's
                                                   ``Retry-After``, capped at 60 s
task        1 + ``len(TASK_RETRY_DELAYS)`` = 4     `TASK_RETRY_DELAYS` = 2, 10, 30 s, each
            tries; only 1 + 1 = 2 for a            jittered by Prefect to at most 1.5x
            connection that could not be made      (3, 15, 45 s)
            (`TASK_CONNECT_FAILURE_RETRIES`)
==========  =====================================  ===========================================

Worst case of one task call with the defaults, ``timeout`` (80 s) bounding each attempt:

* **no connection could be made** (refused, unknown host, unreachable, proxy refused,
  connect timeout): 2 x 3 = **6 HTTP attempts**; waits at most 2 x 1.5 s (client) + 3 s
  (task) = 6 s. A refused port fails in about 6 s; a host that drops packets takes up to
  6 x ``timeout``. Such a request never reached Stripe, and what refuses it for more than
  a few seconds is nearly always ``api_base``, a proxy or a firewall: retrying it for a
  minute only hid the message.
* **anything else retryable** (5xx, 409, 429, lost answers, read timeouts): 4 x 3 = **12
  HTTP attempts**; waits at most 4 x 2 x 60 s (``Retry-After`` at its cap) + 63 s = 543 s,
  or 4 x 1.5 s + 63 s = 69 s without ``Retry-After``; plus up to 12 x ``timeout``.

In general: attempts = (1 + task retries) x (1 + ``max_network_retries``); time <= attempts
x ``timeout`` + the sum of both layers' waits. Lower either layer as usual:
``max_network_retries`` on the block, ``task.with_options(retries=…)``.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from prefect.cache_policies import INPUTS, RUN_ID, TASK_SOURCE, CachePolicy
from prefect.client.schemas.objects import State, TaskRun
from prefect.context import FlowRunContext, TaskRunContext
from pydantic import BaseModel

from prefect_stripe_identity._base_client import is_retryable_error
from prefect_stripe_identity._exceptions import APIConnectionError
from prefect_stripe_identity.credentials import StripeIdentityCredentials

__all__ = [
    "STRIPE_CACHE_POLICY",
    "TASK_CONNECT_FAILURE_RETRIES",
    "TASK_RETRY_DELAYS",
    "call_number",
    "canonical_params",
    "derive_idempotency_key",
    "retry_on_retryable_stripe_errors",
    "task_identity",
]


#: Delays between task-level retries; the client already retried quickly inside each try.
TASK_RETRY_DELAYS: list[float] = [2.0, 10.0, 30.0]
#: Task-level retries of a request whose connection could not be made at all (the client
#: retried it already): one, for a blip; more only delays the error (see the table above).
TASK_CONNECT_FAILURE_RETRIES = 1


def canonical_params(params: Mapping[str, Any]) -> str:
    """A stable text form of request parameters (key order and models do not matter)."""

    def plain(value: Any) -> Any:
        if isinstance(value, BaseModel):
            return value.model_dump(mode="json", exclude_none=True)
        if isinstance(value, Mapping):
            return {str(k): plain(v) for k, v in value.items() if v is not None}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value

    return json.dumps(plain(params), sort_keys=True, separators=(",", ":"), default=str)


_COUNTER_PREFIX = "prefect_stripe_identity:"
_COUNTER_LOCK = threading.Lock()
_NOT_HASHED = ("credentials", "idempotency_key")


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
    # Prefect's per-attempt dict of call counters; our names cannot clash with its task keys.
    counters = flow_ctx.task_run_dynamic_keys
    pinned = f"{_COUNTER_PREFIX}run:{task_run.id}"
    inputs = {k: v for k, v in task_ctx.parameters.items() if k not in _NOT_HASHED}
    digest = hashlib.sha256(canonical_params(inputs).encode()).hexdigest()[:16]
    counter = f"{_COUNTER_PREFIX}{task_identity(task_ctx)}:{digest}"
    with _COUNTER_LOCK:
        if pinned not in counters:
            counters[counter] = int(counters.get(counter, -1)) + 1
            counters[pinned] = counters[counter]
        return int(counters[pinned])


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
    parts = (anchor, task_identity(context), str(call), operation, canonical_params(params))
    return f"psi-{operation}-{hashlib.sha256('|'.join(parts).encode()).hexdigest()[:40]}"


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
    run stay two calls, while a retried run finds its own."""

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
        return str(task_ctx.task_run.id) if call is None else str(call)


#: The cache policy of every task: inputs (without the credentials), the credentials'
#: fingerprint, the task's source, the run, and the call's position in the run.
STRIPE_CACHE_POLICY = (
    (INPUTS - "credentials") + CredentialsFingerprint() + TASK_SOURCE + RUN_ID + CallOrder()
)
