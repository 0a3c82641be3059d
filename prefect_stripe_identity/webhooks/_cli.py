"""``prefect-stripe-identity webhooks serve|replay``.

Wired into the main CLI with `add_webhooks_parser` and `run_webhooks_command`. Errors are
one line on stderr and exit code 2; secrets are never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
from collections.abc import Sequence
from typing import cast
from urllib.parse import urlsplit, urlunsplit

import uvicorn

from prefect_stripe_identity._base_client import DEFAULT_API_BASE
from prefect_stripe_identity._exceptions import StripeIdentityError
from prefect_stripe_identity._secrets import mask_secrets
from prefect_stripe_identity.settings import ENV_PREFIX, StripeIdentitySettings
from prefect_stripe_identity.webhooks._app import WEBHOOK_PATH, create_webhook_app
from prefect_stripe_identity.webhooks._processor import WebhookProcessor
from prefect_stripe_identity.webhooks._replay import parse_since, replay_events
from prefect_stripe_identity.webhooks._signature import check_webhook_secrets

__all__ = ["add_webhooks_parser", "run_webhooks_command"]

# The settings' older variable names (`StripeIdentitySettings`), the ones users know.
SECRET_ENV = "STRIPE_WEBHOOK_SECRET"  # noqa: S105 (the variable's name, not a secret)
API_KEY_ENV = "STRIPE_API_KEY"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8484
#: Connections (and requests) uvicorn serves at once; beyond it it answers 503 itself.
#: Each costs a file descriptor and a few KiB; bodies have their own budget in the app.
DEFAULT_LIMIT_CONCURRENCY = 1000
# Seconds an idle keep-alive connection is kept (uvicorn's default, stated on purpose).
_KEEP_ALIVE_SECONDS = 5
# Request line and headers together, buffered per connection before the request starts:
# Stripe's are well under 2 KiB.
_MAX_HEADER_BYTES = 16 * 1024

#: Exit codes: 0 done; 1 a replay left events Prefect could not take (run it again);
#: 2 bad usage or configuration, or the Stripe API could not be read.
EXIT_OK, EXIT_INCOMPLETE, EXIT_ERROR = 0, 1, 2


class _UsageError(Exception):
    """A problem the user must fix; the message is printed as it is (no secrets in it)."""


def add_webhooks_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Register ``webhooks serve`` and ``webhooks replay`` on the main CLI's subparsers."""
    parser = subparsers.add_parser(
        "webhooks",
        help="receive Stripe Identity webhooks and forward them to Prefect",
        description="Receive Stripe Identity webhooks, or replay missed events, into Prefect.",
    )
    commands = parser.add_subparsers(dest="webhooks_command", metavar="{serve,replay}")

    serve = commands.add_parser(
        "serve",
        help="run the webhook receiver (POST /webhooks/stripe)",
        description="Run the receiver: verifies Stripe signatures, emits Prefect events and "
        "resumes the flow runs waiting on the sessions.",
    )
    serve.add_argument("--host", default=DEFAULT_HOST, help="interface (default %(default)s)")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (default %(default)s)")
    serve.add_argument(
        "--secret",
        action="append",
        metavar="whsec_…",
        help="endpoint signing secret; repeat it while rotating (default: the webhook_secret "
        f"setting, ${SECRET_ENV} or ${ENV_PREFIX}WEBHOOK_SECRET, comma-separated; prefer "
        "the setting: arguments are visible to other users)",
    )
    serve.add_argument(
        "--credentials",
        metavar="BLOCK_NAME",
        help="a saved StripeIdentityCredentials block whose webhook_secret to use "
        "(instead of the webhook_secret setting)",
    )
    serve.add_argument(
        "--limit-concurrency",
        type=int,
        default=DEFAULT_LIMIT_CONCURRENCY,
        metavar="N",
        help="connections served at once; more are answered 503 (default %(default)s)",
    )

    replay = commands.add_parser(
        "replay",
        help="feed Identity events listed by the Stripe API through the receiver's logic",
        description="Read identity.verification_session.* events from GET /v1/events and "
        "forward them to Prefect, oldest first, as the receiver would.",
    )
    replay.add_argument(
        "--since",
        required=True,
        help="unix seconds, a duration back from now (90s, 30m, 2h, 3d, 1w), or ISO 8601",
    )
    replay.add_argument(
        "--api-key",
        help=f"secret or restricted key (default: the api_key setting, ${API_KEY_ENV})",
    )
    replay.add_argument(
        "--api-base", default=DEFAULT_API_BASE, help="API base URL (default %(default)s)"
    )
    return parser


def _error(message: str) -> int:
    print(f"error: {mask_secrets(message)}", file=sys.stderr)
    return EXIT_ERROR


def _secrets(given: Sequence[str] | None, block_name: str | None = None) -> list[str]:
    if given:
        values = list(given)
    elif block_name:
        values = _block_secrets(block_name)
    else:
        setting = StripeIdentitySettings().webhook_secret
        text = setting.get_secret_value() if setting is not None else ""
        values = [s for s in text.split(",") if s.strip()]
    if not values:
        raise _UsageError(
            "no webhook signing secret: pass --secret or --credentials, or set "
            f"{SECRET_ENV} (or {ENV_PREFIX}WEBHOOK_SECRET)"
        )
    try:
        # The same check as create_webhook_app's: trimmed, and refused unless it can be
        # Stripe's (the message never echoes the value).
        return check_webhook_secrets(values)
    except ValueError as exc:
        raise _UsageError(str(exc)) from None


def _block_secrets(name: str) -> list[str]:
    """The signing secrets kept in the credentials block ``name`` (its ``webhook_secret``)."""
    from prefect_stripe_identity.credentials import StripeIdentityCredentials

    try:
        # The CLI runs no event loop: `load` answers the block itself.
        block = cast(StripeIdentityCredentials, StripeIdentityCredentials.load(name))
    except ValueError as exc:  # Prefect's answer to a name that is not saved
        raise _UsageError(f"no StripeIdentityCredentials block named {name!r}: {exc}") from None
    if block.webhook_secret is None:
        raise _UsageError(f"the credentials block {name!r} has no webhook_secret")
    return [s for s in block.webhook_secret.get_secret_value().split(",") if s.strip()]


def _shown_url(url: str) -> str:
    # A Prefect API URL may carry credentials (https://user:pass@host/api): never print them.
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _connect_to_prefect() -> None:
    """Reach the Prefect API (starting the temporary server if no ``PREFECT_API_URL`` is
    set) before listening, so the first delivery does not pay for it, and a receiver that
    can never forward anything fails at once instead of answering 503 forever."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL

    configured = PREFECT_API_URL.value()
    if configured:
        print(f"Connecting to the Prefect API at {_shown_url(configured)}…", file=sys.stderr)
    else:
        print(
            "No PREFECT_API_URL set: starting a temporary Prefect server "
            "(its first start prepares a database and can take a minute)…",
            file=sys.stderr,
        )

    async def check() -> tuple[str, Exception | None]:
        async with get_client() as client:
            return str(client.api_url).rstrip("/"), await client.api_healthcheck()

    where = _shown_url(configured) if configured else "the temporary Prefect server"
    try:
        api_url, error = asyncio.run(check())
    except Exception as exc:  # the temporary server did not start, a malformed URL, ...
        raise _UsageError(f"cannot reach the Prefect API at {where}: {exc}") from None
    if error is not None:
        reason = str(error) or type(error).__name__
        raise _UsageError(f"cannot reach the Prefect API at {_shown_url(api_url)}: {reason}")
    print(f"Prefect API at {_shown_url(api_url)} is reachable", file=sys.stderr)


def _check_port(host: str, port: int) -> None:
    if not 0 < port < 65536:
        raise _UsageError(f"--port {port} is not a valid port")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # Bind once before starting uvicorn: it would log a traceback-like error and exit 1.
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise _UsageError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def _serve(args: argparse.Namespace) -> int:
    from_block = bool(args.credentials) and not args.secret
    if from_block:
        _connect_to_prefect()  # the block is read from the Prefect API
    secrets = _secrets(args.secret, args.credentials if from_block else None)
    if args.limit_concurrency < 1:
        raise _UsageError("--limit-concurrency must be at least 1")
    _check_port(args.host, args.port)
    app = create_webhook_app(secrets)
    if not from_block:
        _connect_to_prefect()
    shown_host = f"[{args.host}]" if ":" in args.host else args.host
    count = f"{len(secrets)} signing secret" + ("s" if len(secrets) > 1 else "")
    print(f"Receiving Stripe webhooks on http://{shown_host}:{args.port}{WEBHOOK_PATH} ({count})")
    sys.stdout.flush()
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level="info",
        # h11, whatever else is installed: the limits below and the measurements in
        # RELIABILITY.md are those of this implementation.
        http="h11",
        limit_concurrency=args.limit_concurrency,
        timeout_keep_alive=_KEEP_ALIVE_SECONDS,
        h11_max_incomplete_event_size=_MAX_HEADER_BYTES,
    )
    return EXIT_OK


def _processor() -> WebhookProcessor:
    # One place builds the processor of a replay (the default, Prefect-backed one), so
    # tests can substitute a recording forwarder.
    return WebhookProcessor()


def _replay(args: argparse.Namespace) -> int:
    setting = StripeIdentitySettings().api_key
    api_key = args.api_key or (setting.get_secret_value() if setting is not None else "")
    if not api_key:
        raise _UsageError(
            f"no API key: pass --api-key or set {API_KEY_ENV} (or {ENV_PREFIX}API_KEY)"
        )
    if not api_key.startswith(("sk_", "rk_")):
        raise _UsageError("the API key must be a secret (sk_…) or restricted (rk_…) key")
    try:
        since = parse_since(args.since)
    except ValueError as exc:
        raise _UsageError(str(exc)) from None
    if not args.api_base.startswith(("http://", "https://")):
        raise _UsageError("--api-base must be an http(s) URL")
    summary = asyncio.run(
        replay_events(_processor(), api_key=api_key, since=since, api_base=args.api_base)
    )
    print(f"Replayed {summary.describe()}")
    if summary.failed:
        print(
            f"{summary.failed} could not be forwarded to Prefect; running the replay again is safe",
            file=sys.stderr,
        )
        return EXIT_INCOMPLETE
    return EXIT_OK


def run_webhooks_command(args: argparse.Namespace) -> int:
    """Run the ``webhooks`` command parsed by `add_webhooks_parser`; returns the exit code."""
    command = getattr(args, "webhooks_command", None)
    try:
        if command == "serve":
            return _serve(args)
        if command == "replay":
            return _replay(args)
        return _error("choose a webhooks command: serve or replay")
    except _UsageError as exc:
        return _error(str(exc))
    except StripeIdentityError as exc:
        return _error(str(exc))
    except KeyboardInterrupt:
        return 130  # the shell's convention for an interrupted command
    except Exception as exc:
        # The one-line promise holds for the unexpected too; the type helps a bug report.
        return _error(f"{type(exc).__name__}: {exc}")
