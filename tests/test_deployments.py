"""The deployments of flows/prefect.yaml, applied to a real Prefect server: entry points
load, schedules hold, and every parameter renders as a form field in the UI."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
import yaml
from prefect.client.orchestration import get_client
from prefect.client.schemas.schedules import CronSchedule
from prefect.flows import Flow

from prefect_stripe_identity import StripeIdentityCredentials

ROOT = Path(__file__).resolve().parents[1]
PREFECT_YAML = ROOT / "flows" / "prefect.yaml"


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
    assert names == {"verify-identity", "redact-verification-session", "retention-sweep"}
    for deployment in deployments():
        flow = load_entrypoint(deployment["entrypoint"])
        assert flow.description
        assert "credentials" in deployment["parameters"]
        assert (
            "prefect.blocks.stripe-identity-credentials" in deployment["parameters"]["credentials"]
        )


def test_the_verify_flow_schedules_redaction_on_the_deployment_the_yaml_defines() -> None:
    from prefect_stripe_identity.flows import DEFAULT_REDACTION_DEPLOYMENT

    flow_name, _, deployment_name = DEFAULT_REDACTION_DEPLOYMENT.partition("/")
    (deployment,) = [d for d in deployments() if d["name"] == deployment_name]
    assert load_entrypoint(deployment["entrypoint"]).name == flow_name


@pytest.mark.usefixtures("prefect_engine")
async def test_deployments_apply_with_forms_and_schedules() -> None:
    credentials = StripeIdentityCredentials(api_key="sk_test_deploy1234")
    await credentials.save("stripe-identity", overwrite=True)
    for spec in deployments():
        flow = load_entrypoint(spec["entrypoint"])
        parameters = {**spec["parameters"], "credentials": credentials}
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
        assert schema["properties"]["credentials"].get("$ref") or schema["properties"][
            "credentials"
        ].get("allOf"), "credentials must render as a block picker"
        assert "**********" not in str(stored.parameters)  # a block reference, no secret
        if spec.get("schedules"):
            assert [s.schedule.cron for s in stored.schedules] == ["0 3 * * *"]
