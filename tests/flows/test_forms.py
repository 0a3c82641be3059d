"""The deployable flows' parameters as the Prefect UI renders them (issue 14, item 3):
every field titled in words, described, typed and bounded in the schema Prefect builds,
the same bounds enforced by Prefect's own checks (the server's JSON-schema check of a
deployment run, and the flow's validation of its parameters), durations as plain
numbers in the form while Python callers keep passing `timedelta`s."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.exceptions import ParameterTypeError, PrefectHTTPStatusError
from prefect.flows import Flow
from prefect.utilities.callables import parameter_schema
from prefect.utilities.schema_tools import ValidationError, validate

from prefect_stripe_identity import StripeIdentityCredentials
from prefect_stripe_identity.flows import (
    aredact_expired_verification_sessions,
    aredact_verification_session_flow,
    averify_identity,
    redact_expired_verification_sessions,
    redact_verification_session_flow,
    verify_identity,
    wake_verify_identity,
)
from prefect_stripe_identity.flows._parameters import Duration, as_timedelta

FLOWS: list[Flow[Any, Any]] = [
    verify_identity,
    averify_identity,
    redact_expired_verification_sessions,
    aredact_expired_verification_sessions,
    redact_verification_session_flow,
    aredact_verification_session_flow,
    wake_verify_identity,
]
TWINS = [
    (verify_identity, averify_identity),
    (redact_expired_verification_sessions, aredact_expired_verification_sessions),
    (redact_verification_session_flow, aredact_verification_session_flow),
]
TYPED = ("type", "$ref", "anyOf", "allOf", "oneOf", "enum", "const")
#: Every number field of verify_identity, with the bounds its form enforces.
VERIFY_NUMBERS = {
    "timeout": ("Time the person has to finish (seconds)", 0, 7 * 86400),
    "retention_days": ("Data retention after the verification window (days)", 0, 3650),
    "poll_interval_seconds": ("First poll interval (seconds)", 0.1, 3600),
    "max_poll_interval_seconds": ("Longest poll interval (seconds)", 0.1, 3600),
    "pause_poll_seconds": ("Resume check interval while paused (seconds)", 1, 600),
}


def schema_of(flow: Flow[Any, Any]) -> dict[str, Any]:
    return parameter_schema(flow).model_dump()


def numbers_in(prop: dict[str, Any]) -> list[dict[str, Any]]:
    """The number and integer schemas of a property, inside an ``anyOf`` too."""
    options = prop.get("anyOf", [prop])
    return [o for o in options if o.get("type") in ("number", "integer")]


@pytest.mark.parametrize("flow", FLOWS, ids=lambda f: f.name)
def test_every_form_field_is_titled_in_words_described_typed_and_bounded(
    flow: Flow[Any, Any],
) -> None:
    properties = schema_of(flow)["properties"]
    assert properties
    for name, prop in properties.items():
        title = prop.get("title", "")
        # Words, not the identifier Prefect would show by default.
        assert re.fullmatch(r"[A-Z]\S* \S.*", title), (name, title)
        assert title.lower().replace(" ", "_") != name, (name, title)
        assert prop.get("description", "").strip(), name
        assert any(key in prop for key in TYPED), name
        for number in numbers_in(prop):
            assert "minimum" in number or "exclusiveMinimum" in number, name
        if name.endswith("_seconds") or name in ("timeout", "retention_days"):
            # A unit in the title; a duration or an interval has an upper bound too.
            assert re.search(r"\((seconds|days)\)$", title), (name, title)
            assert all("maximum" in number for number in numbers_in(prop)), name


def test_the_verify_form_has_plain_numbers_with_units_and_bounds() -> None:
    properties = schema_of(verify_identity)["properties"]
    for name, (title, lowest, highest) in VERIFY_NUMBERS.items():
        prop = properties[name]
        assert prop["title"] == title
        assert prop["type"] in ("number", "integer"), name  # no duration string any more
        assert "format" not in prop, name
        assert prop.get("minimum", prop.get("exclusiveMinimum")) == lowest, name
        assert prop["maximum"] == highest, name
    # The defaults are numbers in those units: 24 hours, 30 days.
    assert properties["timeout"]["default"] == 86400
    assert properties["retention_days"]["default"] == 30


@pytest.mark.parametrize(("sync", "twin"), TWINS, ids=lambda f: f.name)
def test_async_twins_render_the_same_form(sync: Flow[Any, Any], twin: Flow[Any, Any]) -> None:
    assert schema_of(twin)["properties"] == schema_of(sync)["properties"]


# --- the server's check of a deployment run (Prefect's jsonschema validation) --------------

REFUSED = [
    ("timeout", 0),
    ("timeout", -5),
    ("timeout", "ten minutes"),
    ("timeout", "PT10M"),
    ("timeout", "120"),
    ("timeout", 7 * 86400 + 1),
    ("timeout", True),
    ("retention_days", 0),
    ("retention_days", 3651),
    ("retention_days", "30 days"),
    ("poll_interval_seconds", 0),
    ("poll_interval_seconds", 0.05),
    ("max_poll_interval_seconds", 7200),
    ("pause_poll_seconds", 0),
    ("pause_poll_seconds", 1.5),
    ("metadata", {"k" * 41: "v"}),
    ("metadata", {"k": "v" * 501}),
    ("client_reference_id", "r" * 5001),
]
ACCEPTED = {
    "timeout": 120,
    "retention_days": 7.5,
    "poll_interval_seconds": 0.1,
    "max_poll_interval_seconds": 3600,
    "pause_poll_seconds": 1,
    "metadata": {"plan": "pro"},
}
REFERENCE = {"$ref": {"block_document_slug": "stripe-identity-credentials/forms"}}


@pytest.mark.parametrize(("name", "value"), REFUSED)
def test_the_form_check_refuses_bad_values(name: str, value: Any) -> None:
    schema = schema_of(verify_identity)
    with pytest.raises(ValidationError, match=name):
        validate({"credentials": REFERENCE, name: value}, schema, raise_on_error=True)


def test_the_form_check_accepts_plain_numbers() -> None:
    schema = schema_of(verify_identity)
    validate({"credentials": REFERENCE, **ACCEPTED}, schema, raise_on_error=True)


# --- the flow's own validation (every caller, a worker running a deployment run too) ------


@pytest.mark.parametrize(("name", "value"), REFUSED)
def test_the_flow_refuses_the_same_values_naming_the_parameter(name: str, value: Any) -> None:
    credentials = StripeIdentityCredentials(api_key="sk_test_forms")
    with pytest.raises(ParameterTypeError, match=rf"- {name}[:.]"):
        verify_identity.validate_parameters({"credentials": credentials, name: value})


def test_numbers_are_seconds_and_days_and_timedeltas_stay_accepted() -> None:
    credentials = StripeIdentityCredentials(api_key="sk_test_forms")
    for flow in (verify_identity, averify_identity):
        from_form = flow.validate_parameters({"credentials": credentials, **ACCEPTED})
        assert from_form["timeout"] == timedelta(seconds=120)
        assert from_form["retention_days"] == timedelta(days=7.5)
        from_python = flow.validate_parameters(
            {
                "credentials": credentials,
                "timeout": timedelta(seconds=1),
                "retention_days": timedelta(days=7),
            }
        )
        assert from_python["timeout"] == timedelta(seconds=1)
        assert from_python["retention_days"] == timedelta(days=7)


def test_a_python_timeout_round_trips_through_prefects_parameter_encoding() -> None:
    """Prefect stores (and `run_deployment` sends) a `timedelta` as a number of seconds:
    the unit of the form's `timeout`, so the stored value means the same duration."""
    credentials = StripeIdentityCredentials(api_key="sk_test_forms")
    stored = verify_identity.serialize_parameters({"timeout": timedelta(minutes=2, seconds=3)})
    assert stored == {"timeout": 123.0}
    again = verify_identity.validate_parameters({"credentials": credentials, **stored})
    assert again["timeout"] == timedelta(minutes=2, seconds=3)


def test_defaults_that_prefect_leaves_unvalidated_still_mean_their_unit() -> None:
    assert as_timedelta(86400, "seconds") == timedelta(hours=24)
    assert as_timedelta(30, "days") == timedelta(days=30)
    assert as_timedelta(timedelta(minutes=5), "days") == timedelta(minutes=5)
    days = Duration("days", maximum=10)
    assert days.validate(1.5) == timedelta(days=1.5)
    assert days.serialize(timedelta(days=2)) == 2
    with pytest.raises(ValueError, match="number of days"):
        days.validate(float("nan"))


# --- a real server: a deployment run with bad values is refused, good ones round-trip -----


@pytest.mark.usefixtures("prefect_engine")
async def test_a_deployment_run_is_checked_by_the_server_and_its_parameters_round_trip() -> None:
    credentials = StripeIdentityCredentials(api_key="sk_test_forms1234")
    await credentials.save("forms", overwrite=True)
    deployment_id = await (
        await verify_identity.ato_deployment(name="forms", parameters={"credentials": credentials})
    ).apply()
    async with get_client() as client:
        for name, value in [("timeout", "ten minutes"), ("timeout", 0), ("retention_days", -1)]:
            with pytest.raises(PrefectHTTPStatusError, match="409") as refused:
                await client.create_flow_run_from_deployment(
                    deployment_id, parameters={name: value}
                )
            assert name in refused.value.response.text
        flow_run = await client.create_flow_run_from_deployment(
            deployment_id, parameters={"client_reference_id": "forms-1", **ACCEPTED}
        )
        stored = (await client.read_flow_run(flow_run.id)).parameters
    # The run's parameters, JSON as the server keeps them, are what a worker validates.
    assert stored["timeout"] == 120 and stored["retention_days"] == 7.5
    assert set(stored["credentials"]) == {"$ref"}  # a block reference, no key
    validated = verify_identity.validate_parameters(stored)
    assert validated["timeout"] == timedelta(seconds=120)
    assert validated["retention_days"] == timedelta(days=7.5)
    assert validated["metadata"] == {"plan": "pro"}
    assert isinstance(validated["credentials"], StripeIdentityCredentials)
