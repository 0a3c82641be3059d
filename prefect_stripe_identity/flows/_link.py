"""How the person gets their link without code: a saved Prefect notification block sends
it, and a deployment's parameters can no longer name code for a worker to run.

The session's hosted ``url`` is a secret (single use, it opens the person's verification):
it goes to the notification block only, never into a log record, an error message, an
event or a result.
"""

from __future__ import annotations

import inspect
import string
from dataclasses import dataclass
from typing import cast

from prefect import get_run_logger
from prefect.blocks.abstract import NotificationBlock
from prefect.blocks.core import Block
from prefect.context import FlowRunContext
from prefect.utilities.asyncutils import run_coro_as_sync
from pydantic import ValidationError

from prefect_stripe_identity.models import VerificationSession
from prefect_stripe_identity.settings import ENV_PREFIX, StripeIdentitySettings

__all__ = [
    "ALLOWED_HOOKS_ENV",
    "DEFAULT_LINK_MESSAGE",
    "LINK_SUBJECT",
    "LinkNotification",
    "aload_link_notification",
    "asend_link",
    "check_hook_allowed",
    "check_link_message",
    "load_link_notification",
    "send_link",
]

#: The worker's allow-list of ``module:function`` hooks a deployment run may call: the
#: older name of the ``allowed_hooks`` setting (`StripeIdentitySettings`), still read.
ALLOWED_HOOKS_ENV = "PREFECT_STRIPE_IDENTITY_ALLOWED_HOOKS"
#: The message the notification block sends when the flow is given none.
DEFAULT_LINK_MESSAGE = (
    "Please verify your identity (reference {client_reference_id}) with this single-use link: {url}"
)
#: The subject of the notification (e-mail subject, Slack title, `{{subject}}` of a webhook).
LINK_SUBJECT = "Verify your identity"
_PLACEHOLDERS = ("url", "client_reference_id")


def check_hook_allowed(path: str | None) -> None:
    """Refuse a ``session_ready_hook`` in a deployment run unless the worker allows it.

    Anyone who may edit a deployment's parameters would otherwise choose the code the
    worker imports and runs. Python callers (no deployment) choose their own code."""
    if path is None:
        return
    context = FlowRunContext.get()
    flow_run = context.flow_run if context else None
    if flow_run is None or flow_run.deployment_id is None:
        return
    if path not in StripeIdentitySettings().allowed_hooks:
        raise ValueError(
            f"`session_ready_hook` {path!r} is refused in a deployment run: a deployment's "
            "parameters may not name code for the worker to run. Send the link with "
            f"`link_notification`, or list the hook in {ENV_PREFIX}ALLOWED_HOOKS (or "
            f"{ALLOWED_HOOKS_ENV}) on the worker."
        )


def check_link_message(template: str) -> None:
    """Check ``link_message``: plain text with ``{url}`` and optionally
    ``{client_reference_id}``, nothing else (no attribute, index, format spec or conversion:
    `str.format` would evaluate them)."""
    try:
        fields = [(name, spec, conv) for _, name, spec, conv in string.Formatter().parse(template)]
    except ValueError as exc:  # an unmatched brace
        raise ValueError(f"`link_message` is not a valid template: {exc}") from None
    names = {name for name, _, _ in fields if name is not None}
    wrong = [
        "{" + name + (f"!{conv}" if conv else "") + (f":{spec}" if spec else "") + "}"
        for name, spec, conv in fields
        if name is not None and (name not in _PLACEHOLDERS or spec or conv)
    ]
    if wrong:
        raise ValueError(
            f"`link_message` may hold only the placeholders {{url}} and "
            f"{{client_reference_id}}, not {', '.join(wrong)} (write {{{{ and }}}} for braces)"
        )
    if "url" not in names:
        raise ValueError("`link_message` must hold {url}: the link is what the person needs")


@dataclass(frozen=True)
class LinkNotification:
    """A loaded notification block, under the name the flow was given, and the message."""

    name: str
    block: NotificationBlock
    message: str

    def body(self, session: VerificationSession) -> str:
        """The message for ``session``, its hosted URL in clear."""
        if session.url is None:
            raise RuntimeError(f"{session.id} has no hosted url to send ({session.status})")
        return self.message.format(
            url=session.url.get_secret_value(),
            client_reference_id=session.client_reference_id or "-",
        )


def _check_name(name: str) -> None:
    block_type, _, document = name.partition("/")
    if not block_type or not document or "/" in document:
        raise ValueError(
            f"`link_notification` {name!r} is not '<block type slug>/<block name>', "
            "e.g. 'slack-webhook/identity-links' or 'custom-webhook/identity-links'"
        )


def _load_failed(name: str, exc: Exception) -> ValueError:
    # A block whose stored data does not validate: pydantic would quote the values.
    detail = type(exc).__name__ if isinstance(exc, ValidationError) else str(exc)
    return ValueError(f"`link_notification` {name!r} cannot be loaded: {detail}")


def _checked(name: str, block: Block, message: str) -> LinkNotification:
    if not isinstance(block, NotificationBlock):
        raise ValueError(
            f"`link_notification` {name!r} is a {type(block).__name__} block, not a "
            "notification block (Slack, e-mail, custom webhook, …)"
        )
    return LinkNotification(name, block, message)


def load_link_notification(name: str | None, message: str) -> LinkNotification | None:
    """Load the notification block named ``name``, before any session exists."""
    if name is None:
        return None
    _check_name(name)
    try:
        # Block.load dispatches on the context: a sync flow gets the block, not a coroutine.
        block = cast(Block, Block.load(name))
    except Exception as exc:  # no such block, an unknown block type, an API error
        raise _load_failed(name, exc) from None
    return _checked(name, block, message)


async def aload_link_notification(name: str | None, message: str) -> LinkNotification | None:
    """The async twin of `load_link_notification`."""
    if name is None:
        return None
    _check_name(name)
    try:
        block = await Block.aload(name)
    except Exception as exc:  # no such block, an unknown block type, an API error
        raise _load_failed(name, exc) from None
    return _checked(name, block, message)


def _send_failed(link: LinkNotification, exc: Exception) -> RuntimeError:
    # Not the error's own text: an HTTP error quotes the request's URL, Apprise's its log,
    # either may carry the message, and a run's error is logged and stored.
    status = getattr(getattr(exc, "response", None), "status_code", None)
    detail = type(exc).__name__ + (f", HTTP {status}" if isinstance(status, int) else "")
    return RuntimeError(f"`link_notification` {link.name!r} could not send the link ({detail})")


def send_link(link: LinkNotification, session: VerificationSession) -> None:
    """Send ``session``'s link through the block; a failure fails the run."""
    body = link.body(session)
    failure: RuntimeError | None = None
    try:
        # Prefect's blocks only log a failed send unless asked to raise.
        with link.block.raise_on_failure():
            sent = link.block.notify(body, LINK_SUBJECT)
            if inspect.isawaitable(sent):  # a block whose notify is async only
                run_coro_as_sync(sent)
    except Exception as exc:
        failure = _send_failed(link, exc)
    if failure is not None:
        raise failure  # outside the handler: the cause's text stays out of the traceback
    get_run_logger().info("Sent the link of %s through %r.", session.id, link.name)


async def asend_link(link: LinkNotification, session: VerificationSession) -> None:
    """The async twin of `send_link`: Prefect's blocks dispatch ``notify`` to their
    ``anotify`` in an async flow, and a block's own async ``notify`` is awaited too."""
    body = link.body(session)
    failure: RuntimeError | None = None
    try:
        with link.block.raise_on_failure():
            sent = link.block.notify(body, LINK_SUBJECT)
            if inspect.isawaitable(sent):
                await sent
    except Exception as exc:
        failure = _send_failed(link, exc)
    if failure is not None:
        raise failure
    get_run_logger().info("Sent the link of %s through %r.", session.id, link.name)
