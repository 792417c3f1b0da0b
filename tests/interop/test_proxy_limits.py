"""The proxy's own limits and lifecycle, end to end with real processes: body/head size limits
(413/431), the head timeout (408), a silent upstream (504), idle-session expiry, an upstream that
forgot its session (404, mapping dropped), and SSE-mode upstream responses relayed to the SDK.

Not here: the shared MCP check list (mcp_checks.py) and protocol edge answers (test_http_edge.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from pathlib import Path
from typing import Iterator

import harness
from mcp_checks import DEMO, run_mcp_checks
from rawhttp import RawConnection, call_tool, initialize_body, jsonrpc, mcp_headers, open_session, tool_text
from test_shards import metric_total, read_metrics

CONDITION_DEADLINE_S = 15.0


def wait_until(condition, what: str, deadline_s: float = CONDITION_DEADLINE_S) -> None:
    """Polls `condition()` until true; fails naming `what` at the deadline (awaits a state, never a fixed sleep)."""
    deadline = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@contextlib.contextmanager
def configured_proxy(shadowcat_bin: Path, tmp_path: Path, upstream_url: str, extra_toml: str) -> Iterator[int]:
    """`shadowcat run --config` with one listener on port 0 routing /mcp to `upstream_url`, plus
    `extra_toml`; yields the proxy's port and always stops the process."""
    config = tmp_path / "shadowcat.toml"
    config.write_text(
        f'[listeners.main]\nbind = "{harness.LOOPBACK_HOST}:0"\n'
        f'[[listeners.main.routes]]\npath = "/mcp"\nupstream = "up"\n'
        f'[upstreams.up]\nurl = "{upstream_url}"\n' + extra_toml
    )
    process = harness.ManagedProcess("shadowcat-run", [shadowcat_bin, "run", "--config", config])
    try:
        urls = harness.wait_shadowcat_ready(process, ["proxy"])
        yield int(urls["proxy"].rsplit(":", 1)[1].split("/", 1)[0])
    finally:
        process.stop()



def test_body_over_limit_is_413(demo_upstream: harness.Endpoint, start_proxy) -> None:
    proxy = start_proxy(demo_upstream.url, extra=["--max-body", "1KiB"])
    big = jsonrpc("tools/call", {"name": "echo", "arguments": {"message": "x" * 2048}}, "big-1")
    with RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
        response = conn.request("POST", "/mcp", mcp_headers(), big)
    assert response.status == 413, response.describe()
    assert response.json()["error"]["code"] == -32600, response.describe()


def test_head_over_limit_is_431(demo_proxy: harness.Endpoint) -> None:
    with RawConnection(harness.LOOPBACK_HOST, demo_proxy.port) as conn:
        response = conn.request("POST", "/mcp", mcp_headers(extra=[("X-Padding", "p" * 20000)]),
                                initialize_body("h-1"))
        assert response.status == 431, response.describe()
        assert conn.peer_closed(), "connection must close after a head error"


def test_incomplete_head_is_408(shadowcat_bin: Path, demo_upstream: harness.Endpoint, tmp_path: Path) -> None:
    with configured_proxy(shadowcat_bin, tmp_path, demo_upstream.url, '[timeouts]\nhead = "300ms"\n') as port:
        with RawConnection(harness.LOOPBACK_HOST, port) as conn:
            conn.send_raw(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never finished
            response = conn.read_response()
            assert response.status == 408, response.describe()
            assert conn.peer_closed()


class SilentUpstream:
    """Accepts connections and reads, never answers: the upstream-timeout case (no real server hangs on purpose)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((harness.LOOPBACK_HOST, 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            while True:
                client, _ = self.sock.accept()
                self.accepted.append(client)
        except OSError:
            return

    def close(self) -> None:
        self.sock.close()
        for client in self.accepted:
            client.close()
        self.thread.join(timeout=5)


def test_silent_upstream_is_504_with_request_id(start_proxy) -> None:
    upstream = SilentUpstream()
    try:
        proxy = start_proxy(f"http://{harness.LOOPBACK_HOST}:{upstream.port}/mcp",
                            extra=["--request-timeout", "300ms"])
        with RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
            response = conn.request("POST", "/mcp", mcp_headers(), initialize_body(77))
        assert response.status == 504, response.describe()
        body = response.json()
        assert body["id"] == 77 and isinstance(body["id"], int), body
        assert isinstance(body["error"]["code"], int), body
    finally:
        upstream.close()


def test_idle_session_expires(demo_upstream: harness.Endpoint, start_proxy) -> None:
    proxy = start_proxy(demo_upstream.url, admin=True, extra=["--session-ttl", "1s"])
    assert proxy.admin_url is not None
    with RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
        session = open_session(conn)
        assert metric_total(read_metrics(proxy.admin_url), "shadowcat_sessions_active") == 1
        wait_until(lambda: metric_total(read_metrics(proxy.admin_url), "shadowcat_sessions_expired_total") >= 1,
                   "the session to expire")
        assert metric_total(read_metrics(proxy.admin_url), "shadowcat_sessions_active") == 0
        response = conn.request("POST", "/mcp", session.headers(), jsonrpc("ping", {}, "after-expiry"))
        assert response.status == 404, response.describe()
        assert response.json()["error"]["code"] == -32001, response.describe()


def test_upstream_that_forgot_the_session_gives_404(shadowcat_bin: Path, start_proxy) -> None:
    port = harness.reusable_port()
    first = harness.start_demo_server(shadowcat_bin, port=port)
    try:
        proxy = start_proxy(first.url, admin=True)
        with RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
            session = open_session(conn)
            assert tool_text(call_tool(conn, session, "before", "echo", {"message": "hi"})) == "hi"
        first.stop()
        # A restarted demo server has a new secret: the old upstream session id is unknown to it.
        second = harness.start_demo_server(shadowcat_bin, port=port)
        try:
            with RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
                lost = conn.request("POST", "/mcp", session.headers(), jsonrpc("ping", {}, "lost-1"))
                assert lost.status == 404, lost.describe()
                assert lost.json()["id"] == "lost-1", lost.describe()
                again = conn.request("POST", "/mcp", session.headers(), jsonrpc("ping", {}, "lost-2"))
                assert again.status == 404, again.describe()
            assert proxy.admin_url is not None
            assert metric_total(read_metrics(proxy.admin_url), "shadowcat_sessions_lost_total") == 1
        finally:
            second.stop()
    finally:
        first.stop()


def test_sse_upstream_through_proxy_passes_the_check_list(shadowcat_bin: Path, start_proxy) -> None:
    upstream = harness.start_demo_server(shadowcat_bin, sse=True)
    try:
        proxy = start_proxy(upstream.url)
        report = asyncio.run(run_mcp_checks(proxy.url, DEMO, proxied=True))
        print(report.table())
        assert report.results and not report.failures, report.failure_text()
    finally:
        upstream.stop()


class RecordingUpstream:
    """Answers one request with a fixed JSON-RPC result and keeps the raw request bytes.

    A stand-in only because no real MCP server exposes the exact bytes it received, or sends
    interim responses on demand; subclasses change `respond`.
    """

    REPLY = b'{"jsonrpc":"2.0","id":"raw-1","result":{}}'
    FINAL = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
             + str(len(REPLY)).encode() + b"\r\n\r\n" + REPLY)

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((harness.LOOPBACK_HOST, 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.requests: list[bytes] = []
        self.thread = threading.Thread(target=self._serve_one, daemon=True)
        self.thread.start()

    def _serve_one(self) -> None:
        try:
            client, _ = self.sock.accept()
        except OSError:
            return
        with client:
            data = b""
            while b"\r\n\r\n" not in data:
                data += client.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))
            while len(body) < length:
                body += client.recv(65536)
            self.requests.append(head + b"\r\n\r\n" + body)
            self.respond(client)

    def respond(self, client: socket.socket) -> None:
        client.sendall(self.FINAL)

    def close(self) -> None:
        self.sock.close()
        self.thread.join(timeout=5)


def test_body_reaches_the_upstream_byte_for_byte(start_proxy) -> None:
    upstream = RecordingUpstream()
    try:
        proxy = start_proxy(f"http://{harness.LOOPBACK_HOST}:{upstream.port}/up")
        # Odd but valid JSON: spacing, key order, escapes and non-ASCII that a re-serializer would change.
        body = ('{ "params" : {"name":"echo", "arguments":{"message":"caf\\u00e9 \u2603 \\"q\\"", "n": 1.50}},\n'
                '  "method":"tools/call", "id":"raw-1",   "jsonrpc":"2.0" }').encode()
        with RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
            response = conn.request("POST", "/mcp", mcp_headers(extra=[("Authorization", "Bearer secret")]), body)
        assert response.status == 200, response.describe()
        assert response.body == RecordingUpstream.REPLY
        wait_until(lambda: upstream.requests, "the upstream to record the request")
        received = upstream.requests[0]
        head, _, forwarded = received.partition(b"\r\n\r\n")
        assert forwarded == body
        assert head.startswith(b"POST /up HTTP/1.1\r\n"), head
        assert f"host: 127.0.0.1:{upstream.port}".encode() in head.lower(), head
        assert b"authorization" not in head.lower(), "client credentials must not reach the upstream"
    finally:
        upstream.close()


class InterimUpstream(RecordingUpstream):
    """Sends 102 Processing before its final answer (as servers on long requests may)."""

    def respond(self, client: socket.socket) -> None:
        client.sendall(b"HTTP/1.1 102 Processing\r\n\r\n" + self.FINAL)
        client.recv(65536)  # hold the connection until the proxy or the test closes it


def test_interim_1xx_from_upstream_is_not_relayed_as_final(start_proxy) -> None:
    upstream = InterimUpstream()
    try:
        proxy = start_proxy(f"http://{harness.LOOPBACK_HOST}:{upstream.port}/up")
        with RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
            response = conn.request("POST", "/mcp", mcp_headers(), jsonrpc("ping", {}, "raw-1"))
        assert response.status == 200, response.describe()
        assert response.body == RecordingUpstream.REPLY
    finally:
        upstream.close()


def test_unread_body_after_an_early_error_closes_the_connection(demo_proxy: harness.Endpoint) -> None:
    smuggled = f"GET /mcp HTTP/1.1\r\nHost: 127.0.0.1:{demo_proxy.port}\r\n\r\n".encode()
    with RawConnection(harness.LOOPBACK_HOST, demo_proxy.port) as conn:
        response = conn.request("POST", "/not-the-endpoint", mcp_headers(), smuggled)
        assert response.status == 404, response.describe()
        # The body must not be parsed as a second request: the proxy closes instead.
        assert conn.peer_closed(), "a second response means the body was read as a request"


def test_stalled_body_is_408(shadowcat_bin: Path, demo_upstream: harness.Endpoint, tmp_path: Path) -> None:
    with configured_proxy(shadowcat_bin, tmp_path, demo_upstream.url, '[timeouts]\nhead = "300ms"\n') as port:
        with RawConnection(harness.LOOPBACK_HOST, port) as conn:
            head = "".join(f"{k}: {v}\r\n" for k, v in mcp_headers())
            conn.send_raw(f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n{head}Content-Length: 4000\r\n\r\n{{".encode())
            response = conn.read_response()
            assert response.status == 408, response.describe()
            assert conn.peer_closed()


def test_session_cap_answers_503_before_asking_the_upstream(shadowcat_bin: Path, demo_upstream: harness.Endpoint,
                                                           tmp_path: Path) -> None:
    extra = '[runtime]\nshards = 1\n[sessions]\nmax_per_shard = 1\n'
    with configured_proxy(shadowcat_bin, tmp_path, demo_upstream.url, extra) as port:
        with RawConnection(harness.LOOPBACK_HOST, port) as conn:
            open_session(conn)
            refused = conn.request("POST", "/mcp", mcp_headers(), initialize_body("second"))
            assert refused.status == 503, refused.describe()
            assert refused.header("retry-after"), refused.describe()
            assert refused.json()["id"] == "second", refused.describe()