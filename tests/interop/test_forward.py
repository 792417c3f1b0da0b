"""Forward mode (`shadowcat forward`): a stdio client (the official Python SDK's `stdio_client`, or
raw lines written by the test) through shadowcat to an HTTP target (the demo server,
server-everything) or a stdio child (server-everything, a FastMCP server that crashes).

The full SDK check list (mcp_checks) runs over each path; the error cases check that a failure
becomes a JSON-RPC error with the request's id (never a hang) and that every process ends.
Not here: the reverse proxy (test_sdk_matrix.py and the rest).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import McpError

import harness
from mcp_checks import DEMO, EVERYTHING, STEP_TIMEOUT_S, ServerProfile, run_mcp_checks_stdio

# What a forward process gets to answer one line (a cold node child takes ~1 s to start).
LINE_TIMEOUT_S = 20.0

INITIALIZE = {
    "jsonrpc": "2.0", "id": 1, "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {},
               "clientInfo": {"name": "test-forward", "version": "1"}},
}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}

CRASHING_SERVER = textwrap.dedent("""
    import os
    from mcp.server.fastmcp import FastMCP

    server = FastMCP("crasher")

    @server.tool()
    def echo(message: str) -> str:
        return message

    @server.tool()
    def crash() -> str:
        os._exit(3)

    server.run()
""")


def _forward_params(shadowcat_bin: Path, *args: str | Path) -> StdioServerParameters:
    return StdioServerParameters(command=str(shadowcat_bin), args=["forward", *map(str, args)],
                                 env=dict(os.environ))


def _everything_stdio() -> list[str | Path]:
    return [harness.node22(), harness.EVERYTHING_ENTRY, "stdio"]


def _assert_checks(server: StdioServerParameters, profile: ServerProfile, via: str) -> None:
    report = asyncio.run(run_mcp_checks_stdio(server, profile, via))
    print(report.table())
    assert report.results, "no check ran"
    if report.failures:
        pytest.fail(report.failure_text(), pytrace=False)


def test_forward_to_the_demo_server_over_http(shadowcat_bin: Path, demo_upstream: harness.Endpoint) -> None:
    _assert_checks(_forward_params(shadowcat_bin, "--target", demo_upstream.url), DEMO,
                   "shadowcat forward --target (HTTP)")


def test_forward_to_server_everything_over_http(shadowcat_bin: Path,
                                                everything_upstream: harness.Endpoint) -> None:
    _assert_checks(_forward_params(shadowcat_bin, "--target", everything_upstream.url), EVERYTHING,
                   "shadowcat forward --target (HTTP)")


def test_forward_through_the_reverse_proxy(shadowcat_bin: Path, everything_proxy: harness.Endpoint) -> None:
    """The deployment forward mode exists for: an IDE's stdio client -> forward -> shadowcat
    reverse -> an HTTP MCP server."""
    _assert_checks(_forward_params(shadowcat_bin, "--target", everything_proxy.url), EVERYTHING,
                   "shadowcat forward -> shadowcat reverse")


def test_forward_to_server_everything_over_stdio(shadowcat_bin: Path) -> None:
    _assert_checks(_forward_params(shadowcat_bin, "--", *_everything_stdio()), EVERYTHING,
                   "shadowcat forward -- node server-everything stdio")


def test_unreachable_target_fails_initialize_with_an_error(shadowcat_bin: Path) -> None:
    url = f"http://{harness.LOOPBACK_HOST}:{harness.dead_port()}/mcp"

    async def initialize() -> McpError:
        async with stdio_client(_forward_params(shadowcat_bin, "--target", url)) as (read, write), \
                ClientSession(read, write) as session:
            async with asyncio.timeout(STEP_TIMEOUT_S):
                with pytest.raises(McpError) as caught:
                    await session.initialize()
            return caught.value

    error = asyncio.run(initialize())
    assert error.error.code == -32010, error.error
    assert "unavailable" in error.error.message and "refused" in error.error.message, error.error


class RawForward:
    """`shadowcat forward ...` with the test as its stdio client, writing and reading raw lines."""

    def __init__(self, shadowcat_bin: Path, *args: str | Path) -> None:
        self.process = harness.ManagedProcess("shadowcat-forward", [shadowcat_bin, "forward", *args],
                                              env=dict(os.environ), stdin_pipe=True)

    def send(self, line: bytes | dict[str, Any]) -> None:
        raw = line if isinstance(line, bytes) else json.dumps(line).encode()
        stdin = self.process.popen.stdin
        assert stdin is not None
        stdin.write(raw + b"\n")
        stdin.flush()

    def receive(self) -> dict[str, Any]:
        """The next stdout line, which must be one JSON object."""
        line = self.process.wait_for_line(lambda _: True, "a line on stdout", LINE_TIMEOUT_S, stream="stdout")
        return json.loads(line)

    def receive_id(self, request_id: Any) -> dict[str, Any]:
        """The next message answering `request_id` (notifications before it are skipped)."""
        while True:
            message = self.receive()
            if message.get("id") == request_id and "method" not in message:
                return message

    def close_stdin(self) -> None:
        stdin = self.process.popen.stdin
        assert stdin is not None
        stdin.close()

    def wait_exit(self, timeout_s: float = LINE_TIMEOUT_S) -> int:
        try:
            return self.process.popen.wait(timeout=timeout_s)
        except Exception as error:
            raise self.process.failure(f"did not exit within {timeout_s}s") from error

    def children(self) -> list[int]:
        """Pids of forward's child processes (the stdio target)."""
        pid = self.process.pid
        found: list[int] = []
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(child) for child in (task / "children").read_text().split()]
        return found

    def stop(self) -> None:
        self.process.stop()


@pytest.fixture
def raw_forward(shadowcat_bin: Path):
    started: list[RawForward] = []

    def start(*args: str | Path) -> RawForward:
        forward = RawForward(shadowcat_bin, *args)
        started.append(forward)
        return forward

    try:
        yield start
    finally:
        for forward in started:
            forward.stop()


def test_invalid_lines_are_answered_and_not_forwarded(raw_forward, demo_upstream: harness.Endpoint) -> None:
    forward = raw_forward("--target", demo_upstream.url)
    forward.send(b"{oops")
    assert forward.receive() == {"jsonrpc": "2.0", "id": None,
                                 "error": {"code": -32700, "message": "Parse error"}}
    forward.send(b'{"jsonrpc":"1.0","id":5,"method":"ping"}')
    reply = forward.receive()
    assert reply["id"] == 5 and reply["error"]["code"] == -32600, reply
    # The session still works after the refusals.
    forward.send(INITIALIZE)
    assert forward.receive_id(1)["result"]["serverInfo"]["name"], "no initialize result"
    forward.close_stdin()
    assert forward.wait_exit() == 0


def test_stdin_eof_finishes_in_flight_requests(raw_forward, demo_upstream: harness.Endpoint) -> None:
    forward = raw_forward("--target", demo_upstream.url)
    forward.send(INITIALIZE)
    forward.receive_id(1)
    forward.send(INITIALIZED)
    forward.send({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                  "params": {"name": "slow", "arguments": {"steps": 3, "delay_ms": 100}}})
    forward.close_stdin()
    result = forward.receive_id(2)
    assert result["result"]["content"][0]["text"], result
    assert forward.wait_exit() == 0


def test_a_crashing_child_fails_the_pending_request(shadowcat_bin: Path, tmp_path: Path) -> None:
    script = tmp_path / "crasher.py"
    script.write_text(CRASHING_SERVER)

    async def crash() -> McpError:
        server = _forward_params(shadowcat_bin, "--", sys.executable, script)
        async with stdio_client(server) as (read, write), ClientSession(read, write) as session:
            async with asyncio.timeout(STEP_TIMEOUT_S):
                await session.initialize()
                echoed = await session.call_tool("echo", {"message": "before the crash"})
                assert echoed.content[0].text == "before the crash", echoed
                with pytest.raises(McpError) as caught:
                    await session.call_tool("crash", {})
            return caught.value

    error = asyncio.run(crash())
    assert error.error.code == -32010, error.error
    assert "exit status: 3" in error.error.message, error.error


def test_crash_exit_status_and_no_orphans(raw_forward) -> None:
    forward = raw_forward("--", sys.executable, "-c", "import sys; sys.stdin.readline(); sys.exit(3)")
    forward.send({"jsonrpc": "2.0", "id": "r1", "method": "ping"})
    reply = forward.receive()
    assert reply["id"] == "r1" and reply["error"]["code"] == -32010, reply
    assert "exit status: 3" in reply["error"]["message"], reply
    assert forward.wait_exit() == 1


def test_sigterm_ends_forward_and_its_child(raw_forward) -> None:
    forward = raw_forward("--", *_everything_stdio())
    forward.send(INITIALIZE)
    assert forward.receive_id(1)["result"]["serverInfo"]["name"] == "mcp-servers/everything"
    children = forward.children()
    assert len(children) == 1, children
    started = time.monotonic()
    forward.process.popen.send_signal(signal.SIGTERM)
    assert forward.wait_exit() == 0
    assert time.monotonic() - started < 5.0, "SIGTERM took too long"
    assert not Path(f"/proc/{children[0]}").exists(), "the child outlived forward"


@pytest.mark.parametrize("transport", ["http", "stdio"])
def test_server_to_client_sampling_round_trip(shadowcat_bin: Path, transport: str,
                                              request: pytest.FixtureRequest) -> None:
    """server-everything registers its sampling tool once the client is initialized and says so
    with tools/list_changed (over HTTP on the GET stream forward opens); the tool's
    sampling/createMessage request reaches the SDK client, whose answer goes back to the server."""
    from mcp import types

    if transport == "http":
        upstream: harness.Endpoint = request.getfixturevalue("everything_upstream")
        server = _forward_params(shadowcat_bin, "--target", upstream.url)
    else:
        server = _forward_params(shadowcat_bin, "--", *_everything_stdio())

    async def sample(context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        return types.CreateMessageResult(role="assistant", model="test-model",
                                         content=types.TextContent(type="text", text="sampled by the test"))

    async def run() -> str:
        tools_changed = asyncio.Event()

        async def on_message(message: Any) -> None:
            if isinstance(message, types.ServerNotification) and \
                    isinstance(message.root, types.ToolListChangedNotification):
                tools_changed.set()

        async with stdio_client(server) as (read, write), \
                ClientSession(read, write, sampling_callback=sample, message_handler=on_message) as session:
            async with asyncio.timeout(STEP_TIMEOUT_S):
                await session.initialize()
                names = {tool.name for tool in (await session.list_tools()).tools}
                if "trigger-sampling-request" not in names:
                    await tools_changed.wait()
                result = await session.call_tool("trigger-sampling-request", {"prompt": "hi", "maxTokens": 5})
                assert not result.isError, result
                return result.content[0].text

    text = asyncio.run(run())
    assert "sampled by the test" in text, text


def test_target_restart_gives_session_not_found_then_a_new_session(raw_forward, shadowcat_bin: Path) -> None:
    port = harness.reusable_port()
    demo = harness.start_demo_server(shadowcat_bin, port=port)
    try:
        forward = raw_forward("--target", demo.url)
        forward.send(INITIALIZE)
        forward.receive_id(1)
        forward.send(INITIALIZED)
        demo.stop()
        forward.send({"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
        down = forward.receive_id(2)
        assert down["error"]["code"] == -32010, down
        demo = harness.start_demo_server(shadowcat_bin, port=port)
        forward.send({"jsonrpc": "2.0", "id": 3, "method": "tools/list"})
        gone = forward.receive_id(3)
        assert gone["error"]["code"] == -32001, gone
        forward.send({**INITIALIZE, "id": 4})
        assert forward.receive_id(4)["result"]["serverInfo"]["name"], "re-initialize failed"
        forward.send({"jsonrpc": "2.0", "id": 5, "method": "tools/list"})
        assert forward.receive_id(5)["result"]["tools"], "no tools on the new session"
        forward.close_stdin()
        assert forward.wait_exit() == 0
    finally:
        demo.stop()


def test_sigterm_with_an_http_target_exits_zero(raw_forward, demo_upstream: harness.Endpoint) -> None:
    forward = raw_forward("--target", demo_upstream.url)
    forward.send(INITIALIZE)
    forward.receive_id(1)
    started = time.monotonic()
    forward.process.popen.send_signal(signal.SIGTERM)
    assert forward.wait_exit() == 0
    assert time.monotonic() - started < 5.0, "SIGTERM took too long"


def test_a_cancelled_request_gets_no_error(raw_forward, everything_upstream: harness.Endpoint) -> None:
    """The client cancels a long-running call: it expects no answer, so forward drops that stream
    (server-everything goes on sending progress for it) without inventing an error, and an
    in-flight request the client gave up on does not hold up its exit."""
    forward = raw_forward("--target", everything_upstream.url)
    forward.send(INITIALIZE)
    forward.receive_id(1)
    forward.send(INITIALIZED)
    forward.send({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                  "params": {"name": "trigger-long-running-operation", "arguments": {"duration": 30, "steps": 30},
                             "_meta": {"progressToken": "long"}}})
    progress = forward.receive()
    assert progress.get("method") == "notifications/progress", progress
    forward.send({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 2}})
    forward.send({"jsonrpc": "2.0", "id": 3, "method": "ping"})
    assert forward.receive_id(3) == {"jsonrpc": "2.0", "id": 3, "result": {}}
    forward.close_stdin()
    started = time.monotonic()
    assert forward.wait_exit() == 0
    assert time.monotonic() - started < 5.0, "a cancelled request held up the exit"
    rest = [json.loads(line) for label, line in forward.process._lines if label == "stdout"]
    errors = [m for m in rest if m.get("id") == 2 and "error" in m]
    assert not errors, errors


class ScriptedTarget:
    """A minimal Streamable HTTP server for one scenario no real server produces on demand: a POST
    stream that breaks after its first event, to be resumed with `Last-Event-ID`. Records every
    request (method, lowercase headers, body); each connection is served on its own thread."""

    PROGRESS = {"jsonrpc": "2.0", "method": "notifications/progress",
                "params": {"progressToken": "t", "progress": 1, "total": 2}}

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((harness.LOOPBACK_HOST, 0))
        self.sock.listen(16)
        self.url = f"http://{harness.LOOPBACK_HOST}:{self.sock.getsockname()[1]}/mcp"
        self.requests: list[tuple[str, dict[str, str], dict[str, Any] | None]] = []
        self.call_id: Any = None
        self._accepting = threading.Thread(target=self._accept, daemon=True)
        self._accepting.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client) -> None:
        with client:
            data = b""
            while True:
                while b"\r\n\r\n" not in data:
                    more = client.recv(65536)
                    if not more:
                        return
                    data += more
                head, _, data = data.partition(b"\r\n\r\n")
                lines = head.decode().split("\r\n")
                method = lines[0].split()[0]
                headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
                length = int(headers.get("content-length", "0"))
                while len(data) < length:
                    data += client.recv(65536)
                body, data = data[:length], data[length:]
                message = json.loads(body) if body else None
                self.requests.append((method, headers, message))
                if not self._answer(client, method, headers, message):
                    return

    def _answer(self, client, method: str, headers: dict[str, str], message: dict[str, Any] | None) -> bool:
        empty = b"Content-Length: 0\r\n\r\n"
        if method == "DELETE":
            client.sendall(b"HTTP/1.1 200 OK\r\n" + empty)
        elif method == "GET" and "last-event-id" not in headers:
            client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\n" + empty)
        elif method == "GET":
            result = {"jsonrpc": "2.0", "id": self.call_id, "result": {"content": [], "resumed": True}}
            client.sendall(self._sse_head() + self._chunk(f"id: e2\ndata: {json.dumps(result)}\n\n") + b"0\r\n\r\n")
        elif message and message.get("method") == "initialize":
            body = json.dumps({"jsonrpc": "2.0", "id": message["id"], "result": {
                "protocolVersion": "2025-06-18", "capabilities": {},
                "serverInfo": {"name": "scripted", "version": "1"}}}).encode()
            client.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nMcp-Session-Id: s-1\r\n"
                           + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        elif message and "id" not in message:
            client.sendall(b"HTTP/1.1 202 Accepted\r\n" + empty)
        else:
            self.call_id = message["id"] if message else None
            # The first event carries an id, then the connection drops mid-stream.
            client.sendall(self._sse_head() + self._chunk(f"id: e1\ndata: {json.dumps(self.PROGRESS)}\n\n"))
            return False
        return True

    @staticmethod
    def _sse_head() -> bytes:
        return b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"

    @staticmethod
    def _chunk(text: str) -> bytes:
        data = text.encode()
        return f"{len(data):x}\r\n".encode() + data + b"\r\n"

    def close(self) -> None:
        self.sock.close()


def test_a_broken_answer_stream_is_resumed_with_last_event_id(raw_forward) -> None:
    target = ScriptedTarget()
    try:
        forward = raw_forward("--target", target.url)
        forward.send(INITIALIZE)
        forward.receive_id(1)
        forward.send(INITIALIZED)
        forward.send({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                      "params": {"name": "x", "_meta": {"progressToken": "t"}}})
        assert forward.receive() == ScriptedTarget.PROGRESS
        assert forward.receive()["result"]["resumed"] is True
        forward.close_stdin()
        assert forward.wait_exit() == 0
        resumed = [headers for method, headers, _ in target.requests
                   if method == "GET" and "last-event-id" in headers]
        assert len(resumed) == 1, target.requests
        assert resumed[0]["last-event-id"] == "e1"
        assert resumed[0]["mcp-session-id"] == "s-1"
        assert resumed[0]["mcp-protocol-version"] == "2025-06-18"
        deletes = [headers for method, headers, _ in target.requests if method == "DELETE"]
        assert len(deletes) == 1 and deletes[0]["mcp-session-id"] == "s-1", target.requests
        first = target.requests[0][1]
        assert "mcp-session-id" not in first and first["accept"] == "application/json, text/event-stream"
    finally:
        target.close()


def test_sigterm_while_draining_after_eof_exits_promptly(raw_forward, everything_upstream: harness.Endpoint) -> None:
    """stdin closed with a 30 s call in flight: forward waits for it (up to --request-timeout),
    but a SIGTERM meanwhile (what the SDK's stdio_client sends 2 s after closing stdin) ends the
    wait within the 2 s signal drain."""
    forward = raw_forward("--target", everything_upstream.url)
    forward.send(INITIALIZE)
    forward.receive_id(1)
    forward.send(INITIALIZED)
    forward.send({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                  "params": {"name": "trigger-long-running-operation", "arguments": {"duration": 30, "steps": 30},
                             "_meta": {"progressToken": "long"}}})
    assert forward.receive().get("method") == "notifications/progress"
    forward.close_stdin()
    forward.process.wait_for_line(lambda line: "stdin closed" in line, "the drain to start", LINE_TIMEOUT_S,
                                  stream="stderr")
    started = time.monotonic()
    forward.process.popen.send_signal(signal.SIGTERM)
    assert forward.wait_exit() == 0
    assert time.monotonic() - started < 5.0, "SIGTERM during the drain took too long"


def test_a_slow_answer_times_out_with_its_id(raw_forward, demo_upstream: harness.Endpoint) -> None:
    forward = raw_forward("--target", demo_upstream.url, "--request-timeout", "300ms")
    forward.send(INITIALIZE)
    forward.receive_id(1)
    forward.send({"jsonrpc": "2.0", "id": "slow-1", "method": "tools/call",
                  "params": {"name": "slow", "arguments": {"steps": 1, "delay_ms": 3000}}})
    forward.send({"jsonrpc": "2.0", "id": "ping-1", "method": "ping"})
    # The ping is not held up by the slow call, and the slow call gets -32011, not silence.
    assert forward.receive_id("ping-1")["result"] == {}
    timed_out = forward.receive_id("slow-1")
    assert timed_out["error"]["code"] == -32011, timed_out
    assert "--request-timeout" in timed_out["error"]["message"], timed_out
