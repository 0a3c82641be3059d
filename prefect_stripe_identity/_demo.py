"""``prefect-stripe-identity demo``: the main job, end to end, on a fresh machine.

Against the embedded emulator (the default), three people verify their identity through
`verify_identity`: Ada succeeds, Grace fails once then succeeds, Alan never comes and his
session is canceled. A retention sweep then redacts what is due. With a real test key
(``STRIPE_API_KEY=sk_test_…``) the same command runs against Stripe: it prints the hosted
URL for a person to open and waits for them; the sweep then only reports (dry run).

The story printed holds ids, statuses and error codes: no key, secret or personal datum.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import httpx

from prefect_stripe_identity._prefect_setup import generous_server_startup, start_temporary_server
from prefect_stripe_identity.credentials import StripeIdentityCredentials
from prefect_stripe_identity.emulator import EmulatorConfig, EmulatorServer
from prefect_stripe_identity.flows import (
    VerificationOutcome,
    redact_expired_verification_sessions,
    verify_identity,
)
from prefect_stripe_identity.models import VerificationSession
from prefect_stripe_identity.settings import StripeIdentitySettings

__all__ = ["person_arrives", "print_hosted_url", "run_demo"]

Say = Callable[[str], None]

#: The demo's retention period: short, so the sweep has something to redact.
DEMO_RETENTION = timedelta(seconds=2)


@dataclass(frozen=True)
class Person:
    """Someone the demo verifies, and what they do on the hosted page."""

    reference: str
    name: str
    attempts: tuple[str, ...]  # "verified", or an error code for a failed attempt
    timeout: timedelta


PEOPLE = (
    Person("demo-ada", "Ada", ("verified",), timedelta(seconds=30)),
    Person("demo-grace", "Grace", ("document_expired", "verified"), timedelta(seconds=30)),
    Person("demo-alan", "Alan", (), timedelta(seconds=6)),
)
_PLANS = {person.reference: person for person in PEOPLE}
_emulator_url: str | None = None


def person_arrives(session: VerificationSession) -> None:
    """``session_ready_hook`` of the emulator demo: the person opens the link and acts.

    In a real deployment this hook would email or text the hosted URL to the person.
    """
    person = _PLANS.get(session.client_reference_id or "")
    if person is None or _emulator_url is None or not person.attempts:
        return
    threading.Thread(
        target=_act, args=(_emulator_url, session.id, person.attempts), daemon=True
    ).start()


def _act(emulator_url: str, session_id: str, attempts: tuple[str, ...]) -> None:
    with httpx.Client(base_url=emulator_url, timeout=10) as http:
        for attempt in attempts:
            time.sleep(1.5)  # reading the page, holding up the document
            outcome = (
                {"outcome": "verified"}
                if attempt == "verified"
                else {"outcome": "unverified", "error_code": attempt}
            )
            http.post(f"/_emulator/verification_sessions/{session_id}/submit", data=outcome)
            # Wait for the attempt to be processed before trying again.
            while http.get("/_emulator/stats").json()["sessions_by_status"].get("processing"):
                time.sleep(0.2)


def print_hosted_url(session: VerificationSession) -> None:
    """``session_ready_hook`` against real Stripe: show the person where to go."""
    url = session.url.get_secret_value() if session.url else "(no URL: session not open)"
    print(f"\n  Open this link to verify (test mode, single use):\n  {url}\n", flush=True)


def _quiet_prefect() -> None:
    # The story is the output; Prefect's own INFO lines would drown it.
    for name in ("prefect", "prefect.flow_runs", "prefect.task_runs", "prefect.server"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _tell(say: Say, person: Person, outcome: VerificationOutcome) -> None:
    say(f"  {person.name}: session {outcome.session_id} -> {outcome.status}")
    for code in outcome.failed_attempts:
        say(f"    an attempt failed: {code}; {person.name} may try again")
    if outcome.timed_out:
        canceled = ", session canceled" if outcome.canceled_by_flow else ""
        say(f"    did not finish within {person.timeout.total_seconds():.0f} s{canceled}")
    for check, result in outcome.checks.items():
        error = f" ({result.error_code})" if result.error_code else ""
        say(f"    report {outcome.report_id}: {check} {result.status}{error}")
    say(f"    took {outcome.duration_seconds:.1f} s")


def _run_emulator_demo(say: Say) -> int:
    global _emulator_url
    config = EmulatorConfig(processing_seconds=1.0, redaction_seconds=1.0)
    with EmulatorServer(config) as emulator:
        _emulator_url = emulator.url
        say(f"Stripe Identity emulator (test mode) at {emulator.url}")
        credentials = StripeIdentityCredentials(
            api_key="sk_test_demo", api_base=emulator.url, max_network_retries=2
        )
        say("Verifying three people (polling; Prefect runs the flows):")
        for person in PEOPLE:
            outcome = verify_identity(
                credentials,
                client_reference_id=person.reference,
                timeout=person.timeout,
                retention_days=DEMO_RETENTION,
                session_ready_hook=f"{__name__}:person_arrives",
                redaction_deployment=None,
                poll_interval_seconds=0.5,
                max_poll_interval_seconds=2.0,
            )
            _tell(say, person, outcome)
        time.sleep(DEMO_RETENTION.total_seconds())
        say(f"Retention sweep (demo retention: {DEMO_RETENTION.total_seconds():.0f} s):")
        report = redact_expired_verification_sessions(
            credentials, retention_days=DEMO_RETENTION.total_seconds() / 86400
        )
        say(f"  redacted {report.redacted}, skipped {dict(report.skipped) or 'none'}")
        time.sleep(config.redaction_seconds + 0.5)
        with credentials.get_client() as client:
            for session in client.verification_sessions.list(limit=10).auto_paging_iter():
                redaction = session.redaction.status if session.redaction else "not redacted"
                say(f"  {session.id} ({session.status}): personal data {redaction}")
        stats = httpx.get(f"{emulator.url}/_emulator/stats").json()
        say(f"Stripe API calls: {stats['requests']}, sessions created: {stats['sessions_created']}")
    return 0


def _run_stripe_demo(say: Say, api_key: str) -> int:
    credentials = StripeIdentityCredentials(api_key=api_key)
    if credentials.mode != "test":
        say("The demo runs with a test key only (sk_test_… or rk_test_…).")
        return 2
    say("Verifying one person against Stripe (test mode); you have 15 minutes.")
    outcome = verify_identity(
        credentials,
        client_reference_id="prefect-stripe-identity-demo",
        timeout=timedelta(minutes=15),
        session_ready_hook=f"{__name__}:print_hosted_url",
        redaction_deployment=None,
    )
    _tell(say, Person("demo", "You", (), timedelta(minutes=15)), outcome)
    report = redact_expired_verification_sessions(credentials, dry_run=True)
    say(f"Retention sweep (dry run, 30 days): would redact {report.would_redact}")
    return 0


def run_demo(say: Say = print) -> int:
    """Run the demo; returns the exit code.

    With no ``PREFECT_API_URL`` it first starts Prefect's temporary server, saying so, and
    waits for it as long as a first start on a busy machine needs (see `_prefect_setup`).
    """
    # Read by the temporary server when it starts (a child process, from its environment):
    # its telemetry adds nothing here.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    _quiet_prefect()
    with generous_server_startup():
        start_temporary_server(say)
        # The api_key setting: STRIPE_API_KEY, or its name under the integration's prefix.
        setting = StripeIdentitySettings().api_key
        api_key = setting.get_secret_value() if setting is not None else ""
        return _run_stripe_demo(say, api_key) if api_key else _run_emulator_demo(say)
