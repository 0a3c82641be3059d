"""Without Chromium the browser tests skip on a developer's machine and fail under CI
(issue 14, item 6), naming the packages to install: a CI run must not pass having opened
no browser. The same rule as the spec tests' (tests/test_ci_rules.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from chromium import missing_binaries, require_chromium


@pytest.fixture
def no_browser_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))


@pytest.mark.usefixtures("no_browser_on_path")
@pytest.mark.parametrize("value", ["true", "1", "yes"])
def test_a_missing_browser_fails_under_ci(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", value)
    assert missing_binaries() == ["chromium", "chromedriver"]
    with pytest.raises(pytest.fail.Exception, match="under CI a missing browser fails") as info:
        require_chromium()
    assert "'chromium' and 'chromium-driver'" in str(info.value)


@pytest.mark.usefixtures("no_browser_on_path")
@pytest.mark.parametrize("value", [None, "", "false"])
def test_a_missing_browser_skips_outside_ci(
    value: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.skip.Exception, match="chromium and chromedriver not found"):
        require_chromium()


ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "ensure-chromium.sh"


def fake_machine(tmp_path: Path, *, uid: int, have: tuple[str, ...]) -> Path:
    """A PATH of fakes: ``id`` answers ``uid``; ``apt-get`` logs its arguments and, on
    install, puts chromium and chromedriver on the PATH; ``have`` are there already."""
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    scripts = {
        "id": f"echo {uid}",
        "apt-get": (
            f'echo "$@" >> {tmp_path}/apt.log\n'
            f'case " $* " in *" install "*) for b in chromium chromedriver; do '
            f"printf '#!/bin/sh\\n' > {bin_}/$b; /bin/chmod +x {bin_}/$b; done;; esac"
        ),
        **dict.fromkeys(have, "true"),
    }
    for name, body in scripts.items():
        (bin_ / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_ / name).chmod(0o755)
    return bin_


def ensure(bin_: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 (the repository's own script, fixed arguments)
        ["/bin/bash", str(SCRIPT)],
        env={"PATH": str(bin_)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_make_install_runs_the_browser_set_up() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "install: $(STAMP) chromium" in makefile
    assert "chromium:\n\t@bash scripts/ensure-chromium.sh" in makefile


def test_root_without_the_browser_installs_debians_packages(tmp_path: Path) -> None:
    bin_ = fake_machine(tmp_path, uid=0, have=())
    result = ensure(bin_)
    assert result.returncode == 0, result.stderr
    calls = (tmp_path / "apt.log").read_text().splitlines()
    assert "update" in calls[0]
    assert calls[1].split()[-2:] == ["chromium", "chromium-driver"] and "install" in calls[1]
    assert (bin_ / "chromium").exists() and (bin_ / "chromedriver").exists()


def test_with_the_browser_nothing_is_installed(tmp_path: Path) -> None:
    result = ensure(fake_machine(tmp_path, uid=0, have=("chromium", "chromedriver")))
    assert result.returncode == 0 and result.stderr == ""
    assert not (tmp_path / "apt.log").exists()


def test_not_root_says_what_to_install_and_installs_nothing(tmp_path: Path) -> None:
    result = ensure(fake_machine(tmp_path, uid=1000, have=("chromium",)))
    assert result.returncode == 0  # the rest of make install goes on; the tests decide
    assert "'chromium' and 'chromium-driver'" in result.stderr
    assert not (tmp_path / "apt.log").exists()
