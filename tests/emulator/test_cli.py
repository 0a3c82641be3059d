"""The ``prefect-stripe-identity emulator`` command."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx
import pytest

from prefect_stripe_identity.cli import main


@pytest.fixture(autouse=True)
def _never_serve(monkeypatch: pytest.MonkeyPatch) -> None:
    # No test here may really listen in-process (a refused host must fail, not serve).
    import uvicorn

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the emulator would have started listening")

    monkeypatch.setattr(uvicorn, "run", refuse)


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        ([], "required"),
        (["emulator", "--fault-kinds", "500,bogus"], "bogus"),
        (["emulator", "--port", "99999"], "not a TCP port"),
        (["emulator", "--fault-rate", "1.5"], "fault_rate"),
        (["emulator", "--auto-outcome", "maybe"], "invalid choice"),
        (["emulator", "--processing-seconds", "-1"], "negative"),
        (["emulator", "--webhook-url", "http://127.0.0.1:1/hook"], "--webhook-secret"),
        (["emulator", "--webhook-url", "http://x", "--webhook-secret", "nope"], "whsec_"),
        (["nonsense"], "invalid choice"),
        (["emulator", "--host", "0.0.0.0"], "--allow-remote"),  # noqa: S104 - refused
        (["emulator", "--host", "192.168.1.20"], "--allow-remote"),
        (["emulator", "--host", "example.test"], "--allow-remote"),
    ],
)
def test_usage_errors_are_one_line(
    argv: list[str],
    fragment: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("STRIPE_WEBHOOK_SECRET", raising=False)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("prefect-stripe-identity: error:") and fragment in err


def test_port_in_use(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["emulator", "--port", str(port)]) == 2
    assert "cannot listen" in capsys.readouterr().err


def test_help_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["emulator", "--help"]) == 0
    out = capsys.readouterr().out
    for option in (
        "--auto-outcome",
        "--rate-limit",
        "--fault-kinds",
        "--webhook-secret",
        "--latency-ms",
        "--state-file",
        "--redaction-seconds",
        "--allow-remote",
    ):
        assert option in out


def test_serves_over_http(tmp_path: object) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [
            sys.executable,
            "-m",
            "prefect_stripe_identity.cli",
            "emulator",
            "--port",
            str(port),
            "--auto-outcome",
            "verified",
            "--auto-submit-seconds",
            "0",
            "--processing-seconds",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/_emulator/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "the emulator did not start"
            time.sleep(0.1)
        created = httpx.post(
            base + "/v1/identity/verification_sessions",
            data={"type": "document"},
            headers={"Authorization": "Bearer sk_test_cli"},
        ).json()
        assert created["status"] == "verified"  # auto outcome, no waiting
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_access_log_drops_query_strings() -> None:
    import logging

    from prefect_stripe_identity.emulator._server import _DropQueryStrings

    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:1", "GET", "/_emulator/verify/vs_1?token=secret", "1.1", 200),
        None,
    )
    assert _DropQueryStrings().filter(record)
    assert "secret" not in record.getMessage()
    assert "/_emulator/verify/vs_1" in record.getMessage()


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "emulator.example"])  # noqa: S104
def test_the_server_refuses_a_non_loopback_host_without_opt_in(host: str) -> None:
    from prefect_stripe_identity.emulator import EmulatorConfig, EmulatorServer, serve

    with pytest.raises(ValueError, match="allow_remote=True"):
        EmulatorServer(host=host)
    with pytest.raises(ValueError, match="allow_remote=True"):
        serve(EmulatorConfig(), host=host, port=1)
    # The opt-in is accepted (built, not started: tests listen on loopback only).
    server = EmulatorServer(host=host, port=1, allow_remote=True)
    assert server.host == host
    server.app.close()


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1"])
def test_loopback_hosts_need_no_opt_in(host: str) -> None:
    from prefect_stripe_identity.emulator import EmulatorServer

    server = EmulatorServer(host=host, port=1)
    assert server.host == host
    server.app.close()
