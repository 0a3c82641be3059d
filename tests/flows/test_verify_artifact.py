"""Every verification leaves a markdown artifact a compliance officer reads in the UI, read
back here through Prefect's API: session, status, checks and error codes, failed attempts,
retention, redaction; never a personal datum, a client secret or a URL."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterKey,
)
from test_verify import FAST, KEY, Person

from prefect_stripe_identity import StripeIdentityCredentials
from prefect_stripe_identity.emulator import EmulatorServer
from prefect_stripe_identity.flows import VerificationOutcome, averify_identity, verify_identity
from prefect_stripe_identity.flows._verify import CheckResult

pytestmark = pytest.mark.usefixtures("prefect_engine")


def artifact_of(state: Any, session_id: str) -> tuple[str, str]:
    """The run's verification artifact (markdown, description), found by its key and
    checked to belong to the run."""
    run_id: uuid.UUID = state.state_details.flow_run_id
    key = "verification-" + session_id.lower().replace("_", "-")
    with get_client(sync_client=True) as client:
        by_key = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
        )
        by_run = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
        )
    (artifact,) = by_key
    assert artifact.type == "markdown" and artifact.flow_run_id == run_id
    assert [a.key for a in by_run if a.key] == [key]  # one per verification
    return str(artifact.data), str(artifact.description)


def row(name: str, value: str) -> str:
    return f"| {name} | {value} |"


def utc(moment: datetime | None) -> str:
    assert moment is not None
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def personal_values(value: Any) -> Iterator[str]:
    """Every string (and the birth year) in the emulator's verified outputs."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "year" and isinstance(item, int):
                yield str(item)
            yield from personal_values(item)
    elif isinstance(value, list):
        for item in value:
            yield from personal_values(item)
    elif isinstance(value, str):
        yield value


def test_a_verified_person_leaves_an_artifact_without_personal_data(
    credentials: StripeIdentityCredentials, emulator: EmulatorServer
) -> None:
    Person(emulator, "art-1", ["verified"]).start()
    state = verify_identity(
        credentials,
        client_reference_id="art-1",
        include_verified_outputs=True,
        timeout=timedelta(seconds=30),
        return_state=True,
        **FAST,
    )
    outcome: VerificationOutcome = state.result()
    assert outcome.verified and outcome.verified_outputs is not None
    markdown, description = artifact_of(state, outcome.session_id)

    assert markdown.startswith("# Identity verification: verified")
    for expected in (
        row("Session", f"`{outcome.session_id}`"),
        row("Status", "verified"),
        row("Verified", "yes"),
        row("Report", f"`{outcome.report_id}`"),
        row("Failed attempts", "0"),
        row("Timed out", "no"),
        row("Canceled by the flow", "no"),
        row("Data retained until", utc(outcome.retention_until)),
        row("Redaction scheduled", "no"),
        "| Check | Status | Error code | Reason |",
        "| document | verified | - | - |",
    ):
        assert expected in markdown, f"{expected!r} not in:\n{markdown}"
    assert outcome.session_id in description and "verified" in description

    # No personal datum: what the person's verified outputs hold, as the emulator has them
    # (what the flow fetched for the outcome).
    answer = httpx.get(
        f"{emulator.url}/v1/identity/verification_sessions/{outcome.session_id}",
        params={"expand[]": "verified_outputs"},
        headers={"Authorization": f"Bearer {KEY}"},
    )
    values = set(personal_values(answer.raise_for_status().json()["verified_outputs"]))
    assert {"Jenny", "Rosen", "1234 Main Street", "94111"} <= values  # the scan has targets
    for value in values:
        assert not re.search(rf"\b{re.escape(value)}\b", markdown + description), value
    assert KEY not in markdown
    assert "_secret_" not in markdown and "http" not in markdown


async def test_a_failed_then_verified_person_async(
    credentials: StripeIdentityCredentials, emulator: EmulatorServer
) -> None:
    Person(emulator, "art-2", ["unverified", "verified"]).start()
    state = await averify_identity(
        credentials,
        client_reference_id="art-2",
        timeout=timedelta(seconds=30),
        return_state=True,
        **FAST,
    )
    outcome: VerificationOutcome = await state.result()
    assert outcome.failed_attempts == ["document_expired"]
    markdown, _ = artifact_of(state, outcome.session_id)
    for expected in (
        row("Status", "verified"),
        row("Failed attempts", "1"),
        "## Failed attempts",
        "| Attempt | Error code |",
        "| 1 | `document_expired` |",
        "| document | verified | - | - |",
    ):
        assert expected in markdown, f"{expected!r} not in:\n{markdown}"


def test_a_person_who_never_comes_leaves_a_canceled_record(
    credentials: StripeIdentityCredentials,
) -> None:
    state = verify_identity(
        credentials,
        client_reference_id="art-3",
        timeout=timedelta(seconds=1),
        return_state=True,
        **FAST,
    )
    outcome: VerificationOutcome = state.result()
    markdown, _ = artifact_of(state, outcome.session_id)
    for expected in (
        "# Identity verification: canceled",
        row("Status", "canceled"),
        row("Verified", "no"),
        row("Report", "-"),
        row("Timed out", "yes"),
        row("Canceled by the flow", "yes"),
        "No verification report: nothing was submitted.",
    ):
        assert expected in markdown, f"{expected!r} not in:\n{markdown}"
    assert "## Failed attempts" not in markdown


def test_the_artifact_escapes_and_masks_what_stripe_wrote() -> None:
    from prefect_stripe_identity.flows._verify import _artifact

    now = datetime.now(timezone.utc)
    outcome = VerificationOutcome(
        session_id="vs_1AbC_x",
        status="requires_input",
        verified=False,
        checks={
            "document": CheckResult(
                status="unverified",
                error_code="document_expired",
                error_reason=f"bad | split\nline {KEY}",
            )
        },
        last_error_code="document_expired",
        started_at=now,
        finished_at=now,
        duration_seconds=0,
    )
    artifact = _artifact(outcome)
    assert artifact["key"] == "verification-vs-1abc-x"
    assert re.fullmatch(r"[a-z0-9-]+", artifact["key"])
    line = next(x for x in artifact["markdown"].splitlines() if x.startswith("| document"))
    reason = "bad \\| split line sk_test_********"  # one cell, one line, the key masked
    assert line == f"| document | unverified | `document_expired` | {reason} |"
