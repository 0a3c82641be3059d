"""The endpoint table (`_endpoints`) against Stripe's OpenAPI spec, and the code generated
from it against the table (issue 12, item 1).

The table drives the client's parameter checks, the emulator's request checks, the
resources, the tasks, their docstrings and their reference page; these tests make sure it
says what the spec says, and that nothing generated from it has drifted.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from stripe_spec import load_spec

from prefect_stripe_identity._endpoints import ENDPOINTS, Endpoint
from prefect_stripe_identity._schema import (
    MAX_STRING,
    Arr,
    Bool,
    Enum,
    Int,
    IntOrRange,
    Metadata,
    Obj,
    Schema,
    Str,
)

ROOT = Path(__file__).resolve().parents[2]

# Where the table knowingly says more than the spec, and why. Each must still be found.
DEVIATIONS = {
    # The emulator has always let `provided_details[email]=""` clear a detail (the wire
    # transcript in tests/emulator/golden pins it); the spec types them as plain strings.
    # To check against live Stripe when a test account is available.
    f"provided_details[{key}]: unsettable is True, the spec says False"
    for key in ("email", "phone")
}


def spec_operation(endpoint: Endpoint) -> dict[str, Any]:
    paths = load_spec("check the endpoint table")["paths"]
    assert endpoint.path in paths, f"{endpoint.path} is not in the spec"
    operations = paths[endpoint.path]
    assert endpoint.method.lower() in operations, f"{endpoint.method} {endpoint.path}"
    operation: dict[str, Any] = operations[endpoint.method.lower()]
    return operation


def spec_params(endpoint: Endpoint) -> dict[str, dict[str, Any]]:
    """The spec's parameters of the endpoint (query or form body), by name."""
    operation = spec_operation(endpoint)
    if endpoint.method == "GET":
        return {
            p["name"]: p["schema"] for p in operation.get("parameters", []) if p["in"] == "query"
        }
    body = operation["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    properties: dict[str, dict[str, Any]] = body.get("properties", {})
    return properties


def variants(spec: dict[str, Any]) -> tuple[list[dict[str, Any]], bool]:
    """A schema's alternatives, and whether one of them is ``""`` (the value unsets)."""
    options = spec.get("anyOf", [spec])
    blank = [o for o in options if o.get("enum") == [""]]
    return [o for o in options if o not in blank], bool(blank)


def mismatches(ours: Schema, spec: dict[str, Any], name: str) -> list[str]:
    """Where the table's shape of ``name`` differs from the spec's (empty: it matches)."""
    options, unsettable = variants(spec)
    if isinstance(ours, IntOrRange):
        types = sorted(o.get("type", "") for o in options)
        if types != ["integer", "object"]:
            return [f"{name}: the spec has {types}, not an integer or a range"]
        (range_spec,) = [o for o in options if o["type"] == "object"]
        ranged = Obj({key: Int() for key in ("gt", "gte", "lt", "lte")})
        return mismatches(ranged, range_spec, name)
    if len(options) != 1:
        return [f"{name}: the spec has {len(options)} alternatives"]
    (shape,) = options
    kind = shape.get("type")
    problems: list[str] = []
    if isinstance(ours, (Str, Obj)) and ours.unsettable != unsettable:
        problems.append(f"{name}: unsettable is {ours.unsettable}, the spec says {unsettable}")
    if isinstance(ours, Enum):
        if kind != "string" or set(shape.get("enum", ())) != set(ours.values):
            problems.append(f"{name}: values {ours.values}, the spec {shape.get('enum')}")
    elif isinstance(ours, Str):
        if kind != "string" or "enum" in shape:
            problems.append(f"{name}: a string here, {kind} {shape.get('enum', '')} in the spec")
        elif shape.get("maxLength", MAX_STRING) != ours.max_length:
            problems.append(f"{name}: max length {ours.max_length}, the spec {shape['maxLength']}")
    elif isinstance(ours, Bool):
        if kind != "boolean":
            problems.append(f"{name}: a boolean here, {kind} in the spec")
    elif isinstance(ours, Int):
        if kind != "integer":
            problems.append(f"{name}: an integer here, {kind} in the spec")
    elif isinstance(ours, Arr):
        if kind != "array":
            return [f"{name}: an array here, {kind} in the spec"]
        problems += mismatches(ours.items, shape["items"], f"{name}[]")
    elif isinstance(ours, Metadata):
        if kind != "object" or shape.get("additionalProperties") != {"type": "string"}:
            problems.append(f"{name}: metadata here, {shape} in the spec")
    elif isinstance(ours, Obj):
        properties = shape.get("properties", {})
        if kind != "object" or set(properties) != set(ours.props):
            return [f"{name}: properties {sorted(ours.props)}, the spec {sorted(properties)}"]
        if set(shape.get("required", ())) != set(ours.required):
            problems.append(f"{name}: required {ours.required}, the spec {shape.get('required')}")
        for key, child in ours.props.items():
            problems += mismatches(child, properties[key], f"{name}[{key}]")
    return problems


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: f"{e.resource}.{e.action}")
def test_each_endpoint_takes_exactly_the_spec_parameters(endpoint: Endpoint) -> None:
    assert [p.name for p in endpoint.params] != []
    assert {p.name for p in endpoint.params} == set(spec_params(endpoint))


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: f"{e.resource}.{e.action}")
def test_each_parameter_has_the_spec_shape(endpoint: Endpoint) -> None:
    spec = spec_params(endpoint)
    problems = {
        problem
        for param in endpoint.params
        for problem in mismatches(param.schema, spec[param.name], param.name)
    }
    if endpoint.action in ("create", "update"):
        assert problems >= DEVIATIONS  # still there: else drop them from DEVIATIONS
    assert problems - DEVIATIONS == set()


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: f"{e.resource}.{e.action}")
def test_each_path_id_is_the_spec_path_parameter(endpoint: Endpoint) -> None:
    in_path = {
        p["name"] for p in spec_operation(endpoint).get("parameters", []) if p["in"] == "path"
    }
    assert in_path == ({endpoint.path_param} if endpoint.path_param else set())


def test_the_table_holds_every_operation_of_the_spec() -> None:
    spec = load_spec("check the endpoint table")["paths"]
    in_spec = {
        (method.upper(), path)
        for path, operations in spec.items()
        if path.startswith("/v1/identity/")
        for method in operations
        if method in ("get", "post")
    }
    assert {(e.method, e.path) for e in ENDPOINTS} == in_spec


def test_the_comparison_catches_a_wrong_shape() -> None:
    # The checker itself: a table entry that disagrees with the spec is reported.
    spec = {
        "anyOf": [
            {"properties": {"a": {"type": "boolean"}}, "type": "object"},
            {"enum": [""], "type": "string"},
        ]
    }
    assert mismatches(Obj({"a": Bool()}, unsettable=True), spec, "x") == []
    assert mismatches(Obj({"a": Str()}, unsettable=True), spec, "x") != []
    assert mismatches(Obj({"a": Bool()}), spec, "x") != []
    assert mismatches(Obj({"a": Bool(), "b": Bool()}, unsettable=True), spec, "x") != []
    assert mismatches(Enum(("a",)), {"enum": ["a", "b"], "type": "string"}, "x") != []


def test_the_generated_files_are_current() -> None:
    done = subprocess.run(  # noqa: S603 (our own script)
        [sys.executable, str(ROOT / "scripts" / "generate.py"), "--check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_every_task_is_generated_with_its_docs() -> None:
    import prefect_stripe_identity
    from prefect_stripe_identity import tasks

    reference = (ROOT / "docs" / "reference" / "tasks.md").read_text()
    for endpoint in ENDPOINTS:
        for name in (endpoint.task_name, "a" + endpoint.task_name):
            assert name in tasks.__all__ and name in prefect_stripe_identity.__all__
        task = getattr(tasks, endpoint.task_name)
        assert task.name == endpoint.task.name
        doc = task.fn.__doc__ or ""
        for param in endpoint.params:
            assert (f"{param.name}: {param.doc}" in doc) == param.in_task
        assert f"::: prefect_stripe_identity.{endpoint.task_name}\n" in reference
