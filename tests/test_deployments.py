"""The deployments of flows/prefect.yaml, applied to a real Prefect server: entry points
load, schedules hold, and every parameter renders as a form field in the UI."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.schedules import CronSchedule
from prefect.exceptions import ObjectAlreadyExists, PrefectHTTPStatusError
from prefect.flows import Flow
from prefect.settings import PREFECT_API_URL

from prefect_stripe_identity import (
    ProvidedDetailsInput,
    StripeIdentityClient,
    StripeIdentityCredentials,
)
from prefect_stripe_identity.emulator import EmulatorConfig, EmulatorServer

ROOT = Path(__file__).resolve().parents[1]
PREFECT_YAML = ROOT / "flows" / "prefect.yaml"
REFERENCE = {"block_document_slug": "stripe-identity-credentials/stripe-identity"}


def deployments() -> list[dict[str, Any]]:
    config = yaml.safe_load(PREFECT_YAML.read_text())
    return config["deployments"]  # type: ignore[no-any-return]


def load_entrypoint(entrypoint: str) -> Flow[Any, Any]:
    path, _, name = entrypoint.partition(":")
    spec = importlib.util.spec_from_file_location(Path(path).stem, ROOT / path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    flow = getattr(module, name)
    assert isinstance(flow, Flow)
    return flow


def untyped_fields(schema: dict[str, Any]) -> list[str]:
    """Properties that would render as a raw JSON blob instead of a form field."""
    typed = ("type", "$ref", "anyOf", "allOf", "oneOf", "enum", "const")
    found = []
    for name, prop in schema.get("properties", {}).items():
        if not any(key in prop for key in typed):
            found.append(name)
    for definition in schema.get("definitions", {}).values():
        found += untyped_fields(definition)
    return found


def test_every_deployment_names_a_loadable_flow_and_block_credentials() -> None:
    names = {d["name"] for d in deployments()}
    assert names == {
        "verify-identity",
        "wake-verify-identity",
        "redact-verification-session",
        "retention-sweep",
    }
    for deployment in deployments():
        flow = load_entrypoint(deployment["entrypoint"])
        assert flow.description
        if "credentials" not in flow.parameters.properties:
            assert "parameters" not in deployment  # the wake-up: it never calls Stripe
            continue
        # A reference to the block document, never a placeholder that `prefect deploy`
        # would replace by the block's data, API key included (issue 11, item 6).
        assert deployment["parameters"]["credentials"] == {"$ref": REFERENCE}


@pytest.mark.parametrize("default", ["DEFAULT_REDACTION_DEPLOYMENT", "DEFAULT_WAKE_DEPLOYMENT"])
def test_the_verify_flow_schedules_runs_of_the_deployments_the_yaml_defines(default: str) -> None:
    import prefect_stripe_identity.flows as flows

    flow_name, _, deployment_name = getattr(flows, default).partition("/")
    (deployment,) = [d for d in deployments() if d["name"] == deployment_name]
    assert load_entrypoint(deployment["entrypoint"]).name == flow_name


@pytest.mark.usefixtures("prefect_engine")
async def test_deployments_apply_with_forms_and_schedules() -> None:
    credentials = StripeIdentityCredentials(api_key="sk_test_deploy1234")
    await credentials.save("stripe-identity", overwrite=True)
    for spec in deployments():
        flow = load_entrypoint(spec["entrypoint"])
        parameters = dict(spec.get("parameters", {}))
        if "credentials" in parameters:
            parameters["credentials"] = credentials
        schedules = [
            CronSchedule(cron=s["cron"], timezone=s["timezone"]) for s in spec.get("schedules", [])
        ]
        deployment = await flow.ato_deployment(
            name=spec["name"],
            parameters=parameters,
            description=spec["description"],
            tags=spec["tags"],
            schedules=schedules,
        )
        deployment_id = await deployment.apply()
        async with get_client() as client:
            stored = await client.read_deployment(deployment_id)
        schema = stored.parameter_openapi_schema
        assert schema is not None
        assert untyped_fields(schema) == [], spec["name"]
        if "credentials" not in parameters:
            continue
        assert schema["properties"]["credentials"].get("$ref") or schema["properties"][
            "credentials"
        ].get("allOf"), "credentials must render as a block picker"
        assert "**********" not in str(stored.parameters)  # a block reference, no secret
        if spec.get("schedules"):
            assert [s.schedule.cron for s in stored.schedules] == ["0 3 * * *"]


PERSON_EMAIL = "deployed.person@example.com"

# A fake key, built at runtime so secret scanners pass it by; only its tail is searched for.
DEPLOY_KEY = "sk_test_" + "DeployedNeverStored4821"


def _prefect(
    *args: str, cwd: Path = ROOT, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """Prefect's own CLI from this venv, against the test session's server."""
    return subprocess.run(  # noqa: S603 (our own venv's prefect, fixed arguments)
        [sys.executable, "-m", "prefect", *args],
        cwd=cwd,
        env={**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_the_pull_step_clones_the_repository_and_names_no_local_path() -> None:
    """Portable: a worker on any machine fetches the entry points (issue 14, item 3), where
    `set_working_directory: {{ $PWD }}` stored the path of the machine that deployed."""
    config = yaml.safe_load(PREFECT_YAML.read_text())
    (step,) = config["pull"]
    ((name, options),) = step.items()
    assert name == "prefect.deployments.steps.git_clone"
    assert options["repository"].startswith("https://")
    assert options["directories"] == ["flows"]  # the entry points; the code is the package
    assert "$PWD" not in PREFECT_YAML.read_text().split("pull:")[1]
    assert all("pull" not in d for d in deployments())  # no deployment overrides it


def local_clone_yaml(directory: Path) -> Path:
    """flows/prefect.yaml with its clone pointed at this checkout (``file://``, its HEAD)
    instead of the public repository, which a test machine may not reach: the same
    `git_clone` step runs when each flow run starts. Entry points come from the last
    commit; the package is the one installed from this working tree."""
    config = yaml.safe_load(PREFECT_YAML.read_text())
    (step,) = config["pull"]
    clone = step["prefect.deployments.steps.git_clone"]
    clone["repository"] = ROOT.as_uri()
    clone.pop("branch")  # the checkout's HEAD, whichever branch (or commit) it is
    path = directory / "prefect.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.mark.long
@pytest.mark.usefixtures("prefect_engine")
def test_prefect_deploy_of_the_yaml_stores_no_key_in_deployments_or_flow_runs(
    tmp_path: Path,
) -> None:
    """Deploy flows/prefect.yaml with Prefect's own `prefect deploy`, run each deployment,
    and read back every deployment's and flow run's parameters: the key is nowhere, and
    every run resolved the block reference (issue 11, item 6). Each run starts by cloning
    the repository (a local clone, `local_clone_yaml`) into its own working directory."""
    with EmulatorServer(EmulatorConfig(auto_outcome="verified", processing_seconds=0)) as stripe:
        StripeIdentityCredentials(api_key=DEPLOY_KEY, api_base=stripe.url).save(
            "stripe-identity", overwrite=True
        )
        with get_client(sync_client=True) as client, contextlib.suppress(ObjectAlreadyExists):
            client.create_work_pool(WorkPoolCreate(name="stripe-identity", type="process"))
        prefect_file = local_clone_yaml(tmp_path)
        deployed = _prefect("--no-prompt", "deploy", "--all", "--prefect-file", str(prefect_file))
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        assert DEPLOY_KEY[-12:] not in deployed.stdout + deployed.stderr

        # The person's details by reference: a saved block document (issue 11, item 9).
        details_id = ProvidedDetailsInput(email=PERSON_EMAIL).save("deployed-1", overwrite=True)
        stripe_client = StripeIdentityClient(api_key=DEPLOY_KEY, api_base=stripe.url)
        redact_me = stripe_client.verification_sessions.create(type="document")
        runs = {
            "verify-identity/verify-identity": {
                "client_reference_id": "deployed-1",
                "provided_details": {"$ref": {"block_document_id": str(details_id)}},
                "wait": "poll",  # no webhook receiver here: the deployment's webhook wait
                "timeout": 60,  # seconds
                "poll_interval_seconds": 0.2,
                "max_poll_interval_seconds": 0.5,
            },
            "redact-verification-session/redact-verification-session": {"session_id": redact_me.id},
            "redact-expired-verification-sessions/retention-sweep": {"dry_run": True},
        }
        with get_client(sync_client=True) as client:
            flow_run_ids = []
            for name, parameters in runs.items():
                deployment = client.read_deployment_by_name(name)
                flow_run_ids.append(
                    client.create_flow_run_from_deployment(deployment.id, parameters=parameters).id
                )

        def execute(index: int) -> subprocess.CompletedProcess[str]:
            # A worker's directory of its own: no checkout of the repository. The runs go
            # at once, as on a worker (and the test waits for one run's time, not three).
            workdir = tmp_path / f"worker-{index}"
            workdir.mkdir()
            flow_run_id = str(flow_run_ids[index])
            return _prefect("flow-run", "execute", flow_run_id, cwd=workdir, timeout=240)

        with ThreadPoolExecutor(len(flow_run_ids)) as pool:
            executions = list(pool.map(execute, range(len(flow_run_ids))))
        for execution in executions:
            assert DEPLOY_KEY[-12:] not in execution.stdout + execution.stderr

        with get_client(sync_client=True) as client:
            finished = [client.read_flow_run(i) for i in flow_run_ids]
            assert [r.state.type.value if r.state else None for r in finished] == [
                "COMPLETED"
            ] * 3, [e.stdout[-2000:] + e.stderr[-2000:] for e in executions]
            ours = [client.read_deployment_by_name(name) for name in runs]
            stored = [d.parameters for d in ours]
            stored += [
                r.parameters
                for r in client.read_flow_runs()
                if r.deployment_id in {d.id for d in ours}
            ]
        # The stored pull step is the clone, and each run cloned the entry points.
        assert all(
            [next(iter(step)) for step in d.pull_steps or []]
            == ["prefect.deployments.steps.git_clone"]
            for d in ours
        )
        # Prefect runs each in a temporary workspace of its own: the entry point loaded
        # from the clone, the only copy there.
        pulled = "Deployment step 'git_clone' completed successfully"
        assert all(pulled in e.stdout + e.stderr for e in executions), executions[0].stderr[-4000:]
        # `prefect deploy` builds the form from the entry point: titled, numbers in seconds.
        form = ours[0].parameter_openapi_schema or {}
        assert form["properties"]["timeout"]["title"] == "Time the person has to finish (seconds)"
        assert form["properties"]["timeout"]["type"] == "number"
        # The verify run scheduled its session's redaction: that flow run is read back too.
        assert any("session_id" in p and p.get("session_id") != redact_me.id for p in stored)
        assert DEPLOY_KEY[-12:] not in str(stored)
        assert PERSON_EMAIL not in str(stored)
        # The flow resolved the reference: Stripe got the e-mail.
        with stripe.app.emulator.lock:
            records = stripe.app.emulator.store.sessions.values()
        (made,) = [r for r in records if r.client_reference_id == "deployed-1"]
        assert made.provided_details is not None
        assert made.provided_details["email"] == PERSON_EMAIL
        # Every one holds a reference, not the block's data; what this test deployed and
        # started holds the yaml's own reference (other tests' runs of the same deployments,
        # started from Python, hold a reference by id).
        assert all(set(p["credentials"]) == {"$ref"} for p in stored), stored
        mine = [d.parameters for d in ours] + [r.parameters for r in finished]
        assert all(p["credentials"] == {"$ref": REFERENCE} for p in mine), mine


@pytest.mark.usefixtures("prefect_engine")
@pytest.mark.parametrize(
    ("name", "inline"),
    [
        ("credentials", {"api_key": "sk_test_" + "InlineNeverStored77"}),
        ("provided_details", {"email": "inline.person@example.com"}),
        ("provided_details", {"phone": "+15555550123"}),
    ],
)
async def test_a_deployment_run_with_inline_secrets_is_refused_before_anything_is_stored(
    name: str, inline: dict[str, str]
) -> None:
    """A deployment run that carries the key or the person's details themselves (not a
    block reference) is refused by the server's parameter check: nothing is stored."""
    flow = load_entrypoint("flows/verify_identity.py:verify_identity")
    credentials = StripeIdentityCredentials(api_key="sk_test_deploy1234")
    await credentials.save("stripe-identity", overwrite=True)
    deployment_id = await (
        await flow.ato_deployment(name=f"inline-{name}", parameters={"credentials": credentials})
    ).apply()
    async with get_client() as client:
        before = len(await client.read_flow_runs())
        with pytest.raises(PrefectHTTPStatusError, match="409"):
            await client.create_flow_run_from_deployment(
                deployment_id, parameters={"client_reference_id": "x", name: inline}
            )
        runs = await client.read_flow_runs()
    assert len(runs) == before
    assert next(iter(inline.values())) not in str([r.parameters for r in runs])
