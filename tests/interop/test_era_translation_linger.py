"""Era translation (legacy client → 2026-07-28 upstream, `shadowcat reverse --upstream-era
modern`): how one request's answer ends.

Checks: an upstream that keeps its SSE answer open after the JSON-RPC response (keep-alive
comments for 60 s; fixtures/lingering_modern_server.py) does not hold the answer back: the Python
SDK client's `tools/call` (and the proxy's own `tools/list` fetch before it) returns within a few
seconds, on Streamable HTTP and on HTTP+SSE, and the proxy closes the lingering upstream
connections after its short drain instead of keeping them for the whole minute. A single request
whose id is already in flight on its session gets 400 with a JSON-RPC -32600 error (raw HTTP,
rmcp server; on a legacy HTTP+SSE session the POST gets 202 and the error comes on the stream),
the first one is still answered, and the id may be used again once it is. A
`notifications/cancelled` while the proxy re-reads `tools/list` after a `-32020` (an upstream
that never answers that refresh) ends the call at once: the refresh's connection is closed, the
client's answer ends without a response and the call is not sent upstream again.

Not here: the rest of the translation (test_era_translation.py, test_era_translation_batch.py).
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

import harness
from rawhttp import RawConnection, jsonrpc, mcp_headers
from test_legacy_sse import LegacyStream
from test_modern import EVENT_DEADLINE_S, start_modern_server

LINGER_FIXTURE = Path(__file__).resolve().parent / "fixtures" / "lingering_modern_server.py"
# The fixture keeps each answer open this long after the response.
LINGER_S = 60
# The client must have its answer well before that (the proxy drains for at most 2 s, in the
# background).
ANSWER_DEADLINE_S = 5.0


def start_lingering_server(*flags: str) -> harness.ManagedProcess:
    return harness.ManagedProcess("lingering-modern-server", [
        sys.executable, str(LINGER_FIXTURE), "--port", "0", *flags])


def serve(process: harness.ManagedProcess) -> Iterator[harness.Endpoint]:
    try:
        line = process.wait_for_line(lambda l: l.startswith("LISTENING "), "LISTENING line",
                                     harness.READY_TIMEOUT_S, stream="stdout")
        yield harness.Endpoint(url=line.split(" ", 1)[1], process=process)
    finally:
        process.stop()


@pytest.fixture
def lingering_server() -> Iterator[harness.Endpoint]:
    yield from serve(start_lingering_server("--linger-s", str(LINGER_S)))


@pytest.fixture
def mismatch_server() -> Iterator[harness.Endpoint]:
    yield from serve(start_lingering_server("--linger-s", "0", "--mismatch"))


async def call_echo(url: str, transport: str) -> tuple[str, float]:
    """initialize + tools/call echo through the proxy; the text and how long the call took."""
    from mcp import ClientSession
    from mcp.client.sse import sse_client
    from mcp.client.streamable_http import streamable_http_client

    opened = streamable_http_client(url) if transport == "streamable" else sse_client(url)
    async with opened as streams, ClientSession(streams[0], streams[1]) as session:
        await asyncio.wait_for(session.initialize(), ANSWER_DEADLINE_S)
        started = time.monotonic()
        result = await asyncio.wait_for(session.call_tool("echo", {"text": "not held back"}),
                                        ANSWER_DEADLINE_S)
        return result.content[0].text, time.monotonic() - started


@pytest.mark.parametrize("era", ["modern", "auto"])
@pytest.mark.parametrize("transport", ["streamable", "sse"])
def test_a_lingering_upstream_answer_is_passed_on_at_once(lingering_server, start_proxy,
                                                          transport, era) -> None:
    """Also the `server/discover` answer lingers: with `auto`, a probe that waited for the
    stream's end would time out and take the upstream for a legacy one (the initialize would
    then pass through and fail); with `modern`, the initialize would wait the whole linger."""
    proxy = start_proxy(lingering_server.url,
                        extra=["--legacy-sse", "--upstream-era", era, "--request-timeout", "120s"])
    url = proxy.url if transport == "streamable" else f"http://{proxy.host_header}/sse"
    text, took = asyncio.run(call_echo(url, transport))
    assert text == "not held back"
    assert took < ANSWER_DEADLINE_S, took
    events = lingering_server.process
    # Both answers were written and are still lingering upstream; the proxy gives up on them
    # after its drain (not pooled), long before the fixture would end them.
    dropped: set[str] = set()

    def both_dropped(line: str) -> bool:
        if line.startswith("EVENT dropped "):
            dropped.add(line.removeprefix("EVENT dropped "))
        return {"tools/list", "tools/call"} <= dropped

    events.wait_for_line(both_dropped, "the proxy to drop the lingering answers", EVENT_DEADLINE_S)
    assert ("stdout", "EVENT ended tools/call") not in events._lines


@pytest.fixture
def rmcp_server() -> Iterator[harness.Endpoint]:
    server = start_modern_server("--modern-only", "--sse")
    try:
        yield server
    finally:
        server.stop()


def _session(conn: RawConnection) -> list[tuple[str, str]]:
    version = "2025-11-25"
    init = jsonrpc("initialize", {"protocolVersion": version, "capabilities": {},
                                  "clientInfo": {"name": "raw-dup", "version": "0"}}, 0)
    response = conn.request("POST", "/mcp", mcp_headers(), init)
    assert response.status == 200, response.describe()
    sid = response.header("mcp-session-id")
    assert sid, response.describe()
    headers = mcp_headers(session_id=sid, protocol_version=version)
    initialized = conn.request("POST", "/mcp", headers, jsonrpc("notifications/initialized"))
    assert initialized.status == 202, initialized.describe()
    return headers


def _call(request_id: Any, name: str, arguments: dict[str, Any]) -> bytes:
    return jsonrpc("tools/call", {"name": name, "arguments": arguments}, request_id)


def test_a_request_whose_id_is_in_flight_is_refused(rmcp_server, start_proxy) -> None:
    proxy = start_proxy(rmcp_server.url, extra=["--upstream-era", "modern", "--request-timeout", "60s"])
    with RawConnection(harness.LOOPBACK_HOST, proxy.port) as control:
        headers = _session(control)
        with RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
            conn.send_request("POST", "/mcp", headers, _call("dup", "slow", {"ms": 3000}))
            rmcp_server.process.wait_for_line(lambda l: l == "EVENT slow-started", "slow tool start",
                                              EVENT_DEADLINE_S)
            second = control.request("POST", "/mcp", headers, _call("dup", "echo", {"text": "again"}))
            assert second.status == 400, second.describe()
            error = second.json()
            assert error["id"] == "dup" and error["error"]["code"] == -32600, error
            # The first request is unaffected.
            first = conn.read_response()
            assert first.status == 200, first.describe()
            assert first.response_for("dup")["result"]["content"][0]["text"] == "done", first.describe()
        # Answered: the id is free again.
        reused = control.request("POST", "/mcp", headers, _call("dup", "echo", {"text": "again"}))
        assert reused.status == 200, reused.describe()
        assert reused.response_for("dup")["result"]["content"][0]["text"] == "again", reused.describe()


def test_a_request_whose_id_is_in_flight_is_refused_on_a_legacy_sse_session(rmcp_server,
                                                                             start_proxy) -> None:
    proxy = start_proxy(rmcp_server.url,
                        extra=["--legacy-sse", "--upstream-era", "modern", "--request-timeout", "60s"])
    legacy = LegacyStream(proxy)
    try:
        legacy.initialize()
        assert legacy.post(_call("dup", "slow", {"ms": 3000})).status == 202
        rmcp_server.process.wait_for_line(lambda l: l == "EVENT slow-started", "slow tool start",
                                          EVENT_DEADLINE_S)
        assert legacy.post(_call("dup", "echo", {"text": "again"})).status == 202
        refused = legacy.response_for("dup")
        assert refused["error"]["code"] == -32600, refused
        first = legacy.response_for("dup")
        assert first["result"]["content"][0]["text"] == "done", first
    finally:
        legacy.close()


def test_a_cancel_during_the_header_mismatch_refresh_ends_the_call(mismatch_server, start_proxy) -> None:
    proxy = start_proxy(mismatch_server.url, extra=["--upstream-era", "modern", "--request-timeout", "60s"])
    events = mismatch_server.process
    with RawConnection(harness.LOOPBACK_HOST, proxy.port) as control:
        headers = _session(control)
        with RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
            conn.send_request("POST", "/mcp", headers, _call("c", "echo", {"text": "x"}))
            events.wait_for_line(lambda l: l == "EVENT hung tools/list", "the -32020 refresh",
                                 EVENT_DEADLINE_S)
            started = time.monotonic()
            cancelled = control.request("POST", "/mcp", headers,
                                        jsonrpc("notifications/cancelled", {"requestId": "c"}))
            assert cancelled.status == 202, cancelled.describe()
            events.wait_for_line(lambda l: l == "EVENT dropped tools/list",
                                 "the proxy to close the refresh", EVENT_DEADLINE_S)
            answer = conn.read_response()
            assert time.monotonic() - started < ANSWER_DEADLINE_S
            assert answer.status == 200, answer.describe()
            assert answer.jsonrpc_messages() == [], answer.describe()
    calls = [entry for entry in list(events._lines) if entry == ("stdout", "EVENT answered tools/call")]
    assert len(calls) == 1, events.output_tail()
