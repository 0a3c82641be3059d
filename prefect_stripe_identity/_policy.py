"""The retry and idempotency policy of the whole package, in one place.

Every layer's retries are stated here, with the worst case of one task call, and every
idempotency key the package sends is built here. The module imports no Prefect: the
client uses it, and the tasks and flows add their layers on top of the same numbers.

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

`attempts_per_task_call` and `worst_case_wait_seconds` compute these figures from the
constants below; a test holds them to what a task call really does.

Beyond one task call
--------------------
* ``verify_identity``'s rollback cancels with `ROLLBACK_NETWORK_RETRIES` client retries
  (no task layer: it runs while the flow fails), and so does its replay of a create that
  got no answer.
* A replayed session that is dead is replaced at most `MAX_REPLACED_SESSIONS` times.
* The retention sweep: each redaction makes 1 + ``max_network_retries`` client attempts,
  tried up to ``SESSION_RETRY_ATTEMPTS`` (3) more times with backoff; a batch task whose
  run fails is retried twice (5 s, 30 s), redoing its redactions under the same keys
  (`sweep_redaction_key`): a redaction already done answers done again. Every attempt
  is paced by the sweep's own rate (see ``flows/_retention/_throttle.py``).

Idempotency keys
----------------
=========================  ==================================================  ==========
who                        key                                                 built by
=========================  ==================================================  ==========
a client call without one  ``psi-<uuid4>``, one per call, kept by its retries  `random_key`
a task's POST              ``psi-<op>-<hash of run, task, call number, op,     `task_key`
                           parameters>`` (see `_task_support`)
``verify_identity`` create ``verify_identity:<client_reference_id>:<hash of     `creation_key`
                           parameters>``, or ``verify_identity:run:<flow run
                           id>:<hash>`` without a reference
its replacement of a dead  ``<creation key>:after:<dead session id>``          `replacement_key`
session
its rollback's cancel      ``verify_identity:rollback:<session id>``           `rollback_cancel_key`
the sweep's redactions     ``psi-redact-<hash of run and session>``            `sweep_redaction_key`
=========================  ==================================================  ==========

A caller's own ``idempotency_key`` always wins over `task_key` and `random_key`.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import random
import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel

from prefect_stripe_identity._exceptions import (
    APIConnectionError,
    IdempotencyError,
    StripeIdentityError,
)

__all__ = [
    "DEFAULT_MAX_NETWORK_RETRIES",
    "INITIAL_RETRY_DELAY",
    "MAX_REPLACED_SESSIONS",
    "MAX_RETRY_AFTER",
    "MAX_RETRY_DELAY",
    "MIN_RETRY_DELAY",
    "ROLLBACK_NETWORK_RETRIES",
    "TASK_CONNECT_FAILURE_RETRIES",
    "TASK_RETRY_DELAYS",
    "TASK_RETRY_JITTER_FACTOR",
    "attempts_per_task_call",
    "canonical_params",
    "creation_key",
    "is_retryable_error",
    "random_key",
    "replacement_key",
    "retry_delay",
    "rollback_cancel_key",
    "sweep_redaction_key",
    "task_key",
    "worst_case_wait_seconds",
]

# --- the client layer ------------------------------------------------------------------------

DEFAULT_MAX_NETWORK_RETRIES = 2
INITIAL_RETRY_DELAY = 0.5  # seconds before the first retry, doubling after each
MAX_RETRY_DELAY = 8.0  # cap of the exponential backoff
MAX_RETRY_AFTER = 60.0  # cap on how long a server's Retry-After may make us wait
# Floor of every wait, Retry-After included: a `Retry-After: 0` (or a past date) must not
# make the client hammer a struggling server back to back. The official SDK's floor.
MIN_RETRY_DELAY = 0.5
JITTER = 0.25  # a client wait is its backoff minus up to this share of it

# --- the task layer --------------------------------------------------------------------------

#: Delays between task-level retries; the client already retried quickly inside each try.
TASK_RETRY_DELAYS: list[float] = [2.0, 10.0, 30.0]
#: Prefect's jitter of those delays: each may grow by up to this share of itself.
TASK_RETRY_JITTER_FACTOR = 0.5
#: Task-level retries of a request whose connection could not be made at all (the client
#: retried it already): one, for a blip; more only delays the error (see the table above).
TASK_CONNECT_FAILURE_RETRIES = 1

# --- the flows -------------------------------------------------------------------------------

#: The rollback's own client retries. More than a task call's: the run failed, often
#: because Stripe could not be reached, and a cancel that fails too leaves a session open
#: with nobody waiting on it. Bounded: with the client's backoff (0.5 s doubling to 8 s,
#: jittered) 12 retries wait at most about 60 s, plus 13 request timeouts.
ROLLBACK_NETWORK_RETRIES = 12
#: How many dead sessions (canceled or redacted) one creation key may step over before the
#: run gives up: each replaced session names its successor's key, so this bounds a chain
#: that only grows when a person's sessions keep being canceled within Stripe's 24 h.
MAX_REPLACED_SESSIONS = 10


# --- retry rules (NOTES.md "Retries and idempotency") ---------------------------------------


def is_retryable_error(error: BaseException) -> bool:
    """Whether Stripe's rules say a request that failed with ``error`` may be retried.

    ``Stripe-Should-Retry`` wins when present; otherwise connection failures, 409, 429
    (rate limits and lock timeouts) and 5xx are retried, and nothing else: a 400, 401,
    403, 404 or an idempotency error would fail the same way again.
    """
    if not isinstance(error, StripeIdentityError):
        return False
    if error.should_retry is not None:
        return error.should_retry
    if isinstance(error, APIConnectionError):
        return True
    if isinstance(error, IdempotencyError):
        return False
    status = error.http_status
    return status is not None and (status in (409, 429) or status >= 500)


def _retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = (when - datetime.now(timezone.utc)).total_seconds()
    return max(0.0, seconds)


def retry_delay(retry_number: int, error: BaseException | None) -> float:
    """Seconds to wait before retry number ``retry_number`` (1 for the first retry).

    A ``Retry-After`` from the server is honoured up to `MAX_RETRY_AFTER`; otherwise the
    delay doubles from `INITIAL_RETRY_DELAY` up to `MAX_RETRY_DELAY`, with jitter so that
    many clients that failed together do not retry together. No wait is ever shorter than
    `MIN_RETRY_DELAY`, whatever the server says.
    """
    if isinstance(error, StripeIdentityError):
        retry_after = _retry_after_seconds(error.headers)
        if retry_after is not None:
            return max(MIN_RETRY_DELAY, min(retry_after, MAX_RETRY_AFTER))
    backoff = min(INITIAL_RETRY_DELAY * 2.0 ** (retry_number - 1), MAX_RETRY_DELAY)
    jittered = backoff * (1 - JITTER * random.random())  # noqa: S311 (jitter, not crypto)
    return max(MIN_RETRY_DELAY, jittered)


def attempts_per_task_call(
    max_network_retries: int = DEFAULT_MAX_NETWORK_RETRIES, *, connect_failure: bool = False
) -> int:
    """The most HTTP attempts one task call makes: both layers multiplied."""
    task_tries = 1 + (TASK_CONNECT_FAILURE_RETRIES if connect_failure else len(TASK_RETRY_DELAYS))
    return task_tries * (1 + max_network_retries)


def worst_case_wait_seconds(
    max_network_retries: int = DEFAULT_MAX_NETWORK_RETRIES,
    *,
    connect_failure: bool = False,
    retry_after: bool = False,
) -> float:
    """The longest one task call can spend waiting between attempts (request time not
    included: add up to ``attempts_per_task_call() x timeout``)."""
    task_delays = (
        TASK_RETRY_DELAYS[:TASK_CONNECT_FAILURE_RETRIES] if connect_failure else (TASK_RETRY_DELAYS)
    )
    task_tries = 1 + len(task_delays)
    if retry_after and not connect_failure:
        client = max_network_retries * MAX_RETRY_AFTER
    else:
        client = sum(
            max(MIN_RETRY_DELAY, min(INITIAL_RETRY_DELAY * 2.0**n, MAX_RETRY_DELAY))
            for n in range(max_network_retries)
        )
    return task_tries * client + sum(d * (1 + TASK_RETRY_JITTER_FACTOR) for d in task_delays)


# --- idempotency keys ------------------------------------------------------------------------


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


def _digest(text: str, length: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def random_key() -> str:
    """A client call's own key when the caller gives none: its retries share it."""
    return f"psi-{uuid.uuid4()}"


def task_key(
    anchor: str, task: str, call: int | None, operation: str, params: Mapping[str, Any]
) -> str:
    """A task's POST: the same in every retry of the task and of its flow run."""
    parts = (anchor, task, str(call), operation, canonical_params(params))
    return f"psi-{operation}-{_digest('|'.join(parts), 40)}"


def creation_key(
    client_reference_id: str | None, flow_run_id: str | None, params: Mapping[str, Any]
) -> str:
    """``verify_identity``'s create: one session per person and request (within Stripe's
    24 h), or per flow run without a reference, across its retries."""
    digest = _digest(canonical_params(params), 16)
    if client_reference_id is not None:
        return f"verify_identity:{client_reference_id}:{digest}"
    return f"verify_identity:run:{flow_run_id or uuid.uuid4()}:{digest}"


def replacement_key(key: str, dead_session_id: str) -> str:
    """The successor of a dead session made with ``key``: every run walks the same chain."""
    return f"{key}:after:{dead_session_id}"


def rollback_cancel_key(session_id: str) -> str:
    """The cancel of a failed run's session."""
    return f"verify_identity:rollback:{session_id}"


def sweep_redaction_key(run_id: str, session_id: str) -> str:
    """A sweep's redaction: the same whichever batch (or retry) picks the session up."""
    return f"psi-redact-{_digest(f'{run_id}|retention-sweep|redact|{session_id}', 40)}"
