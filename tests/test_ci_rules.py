"""Under CI, a spec test fails instead of skipping when the spec is missing (issue 12,
item 6): a CI run must not pass having checked nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from stripe_spec import SPEC_PATH, in_ci, load_spec, require_spec


@pytest.mark.parametrize("value", ["true", "TRUE", "1", "yes"])
def test_a_missing_spec_fails_under_ci_naming_the_file(
    value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", value)
    missing = tmp_path / "identity-openapi.json"
    with pytest.raises(pytest.fail.Exception, match="under CI a missing spec fails") as info:
        require_spec("check the models", missing)
    assert str(missing) in str(info.value)


@pytest.mark.parametrize("value", [None, "", "false", "0"])
def test_a_missing_spec_skips_outside_ci(
    value: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    assert not in_ci()
    missing = tmp_path / "identity-openapi.json"
    with pytest.raises(pytest.skip.Exception, match="spec is missing") as info:
        require_spec("check the models", missing)
    assert str(missing) in str(info.value)


def test_the_spec_is_read_from_beside_the_repository() -> None:
    assert SPEC_PATH.parts[-3:] == ("shared", "stripe", "identity-openapi.json")
    assert SPEC_PATH.parent.parent.parent == Path(__file__).resolve().parents[2]


def test_a_present_spec_is_parsed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    spec = tmp_path / "identity-openapi.json"
    spec.write_text('{"openapi": "3.0.0", "paths": {}}')
    assert load_spec("check the models", spec) == {"openapi": "3.0.0", "paths": {}}
