"""Legacy HTTP+SSE (2024-11-05) on the client side: `GET /sse` + `POST /messages?sessionId=`.

The matrix: client (Python SDK `sse_client`, TypeScript SDK `SSEClientTransport`, and the TS SDK's
`StreamableHTTPClientTransport` against /mcp of the same proxy) × upstream (the demo server over
HTTP, server-everything over Streamable HTTP, server-everything as a stdio child), each cell running
the one check list (mcp_checks / ts_checks.mjs), plus server-everything's own legacy `sse` mode as
an upstream (legacy on both sides). Then the proxy's own answers at the byte level:
404/400/406, hang-up ending the session upstream, and POSTs handed to the owning shard.

Not here: the Streamable HTTP matrix (test_sdk_matrix.py), process mechanics (harness.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest

import harness
import rawhttp
from conftest import _serve
from mcp_checks import DEMO, EVERYTHING, ServerProfile, run_mcp_checks, run_mcp_checks_sse

# One step of these tests completes in well under a second; this bounds a hang.
STEP_TIMEOUT_S = 20.0
TS_DRIVER = Path(__file__).resolve().with_name("ts_checks.mjs")
TS_SDK = harness.NODE_MODULES / "@modelcontextprotocol" / "sdk"
UPSTREAMS = ["demo-http", "everything-http", "everything-stdio", "everything-sse"]
PROFILES = {"demo-http": DEMO, "everything-http": EVERYTHING, "everything-stdio": EVERYTHING,
            "everything-stdio-shared": EVERYTHING, "everything-sse": EVERYTHING}


def start_legacy_proxy(shadowcat_bin: Path, upstream: list[str | Path], *, shards: int = 1,
                       admin: bool = False, extra: list[str] | None = None) -> harness.Endpoint:
    """`reverse --legacy-sse` on 127.0.0.1:0 in front of `upstream` (`--upstream URL` or
    `--upstream-cmd -- CMD...`)."""
    argv: list[str | Path] = [shadowcat_bin, "reverse", "--bind", f"{harness.LOOPBACK_HOST}:0",
                              "--shards", str(shards), "--legacy-sse"]
    if admin:
        argv += ["--admin", f"{harness.LOOPBACK_HOST}:0"]
    argv += extra or []
    argv += upstream
    process = harness.ManagedProcess("shadowcat-legacy-proxy", argv, env=dict(os.environ))
    try:
        urls = harness.wait_shadowcat_ready(process, ["proxy", "proxy-sse"] + (["admin"] if admin else []))
    except BaseException:
        process.stop()
        raise
    return harness.Endpoint(url=urls["proxy"], process=process, admin_url=urls.get("admin"))


def everything_stdio(mode: str = "per-session") -> list[str | Path]:
    return ["--stdio-mode", mode, "--upstream-cmd", "--", harness.node22(), harness.EVERYTHING_ENTRY, "stdio"]


def sse_url(proxy: harness.Endpoint) -> str:
    return f"http://{proxy.host_header}/sse"


@pytest.fixture(scope="module")
def legacy_proxies(shadowcat_bin: Path, request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """One legacy-enabled proxy per upstream kind, started on first use."""
    started: dict[str, harness.Endpoint] = {}
    stops: list[Iterator[harness.Endpoint]] = []

    def get(name: str) -> harness.Endpoint:
        if name not in started:
            if name == "demo-http":
                upstream: list[str | Path] = ["--upstream", request.getfixturevalue("demo_upstream").url]
            elif name == "everything-http":
                upstream = ["--upstream", request.getfixturevalue("everything_upstream").url]
            elif name == "everything-sse":
                upstream = ["--upstream", request.getfixturevalue("everythingsse_upstream").url,
                            "--upstream-transport", "sse"]
            elif name == "everything-stdio-shared":
                upstream = everything_stdio("shared")
            else:
                upstream = everything_stdio()
            serving = _serve(lambda: start_legacy_proxy(shadowcat_bin, upstream))
            started[name] = next(serving)
            stops.append(serving)
        return started[name]

    try:
        yield {"get": get}
    finally:
        for serving in stops:
            next(serving, None)


@pytest.mark.parametrize("transport", ["sse", "streamable-http"])
@pytest.mark.parametrize("upstream", UPSTREAMS + ["everything-stdio-shared"])
def test_python_client_full_check_list(legacy_proxies: dict[str, Any], upstream: str, transport: str) -> None:
    """The Python SDK's `sse_client` (GET /sse) and `streamable_http_client` (/mcp) on the same
    proxy, in front of every upstream kind: one check list, a client × upstream matrix."""
    proxy = legacy_proxies["get"](upstream)
    profile = PROFILES[upstream]
    if transport == "sse":
        report = asyncio.run(run_mcp_checks_sse(sse_url(proxy), profile, via=f"shadowcat /sse ({upstream})"))
    else:
        report = asyncio.run(run_mcp_checks(proxy.url, profile, proxied=True))
    print(report.table())
    assert report.results, "no check ran"
    if report.failures:
        pytest.fail(report.failure_text(), pytrace=False)
    if profile.sampling_tool:
        assert any("sampling" in r.name for r in report.results), report.table()


def ts_checks(transport: str, url: str, profile: ServerProfile) -> dict[str, Any]:
    """Runs ts_checks.mjs (TypeScript SDK client) and returns its JSON report."""
    spec = {
        "transport": transport,
        "url": url,
        "sdk": str(TS_SDK),
        "echoPrefix": profile.echo_text(""),
        "requiredTools": sorted(profile.required_tools),
        "progressTool": profile.progress_tool,
        # Over SSEClientTransport a progress event read together with the result is dropped by the
        # client (see ts_checks.mjs): steps far enough apart that only the last one can race it,
        # even on a loaded machine.
        "progressArgs": ({**profile.progress_args, "delay_ms": 150}
                         if transport == "sse" and "delay_ms" in profile.progress_args
                         else profile.progress_args),
        "progressSteps": profile.progress_steps,
        "requiredResources": list(profile.required_resources),
        "prompt": profile.prompt,
        "promptArgs": profile.prompt_args,
        "promptMustContain": profile.prompt_must_contain,
        "samplingTool": profile.sampling_tool,
    }
    done = subprocess.run([harness.node22(), TS_DRIVER, json.dumps(spec)], capture_output=True, text=True,
                          timeout=120, env=harness.child_env())
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no report from the TS driver (exit {done.returncode}):\n{done.stdout}\n{done.stderr}"
    return json.loads(lines[-1])


@pytest.mark.parametrize("transport", ["sse", "streamable-http"])
@pytest.mark.parametrize("upstream", UPSTREAMS)
def test_typescript_client_full_check_list(legacy_proxies: dict[str, Any], upstream: str,
                                           transport: str) -> None:
    if not TS_SDK.is_dir():
        pytest.fail(f"TypeScript SDK not found at {TS_SDK}: run `bash scripts/setup.sh`", pytrace=False)
    proxy = legacy_proxies["get"](upstream)
    url = sse_url(proxy) if transport == "sse" else proxy.url
    report = ts_checks(transport, url, PROFILES[upstream])
    table = "\n".join(f"  {'PASS' if r['ok'] else 'FAIL'}  {r['name']}  {r.get('detail', '')}"
                      for r in report["results"])
    print(f"TS SDK {transport} -> {upstream}:\n{table}")
    assert report["results"], "no check ran"
    failed = [r for r in report["results"] if not r["ok"]]
    assert not failed, table


# --- raw HTTP: the proxy's own answers -------------------------------------------------------------

class LegacyStream:
    """A raw legacy session: the open `GET /sse` stream and its announced messages URL."""

    def __init__(self, proxy: harness.Endpoint) -> None:
        self.proxy = proxy
        self.conn = rawhttp.RawConnection(harness.LOOPBACK_HOST, proxy.port)
        self.stream = self.conn.open_stream("GET", "/sse", [("Accept", "text/event-stream")])
        assert self.stream.is_sse, self.stream.response.describe()
        first = self.stream.next_event()
        assert first is not None and first.event == "endpoint", first
        assert first.data and re.fullmatch(r"/messages\?sessionId=[0-9a-f]{32}", first.data), first
        self.endpoint = first.data
        self.session_id = first.data.split("=", 1)[1]

    def post(self, body: bytes, endpoint: str | None = None) -> rawhttp.RawResponse:
        """POSTs on a fresh connection (which may land on another shard)."""
        with rawhttp.RawConnection(harness.LOOPBACK_HOST, self.proxy.port) as conn:
            return conn.request("POST", endpoint or self.endpoint, [("Content-Type", "application/json")], body)

    def response_for(self, request_id: Any) -> dict[str, Any]:
        while True:
            event = self.stream.next_event()
            assert event is not None, f"stream ended before the answer to {request_id!r}"
            assert event.event == "message", event
            message = event.message()
            if message and message.get("id") == request_id and ("result" in message or "error" in message):
                return message

    def initialize(self) -> None:
        assert self.post(rawhttp.initialize_body("init")).status == 202
        assert "result" in self.response_for("init")
        assert self.post(rawhttp.jsonrpc("notifications/initialized")).status == 202

    def close(self) -> None:
        self.conn.close()


def _await(condition, what: str, timeout_s: float = STEP_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_unknown_or_missing_session_and_bad_accept(legacy_proxies: dict[str, Any]) -> None:
    proxy = legacy_proxies["get"]("demo-http")
    with rawhttp.RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
        body = rawhttp.jsonrpc("tools/list", {}, "r-1")
        json_ct = [("Content-Type", "application/json")]
        answer = conn.request("POST", "/messages?sessionId=" + "0" * 32, json_ct, body)
        assert answer.status == 404, answer.describe()
        assert answer.json()["error"]["code"] == -32001 and answer.json()["id"] == "r-1"
        answer = conn.request("POST", "/messages?sessionId=not-ours", json_ct, body)
        assert answer.status == 404, answer.describe()
        answer = conn.request("POST", "/messages", json_ct, body)
        assert answer.status == 400, answer.describe()
        assert answer.json()["error"]["code"] == -32600 and answer.json()["id"] == "r-1"
    # Refusals before a body close the connection: one connection each.
    with rawhttp.RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
        answer = conn.request("GET", "/sse", [])
        assert answer.status == 406, answer.describe()
    with rawhttp.RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
        answer = conn.request("GET", "/messages", [("Accept", "text/event-stream")])
        assert answer.status == 405 and answer.header("allow") == "POST", answer.describe()
    evil = ("Origin", "http://evil.example")
    with rawhttp.RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
        answer = conn.request("GET", "/sse", [("Accept", "text/event-stream"), evil])
        assert answer.status == 403, answer.describe()
    legacy = LegacyStream(proxy)
    try:
        with rawhttp.RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
            answer = conn.request("POST", legacy.endpoint, [("Content-Type", "application/json"), evil],
                                  rawhttp.jsonrpc("ping", {}, 1))
            assert answer.status == 403, answer.describe()
        bad = legacy.post(b"{not json")
        assert bad.status == 400 and bad.json()["error"]["code"] == -32700, bad.describe()
        with rawhttp.RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
            text = conn.request("POST", legacy.endpoint, [("Content-Type", "text/plain")], b"{}")
            assert text.status == 415, text.describe()
        with rawhttp.RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
            # A legacy session is not a Streamable HTTP session.
            mcp = conn.request("POST", "/mcp", rawhttp.mcp_headers(legacy.session_id), body)
            assert mcp.status == 404, mcp.describe()
        legacy.initialize()
        accepted = legacy.post(rawhttp.jsonrpc("tools/list", {}, 7))
        assert accepted.status == 202 and accepted.body == b"Accepted", accepted.describe()
        assert "tools" in legacy.response_for(7)["result"]
    finally:
        legacy.close()


def test_hang_up_ends_the_session_and_the_upstream_session(shadowcat_bin: Path,
                                                          demo_upstream: harness.Endpoint) -> None:
    proxy = start_legacy_proxy(shadowcat_bin, ["--upstream", demo_upstream.url])
    try:
        legacy = LegacyStream(proxy)
        legacy.initialize()
        legacy.close()
        proxy.process.wait_for_line(lambda line: "upstream session ended" in line,
                                    "the upstream DELETE after the hang-up", STEP_TIMEOUT_S, stream="stderr")
        gone = legacy.post(rawhttp.jsonrpc("tools/list", {}, "late"))
        assert gone.status == 404, gone.describe()
    finally:
        proxy.stop()


def test_hang_up_stops_the_stdio_child(shadowcat_bin: Path) -> None:
    proxy = start_legacy_proxy(shadowcat_bin, everything_stdio())
    try:
        legacy = LegacyStream(proxy)
        legacy.initialize()
        bound = proxy.process.wait_for_line(lambda line: "legacy session bound to a child" in line,
                                            "the child binding", STEP_TIMEOUT_S, stream="stderr")
        pid = int(re.search(r"pid=(\d+)", bound)[1])
        assert Path(f"/proc/{pid}").exists()
        legacy.close()
        _await(lambda: not Path(f"/proc/{pid}").exists(), f"child {pid} to be stopped and reaped")
        gone = legacy.post(rawhttp.jsonrpc("tools/list", {}, "late"))
        assert gone.status == 404, gone.describe()
    finally:
        proxy.stop()


@pytest.mark.parametrize("hops", ["auto", "forward"])
def test_posts_are_handed_to_the_owning_shard(shadowcat_bin: Path, demo_upstream: harness.Endpoint,
                                              hops: str) -> None:
    """`auto` moves a POST's connection to the shard holding the stream; `forward` sends the POST."""
    proxy = start_legacy_proxy(shadowcat_bin, ["--upstream", demo_upstream.url], shards=2, admin=True,
                               extra=["--hops", hops])
    sessions: list[LegacyStream] = []
    try:
        sessions = [LegacyStream(proxy) for _ in range(8)]
        for legacy in sessions:
            legacy.initialize()
        for index, legacy in enumerate(sessions):
            for call in range(4):
                request_id = f"{index}-{call}"
                body = rawhttp.jsonrpc("tools/call", {"name": "echo", "arguments": {"message": request_id}},
                                       request_id)
                assert legacy.post(body).status == 202
                result = legacy.response_for(request_id)["result"]
                assert result["content"][0]["text"] == request_id, result
        assert proxy.admin_url
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
                proxy.admin_url.rstrip("/") + "/metrics", timeout=10) as response:
            metrics = response.read().decode()
        hopped = sum(float(v) for v in re.findall(r"^shadowcat_hops_total (\S+)$", metrics, re.M))
        assert hopped > 0, metrics
        forwarded = sum(float(v) for v in re.findall(r"^shadowcat_hops_forwarded_total (\S+)$", metrics, re.M))
        assert forwarded == (hopped if hops == "forward" else 0), metrics
        streams = sum(float(v) for v in re.findall(r"^shadowcat_legacy_streams_active (\S+)$", metrics, re.M))
        assert streams == len(sessions), metrics
        opened = sum(float(v) for v in re.findall(r"^shadowcat_legacy_sessions_total (\S+)$", metrics, re.M))
        assert opened == len(sessions), metrics
    finally:
        for legacy in sessions:
            legacy.close()
        proxy.stop()


def test_sigterm_ends_legacy_streams_cleanly(shadowcat_bin: Path, demo_upstream: harness.Endpoint) -> None:
    proxy = start_legacy_proxy(shadowcat_bin, ["--upstream", demo_upstream.url])
    try:
        legacy = LegacyStream(proxy)
        legacy.initialize()
        proxy.process.popen.send_signal(15)
        assert legacy.stream.rest() == [], "events after SIGTERM"
        assert proxy.process.popen.wait(timeout=STEP_TIMEOUT_S) == 0
        legacy.close()
    finally:
        proxy.stop()


def test_a_client_that_stops_reading_loses_its_session(shadowcat_bin: Path,
                                                       demo_upstream: harness.Endpoint) -> None:
    """Bounded memory: large answers pile up while the client reads nothing; once the socket
    buffers and the session's queue are full, the session ends (log line, stream closed, 404)."""
    proxy = start_legacy_proxy(shadowcat_bin, ["--upstream", demo_upstream.url], admin=True)
    try:
        legacy = LegacyStream(proxy)
        legacy.initialize()
        message = "x" * 65536
        ended = False
        with rawhttp.RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
            for index in range(2000):
                body = rawhttp.jsonrpc("tools/call", {"name": "echo", "arguments": {"message": message}}, index)
                answer = conn.request("POST", legacy.endpoint, [("Content-Type", "application/json")], body)
                if answer.status == 404:
                    ended = True
                    break
                assert answer.status == 202, answer.describe()
        assert ended, "the session survived 2000 unread 64 KiB answers"
        proxy.process.wait_for_line(lambda line: "not reading its stream" in line, "the overflow log line",
                                    STEP_TIMEOUT_S, stream="stderr")
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
                (proxy.admin_url or "").rstrip("/") + "/metrics", timeout=10) as response:
            metrics = response.read().decode()
        assert re.search(r"^shadowcat_legacy_overflows_total 1$", metrics, re.M), metrics
        legacy.close()
    finally:
        proxy.stop()
