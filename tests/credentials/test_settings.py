"""The package's settings, in Prefect's conventions (issue 14, item 5): each under
``PREFECT_INTEGRATIONS_STRIPE_IDENTITY_``, its older variable still read, and also from
``prefect.toml``, ``pyproject.toml`` and the active Prefect profile; and the commands and
flows that used to read the environment read the settings."""

from __future__ import annotations

import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from prefect_stripe_identity import cli
from prefect_stripe_identity.flows import _link
from prefect_stripe_identity.settings import ENV_PREFIX, StripeIdentitySettings
from prefect_stripe_identity.webhooks import _cli as webhooks_cli

SECRET = "whsec_" + "settings0123456789"

# field, its older variable, a value as the environment gives it, the value read
SETTINGS: list[tuple[str, str, str, Any]] = [
    ("webhook_secret", "STRIPE_WEBHOOK_SECRET", SECRET, SECRET),
    ("api_key", "STRIPE_API_KEY", "sk_test_settings42", "sk_test_settings42"),
    ("api_base", "STRIPE_API_BASE", "http://127.0.0.1:12111", "http://127.0.0.1:12111"),
    ("account", "STRIPE_ACCOUNT", "acct_1Settings", "acct_1Settings"),
    ("rate_limits", "STRIPE_RATE_LIMITS", "off", False),
    (
        "allowed_hooks",
        "PREFECT_STRIPE_IDENTITY_ALLOWED_HOOKS",
        "a.b:c, d:e ,",
        ["a.b:c", "d:e"],
    ),
]
FIELDS = [field for field, *_ in SETTINGS]
TEST_MODE = (
    "PREFECT_TEST_MODE",
    "PREFECT_UNIT_TEST_MODE",
    "PREFECT_TESTING_UNIT_TEST_MODE",
    "PREFECT_TESTING_TEST_MODE",
)


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No setting from the developer's environment, files or profile."""
    for _, older, _, _ in SETTINGS:
        monkeypatch.delenv(older, raising=False)
    for field in FIELDS:
        monkeypatch.delenv(f"{ENV_PREFIX}{field.upper()}", raising=False)
    monkeypatch.chdir(tmp_path)  # no prefect.toml, pyproject.toml nor .env
    monkeypatch.setenv("PREFECT_PROFILES_PATH", str(tmp_path / "no-profiles.toml"))


def read(settings: StripeIdentitySettings, field: str) -> Any:
    value = getattr(settings, field)
    return value.get_secret_value() if hasattr(value, "get_secret_value") else value


def test_every_setting_is_documented_on_the_settings_page() -> None:
    page = (Path(__file__).resolve().parents[2] / "docs" / "settings.md").read_text()
    assert set(StripeIdentitySettings.model_fields) == set(FIELDS)
    for field, older, _, _ in SETTINGS:
        assert f"`{field}`" in page and f"`{ENV_PREFIX}{field.upper()}`" in page, field
        assert f"`{older}`" in page, older


def test_the_defaults() -> None:
    settings = StripeIdentitySettings()
    assert settings.webhook_secret is None and settings.api_key is None
    assert settings.api_base is None and settings.account is None
    assert settings.rate_limits is True and settings.allowed_hooks == []


@pytest.mark.parametrize(("field", "older", "given", "expected"), SETTINGS, ids=FIELDS)
def test_the_new_name_works(
    monkeypatch: pytest.MonkeyPatch, field: str, older: str, given: str, expected: Any
) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}{field.upper()}", given)
    assert read(StripeIdentitySettings(), field) == expected


@pytest.mark.parametrize(("field", "older", "given", "expected"), SETTINGS, ids=FIELDS)
def test_the_older_name_still_works(
    monkeypatch: pytest.MonkeyPatch, field: str, older: str, given: str, expected: Any
) -> None:
    monkeypatch.setenv(older, given)
    assert read(StripeIdentitySettings(), field) == expected


def test_the_new_name_wins_over_the_older_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "whsec_older0000000")
    monkeypatch.setenv(f"{ENV_PREFIX}WEBHOOK_SECRET", SECRET)
    assert read(StripeIdentitySettings(), "webhook_secret") == SECRET


def test_a_bad_value_names_its_setting_and_secrets_are_masked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STRIPE_RATE_LIMITS", "sometimes")
    with pytest.raises(ValueError, match="rate_limits"):
        StripeIdentitySettings()
    monkeypatch.delenv("STRIPE_RATE_LIMITS")
    monkeypatch.setenv(f"{ENV_PREFIX}API_KEY", "sk_test_settings42")
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", SECRET)
    shown = repr(StripeIdentitySettings()) + str(StripeIdentitySettings().model_dump())
    assert "sk_test_settings42" not in shown and SECRET not in shown


# --- Prefect's files and profiles ---------------------------------------------------------


def test_prefect_toml_in_the_working_directory(tmp_path: Path) -> None:
    (tmp_path / "prefect.toml").write_text(
        "[integrations.stripe_identity]\n"
        f'webhook_secret = "{SECRET}"\n'
        'allowed_hooks = ["a.b:c", "d:e"]\n'
        "rate_limits = false\n"
    )
    settings = StripeIdentitySettings()
    assert read(settings, "webhook_secret") == SECRET
    assert settings.allowed_hooks == ["a.b:c", "d:e"] and settings.rate_limits is False


def test_pyproject_toml_in_the_working_directory(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.prefect.integrations.stripe_identity]\napi_base = "http://127.0.0.1:12111"\n'
    )
    assert StripeIdentitySettings().api_base == "http://127.0.0.1:12111"


def test_the_environment_wins_over_prefect_toml(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "prefect.toml").write_text(
        '[integrations.stripe_identity]\nwebhook_secret = "whsec_fromtoml0000"\n'
    )
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", SECRET)
    assert read(StripeIdentitySettings(), "webhook_secret") == SECRET


def test_the_active_prefect_profile(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    profiles = tmp_path / "profiles.toml"
    profiles.write_text(
        'active = "identity"\n\n[profiles.identity]\n'
        f'{ENV_PREFIX}WEBHOOK_SECRET = "{SECRET}"\n'
        f'{ENV_PREFIX}ALLOWED_HOOKS = "a.b:c,d:e"\n'
    )
    for name in TEST_MODE:  # Prefect reads no profile in its test mode
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PREFECT_PROFILES_PATH", str(profiles))
    monkeypatch.delenv("PREFECT_PROFILE", raising=False)
    settings = StripeIdentitySettings()
    assert read(settings, "webhook_secret") == SECRET
    assert settings.allowed_hooks == ["a.b:c", "d:e"]


# --- what reads them ----------------------------------------------------------------------


def test_webhooks_serve_takes_the_secret_from_the_new_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}WEBHOOK_SECRET", f"{SECRET}, whsec_second_one")
    assert webhooks_cli._secrets(None) == [SECRET, "whsec_second_one"]


def test_webhooks_replay_takes_the_key_from_the_new_name(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["webhooks", "replay", "--since", "soon"]) == 2
    assert "no API key" in capsys.readouterr().err
    monkeypatch.setenv(f"{ENV_PREFIX}API_KEY", "sk_test_settings42")
    assert cli.main(["webhooks", "replay", "--since", "soon"]) == 2
    err = capsys.readouterr().err  # past the key: the next check refuses `--since`
    assert "is not unix seconds" in err and "sk_test_settings42" not in err


def test_the_emulator_signs_with_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert cli._webhook_secret_setting() is None
    monkeypatch.setenv(f"{ENV_PREFIX}WEBHOOK_SECRET", SECRET)
    assert cli._webhook_secret_setting() == SECRET


def test_a_deployment_run_allows_the_hooks_the_setting_lists(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    context = SimpleNamespace(flow_run=SimpleNamespace(deployment_id=uuid.uuid4()))
    monkeypatch.setattr(_link, "FlowRunContext", SimpleNamespace(get=lambda: context))
    with pytest.raises(ValueError, match=f"{ENV_PREFIX}ALLOWED_HOOKS"):
        _link.check_hook_allowed("a.b:c")
    (tmp_path / "prefect.toml").write_text(
        '[integrations.stripe_identity]\nallowed_hooks = ["a.b:c"]\n'
    )
    _link.check_hook_allowed("a.b:c")
    with pytest.raises(ValueError, match="refused in a deployment run"):
        _link.check_hook_allowed("d:e")
