"""Requests that could make the emulator slow or big: long arrays, huge bodies."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
from emulator_helpers import API_KEY, SESSIONS

from prefect_stripe_identity.emulator import EmulatorApp, _forms


def _lines_run_by_decode(pairs: list[tuple[str, str]]) -> int:
    """How many lines of ``_forms.py`` run while decoding ``pairs``: a count of operations
    that does not depend on the machine's speed (generator expressions included)."""
    forms_file = str(Path(_forms.__file__).resolve())
    count = 0

    def local(frame: FrameType, event: str, arg: Any) -> Any:
        nonlocal count
        if event == "line":
            count += 1
        return local

    def global_(frame: FrameType, event: str, arg: Any) -> Any:
        if str(Path(frame.f_code.co_filename).resolve()) == forms_file:
            return local
        return None

    previous = sys.gettrace()
    sys.settrace(global_)
    try:
        _forms.decode(pairs)
    finally:
        sys.settrace(previous)
    return count


def test_decoding_appended_arrays_is_linear() -> None:
    # ``a[]=x`` repeated: twice the entries must cost about twice the work, not four times
    # (the old decoder recounted the array for every entry: 20,000 entries took 39 s).
    small = _lines_run_by_decode([("a[]", "x")] * 600)
    large = _lines_run_by_decode([("a[]", "x")] * 1200)
    assert large / small < 2.5, (small, large)
    # Mixed explicit and appended indices still land where they did.
    tree = _forms.decode([("a[0]", "x"), ("a[]", "y"), ("a[5]", "z"), ("a[]", "w")])
    assert tree == {"a": {"0": "x", "1": "y", "5": "z", "3": "w"}}


async def test_twenty_thousand_array_entries_are_served(api: httpx.AsyncClient) -> None:
    body = "&".join(["type=document", *(["expand[]=verified_outputs"] * 20_000)])
    response = await api.post(
        SESSIONS, content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["object"] == "identity.verification_session"


async def test_a_body_past_the_cap_is_refused_before_it_is_read(make_app: Any) -> None:
    app: EmulatorApp = make_app(max_body_bytes=1024)
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        # No Content-Length (chunked): the cap must hold while the bytes arrive.
        nonlocal sent
        for _ in range(1000):
            sent += 1
            yield b"metadata[k]=" + b"v" * 500 + b"&"

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://emulator.test"
    ) as client:
        response = await client.post(
            SESSIONS,
            content=chunks(),
            headers={
                "Authorization": f"Bearer {API_KEY}",
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        assert response.status_code == 413
        error = response.json()["error"]
        assert error["type"] == "invalid_request_error" and "1024 bytes" in error["message"]
        assert sent <= 4  # stopped at the cap, not after 500 KB
        # The control endpoints have the same cap.
        seed = await client.post("/_emulator/seed", content=b"count=1&" + b"x" * 2000)
        assert seed.status_code == 413
        # Just under the cap is fine.
        small = await client.post(
            SESSIONS,
            content=b"type=document&metadata[k]=" + b"v" * 400,
            headers={
                "Authorization": f"Bearer {API_KEY}",
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        assert small.status_code == 200
    assert app.emulator.stats["sessions_created"] == 1


async def test_a_declared_length_past_the_cap_is_refused_without_reading(
    make_app: Any,
) -> None:
    app: EmulatorApp = make_app(max_body_bytes=1024)
    reads = 0
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": b"x" * 1024, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": SESSIONS,
        "raw_path": SESSIONS.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"emulator.test"),
            (b"authorization", f"Bearer {API_KEY}".encode()),
            (b"content-type", b"application/x-www-form-urlencoded"),
            (b"content-length", b"60000000"),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("emulator.test", 80),
    }
    await app(scope, receive, send)  # type: ignore[arg-type]
    assert messages[0]["status"] == 413
    assert reads == 0
