"""2026-07-28 stateless requests through the proxy, against the official Rust SDK (rmcp 3.11):
`modern_server` (tests/modern, an rmcp server that serves legacy sessions and 2026-07-28 requests
on one endpoint) as the upstream, `modern_client` (an rmcp 2026-07-28 client) and raw HTTP in front.

Checks: tools/list and tools/call from the rmcp client; a Python SDK session and the rmcp client on
the same proxy endpoint at once; every mirrored-header mismatch (400, -32020); unsupported versions
(-32022 with data.supported; legacy header 400; initialize negotiated by the upstream); a client
hang-up cancelling the upstream request (seen by the rmcp tool handler); a `subscriptions/listen`
stream held open past the request timeout; 404/-32601 relayed untouched (no session dropped);
GET/DELETE 405 and legacy refusal on an `era = modern` route; no shard hop for modern requests.

Not here: the unit-level classification tests (src/proxy/era_tests.rs).
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any, Iterator

import pytest

import harness
from rawhttp import RawConnection, jsonrpc, mcp_headers
from test_proxy_limits import wait_until
from test_shards import metric_total, read_metrics

MODERN = "2026-07-28"
# The request timeout the proxies under test get; the listen stream is held well past it.
REQUEST_TIMEOUT_S = 2
# How long the listen test holds the stream: minutes, as a real listener does, 60 times the request
# timeout (SHADOWCAT_LISTEN_HOLD_S shortens it for a quick local run).
LISTEN_HOLD_S = float(os.environ.get("SHADOWCAT_LISTEN_HOLD_S", "125"))
EVENT_DEADLINE_S = 15.0


def _modern_bin(name: str) -> Path:
    """tests/modern binaries: SHADOWCAT_MODERN_BIN_DIR, else beside SHADOWCAT_BIN, else target/debug."""
    candidates = []
    if os.environ.get("SHADOWCAT_MODERN_BIN_DIR"):
        candidates.append(Path(os.environ["SHADOWCAT_MODERN_BIN_DIR"]))
    if os.environ.get("SHADOWCAT_BIN"):
        candidates.append(Path(os.environ["SHADOWCAT_BIN"]).resolve().parent)
    candidates.append(harness.REPO_ROOT / "target" / "debug")
    for directory in candidates:
        path = directory / name
        if path.is_file() and os.access(path, os.X_OK):
            return path
    message = (f"{name} not found in {[str(c) for c in candidates]}: "
               "build it with `cargo build -p shadowcat-modern-tests`")
    if os.environ.get("SHADOWCAT_ALLOW_MISSING_BIN") == "1":
        pytest.skip(message)
    pytest.fail(message, pytrace=False)


def start_modern_server(*flags: str) -> harness.Endpoint:
    process = harness.ManagedProcess("rmcp-modern-server", [_modern_bin("modern_server"), "--port", "0", *flags],
                                     env=harness.child_env())
    try:
        line = process.wait_for_line(lambda l: l.startswith("LISTENING "), "LISTENING line",
                                     harness.READY_TIMEOUT_S, stream="stdout")
    except BaseException:
        process.stop()
        raise
    return harness.Endpoint(url=line.split(" ", 1)[1], process=process)


@pytest.fixture
def modern_server() -> Iterator[harness.Endpoint]:
    """A dual-era rmcp server (legacy sessions + 2026-07-28), JSON answers, no SSE keep-alive."""
    server = start_modern_server("--legacy-sessions")
    try:
        yield server
    finally:
        server.stop()


def run_client(proxy_url: str, *args: str, timeout_s: float = 60.0) -> dict[str, Any]:
    """Runs modern_client to completion; returns its last JSON line (fails on a non-zero exit)."""
    process = harness.ManagedProcess("rmcp-modern-client", [_modern_bin("modern_client"), proxy_url, *args],
                                     env=harness.child_env())
    try:
        code = process.popen.wait(timeout=timeout_s)
    finally:
        process.stop()
    lines = [line for label, line in process._lines if label == "stdout" and line.startswith("{")]
    assert code == 0 and lines, f"modern_client {args} exited {code}:\n{process.output_tail()}"
    return json.loads(lines[-1])


def modern_body(request_id: Any, method: str, params: dict[str, Any] | None = None,
                version: str = MODERN) -> bytes:
    meta = {
        "io.modelcontextprotocol/protocolVersion": version,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "shadowcat-interop-raw", "version": "0"},
    }
    return jsonrpc(method, {**(params or {}), "_meta": meta}, request_id)


def modern_headers(method: str, name: str | None = None, version: str = MODERN,
                   drop: str | None = None, override: tuple[str, str] | None = None) -> list[tuple[str, str]]:
    mirrored = [("MCP-Protocol-Version", version), ("Mcp-Method", method)]
    if name is not None:
        mirrored.append(("Mcp-Name", name))
    if override is not None:
        mirrored = [(k, v) for k, v in mirrored if k.lower() != override[0].lower()] + [override]
    mirrored = [(k, v) for k, v in mirrored if drop is None or k.lower() != drop.lower()]
    return mcp_headers(extra=mirrored)


def metric(proxy: harness.Endpoint, name: str) -> float:
    assert proxy.admin_url is not None
    return metric_total(read_metrics(proxy.admin_url), name)


def proxy_request(proxy: harness.Endpoint, headers, body: bytes, method: str = "POST"):
    with RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
        return conn.request(method, "/mcp", headers, body)


def test_rmcp_modern_client_lists_and_calls_through_the_proxy(modern_server, start_proxy) -> None:
    proxy = start_proxy(modern_server.url, admin=True)
    assert run_client(proxy.url, "list")["tools"] == ["echo", "slow", "ask", "whoami", "confirm", "route"]
    answer = run_client(proxy.url, "call", "echo", json.dumps({"text": "héllo modern"}))
    assert answer == {"text": ["héllo modern"], "is_error": False}
    assert metric(proxy, "shadowcat_modern_requests_total") >= 4  # discover + list, discover + call
    assert metric(proxy, "shadowcat_sessions_created_total") == 0


def test_session_client_and_modern_client_share_one_endpoint(modern_server, start_proxy) -> None:
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    proxy = start_proxy(modern_server.url, admin=True)

    async def both() -> tuple[str, dict[str, Any], str]:
        async with streamable_http_client(proxy.url) as (read, write, _), ClientSession(read, write) as session:
            init = await session.initialize()
            before = await session.call_tool("echo", {"text": "legacy-1"})
            # The rmcp modern client runs while the legacy session is open on the same endpoint.
            modern = await asyncio.to_thread(run_client, proxy.url, "call", "echo", json.dumps({"text": "modern"}))
            after = await session.call_tool("echo", {"text": "legacy-2"})
            return init.protocolVersion, modern, before.content[0].text + "," + after.content[0].text

    version, modern, legacy = asyncio.run(both())
    assert version != MODERN
    assert modern["text"] == ["modern"]
    assert legacy == "legacy-1,legacy-2"
    assert metric(proxy, "shadowcat_sessions_created_total") == 1
    assert metric(proxy, "shadowcat_modern_requests_total") >= 2


@pytest.mark.parametrize("case", [
    ("drop", "MCP-Protocol-Version"),
    ("drop", "Mcp-Method"),
    ("drop", "Mcp-Name"),
    ("override", ("MCP-Protocol-Version", "2025-11-25")),
    ("override", ("Mcp-Method", "tools/list")),
    ("override", ("Mcp-Name", "slow")),
    ("override", ("Mcp-Name", "=?base64?c2xvdw==?=")),
], ids=lambda c: f"{c[0]}-{c[1] if isinstance(c[1], str) else c[1][0] + '=' + c[1][1]}")
def test_mirrored_header_mismatch_is_400_with_32020(modern_server, start_proxy, case) -> None:
    proxy = start_proxy(modern_server.url)
    kind, what = case
    headers = modern_headers("tools/call", "echo", **({"drop": what} if kind == "drop" else {"override": what}))
    body = modern_body("m-1", "tools/call", {"name": "echo", "arguments": {"text": "x"}})
    response = proxy_request(proxy, headers, body)
    assert response.status == 400, response.describe()
    error = response.json()
    assert error["id"] == "m-1" and error["error"]["code"] == -32020, response.describe()
    header = what if isinstance(what, str) else what[0]
    assert header in error["error"]["message"], error


def test_conforming_raw_request_with_unknown_param_headers_is_served(modern_server, start_proxy) -> None:
    proxy = start_proxy(modern_server.url)
    headers = modern_headers("tools/call", "=?base64?ZWNobw==?=") + [("Mcp-Param-Unknown", "kept")]
    body = modern_body(9, "tools/call", {"name": "echo", "arguments": {"text": "raw"}})
    response = proxy_request(proxy, headers, body)
    assert response.status == 200, response.describe()
    assert response.response_for(9)["result"]["content"][0]["text"] == "raw"


def test_unsupported_versions(modern_server, start_proxy) -> None:
    proxy = start_proxy(modern_server.url)
    # Modern request, unknown `_meta` version: 400, -32022, data lists what is supported.
    body = modern_body(3, "tools/list", version="2027-01-01")
    response = proxy_request(proxy, modern_headers("tools/list", version="2027-01-01"), body)
    assert response.status == 400, response.describe()
    error = response.json()["error"]
    assert response.json()["id"] == 3 and error["code"] == -32022, response.describe()
    assert MODERN in error["data"]["supported"] and error["data"]["requested"] == "2027-01-01"
    # Legacy request with an unsupported MCP-Protocol-Version header: 400 naming the versions.
    response = proxy_request(proxy, mcp_headers(protocol_version="1999-01-01"),
                             jsonrpc("tools/list", {}, 4))
    assert response.status == 400, response.describe()
    assert response.json()["id"] == 4
    assert "2025-11-25" in response.json()["error"]["message"]
    # initialize with an unknown version: forwarded; the upstream answers with a version it speaks.
    init = jsonrpc("initialize", {"protocolVersion": "2099-01-01", "capabilities": {},
                                  "clientInfo": {"name": "raw", "version": "0"}}, 5)
    response = proxy_request(proxy, mcp_headers(), init)
    assert response.status == 200, response.describe()
    offered = response.response_for(5)["result"]["protocolVersion"]
    assert offered in ("2025-03-26", "2025-06-18", "2025-11-25"), offered


@pytest.mark.parametrize("streaming", [False, True], ids=["before-the-answer", "mid-sse-stream"])
def test_client_hang_up_cancels_the_upstream_request(start_proxy, streaming) -> None:
    """Hang-up while the proxy waits for the answer's head (the tool has said nothing yet), and
    while it relays an SSE answer already under way (a progress event went out first)."""
    # A streaming server needs keep-alive comments to notice the closed connection.
    server = start_modern_server(*(["--sse", "--keepalive-ms", "100"] if streaming else []))
    try:
        proxy = start_proxy(server.url, admin=True, extra=["--request-timeout", "60s"])
        conn = RawConnection(harness.LOOPBACK_HOST, proxy.port)
        params: dict[str, Any] = {"name": "slow", "arguments": {"ms": 30000}}
        body = modern_body(1, "tools/call", params)
        if streaming:
            message = json.loads(body)
            message["params"]["_meta"]["progressToken"] = "p-1"
            body = json.dumps(message).encode()
        conn.send_request("POST", "/mcp", modern_headers("tools/call", "slow"), body)
        server.process.wait_for_line(lambda l: l == "EVENT slow-started", "slow tool start", EVENT_DEADLINE_S)
        if streaming:
            stream = conn.read_stream()
            assert stream.response.status == 200 and stream.is_sse, stream.response.describe()
            stream.events_until(lambda e: (e.message() or {}).get("method") == "notifications/progress",
                                "the progress event")
        conn.close()
        server.process.wait_for_line(lambda l: l in ("EVENT slow-cancelled", "EVENT slow-finished"),
                                     "slow tool end", EVENT_DEADLINE_S)
        assert ("stdout", "EVENT slow-cancelled") in server.process._lines
        wait_until(lambda: metric(proxy, "shadowcat_client_gone_total") >= 1, "client_gone_total")
        # The cancelled request's upstream connection was closed, not pooled: the next one is clean.
        response = proxy_request(proxy, modern_headers("tools/call", "echo"),
                                 modern_body(2, "tools/call", {"name": "echo", "arguments": {"text": "next"}}))
        assert response.response_for(2)["result"]["content"][0]["text"] == "next"
    finally:
        server.stop()


@pytest.mark.timeout(LISTEN_HOLD_S + 90)
def test_listen_stream_outlives_the_request_timeout(modern_server, start_proxy) -> None:
    proxy = start_proxy(modern_server.url, admin=True,
                        extra=["--request-timeout", f"{REQUEST_TIMEOUT_S}s"])
    assert LISTEN_HOLD_S > REQUEST_TIMEOUT_S
    answer = run_client(proxy.url, "listen", str(LISTEN_HOLD_S), timeout_s=LISTEN_HOLD_S + 60)
    assert answer == {"held": True}
    assert metric(proxy, "shadowcat_listen_streams_opened_total") == 1
    wait_until(lambda: metric(proxy, "shadowcat_listen_streams_closed_total") == 1, "listen stream closed")


def test_404_from_a_modern_upstream_is_relayed_as_method_not_found(modern_server, start_proxy) -> None:
    proxy = start_proxy(modern_server.url, admin=True)
    response = proxy_request(proxy, modern_headers("vendor/unknown"), modern_body("u", "vendor/unknown"))
    assert response.status == 404, response.describe()
    assert response.json()["id"] == "u" and response.json()["error"]["code"] == -32601, response.describe()
    assert metric(proxy, "shadowcat_sessions_lost_total") == 0
    assert run_client(proxy.url, "list")["tools"] == ["echo", "slow", "ask", "whoami", "confirm", "route"]


def test_modern_only_route(start_proxy) -> None:
    server = start_modern_server()  # 2026-07-28 only upstream
    try:
        proxy = start_proxy(server.url, extra=["--era", "modern"])
        for method in ("GET", "DELETE"):
            response = proxy_request(proxy, [("Accept", "text/event-stream"), ("Mcp-Session-Id", "x")], b"", method)
            assert response.status == 405, response.describe()
            assert response.header("allow") == "POST"
        response = proxy_request(proxy, mcp_headers(), jsonrpc("initialize", {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}, 1))
        assert response.status == 400, response.describe()
        error = response.json()["error"]
        assert error["code"] == -32022 and error["data"]["supported"] == [MODERN], error
        assert "only 2026-07-28" in error["message"]
        response = proxy_request(proxy, mcp_headers(session_id="abc"), jsonrpc("tools/list", {}, 2))
        assert response.status == 400 and response.json()["id"] == 2, response.describe()
        assert run_client(proxy.url, "call", "echo", json.dumps({"text": "only modern"}))["text"] == ["only modern"]
    finally:
        server.stop()


def test_modern_requests_are_served_where_they_land(modern_server, start_proxy) -> None:
    """With two shards and many connections, no 2026-07-28 request is handed to another shard."""
    proxy = start_proxy(modern_server.url, shards=2, admin=True)
    for n in range(8):
        response = proxy_request(proxy, modern_headers("tools/call", "echo"),
                                 modern_body(n, "tools/call", {"name": "echo", "arguments": {"text": str(n)}}))
        assert response.response_for(n)["result"]["content"][0]["text"] == str(n)
    assert metric(proxy, "shadowcat_modern_requests_total") == 8
    assert metric(proxy, "shadowcat_hops_total") == 0
    assert metric(proxy, "shadowcat_sessions_created_total") == 0
