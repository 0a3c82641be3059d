"""``prefect-stripe-identity webhooks serve|replay``.

Wired into the main CLI with `add_webhooks_parser` and `run_webhooks_command`. Errors are
one line on stderr and exit code 2; secrets are never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
from collections.abc import Sequence

import uvicorn

from prefect_stripe_identity._base_client import DEFAULT_API_BASE
from prefect_stripe_identity._exceptions import StripeIdentityError
from prefect_stripe_identity._secrets import mask_secrets
from prefect_stripe_identity.webhooks._app import WEBHOOK_PATH, create_webhook_app
from prefect_stripe_identity.webhooks._processor import WebhookProcessor
from prefect_stripe_identity.webhooks._replay import parse_since, replay_events

__all__ = ["add_webhooks_parser", "run_webhooks_command"]

SECRET_ENV = "STRIPE_WEBHOOK_SECRET"  # noqa: S105 (the variable's name, not a secret)
API_KEY_ENV = "STRIPE_API_KEY"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8484

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
        help=f"endpoint signing secret; repeat it while rotating (default: ${SECRET_ENV}, "
        "comma-separated; prefer the variable: arguments are visible to other users)",
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
    replay.add_argument("--api-key", help=f"secret or restricted key (default: ${API_KEY_ENV})")
    replay.add_argument(
        "--api-base", default=DEFAULT_API_BASE, help="API base URL (default %(default)s)"
    )
    return parser


def _error(message: str) -> int:
    print(f"error: {mask_secrets(message)}", file=sys.stderr)
    return EXIT_ERROR


def _secrets(given: Sequence[str] | None) -> list[str]:
    if given:
        values = list(given)
    else:
        values = [s.strip() for s in os.environ.get(SECRET_ENV, "").split(",") if s.strip()]
    if not values:
        raise _UsageError(f"no webhook signing secret: pass --secret or set {SECRET_ENV}")
    for value in values:
        if not value.startswith("whsec_") or len(value) <= len("whsec_"):
            # Never echo the value: it may be a real secret pasted in the wrong place.
            raise _UsageError("a webhook signing secret must start with whsec_")
    return values


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
    secrets = _secrets(args.secret)
    _check_port(args.host, args.port)
    app = create_webhook_app(secrets)
    shown_host = f"[{args.host}]" if ":" in args.host else args.host
    count = f"{len(secrets)} signing secret" + ("s" if len(secrets) > 1 else "")
    print(f"Receiving Stripe webhooks on http://{shown_host}:{args.port}{WEBHOOK_PATH} ({count})")
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return EXIT_OK


def _processor() -> WebhookProcessor:
    # One place builds the processor of a replay (the default, Prefect-backed one), so
    # tests can substitute a recording forwarder.
    return WebhookProcessor()


def _replay(args: argparse.Namespace) -> int:
    api_key = args.api_key or os.environ.get(API_KEY_ENV, "")
    if not api_key:
        raise _UsageError(f"no API key: pass --api-key or set {API_KEY_ENV}")
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
