"""Era translation: a legacy client (the Python SDK `mcp` 1.30.0, Streamable HTTP sessions,
2025-11-25) served through the proxy by a modern-only upstream (tests/modern's rmcp server with
`--modern-only`: `server/discover` lists 2026-07-28 alone, legacy `initialize` refused).

Checks, with `--upstream-era modern` and with `auto` (the proxy probes `server/discover`):
initialize answered from discover (serverInfo, capabilities), tools/list, an echo call, the
`_meta` the upstream saw (clientInfo, 2026-07-28, the log level after `logging/setLevel`),
progress, MRTR round trips (an `input_required` sampling request answered by the client's
sampling_callback, the result holding the answer; an elicitation without requestState), ping,
the GET stream mapped onto `subscriptions/listen` (tools list_changed arrives;
`resources/subscribe` reopens it with the URI and resources/updated arrives), DELETE ending the
session locally. A client without the sampling capability gets a -32021 error. `auto` in front
of a dual-era rmcp server, of server-everything (legacy) and of a legacy upstream that never
answers the probe stays pass-through. The TypeScript SDK (`@modelcontextprotocol/sdk`,
fixtures/ts_legacy_client.mjs) runs the same path as a second legacy client, MRTR included. A
401 from the upstream reaches the client with its challenge; a legacy `notifications/cancelled`
closes the upstream request.

Not here: the unit tests of the bytes and the MRTR state machine (src/proxy/l2m/*_tests.rs).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any, Iterator

import pytest

import harness
from test_modern import metric, start_modern_server

CLIENT_NAME = "era-translation-test"


@pytest.fixture
def modern_only_server() -> Iterator[harness.Endpoint]:
    server = start_modern_server("--modern-only", "--sse")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def dual_server() -> Iterator[harness.Endpoint]:
    server = start_modern_server("--legacy-sessions")
    try:
        yield server
    finally:
        server.stop()


class Recorder:
    """What one legacy SDK session saw (`seen`: sampled questions, elicitation, notification
    methods, progress values, the updated resource) through its callbacks, with events for the
    listen-fed notifications. Shared by the Streamable HTTP and the HTTP+SSE check runs."""

    def __init__(self) -> None:
        self.seen: dict[str, Any] = {"sampled": [], "notifications": [], "progress": []}
        self.list_changed = asyncio.Event()
        self.resource_updated = asyncio.Event()

    async def sampling(self, context, params):
        from mcp import types
        question = params.messages[0].content.text
        self.seen["sampled"].append(question)
        return types.CreateMessageResult(role="assistant", model="test-model",
                                         content=types.TextContent(type="text", text=f"sampled({question})"))

    async def elicitation(self, context, params):
        from mcp import types
        self.seen["elicited"] = params.message
        return types.ElicitResult(action="accept", content={"ok": True})

    async def message(self, message) -> None:
        from mcp import types
        if isinstance(message, types.ServerNotification):
            self.seen["notifications"].append(message.root.method)
            if message.root.method == "notifications/tools/list_changed":
                self.list_changed.set()
            if message.root.method == "notifications/resources/updated":
                self.seen["updated"] = str(message.root.params.uri)
                self.resource_updated.set()

    async def progress(self, value: float, total: float | None, text: str | None) -> None:
        self.seen["progress"].append(value)

    async def ping_and_listen(self, session, uri: str) -> None:
        """The end of a check run: ping (answered by the proxy), the listen-fed tools
        list_changed (the rmcp server sends one on every listen), then `resources/subscribe`
        (answered by the proxy; it reopens the listen with `uri`) and its resources/updated."""
        await session.send_ping()
        self.seen["ping"] = True
        await asyncio.wait_for(self.list_changed.wait(), 15)
        await session.subscribe_resource(uri)
        await asyncio.wait_for(self.resource_updated.wait(), 15)

    def session_args(self, *, sampling: bool = True) -> dict[str, Any]:
        """ClientSession keyword arguments: the callbacks and this suite's client name."""
        from mcp import types
        return {"sampling_callback": self.sampling if sampling else None,
                "elicitation_callback": self.elicitation if sampling else None,
                "message_handler": self.message,
                "client_info": types.Implementation(name=CLIENT_NAME, version="1.0")}


async def legacy_session_run(url: str, *, sampling: bool = True) -> dict[str, Any]:
    """One Python SDK session doing the whole check list; returns what it saw."""
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    recorder = Recorder()
    seen = recorder.seen

    async with streamable_http_client(url) as (read, write, _), ClientSession(
            read, write, **recorder.session_args(sampling=sampling)) as session:
        init = await session.initialize()
        seen["version"] = init.protocolVersion
        seen["server"] = init.serverInfo.name
        seen["tools_cap"] = init.capabilities.tools is not None
        seen["tools"] = [t.name for t in (await session.list_tools()).tools]
        seen["echo"] = (await session.call_tool("echo", {"text": "héllo legacy"})).content[0].text
        seen["whoami"] = (await session.call_tool("whoami", {})).content[0].text
        # logging/setLevel is answered by the proxy; later requests carry the level in _meta.
        await session.set_logging_level("warning")
        seen["whoami_level"] = (await session.call_tool("whoami", {})).content[0].text
        seen["slow"] = (await session.call_tool("slow", {"ms": 10}, progress_callback=recorder.progress)).content[0].text
        if sampling:
            seen["ask"] = (await session.call_tool("ask", {"question": "six times seven?"})).content[0].text
            seen["confirm"] = (await session.call_tool("confirm", {})).content[0].text
        else:
            try:
                await session.call_tool("ask", {"question": "q"})
                seen["ask_error"] = None
            except Exception as error:  # McpError
                seen["ask_error"] = getattr(getattr(error, "error", None), "code", repr(error))
        # The GET stream became a subscriptions/listen.
        await recorder.ping_and_listen(session, "test://watched")
    return seen


@pytest.mark.parametrize("era", ["modern", "auto"])
def test_legacy_client_through_modern_only_upstream(modern_only_server, start_proxy, era) -> None:
    proxy = start_proxy(modern_only_server.url, admin=True, extra=["--upstream-era", era])
    seen = asyncio.run(legacy_session_run(proxy.url))
    assert seen["version"] == "2025-11-25"
    assert seen["server"] == "rmcp-modern-test-server"
    assert seen["tools_cap"]
    assert seen["tools"] == ["echo", "slow", "ask", "whoami", "confirm", "route"]
    assert seen["echo"] == "héllo legacy"
    # The upstream saw the client's own clientInfo and the 2026 version in _meta.
    assert seen["whoami"] == f"{CLIENT_NAME} 2026-07-28 -"
    assert seen["whoami_level"] == f"{CLIENT_NAME} 2026-07-28 warning"
    assert seen["slow"] == "done" and seen["progress"] == [0.0]
    # MRTR: the sampling request reached the client; the retry completed with its answer.
    assert seen["sampled"] == ["six times seven?"]
    assert seen["ask"] == "answered: sampled(six times seven?)"
    # MRTR with elicitation and no requestState.
    assert seen["elicited"] == "Proceed?"
    assert seen["confirm"] == "confirmed: accept Some(true)"
    assert "notifications/tools/list_changed" in seen["notifications"]
    assert seen["updated"] == "test://watched"
    assert ("stdout", "EVENT listen-resources test://watched") in modern_only_server.process._lines
    assert metric(proxy, "shadowcat_sessions_created_total") == 1
    # Leaving the client context sent DELETE: ended here.
    assert metric(proxy, "shadowcat_sessions_deleted_total") == 1


def test_client_without_sampling_gets_32021(modern_only_server, start_proxy) -> None:
    proxy = start_proxy(modern_only_server.url, extra=["--upstream-era", "modern"])
    seen = asyncio.run(legacy_session_run(proxy.url, sampling=False))
    assert seen["ask_error"] == -32021
    assert seen["sampled"] == []


async def whoami_through(url: str) -> tuple[str, str]:
    from mcp import ClientSession, types
    from mcp.client.streamable_http import streamable_http_client

    async with streamable_http_client(url) as (read, write, _), ClientSession(
            read, write, client_info=types.Implementation(name=CLIENT_NAME, version="1.0")) as session:
        init = await session.initialize()
        tools = [t.name for t in (await session.list_tools()).tools]
        text = (await session.call_tool("whoami", {})).content[0].text if "whoami" in tools else ""
        return init.serverInfo.name, text


def test_auto_passes_a_dual_upstream_through(dual_server, start_proxy) -> None:
    proxy = start_proxy(dual_server.url, admin=True, extra=["--upstream-era", "auto"])
    server, whoami = asyncio.run(whoami_through(proxy.url))
    assert server == "rmcp-modern-test-server"
    # Passed through: a legacy session upstream, no 2026 `_meta` added by the proxy.
    assert "2026-07-28" not in whoami


def test_auto_passes_a_legacy_upstream_through(start_proxy) -> None:
    everything = harness.start_everything_server()
    try:
        proxy = start_proxy(everything.url, extra=["--upstream-era", "auto"])
        server, _ = asyncio.run(whoami_through(proxy.url))
        assert "everything" in server.lower()
        # A second session uses the cached verdict (no second probe needed to pass through).
        server, _ = asyncio.run(whoami_through(proxy.url))
        assert "everything" in server.lower()
    finally:
        everything.stop()


def test_cancelled_notification_closes_the_upstream_request(start_proxy) -> None:
    """A legacy `notifications/cancelled` for a translated request in flight closes its upstream
    connection: the rmcp tool handler sees the 2026 cancellation. Also: unknown methods (404
    upstream) are -32601 and the session survives; DELETE is answered locally."""
    from rawhttp import RawConnection, jsonrpc, mcp_headers
    from test_modern import EVENT_DEADLINE_S

    server = start_modern_server("--modern-only", "--sse", "--keepalive-ms", "100")
    try:
        proxy = start_proxy(server.url, extra=["--upstream-era", "modern", "--request-timeout", "60s"])
        init = jsonrpc("initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                      "clientInfo": {"name": "raw", "version": "0"}}, 0)
        with RawConnection(harness.LOOPBACK_HOST, proxy.port) as control:
            response = control.request("POST", "/mcp", mcp_headers(), init)
            assert response.status == 200, response.describe()
            assert response.json()["result"]["protocolVersion"] == "2025-06-18"
            sid = response.header("mcp-session-id")
            assert sid
            headers = mcp_headers(session_id=sid, protocol_version="2025-06-18")
            unknown = control.request("POST", "/mcp", headers, jsonrpc("no/such", {}, 9))
            assert unknown.status == 200 and unknown.json()["error"]["code"] == -32601, unknown.describe()

            slow = RawConnection(harness.LOOPBACK_HOST, proxy.port)
            try:
                slow.send_request("POST", "/mcp", headers,
                                  jsonrpc("tools/call", {"name": "slow", "arguments": {"ms": 30000}}, 5))
                server.process.wait_for_line(lambda l: l == "EVENT slow-started", "slow tool start",
                                             EVENT_DEADLINE_S)
                cancelled = control.request("POST", "/mcp", headers,
                                            jsonrpc("notifications/cancelled", {"requestId": 5}))
                assert cancelled.status == 202, cancelled.describe()
                server.process.wait_for_line(lambda l: l in ("EVENT slow-cancelled", "EVENT slow-finished"),
                                             "slow tool end", EVENT_DEADLINE_S)
                assert ("stdout", "EVENT slow-cancelled") in server.process._lines
                answer = slow.read_response()
                assert answer.status == 200 and answer.jsonrpc_messages() == [], answer.describe()
            finally:
                slow.close()
            ping = control.request("POST", "/mcp", headers, jsonrpc("ping", None, 10))
            assert ping.json() == {"jsonrpc": "2.0", "id": 10, "result": {}}
            deleted = control.request("DELETE", "/mcp", mcp_headers(session_id=sid))
            assert deleted.status == 200, deleted.describe()
            gone = control.request("POST", "/mcp", headers, jsonrpc("ping", None, 11))
            assert gone.status == 404, gone.describe()
    finally:
        server.stop()


@contextlib.contextmanager
def refusing_upstream() -> Iterator[tuple[str, list[str]]]:
    """A stand-in upstream answering every POST 401 + `WWW-Authenticate` (no real MCP server
    refuses on demand): yields its URL and the methods it was sent; stopped on exit."""
    import http.server
    import threading

    seen: list[str] = []

    class Refusing(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server naming)
            length = int(self.headers.get("Content-Length") or 0)
            seen.append(json.loads(self.rfile.read(length))["method"])
            body = b'{"error":"invalid_token"}'
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Bearer resource_metadata="http://127.0.0.1/prm"')
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer((harness.LOOPBACK_HOST, 0), Refusing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{harness.LOOPBACK_HOST}:{server.server_address[1]}/mcp", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.mark.parametrize("era", ["modern", "auto"])
def test_refused_credentials_reach_the_client(start_proxy, era) -> None:
    """An upstream answering 401 + WWW-Authenticate (to server/discover and to everything else):
    the legacy client's initialize gets that 401 and challenge, not a 502, with either era."""
    from rawhttp import RawConnection, jsonrpc, mcp_headers

    with refusing_upstream() as (url, seen):
        proxy = start_proxy(url, extra=["--upstream-era", era])
        init = jsonrpc("initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                      "clientInfo": {"name": "raw", "version": "0"}}, 0)
        with RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
            response = conn.request("POST", "/mcp", mcp_headers(), init)
        assert response.status == 401, response.describe()
        assert response.header("www-authenticate") == 'Bearer resource_metadata="http://127.0.0.1/prm"'
        assert seen[0] == "server/discover"
        # auto: the refusal decided nothing, the initialize itself went upstream too.
        assert seen[1:] == (["initialize"] if era == "auto" else [])


def test_typescript_legacy_client_through_modern_only_upstream(modern_only_server, start_proxy) -> None:
    """The official TypeScript SDK as the legacy client: the same translation, MRTR included."""
    import subprocess

    proxy = start_proxy(modern_only_server.url, admin=True, extra=["--upstream-era", "auto"])
    env = harness.child_env({"SHADOWCAT_NODE_MODULES": str(harness.NODE_MODULES)})
    script = harness.REPO_ROOT / "tests" / "interop" / "fixtures" / "ts_legacy_client.mjs"
    process = harness.ManagedProcess("ts-legacy-client", [harness.node22(), script, proxy.url], env=env)
    try:
        code = process.popen.wait(timeout=60)
    except subprocess.TimeoutExpired:
        code = None
    finally:
        process.stop()
    lines = [line for label, line in process._lines if label == "stdout" and line.startswith("{")]
    assert code == 0 and lines, f"ts client exited {code}:\n{process.output_tail()}"
    seen = json.loads(lines[-1])
    assert seen["server"] == "rmcp-modern-test-server" and seen["session"]
    assert seen["tools"] == ["echo", "slow", "ask", "whoami", "confirm", "route"]
    assert seen["echo"] == "from ts"
    assert seen["whoami"] == "ts-legacy-client 2026-07-28 -"
    assert seen["sampled"] == ["ts question"]
    assert seen["ask"] == "answered: ts(ts question)"
    assert seen["confirm"] == "confirmed: accept Some(true)"
    assert seen["listChanged"]
    assert seen["ping"]
    assert metric(proxy, "shadowcat_sessions_deleted_total") == 1


def test_auto_treats_a_silent_probe_as_legacy(start_proxy) -> None:
    """A legacy upstream that never answers `server/discover`: `auto` gives up after 5 s and
    passes the initialize through (well before the 60 s request timeout); the verdict is kept,
    so the next initialize is not delayed."""
    import http.server
    import threading
    import time

    release = threading.Event()
    seen: list[str] = []

    class Legacy(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 (http.server naming)
            length = int(self.headers.get("Content-Length") or 0)
            message = json.loads(self.rfile.read(length))
            seen.append(message["method"])
            if message["method"] == "server/discover":
                release.wait(30)
                return
            body = json.dumps({"jsonrpc": "2.0", "id": message["id"], "result": {
                "protocolVersion": "2025-06-18", "capabilities": {},
                "serverInfo": {"name": "silent-legacy", "version": "1"}}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Mcp-Session-Id", "legacy-session-1")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    from rawhttp import RawConnection, jsonrpc, mcp_headers

    server = http.server.ThreadingHTTPServer((harness.LOOPBACK_HOST, 0), Legacy)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://{harness.LOOPBACK_HOST}:{server.server_address[1]}/mcp"
        proxy = start_proxy(url, shards=1, extra=["--upstream-era", "auto", "--request-timeout", "60s"])
        init = jsonrpc("initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                      "clientInfo": {"name": "raw", "version": "0"}}, 0)
        for _ in range(2):
            started = time.monotonic()
            with RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
                response = conn.request("POST", "/mcp", mcp_headers(), init)
            elapsed = time.monotonic() - started
            assert response.status == 200, response.describe()
            assert response.json()["result"]["serverInfo"]["name"] == "silent-legacy"
            assert elapsed < 30, elapsed
        assert seen == ["server/discover", "initialize", "initialize"]
    finally:
        release.set()
        server.shutdown()
        server.server_close()
