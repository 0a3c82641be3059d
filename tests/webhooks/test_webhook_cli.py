"""``webhooks serve|replay``: arguments, one-line errors, and replays from the events list."""

from __future__ import annotations

import argparse
import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from webhook_helpers import FLOW_RUN, SECRET, FakeForwarder, dumps, make_event, sdk_header

import prefect_stripe_identity.webhooks._cli as cli
import prefect_stripe_identity.webhooks._replay as replay_module
from prefect_stripe_identity import AuthenticationError
from prefect_stripe_identity.emulator import (
    EmulatorApp,
    EmulatorConfig,
    EmulatorServer,
    FakeClock,
    create_app,
)
from prefect_stripe_identity.webhooks import (
    WebhookProcessor,
    add_webhooks_parser,
    parse_since,
    replay_events,
    run_webhooks_command,
)

API_KEY = "sk_test_webhooks_replay_0001"
LIVE_KEY = "sk_live_" + "THISKEYMUSTNEVERSHOW1234"  # fake, built so scanners pass it by
NOW = 1_760_000_000


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="prefect-stripe-identity")
    add_webhooks_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = run_webhooks_command(parse(*argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1750000000", 1_750_000_000),
        ("90s", NOW - 90),
        ("30m", NOW - 1800),
        ("2h", NOW - 7200),
        ("3D", NOW - 3 * 86400),
        ("1w", NOW - 604800),
        ("2025-06-15T15:06:40Z", 1_750_000_000),
        ("2025-06-15T17:06:40+02:00", 1_750_000_000),
        ("2025-06-15T15:06:40", 1_750_000_000),  # no offset: UTC
        ("2025-06-15", 1_749_945_600),
    ],
)
def test_parse_since(text: str, expected: int) -> None:
    assert parse_since(text, now=NOW) == expected


@pytest.mark.parametrize("text", ["", "yesterday", "2h ago", "-5", "12x"])
def test_parse_since_rejects_with_the_accepted_forms(text: str) -> None:
    with pytest.raises(ValueError, match="duration like 2h"):
        parse_since(text, now=NOW)


def deliver_signed(app: Any) -> httpx.Response:
    """A delivery signed with `SECRET`, posted to the receiver ``app``: its answer."""
    payload = dumps(make_event(event_type="payment_intent.succeeded", obj={"id": "pi_1"}))

    async def deliver() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://r") as client:
            return await client.post(
                "/webhooks/stripe",
                content=payload,
                headers={"Stripe-Signature": sdk_header(payload)},
            )

    return asyncio.run(deliver())


def test_without_a_subcommand_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "webhooks")
    assert code == 2 and err.startswith("error: choose a webhooks command")


def test_serve_needs_a_whsec_secret_and_never_prints_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STRIPE_WEBHOOK_SECRET", raising=False)
    code, _, err = run(capsys, "webhooks", "serve")
    assert (
        code == 2
        and err
        == "error: no webhook signing secret: pass --secret or --credentials, or set "
        "STRIPE_WEBHOOK_SECRET (or PREFECT_INTEGRATIONS_STRIPE_IDENTITY_WEBHOOK_SECRET)\n"
    )
    code, _, err = run(capsys, "webhooks", "serve", "--secret", LIVE_KEY)
    assert code == 2 and err.count("\n") == 1 and LIVE_KEY not in err
    assert "must start with whsec_" in err
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", f"{SECRET},notasecret")
    code, _, err = run(capsys, "webhooks", "serve")
    assert code == 2 and "notasecret" not in err and SECRET not in err


def test_serve_on_a_busy_port_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, out, err = run(capsys, "webhooks", "serve", "--secret", SECRET, "--port", str(port))
    assert code == 2 and err.startswith(f"error: cannot listen on 127.0.0.1:{port}")
    assert err.count("\n") == 1 and "Traceback" not in err and SECRET not in out + err


@pytest.mark.prefect_engine
def test_serve_connects_to_prefect_then_runs_uvicorn_with_bounds(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, prefect_engine: None
) -> None:
    order: list[str] = []
    calls: list[dict[str, Any]] = []
    connect = cli._connect_to_prefect
    monkeypatch.setattr(cli, "_connect_to_prefect", lambda: (order.append("prefect"), connect()))
    monkeypatch.setattr(
        uvicorn,
        "run",
        lambda app, **kw: (order.append("uvicorn"), calls.append({"app": app, **kw})),
    )
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", f"{SECRET}, whsec_second_one")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code, out, err = run(capsys, "webhooks", "serve", "--port", str(port))
    assert code == 0, err
    url = f"http://127.0.0.1:{port}/webhooks/stripe"
    assert out == f"Receiving Stripe webhooks on {url} (2 signing secrets)\n"
    # Prefect is reached (the harness's API) before anything listens, and says so.
    assert order == ["prefect", "uvicorn"]
    assert "Connecting to the Prefect API at http://127.0.0.1:" in err
    assert "/api is reachable" in err and SECRET not in err
    [call] = calls
    assert call["host"] == "127.0.0.1" and call["port"] == port
    assert {r.path for r in call["app"].routes} == {"/webhooks/stripe", "/health"}
    assert call["http"] == "h11" and call["limit_concurrency"] == cli.DEFAULT_LIMIT_CONCURRENCY
    assert call["timeout_keep_alive"] > 0 and call["h11_max_incomplete_event_size"] <= 64 * 1024


@pytest.mark.prefect_engine
def test_serve_reads_the_signing_secret_from_a_credentials_block(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, prefect_engine: None
) -> None:
    from prefect_stripe_identity import StripeIdentityCredentials

    apps: list[Any] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: apps.append(app))
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "whsec_" + "not_the_one_in_the_block_000")
    api_key = "sk_test_" + "WebhookBlock51HxYzAbCd"
    StripeIdentityCredentials(api_key=api_key, webhook_secret=f"{SECRET}, whsec_second_one").save(
        "webhook-cli-block", overwrite=True
    )
    port = str(free_port())
    code, out, err = run(
        capsys, "webhooks", "serve", "--credentials", "webhook-cli-block", "--port", port
    )
    assert code == 0, err
    assert "(2 signing secrets)" in out and SECRET not in out + err
    # The block's secret is the one that verifies a delivery (not the variable's).
    assert deliver_signed(apps[0]).status_code == 200
    StripeIdentityCredentials(api_key=api_key).save("webhook-cli-no-secret", overwrite=True)
    code, _, err = run(capsys, "webhooks", "serve", "--credentials", "webhook-cli-no-secret")
    assert code == 2
    assert err.endswith(
        "\nerror: the credentials block 'webhook-cli-no-secret' has no webhook_secret\n"
    )
    code, _, err = run(capsys, "webhooks", "serve", "--credentials", "no-such-block-here")
    assert code == 2 and "\nerror: no StripeIdentityCredentials block named" in err
    assert err.count("error:") == 1 and "Traceback" not in err


@pytest.mark.parametrize("userinfo", ["", "someone:hunter2pass@"])
def test_serve_fails_clearly_when_prefect_cannot_be_reached(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, userinfo: str
) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    calls: list[Any] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append(app))
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead_port = closed.getsockname()[1]
    api_url = f"http://{userinfo}127.0.0.1:{dead_port}/api"
    with temporary_settings({PREFECT_API_URL: api_url}):
        code, out, err = run(
            capsys, "webhooks", "serve", "--secret", SECRET, "--port", str(free_port())
        )
    assert code == 2 and calls == []  # never listened
    [last] = err.splitlines()[-1:]
    assert last.startswith("error: cannot reach the Prefect API at http://")
    assert f"127.0.0.1:{dead_port}/api" in last and "hunter2pass" not in err
    assert "Traceback" not in err and out == ""


def test_serve_trims_the_secret_and_refuses_one_that_cannot_be_stripes(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    apps: list[Any] = []
    monkeypatch.setattr(cli, "_connect_to_prefect", lambda: None)
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: apps.append(app))
    code, _, err = run(
        capsys, "webhooks", "serve", "--secret", f" {SECRET} ", "--port", str(free_port())
    )
    assert code == 0, err
    # The trimmed secret is the one that verifies: a signed delivery is taken.
    assert deliver_signed(apps[0]).status_code == 200
    short = "whsec_" + "x"  # built at runtime: no secret-looking literal in the repository
    code, _, err = run(capsys, "webhooks", "serve", "--secret", short, "--port", str(free_port()))
    assert code == 2 and err.count("\n") == 1 and len(apps) == 1
    assert err.startswith("error: webhook signing secret 1 of 1 cannot be one Stripe issues")
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", f"{SECRET},{short}")
    code, _, err = run(capsys, "webhooks", "serve", "--port", str(free_port()))
    assert code == 2 and "secret 2 of 2" in err and SECRET not in err


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["--since", "2h"], {}, "no API key: pass --api-key or set STRIPE_API_KEY"),
        (["--since", "2h", "--api-key", "pk_test_abc"], {}, "must be a secret (sk_…)"),
        (["--since", "soon"], {"STRIPE_API_KEY": API_KEY}, "is not unix seconds"),
        (["--since", "2h", "--api-base", "ftp://x"], {"STRIPE_API_KEY": API_KEY}, "http(s) URL"),
        (
            ["--since", "2h", "--api-base", "http://127.0.0.1:9"],
            {"STRIPE_API_KEY": API_KEY},
            "Could not reach http://127.0.0.1:9 (ConnectError)",
        ),
    ],
)
def test_replay_errors_are_one_line_exit_2(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    env: dict[str, str],
    message: str,
) -> None:
    monkeypatch.delenv("STRIPE_API_KEY", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code, out, err = run(capsys, "webhooks", "replay", *argv)
    assert code == 2, err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert API_KEY not in out + err


# --- replays against the emulator --------------------------------------------------------


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=NOW)


@pytest.fixture
def emulator(clock: FakeClock) -> Iterator[EmulatorApp]:
    app = create_app(EmulatorConfig(clock=clock, processing_seconds=5, tick_seconds=0))
    yield app
    app.close()


@pytest.fixture
async def api(emulator: EmulatorApp) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=emulator)
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://emulator", headers=headers
    ) as client:
        yield client


async def make_history(api: httpx.AsyncClient, clock: FakeClock, metadata: str) -> list[str]:
    """Sessions whose lifecycle leaves events: created, processing, verified / requires_input."""
    ids = []
    for outcome in ("verified", "unverified"):
        response = await api.post(
            "/v1/identity/verification_sessions",
            data={"type": "document", "metadata[prefect_flow_run_id]": metadata},
        )
        assert response.status_code == 200, response.text
        session_id = response.json()["id"]
        ids.append(session_id)
        clock.advance(10)
        submitted = await api.post(
            f"/_emulator/verification_sessions/{session_id}/submit", data={"outcome": outcome}
        )
        assert submitted.status_code == 200, submitted.text
        clock.advance(10)
    await api.get("/v1/identity/verification_sessions")  # applies the due transitions
    return ids


async def test_replay_feeds_identity_events_oldest_first(
    api: httpx.AsyncClient,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
    forwarder: FakeForwarder,
) -> None:
    monkeypatch.setattr(replay_module, "_PAGE_SIZE", 2)  # several pages
    await api.post("/v1/identity/verification_sessions", data={"type": "document"})
    clock.advance(100)  # that first session's event is before --since
    since = int(clock.now())
    first, second = await make_history(api, clock, str(FLOW_RUN))
    processor = WebhookProcessor(forwarder)
    summary = await replay_events(
        processor, api_key=API_KEY, since=since, api_base="http://emulator", http_client=api
    )
    assert summary.listed == 6 and summary.outcomes == {"forwarded": 6} and summary.failed == 0
    emitted = [(e["session"].id, e["status"]) for e in forwarder.emitted]
    assert emitted == [
        (first, "created"),
        (first, "processing"),
        (first, "verified"),  # due 5 s after processing began: before the second session
        (second, "created"),
        (second, "processing"),
        (second, "requires_input"),
    ]
    times = [e["occurred"] for e in forwarder.emitted]
    assert times == sorted(times)
    # Only what the flow acts on resumes it: a final status, a failed attempt.
    assert [r[1]["status"] for r in forwarder.resumed] == ["verified", "requires_input"]
    # Replaying again through the same processor redoes nothing.
    again = await replay_events(
        processor, api_key=API_KEY, since=since, api_base="http://emulator", http_client=api
    )
    assert again.outcomes == {"duplicate": 6}
    assert len(forwarder.resumed) == 2


async def test_replay_counts_what_prefect_could_not_take(
    api: httpx.AsyncClient, clock: FakeClock, forwarder: FakeForwarder
) -> None:
    since = int(clock.now())
    await make_history(api, clock, str(FLOW_RUN))
    forwarder.fail_emit = RuntimeError("Prefect is down")
    summary = await replay_events(
        WebhookProcessor(forwarder),
        api_key=API_KEY,
        since=since,
        api_base="http://emulator",
        http_client=api,
    )
    assert summary.failed == 6 and summary.describe() == "6 events: 6 retry later"


async def test_replay_api_errors_are_typed_and_masked() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            401, json={"error": {"type": "invalid_request_error", "message": f"Bad key {LIVE_KEY}"}}
        )

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(AuthenticationError) as info:
            await replay_events(
                WebhookProcessor(FakeForwarder()),
                api_key=LIVE_KEY,
                since=0,
                api_base="http://x",
                http_client=client,
            )
    assert info.value.http_status == 401 and LIVE_KEY not in str(info.value)


def test_replay_command_end_to_end_on_a_real_emulator(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    forwarder: FakeForwarder,
) -> None:
    monkeypatch.setattr(cli, "_processor", lambda: WebhookProcessor(forwarder))
    with EmulatorServer(EmulatorConfig(processing_seconds=0)) as server:
        auth = {"Authorization": f"Bearer {API_KEY}"}
        with httpx.Client(base_url=server.url, headers=auth) as api:
            session = api.post("/v1/identity/verification_sessions", data={"type": "document"})
            session_id = session.json()["id"]
            api.post(
                f"/_emulator/verification_sessions/{session_id}/submit",
                data={"outcome": "verified"},
            )
        monkeypatch.setenv("STRIPE_API_KEY", API_KEY)
        code, out, err = run(
            capsys, "webhooks", "replay", "--since", "1h", "--api-base", server.url
        )
        assert code == 0, err
        assert out == "Replayed 3 events: 3 forwarded\n"
        assert [e["status"] for e in forwarder.emitted] == ["created", "processing", "verified"]
        # A live key is refused by the (test-mode) emulator: one line, key masked.
        code, out, err = run(
            capsys,
            "webhooks",
            "replay",
            "--since",
            "1h",
            "--api-key",
            LIVE_KEY,
            "--api-base",
            server.url,
        )
    assert code == 2 and err.startswith("error: Stripe answered 401 listing events")
    assert LIVE_KEY not in out + err and err.count("\n") == 1


def test_replay_exit_1_when_events_are_left_over(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    forwarder: FakeForwarder,
) -> None:
    forwarder.fail_resume = ConnectionError("no Prefect")
    monkeypatch.setattr(cli, "_processor", lambda: WebhookProcessor(forwarder))
    with EmulatorServer(EmulatorConfig()) as server:
        auth = {"Authorization": f"Bearer {API_KEY}"}
        with httpx.Client(base_url=server.url, headers=auth) as api:
            api.post(
                "/v1/identity/verification_sessions",
                data={"type": "document", "metadata[prefect_flow_run_id]": str(FLOW_RUN)},
            )
        code, out, err = run(
            capsys,
            "webhooks",
            "replay",
            "--since",
            "1h",
            "--api-key",
            API_KEY,
            "--api-base",
            server.url,
        )
    # The created event is emitted only (created never resumes): nothing failed...
    assert code == 0 and out == "Replayed 1 event: 1 forwarded\n"
    forwarder.fail_emit = ConnectionError("no Prefect")
    with EmulatorServer(EmulatorConfig()) as server:
        with httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {API_KEY}"}
        ) as api:
            api.post("/v1/identity/verification_sessions", data={"type": "document"})
        code, out, err = run(
            capsys,
            "webhooks",
            "replay",
            "--since",
            "1h",
            "--api-key",
            API_KEY,
            "--api-base",
            server.url,
        )
    assert code == 1 and out == "Replayed 1 event: 1 retry later\n"
    assert err == "1 could not be forwarded to Prefect; running the replay again is safe\n"
