"""The Identity models against the official spec: coverage, openness, masking, parsing.

The spec is read from ``../shared/stripe/identity-openapi.json`` (beside the repository);
tests that need it skip when it is absent, and fail under CI (see ``stripe_spec.py``).
"""

from __future__ import annotations

import json
import types
import typing
from functools import cache
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, SecretStr, ValidationError
from stripe_spec import load_spec

from prefect_stripe_identity import models
from prefect_stripe_identity.models import (
    Address,
    DocumentReport,
    EmailReport,
    ErrorDetails,
    ErrorResponse,
    IdNumberReport,
    LastError,
    PhoneReport,
    ProvidedDetails,
    Redaction,
    RelatedPerson,
    ReportError,
    ReportOptions,
    SelfieReport,
    SessionDocumentOptions,
    SessionEmailOptions,
    SessionIdNumberOptions,
    SessionMatchingOptions,
    SessionOptions,
    SessionPhoneOptions,
    StripeDate,
    VerificationReport,
    VerificationSession,
    VerifiedOutputs,
)


def spec() -> dict[str, Any]:
    return load_spec("check the models")


def schemas() -> dict[str, Any]:
    return spec()["components"]["schemas"]


def non_stub_schemas() -> dict[str, Any]:
    return {name: s for name, s in schemas().items() if not s.get("x-stub")}


# --- (1) every schema property is a model field --------------------------------------------

#: Which model stands for each (non-stub) schema of the spec.
SCHEMA_MODELS: dict[str, type[BaseModel]] = {
    "address": Address,
    "api_errors": ErrorDetails,
    "error": ErrorResponse,
    "gelato_data_document_report_date_of_birth": StripeDate,
    "gelato_data_document_report_expiration_date": StripeDate,
    "gelato_data_document_report_issued_date": StripeDate,
    "gelato_data_id_number_report_date": StripeDate,
    "gelato_data_verified_outputs_date": StripeDate,
    "gelato_document_report": DocumentReport,
    "gelato_document_report_error": ReportError,
    "gelato_email_report": EmailReport,
    "gelato_email_report_error": ReportError,
    "gelato_id_number_report": IdNumberReport,
    "gelato_id_number_report_error": ReportError,
    "gelato_phone_report": PhoneReport,
    "gelato_phone_report_error": ReportError,
    "gelato_provided_details": ProvidedDetails,
    "gelato_related_person": RelatedPerson,
    "gelato_report_document_options": SessionDocumentOptions,
    "gelato_report_id_number_options": SessionIdNumberOptions,
    "gelato_selfie_report": SelfieReport,
    "gelato_selfie_report_error": ReportError,
    "gelato_session_document_options": SessionDocumentOptions,
    "gelato_session_email_options": SessionEmailOptions,
    "gelato_session_id_number_options": SessionIdNumberOptions,
    "gelato_session_last_error": LastError,
    "gelato_session_matching_options": SessionMatchingOptions,
    "gelato_session_phone_options": SessionPhoneOptions,
    "gelato_verification_report_options": ReportOptions,
    "gelato_verification_session_options": SessionOptions,
    "gelato_verified_outputs": VerifiedOutputs,
    "identity.verification_report": VerificationReport,
    "identity.verification_session": VerificationSession,
    "verification_session_redaction": Redaction,
}


def test_mapping_covers_every_non_stub_schema() -> None:
    in_spec = set(non_stub_schemas())
    unmapped = sorted(in_spec - set(SCHEMA_MODELS))
    gone = sorted(set(SCHEMA_MODELS) - in_spec)
    assert not unmapped, (
        f"The spec has schemas no model stands for: {unmapped}. Add a model (or map the "
        "schema to an existing one) in prefect_stripe_identity/models.py and in SCHEMA_MODELS."
    )
    assert not gone, f"SCHEMA_MODELS maps schemas the spec no longer has: {gone}"


@pytest.mark.parametrize("schema_name", sorted(SCHEMA_MODELS))
def test_every_schema_property_is_a_model_field(schema_name: str) -> None:
    schema = non_stub_schemas().get(schema_name)
    if schema is None:
        pytest.fail(f"{schema_name} is not a non-stub schema of the spec")
    model = SCHEMA_MODELS[schema_name]
    missing = sorted(set(schema.get("properties", {})) - set(model.model_fields))
    assert not missing, f"{model.__name__} lacks fields of schema {schema_name}: {missing}"


@pytest.mark.parametrize("schema_name", sorted(SCHEMA_MODELS))
def test_model_requires_nothing_stripe_may_omit(schema_name: str) -> None:
    """A field the model requires must be required in the spec too, or parsing would fail."""
    schema = non_stub_schemas()[schema_name]
    model = SCHEMA_MODELS[schema_name]
    required_by_model = {name for name, f in model.model_fields.items() if f.is_required()}
    assert required_by_model <= set(schema.get("required", [])), model.__name__


def _classes_in(annotation: Any) -> set[type]:
    """Every class an annotation names, through unions, lists and dicts."""
    origin = typing.get_origin(annotation)
    if origin is None:
        return {annotation} if isinstance(annotation, type) else set()
    found: set[type] = set()
    if origin not in (typing.Union, types.UnionType, typing.Literal):
        found.add(origin)
    for arg in typing.get_args(annotation):
        found |= _classes_in(arg)
    return found


def _refs(prop: dict[str, Any]) -> set[str]:
    found = set()
    for branch in [prop, *prop.get("anyOf", []), prop.get("items", {})]:
        ref = branch.get("$ref")
        if ref:
            found.add(ref.rsplit("/", 1)[1])
    return found


@pytest.mark.parametrize("schema_name", sorted(SCHEMA_MODELS))
def test_nested_schemas_map_to_the_nested_models(schema_name: str) -> None:
    """A property referring to schema X is typed with X's model (so the mapping is right)."""
    schema = non_stub_schemas()[schema_name]
    model = SCHEMA_MODELS[schema_name]
    for prop_name, prop in schema.get("properties", {}).items():
        for ref in _refs(prop):
            if schemas()[ref].get("x-stub"):
                continue  # stubs are kept raw
            annotation = model.model_fields[prop_name].annotation
            assert SCHEMA_MODELS[ref] in _classes_in(annotation), (
                f"{model.__name__}.{prop_name} should hold a {SCHEMA_MODELS[ref].__name__} "
                f"(schema {ref}), is typed {annotation}"
            )


def test_every_response_model_is_in_the_mapping() -> None:
    """The other direction: no response model drifts away from the spec unnoticed."""
    response_models = {
        obj
        for name in models.__all__
        if isinstance(obj := getattr(models, name), type)
        and issubclass(obj, models.StripeObject)
        and obj not in (models.StripeObject, models.ListObject)
    }
    assert response_models == set(SCHEMA_MODELS.values())


# --- (2) open to new fields and enum values ------------------------------------------------


def _minimal_session(**overrides: Any) -> dict[str, Any]:
    session = {
        "id": "vs_1Min",
        "object": "identity.verification_session",
        "created": 1_700_000_000,
        "livemode": False,
        "metadata": {},
        "status": "requires_input",
        "type": "document",
    }
    session.update(overrides)
    return session


def _minimal_report(**overrides: Any) -> dict[str, Any]:
    report = {
        "id": "vr_1Min",
        "object": "identity.verification_report",
        "created": 1_700_000_000,
        "livemode": False,
        "type": "document",
    }
    report.update(overrides)
    return report


def test_unknown_status_and_type_parse() -> None:
    session = VerificationSession.model_validate(
        _minimal_session(status="requires_review", type="biometric_only")
    )
    assert session.status == "requires_review"
    assert session.type == "biometric_only"


def test_unknown_last_error_code_parses() -> None:
    session = VerificationSession.model_validate(
        _minimal_session(last_error={"code": "document_too_blurry_v2", "reason": "Try again"})
    )
    assert session.last_error is not None
    assert session.last_error.code == "document_too_blurry_v2"


def test_unknown_top_level_field_is_kept() -> None:
    session = VerificationSession.model_validate(
        _minimal_session(risk_insights={"score": 12}, object="identity.verification_session_v2")
    )
    assert session.model_extra == {"risk_insights": {"score": 12}}
    assert session.risk_insights == {"score": 12}  # type: ignore[attr-defined]
    assert session.object == "identity.verification_session_v2"


def test_unknown_nested_fields_and_enum_values_parse() -> None:
    session = VerificationSession.model_validate(
        _minimal_session(
            verified_outputs={
                "middle_name": "Q",
                "sex": "nonbinary",
                "id_number_type": "in_aadhaar",
                "dob": {"day": 1, "month": 2, "year": 1990, "era": "CE"},
                "address": {"country": "US", "district": "X"},
            },
            options={
                "document": {"allowed_types": ["residence_permit"], "require_nfc": True},
                "matching": {"dob": "exact", "name": "fuzzy"},
                "biometric": {"liveness": True},
            },
            redaction={"status": "scheduled"},
            related_person={"account": "acct_1", "person": "person_1", "role": "owner"},
        )
    )
    outputs = session.verified_outputs
    assert outputs is not None and outputs.dob is not None and outputs.address is not None
    assert outputs.model_extra == {"middle_name": "Q"}
    assert (outputs.sex, outputs.id_number_type) == ("nonbinary", "in_aadhaar")
    assert outputs.dob.model_extra == {"era": "CE"}
    assert outputs.address.model_extra == {"district": "X"}
    assert session.options is not None and session.options.document is not None
    assert session.options.document.allowed_types == ["residence_permit"]
    assert session.options.model_extra == {"biometric": {"liveness": True}}
    assert session.options.matching is not None
    assert session.options.matching.dob == "exact"
    assert session.redaction is not None and session.redaction.status == "scheduled"


def test_unknown_values_in_reports_parse() -> None:
    report = VerificationReport.model_validate(
        _minimal_report(
            type="verification_flow_v2",
            document={
                "status": "needs_review",
                "type": "residence_permit",
                "error": {"code": "brand_new_code", "reason": "?"},
                "hologram_check": "passed",
            },
            selfie={"status": "verified", "liveness_score": 0.9},
            fraud_signals=[],
        )
    )
    assert report.document is not None and report.document.error is not None
    assert report.document.status == "needs_review"
    assert report.document.error.code == "brand_new_code"
    assert report.document.model_extra == {"hologram_check": "passed"}
    assert report.model_extra == {"fraud_signals": []}


def test_unknown_error_fields_parse() -> None:
    error = ErrorResponse.model_validate(
        {"error": {"type": "brand_new_error", "code": "x", "trace": "abc"}, "extra": 1}
    )
    assert error.error.type == "brand_new_error"
    assert error.error.model_extra == {"trace": "abc"}


# --- (3) secrets and personal data are masked --------------------------------------------

CLIENT_SECRET = "vs_1Min_secret_TOPSECRETclientsecret"
URL = "https://verify.stripe.com/start/test_TOPSECRETurlpart"


def test_client_secret_and_url_are_masked_everywhere() -> None:
    session = VerificationSession.model_validate(
        _minimal_session(client_secret=CLIENT_SECRET, url=URL)
    )
    assert isinstance(session.client_secret, SecretStr)
    assert isinstance(session.url, SecretStr)
    for rendering in (
        repr(session),
        str(session),
        session.model_dump_json(),
        json.dumps(session.model_dump(mode="json")),
        repr(session.client_secret),
        str(session.url),
    ):
        assert "TOPSECRET" not in rendering
    assert '"client_secret":"**********"' in session.model_dump_json()
    assert session.client_secret.get_secret_value() == CLIENT_SECRET
    assert session.url.get_secret_value() == URL
    # The rest of the session still shows.
    assert "vs_1Min" in repr(session)
    assert "requires_input" in str(session)


def test_secrets_are_masked_in_a_list_page() -> None:
    page = models.ListObject[VerificationSession].model_validate(
        {
            "object": "list",
            "data": [_minimal_session(client_secret=CLIENT_SECRET, url=URL)],
            "has_more": False,
            "url": "/v1/identity/verification_sessions",
        }
    )
    for rendering in (repr(page), str(page), page.model_dump_json()):
        assert "TOPSECRET" not in rendering
        assert "vs_1Min" in rendering


# Distinctive clear values: none of these may appear in a repr or str.
PERSONAL = {
    "first_name": "Jennyfirst",
    "last_name": "Rosenlast",
    "email": "jenny.rosen@personal.example",
    "phone": "+15550001234",
    "id_number": "987-65-4321",
    "number": "DOCNUM998877",
    "sex": "female",
    "unparsed_sex": "UNPARSEDSEXVALUE",
    "unparsed_place_of_birth": "Springfieldtown",
}
DOB = {"day": 17, "month": 11, "year": 1947}
ADDRESS = {
    "line1": "1234 Secretline Street",
    "line2": "Apt 77Z",
    "city": "Hiddencity",
    "state": "HIDDENSTATE",
    "postal_code": "94999",
    "country": "US",
}


def _personal_values(obj: dict[str, Any]) -> list[str]:
    values: list[str] = []
    for key, value in obj.items():
        if key in ("country", "status", "id_number_type", "issuing_country", "type"):
            continue
        if isinstance(value, dict):
            values += _personal_values(value)
        elif isinstance(value, str):
            values.append(value)
        elif isinstance(value, int) and not isinstance(value, bool) and value > 1000:
            values.append(str(value))  # the year of a date
    return values


def _fields(*names: str) -> dict[str, Any]:
    return {name: PERSONAL[name] for name in names}


VERIFIED_OUTPUTS = {
    **_fields(
        "first_name",
        "last_name",
        "email",
        "phone",
        "id_number",
        "sex",
        "unparsed_sex",
        "unparsed_place_of_birth",
    ),
    "dob": DOB,
    "address": ADDRESS,
    "id_number_type": "us_ssn",
}
DOCUMENT_REPORT = {
    "status": "verified",
    **_fields(
        "first_name", "last_name", "number", "sex", "unparsed_sex", "unparsed_place_of_birth"
    ),
    "dob": DOB,
    "expiration_date": {"day": 3, "month": 4, "year": 2031},
    "issued_date": {"day": 5, "month": 6, "year": 2021},
    "address": ADDRESS,
    "issuing_country": "US",
    "type": "passport",
    "files": ["file_1Front"],
}
ID_NUMBER_REPORT = {
    "status": "verified",
    **_fields("first_name", "last_name", "id_number"),
    "dob": DOB,
    "id_number_type": "us_ssn",
}
EMAIL_REPORT = {"status": "verified", **_fields("email")}
PHONE_REPORT = {"status": "verified", **_fields("phone")}
PROVIDED_DETAILS = _fields("email", "phone")


@pytest.mark.parametrize(
    ("model", "data", "visible"),
    [
        (VerifiedOutputs, VERIFIED_OUTPUTS, ["us_ssn"]),
        (DocumentReport, DOCUMENT_REPORT, ["passport", "file_1Front"]),
        (IdNumberReport, ID_NUMBER_REPORT, ["us_ssn"]),
        (EmailReport, EMAIL_REPORT, ["verified"]),
        (PhoneReport, PHONE_REPORT, ["verified"]),
        (ProvidedDetails, PROVIDED_DETAILS, []),
        (Address, ADDRESS, ["US"]),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else None,
)
def test_personal_fields_are_masked_in_repr_and_str(
    model: type[BaseModel], data: dict[str, Any], visible: list[str]
) -> None:
    parsed = model.model_validate(data)
    clear = _personal_values(data)
    assert clear, "the fixture holds personal data"
    for rendering in (repr(parsed), str(parsed)):
        leaked = [value for value in clear if value in rendering]
        assert not leaked, f"{model.__name__} shows personal data: {leaked} in {rendering}"
        assert models.PERSONAL_DATA_MASK in rendering
        for value in visible:
            assert value in rendering, f"{value} (not personal) should stay visible"
    # The data itself is still there for the code that needs it.
    assert parsed.model_dump(exclude_none=True) == data


def test_personal_data_is_masked_through_a_whole_session_and_report() -> None:
    report = _minimal_report(
        document=DOCUMENT_REPORT,
        id_number=ID_NUMBER_REPORT,
        email=EMAIL_REPORT,
        phone=PHONE_REPORT,
        selfie={"status": "verified", "document": "file_1Doc", "selfie": "file_1Selfie"},
    )
    session = VerificationSession.model_validate(
        _minimal_session(
            client_secret=CLIENT_SECRET,
            url=URL,
            verified_outputs=VERIFIED_OUTPUTS,
            provided_details=PROVIDED_DETAILS,
            last_verification_report=report,
        )
    )
    clear = [*_personal_values(VERIFIED_OUTPUTS), *_personal_values(DOCUMENT_REPORT)]
    clear += [CLIENT_SECRET, URL]
    for rendering in (repr(session), str(session)):
        leaked = [value for value in clear if value in rendering]
        assert not leaked, f"session shows personal data or secrets: {leaked}"
        assert "vr_1Min" in rendering and "file_1Selfie" in rendering


# --- (4) the expandable last_verification_report -----------------------------------------


def test_last_verification_report_as_id() -> None:
    session = VerificationSession.model_validate(
        _minimal_session(last_verification_report="vr_1Id")
    )
    assert session.last_verification_report == "vr_1Id"
    assert session.last_verification_report_id == "vr_1Id"


def test_last_verification_report_expanded() -> None:
    session = VerificationSession.model_validate(
        _minimal_session(last_verification_report=_minimal_report(id="vr_1Expanded"))
    )
    assert isinstance(session.last_verification_report, VerificationReport)
    assert session.last_verification_report.created == 1_700_000_000
    assert session.last_verification_report_id == "vr_1Expanded"


def test_last_verification_report_absent() -> None:
    session = VerificationSession.model_validate(_minimal_session(last_verification_report=None))
    assert session.last_verification_report is None
    assert session.last_verification_report_id is None
    assert (
        VerificationSession.model_validate(_minimal_session()).last_verification_report_id is None
    )


def test_invalid_expanded_report_is_rejected() -> None:
    with pytest.raises(ValidationError) as info:
        VerificationSession.model_validate(
            _minimal_session(last_verification_report={"object": "identity.verification_report"})
        )
    assert any(e["loc"][0] == "last_verification_report" for e in info.value.errors())


# --- (5) property tests from the spec ----------------------------------------------------

SHORT_TEXT = st.text(max_size=12)


def from_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """A strategy of values valid for a schema of the spec (``$ref``s followed)."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        target = schemas()[name]
        if target.get("x-stub"):
            return st.fixed_dictionaries({"id": SHORT_TEXT, "object": st.just(name)})
        return _named(name)
    if "anyOf" in schema:
        base = st.one_of([from_schema(branch) for branch in schema["anyOf"]])
    elif "enum" in schema:
        base = st.sampled_from(schema["enum"])
    else:
        kind = schema.get("type")
        if kind == "string":
            base = SHORT_TEXT
        elif kind == "integer":
            base = st.integers(min_value=0, max_value=2**40)
        elif kind == "number":
            base = st.floats(allow_nan=False, allow_infinity=False)
        elif kind == "boolean":
            base = st.booleans()
        elif kind == "array":
            base = st.lists(from_schema(schema.get("items", {})), max_size=3)
        elif kind == "object" or "properties" in schema:
            base = _object(schema)
        else:
            base = st.none()
    return st.one_of(st.none(), base) if schema.get("nullable") else base


def _object(schema: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    properties = schema.get("properties", {})
    extra = schema.get("additionalProperties")
    if not properties and isinstance(extra, dict):
        return st.dictionaries(SHORT_TEXT, from_schema(extra), max_size=3)
    required = set(schema.get("required", []))
    return st.fixed_dictionaries(
        {name: from_schema(p) for name, p in properties.items() if name in required},
        optional={name: from_schema(p) for name, p in properties.items() if name not in required},
    )


@cache
def _named(name: str) -> st.SearchStrategy[Any]:
    return st.deferred(lambda: _object(schemas()[name]))


PROPERTY_SETTINGS = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _parse_roundtrip(model: type[BaseModel], obj: dict[str, Any]) -> None:
    parsed = model.model_validate(obj)
    dumped = parsed.model_dump(mode="python", exclude_unset=True)
    # Secrets come back as SecretStr: compare their values.
    for key in ("client_secret", "url"):
        if isinstance(dumped.get(key), SecretStr):
            dumped[key] = dumped[key].get_secret_value()
    assert dumped == obj


@PROPERTY_SETTINGS
@given(st.data())
def test_random_valid_sessions_parse(data: st.DataObject) -> None:
    obj = data.draw(_named("identity.verification_session"))
    _parse_roundtrip(VerificationSession, obj)
    report = obj.get("last_verification_report")
    parsed = VerificationSession.model_validate(obj)
    expected_id = report["id"] if isinstance(report, dict) else report
    assert parsed.last_verification_report_id == expected_id


@PROPERTY_SETTINGS
@given(st.data())
def test_random_valid_reports_parse(data: st.DataObject) -> None:
    _parse_roundtrip(VerificationReport, data.draw(_named("identity.verification_report")))


@PROPERTY_SETTINGS
@given(st.data())
def test_random_valid_errors_parse(data: st.DataObject) -> None:
    obj = data.draw(_named("error"))
    parsed = ErrorResponse.model_validate(obj)
    assert parsed.error.type == obj["error"]["type"]


# Values of the wrong JSON type, which pydantic's lax mode still refuses.
_NOT_NUMBERS = st.sampled_from(["abc", "12abc", "", "1.5.2", "one"])
_CONTAINERS = st.one_of(
    st.lists(st.integers(), min_size=1, max_size=2), st.dictionaries(SHORT_TEXT, st.integers())
)
WRONG_TYPES = {
    "integer": st.one_of(_NOT_NUMBERS, _CONTAINERS),
    "boolean": st.one_of(st.sampled_from(["maybe", "truthy", "2", "nope"]), _CONTAINERS),
    "string": st.one_of(st.integers(), st.floats(allow_nan=False), _CONTAINERS),
    "object": st.one_of(st.integers(), st.sampled_from(["not an object"]), st.lists(st.integers())),
}


def _wrong_value(prop: dict[str, Any]) -> st.SearchStrategy[Any]:
    kind = "string" if "enum" in prop else prop.get("type", "object")
    return WRONG_TYPES[kind]


@PROPERTY_SETTINGS
@given(st.data())
def test_invalid_sessions_raise_naming_the_field(data: st.DataObject) -> None:
    schema = schemas()["identity.verification_session"]
    obj = data.draw(_named("identity.verification_session"))
    required = sorted(
        name for name, f in VerificationSession.model_fields.items() if f.is_required()
    )
    assert {"id", "created", "livemode", "status", "type"} <= set(required)
    field = data.draw(st.sampled_from(required))
    if data.draw(st.booleans(), label="drop the field"):
        del obj[field]
        expected_type = "missing"
    else:
        obj[field] = data.draw(_wrong_value(schema["properties"][field]), label="wrong value")
        expected_type = None
    with pytest.raises(ValidationError) as info:
        VerificationSession.model_validate(obj)
    errors = info.value.errors()
    assert {e["loc"][0] for e in errors} == {field}
    if expected_type:
        assert [e["type"] for e in errors] == [expected_type]
    assert field in str(info.value)


@PROPERTY_SETTINGS
@given(st.data())
def test_invalid_nested_values_raise_naming_the_path(data: st.DataObject) -> None:
    obj = data.draw(_named("identity.verification_session"))
    obj["redaction"] = {"status": data.draw(WRONG_TYPES["string"])}
    with pytest.raises(ValidationError) as info:
        VerificationSession.model_validate(obj)
    assert {e["loc"][:2] for e in info.value.errors()} == {("redaction", "status")}


def test_created_abc_names_created() -> None:
    with pytest.raises(ValidationError) as info:
        VerificationSession.model_validate(_minimal_session(created="abc"))
    assert [e["loc"] for e in info.value.errors()] == [("created",)]
    assert "created" in str(info.value)


def test_missing_id_names_id() -> None:
    session = _minimal_session()
    del session["id"]
    with pytest.raises(ValidationError) as info:
        VerificationSession.model_validate(session)
    assert [(e["loc"], e["type"]) for e in info.value.errors()] == [(("id",), "missing")]
