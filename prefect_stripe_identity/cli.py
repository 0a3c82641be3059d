"""The ``prefect-stripe-identity`` console script.

Subcommands register themselves in `_build_parser`: ``emulator``, ``demo``,
``rate-limits`` (``create``), ``automations`` (``create``) and ``webhooks`` (``serve``,
``replay``), each through its own ``_add_<name>`` function.
Errors reach the user as one line on stderr and exit code 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import socket
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

PROG = "prefect-stripe-identity"


class UsageError(Exception):
    """A problem with the command line or the environment: shown as one line, exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # argparse prints the whole usage; one line names the problem well enough.
        raise UsageError(message)


Command = Callable[[argparse.Namespace], int]


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text!r}")
    return value


def _port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise argparse.ArgumentTypeError(f"not a TCP port: {text!r}")
    return int(text)


# --- emulator ----------------------------------------------------------------------------


def _add_emulator(subparsers: argparse._SubParsersAction[_Parser]) -> None:
    parser = subparsers.add_parser(
        "emulator",
        help="run the Stripe Identity emulator (test mode) as an HTTP server",
        description="Serve a stateful, test-mode Stripe Identity API on this machine.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback)")
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a --host beyond loopback (the test controls have no authentication)",
    )
    parser.add_argument("--port", type=_port, default=12111, help="port (default: 12111)")
    parser.add_argument(
        "--auto-outcome",
        choices=("verified", "unverified", "none"),
        default="none",
        help="complete every new session by itself with this outcome",
    )
    parser.add_argument(
        "--auto-submit-seconds",
        type=_positive_float,
        default=1.0,
        metavar="S",
        help="with --auto-outcome: seconds before a new session is submitted (default 1)",
    )
    parser.add_argument(
        "--processing-seconds",
        type=_positive_float,
        default=2.0,
        metavar="S",
        help="how long a submitted session stays processing (default 2)",
    )
    parser.add_argument(
        "--redaction-seconds",
        type=_positive_float,
        default=3.0,
        metavar="S",
        help="how long redaction stays processing; 0 = at once (default 3)",
    )
    _add_emulator_conditions(parser)
    parser.set_defaults(command=_run_emulator)


def _add_emulator_conditions(parser: argparse.ArgumentParser) -> None:
    """The emulator's options that shape its conditions: limits, faults, latency,
    webhooks, state and links."""
    parser.add_argument(
        "--rate-limit",
        type=_positive_float,
        default=None,
        metavar="OPS_PER_S",
        help="read and write operations per second (separately); default unlimited",
    )
    parser.add_argument(
        "--fault-rate",
        type=_positive_float,
        default=0.0,
        metavar="P",
        help="probability (0..1) that a /v1 request meets a fault",
    )
    parser.add_argument(
        "--fault-kinds",
        default=None,
        metavar="K1,K2",
        help="faults to inject: 500,503,lock_timeout,connection_drop,lost_response (default all)",
    )
    parser.add_argument("--fault-seed", type=int, default=None, help="seed the fault dice")
    parser.add_argument(
        "--webhook-url", default=None, metavar="URL", help="deliver events to this endpoint"
    )
    parser.add_argument(
        "--webhook-secret",
        default=None,
        metavar="whsec_…",
        help="signing secret for --webhook-url (default: the webhook_secret setting, "
        "$STRIPE_WEBHOOK_SECRET)",
    )
    parser.add_argument(
        "--latency-ms", type=_positive_float, default=0.0, metavar="MS", help="added latency"
    )
    parser.add_argument(
        "--state-file", default=None, metavar="PATH", help="SQLite file to keep state across runs"
    )
    parser.add_argument(
        "--public-url",
        default=None,
        metavar="URL",
        help="base URL for hosted-page links (default: the URL a request came in on)",
    )


def _webhook_secret_setting() -> str | None:
    # Imported here: the emulator alone loads no Prefect.
    from prefect_stripe_identity.settings import StripeIdentitySettings

    secret = StripeIdentitySettings().webhook_secret
    return secret.get_secret_value() if secret is not None else None


def _run_emulator(args: argparse.Namespace) -> int:
    from prefect_stripe_identity.emulator import (
        FAULT_KINDS,
        EmulatorConfig,
        check_host,
        is_loopback,
        serve,
    )

    try:
        check_host(args.host, args.allow_remote, flag="--allow-remote")
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    kinds = (
        tuple(k.strip() for k in args.fault_kinds.split(",") if k.strip())
        if args.fault_kinds
        else FAULT_KINDS
    )
    secret = args.webhook_secret or (_webhook_secret_setting() if args.webhook_url else None)
    if args.webhook_url and not secret:
        raise UsageError(
            "--webhook-url needs --webhook-secret (or the webhook_secret setting: "
            "STRIPE_WEBHOOK_SECRET or PREFECT_INTEGRATIONS_STRIPE_IDENTITY_WEBHOOK_SECRET)"
        )
    if secret and not args.webhook_url:
        raise UsageError("--webhook-secret needs --webhook-url")
    try:
        config = EmulatorConfig(
            auto_outcome=args.auto_outcome,
            auto_submit_seconds=args.auto_submit_seconds,
            processing_seconds=args.processing_seconds,
            redaction_seconds=args.redaction_seconds,
            rate_limit=args.rate_limit,
            fault_rate=args.fault_rate,
            fault_kinds=kinds,
            fault_seed=args.fault_seed,
            latency_ms=args.latency_ms,
            webhook_url=args.webhook_url,
            webhook_secret=secret,
            state_file=args.state_file,
            public_url=args.public_url,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    _check_port(args.host, args.port)
    if not is_loopback(args.host):
        print(
            f"{PROG}: warning: listening on {args.host}, beyond loopback (--allow-remote): "
            "anyone who reaches it can reset, seed and submit",
            file=sys.stderr,
        )
    print(f"Stripe Identity emulator (test mode) on http://{args.host}:{args.port}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        serve(config, host=args.host, port=args.port, allow_remote=args.allow_remote)
    return 0


def _check_port(host: str, port: int) -> None:
    # uvicorn would log a traceback-like error and exit 1; say it in one line instead.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
    except OSError as exc:
        reason = "address already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
        raise UsageError(f"cannot listen on {host}:{port}: {reason}") from None


# --- demo and webhooks ---------------------------------------------------------------------


def _add_demo(subparsers: argparse._SubParsersAction[_Parser]) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="verify three people against the embedded emulator, then sweep",
        description="Run the main job end to end: verify_identity for three people against "
        "the embedded emulator (or Stripe, with STRIPE_API_KEY=sk_test_…), then a retention "
        "sweep, and tell what happened.",
    )
    parser.set_defaults(command=_run_demo)


def _run_demo(args: argparse.Namespace) -> int:
    from prefect_stripe_identity._demo import run_demo

    return run_demo()


def _add_rate_limits(subparsers: argparse._SubParsersAction[_Parser]) -> None:
    from prefect_stripe_identity.rate_limits import (
        DEFAULT_HEADROOM,
        DEFAULT_READ_LIMIT_NAME,
        DEFAULT_WRITE_LIMIT_NAME,
    )

    parser = subparsers.add_parser(
        "rate-limits",
        help="create the Prefect rate limits every Stripe request takes a slot of",
        description="Manage the Prefect global concurrency limits (with slot decay) that "
        "the credentials block's read_rate_limit and write_rate_limit name.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    actions.required = True
    create = actions.add_parser(
        "create",
        help="create or update the read and write limits on the current Prefect server",
        description="Create (or update) two Prefect global concurrency limits used as rate "
        "limits: one for reads, one for writes, at a share (--headroom) of Stripe's own "
        "limits for the mode (test: 25 per second each; live: 100).",
    )
    create.add_argument("--mode", choices=("test", "live"), default="test")
    create.add_argument(
        "--headroom",
        type=float,
        default=DEFAULT_HEADROOM,
        help=f"the share of Stripe's limit to allow, in (0, 1] (default {DEFAULT_HEADROOM})",
    )
    create.add_argument("--read-name", default=DEFAULT_READ_LIMIT_NAME)
    create.add_argument("--write-name", default=DEFAULT_WRITE_LIMIT_NAME)
    create.set_defaults(command=_create_rate_limits)


def _create_rate_limits(args: argparse.Namespace) -> int:
    from prefect_stripe_identity.rate_limits import default_limits, ensure_rate_limits

    try:  # default_limits holds the rules (mode, headroom)
        specs = default_limits(
            args.mode, headroom=args.headroom, read_name=args.read_name, write_name=args.write_name
        )
    except ValueError as exc:
        raise UsageError(f"--headroom or --mode: {exc}") from None
    for line in ensure_rate_limits(*specs):
        print(line)
    print(
        f"Name them in the credentials block: read_rate_limit={args.read_name!r}, "
        f"write_rate_limit={args.write_name!r}."
    )
    return 0


def _add_automations(subparsers: argparse._SubParsersAction[_Parser]) -> None:
    parser = subparsers.add_parser(
        "automations",
        help="create the Prefect automations that notify on verification events",
        description="Manage the Prefect automations that send a message when a "
        "verification session needs someone: an attempt failed, it was verified, canceled "
        "or redacted.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    actions.required = True
    create = actions.add_parser(
        "create",
        help="create or update the four automations on the current Prefect server",
        description="Create (or update, by name) one automation per event people act on "
        "(stripe.identity.verification_session.requires_input, .verified, .canceled, "
        ".redacted), each sending a message through a saved notification block. The "
        "message holds ids, statuses and error codes only.",
    )
    create.add_argument(
        "--notify",
        required=True,
        metavar="BLOCK",
        help="the saved notification block, '<block type slug>/<block name>' "
        "(e.g. slack-webhook/identity-alerts)",
    )
    create.add_argument(
        "--mode",
        choices=("test", "live", "any"),
        default="any",
        help="notify on sessions of this mode only (default: any)",
    )
    create.set_defaults(command=_create_automations)


def _create_automations(args: argparse.Namespace) -> int:
    from prefect_stripe_identity._automations import ensure_automations

    try:
        lines = ensure_automations(args.notify, mode=args.mode)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    for line in lines:
        print(line)
    return 0


def _add_webhooks(subparsers: argparse._SubParsersAction[_Parser]) -> None:
    from prefect_stripe_identity.webhooks import add_webhooks_parser, run_webhooks_command

    add_webhooks_parser(subparsers).set_defaults(command=run_webhooks_command)  # type: ignore[arg-type]


# --- the parser and main -----------------------------------------------------------------


def _build_parser() -> _Parser:
    parser = _Parser(prog=PROG, description="Prefect integration for Stripe Identity.")
    subparsers = parser.add_subparsers(dest="subcommand", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    _add_emulator(subparsers)
    _add_demo(subparsers)
    _add_rate_limits(subparsers)
    _add_automations(subparsers)
    _add_webhooks(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 2 usage or environment error)."""
    # Any command of ours may start Prefect's temporary server (demo, webhooks): give its
    # first start, which creates the database, the time a busy machine needs.
    from prefect_stripe_identity._logging import install_secrets_filter
    from prefect_stripe_identity._prefect_setup import (
        TemporaryServerError,
        generous_server_startup,
    )

    install_secrets_filter()  # every command logs to the console, some through Prefect
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
        command: Command = args.command
        with generous_server_startup():
            return command(args)
    except (UsageError, TemporaryServerError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
