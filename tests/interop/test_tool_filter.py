"""Per-route tool allow/deny lists (`--allow-tool`/`--deny-tool`, `allow_tools`/`deny_tools`):
the `tool_filter` stage seen by real clients.

The matrix: client (Python SDK `streamable_http_client` and `sse_client`, the TypeScript SDK's
StreamableHTTPClientTransport and SSEClientTransport, rmcp as a 2026-07-28 client) × upstream
(the demo server over HTTP with JSON and with SSE answers, server-everything over HTTP, the rmcp
`modern_server` serving legacy sessions with JSON and SSE answers, the rmcp `modern_server
--modern-only` behind era translation, the demo server and the FastMCP fixture as stdio children)
× filter (allow list only, deny list only, both). Every cell lists the tools, calls `echo`, calls
a hidden tool, and calls `echo` again, then asserts:

- the listing is exactly the upstream's tools that the lists let through (computed here from the
  globs: `*` any run, `?` one character, the rest literal, whole name; deny wins);
- the hidden call fails with the JSON-RPC error -32602 `Unknown tool: NAME` (the SDKs raise it);
- both visible calls work;
- the hidden call never reached the upstream: the rmcp server's `EVENT call NAME` lines
  (`--log-calls`) and the FastMCP fixture's `fixture-call: NAME` stderr lines
  (`FIXTURE_LOG_CALLS=1`, relayed into the proxy's log) show both echo calls and never the hidden
  tool; for every upstream `shadowcat_tools_denied_total` counts exactly the one refused call.

Then raw HTTP (the exact answer: HTTP 200 + the error with the request's id on Streamable HTTP;
202 + the error on the stream for legacy SSE), a tool registered later (`load_component`, after
`notifications/tools/list_changed`), a TOML route (`shadowcat run`), `shadowcat demo`, and
`shadowcat config check` (the route's stage list names `tool_filter`; a bad glob is refused).

Not here: the glob matcher's unit tests (src/config/tools.rs), the stage's byte-level rewrite
tests (src/pipeline/tool_filter_tests.rs).
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from mcp import ClientSession, types
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import McpError

import harness
import rawhttp
from test_legacy_sse import LegacyStream
from test_modern import _modern_bin, start_modern_server
from test_proxy_limits import wait_until
from test_shards import metric_total, read_metrics

# One client run (connect, list, three calls) takes well under a second; this bounds a hang.
CLIENT_TIMEOUT_S = 60.0
# Upstream log lines follow the answers they belong to within milliseconds; this bounds a hang.
EVIDENCE_DEADLINE_S = 20.0
TS_DRIVER = Path(__file__).resolve().parent / "fixtures" / "ts_tool_filter.mjs"
TS_SDK = harness.NODE_MODULES / "@modelcontextprotocol" / "sdk"
DENIED_METRIC = "shadowcat_tools_denied_total"
UNKNOWN_TOOL = -32602

# (allow globs, deny globs). Every upstream's `echo` stays visible under each, and each family's
# hidden tool (HIDDEN below) is hidden by each: by the allow list alone, by a deny glob alone, and
# — in "both" — allowed by name yet denied (deny wins).
FILTERS: dict[str, tuple[list[str], list[str]]] = {
    "allow": (["echo", "s?ow", "r?ute", "*-long-*"], []),
    "deny": ([], ["a*", "who*", "c*", "get-*"]),
    "both": (["*o*", "add", "get-sum"], ["sl*", "a?d", "wh?ami", "get-*"]),
}

DEMO_HTTP_TOOLS = ["echo", "add", "slow"]
DEMO_STDIO_TOOLS = ["echo", "add", "slow", "confirm", "sample"]
FIXTURE_TOOLS = ["echo", "add", "slow", "ask", "crash", "whoami", "log", "load_component", "noise", "big",
                 "touch"]
MODERN_TOOLS = ["echo", "slow", "ask", "whoami", "confirm", "route"]


def glob_matches(glob: str, name: str) -> bool:
    """The documented glob: `*` any run of characters, `?` one character, the rest literal, whole name."""
    pattern = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)
    return re.fullmatch(pattern, name, re.DOTALL) is not None


def visible(name: str, allow: list[str], deny: list[str]) -> bool:
    return (not allow or any(glob_matches(g, name) for g in allow)) and not any(glob_matches(g, name) for g in deny)


def expected_tools(all_tools: list[str], filter_name: str) -> set[str]:
    allow, deny = FILTERS[filter_name]
    shown = {name for name in all_tools if visible(name, allow, deny)}
    # The test can fail both ways: something is cut, something stays.
    assert "echo" in shown and shown != set(all_tools), (filter_name, all_tools, shown)
    return shown


def filter_flags(filter_name: str) -> list[str]:
    allow, deny = FILTERS[filter_name]
    return [flag for glob in allow for flag in ("--allow-tool", glob)] + \
           [flag for glob in deny for flag in ("--deny-tool", glob)]


# --- upstreams -------------------------------------------------------------------------------------

class Upstream:
    """One upstream kind: the proxy's upstream arguments, its tools, its echo and hidden calls, and
    where calls that reached it are logged (None: only the proxy counter tells)."""

    def __init__(self, key: str, args: list[str | Path], tools: list[str], *, echo_key: str = "message",
                 echo_prefix: str = "", hidden: tuple[str, dict[str, Any]] = ("add", {"a": 1, "b": 2}),
                 server: harness.Endpoint | None = None, logged_by: str | None = None) -> None:
        self.key = key
        self.args = args
        self.tools = tools
        self.echo_key = echo_key
        self.echo_prefix = echo_prefix
        self.hidden = hidden
        self.server = server  # an upstream process this test owns (rmcp server)
        self.logged_by = logged_by  # "events" (rmcp server stdout) or "fixture" (proxy log)

    def echo(self, message: str) -> tuple[str, dict[str, Any]]:
        return "echo", {self.echo_key: message}

    def calls_seen(self, proxy: harness.Endpoint) -> list[str]:
        """Tool names of the calls the upstream logged, in order."""
        if self.logged_by == "events":
            assert self.server is not None
            lines = [line for label, line in self.server.process._lines if label == "stdout"]
            return [line.split(" ", 2)[2] for line in lines if line.startswith("EVENT call ")]
        if self.logged_by == "fixture":
            text = "\n".join(line for _, line in proxy.process._lines)
            return re.findall(r"fixture-call: (\S+)", harness._ANSI_ESCAPE.sub("", text))
        return []


def demo_stdio_command(shadowcat_bin: Path) -> list[str | Path]:
    return [shadowcat_bin, "demo-server", "--stdio"]


@pytest.fixture(scope="module")
def demo_sse_upstream(shadowcat_bin: Path) -> Iterator[harness.Endpoint]:
    """The demo server answering every POST with an SSE stream (so tools/list comes as SSE)."""
    server = harness.start_demo_server(shadowcat_bin, sse=True)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def upstream(request: pytest.FixtureRequest, shadowcat_bin: Path) -> Iterator[Upstream]:
    """Parametrize indirectly with an upstream key; rmcp servers are started per test (their
    EVENT lines then belong to this test alone) and stopped at its end."""
    key: str = request.param
    started: list[harness.Endpoint] = []
    try:
        if key == "demo-http":
            yield Upstream(key, ["--upstream", request.getfixturevalue("demo_upstream").url], DEMO_HTTP_TOOLS)
        elif key == "demo-http-legacy":
            # For a 2026-07-28 client: translated onto legacy sessions of the demo server.
            demo = request.getfixturevalue("demo_upstream")
            yield Upstream(key, ["--upstream", demo.url, "--upstream-era", "legacy"], DEMO_HTTP_TOOLS)
        elif key == "demo-http-sse":
            yield Upstream(key, ["--upstream", request.getfixturevalue("demo_sse_upstream").url], DEMO_HTTP_TOOLS)
        elif key == "everything-http":
            everything = request.getfixturevalue("everything_upstream")
            tools = asyncio.run(asyncio.wait_for(_python_tool_names(everything.url), CLIENT_TIMEOUT_S))
            yield Upstream(key, ["--upstream", everything.url], tools, echo_prefix="Echo: ",
                           hidden=("get-sum", {"a": 1, "b": 2}))
        elif key in ("modern-http", "modern-http-sse", "modernonly-http"):
            flags = {"modern-http": ["--legacy-sessions"], "modern-http-sse": ["--legacy-sessions", "--sse"],
                     "modernonly-http": ["--modern-only"]}[key]
            server = start_modern_server(*flags, "--log-calls")
            started.append(server)
            era = ["--upstream-era", "modern"] if key == "modernonly-http" else []
            yield Upstream(key, ["--upstream", server.url, *era], MODERN_TOOLS, echo_key="text",
                           hidden=("whoami", {}), server=server, logged_by="events")
        elif key == "demo-stdio":
            yield Upstream(key, ["--upstream-cmd", "--", *demo_stdio_command(shadowcat_bin)], DEMO_STDIO_TOOLS)
        elif key == "fixture-stdio":
            yield Upstream(key, ["--upstream-cmd", "--env", "FIXTURE_LOG_CALLS=1", "--",
                                 *harness.fixture_stdio_command()], FIXTURE_TOOLS, logged_by="fixture")
        else:
            raise AssertionError(f"unknown upstream {key}")
    finally:
        for server in started:
            server.stop()


async def _python_tool_names(url: str) -> list[str]:
    """The upstream's own listing, by the same kind of client (no callbacks) the matrix uses."""
    async with streamable_http_client(url) as (read, write, _), ClientSession(read, write) as session:
        await session.initialize()
        return [tool.name for tool in (await session.list_tools()).tools]


@pytest.fixture
def filter_proxy(shadowcat_bin: Path) -> Iterator[Callable[..., harness.Endpoint]]:
    """Starts `reverse --legacy-sse --admin` with the filter's flags in front of an upstream (one
    shard); every proxy started is stopped at the end of the test."""
    started: list[harness.Endpoint] = []

    def start(upstream_args: list[str | Path], flags: list[str]) -> harness.Endpoint:
        # `--upstream-cmd -- CMD...` must come last: everything after `--` is the command.
        argv: list[str | Path] = [shadowcat_bin, "reverse", "--bind", f"{harness.LOOPBACK_HOST}:0",
                                  "--shards", "1", "--legacy-sse", "--admin", f"{harness.LOOPBACK_HOST}:0",
                                  *flags, *upstream_args]
        process = harness.ManagedProcess("shadowcat-tool-filter-proxy", argv)
        failure = None
        try:
            urls = harness.wait_shadowcat_ready(process, ["proxy", "proxy-sse", "admin"])
        except harness.HarnessError as error:
            process.stop()
            failure = str(error)
        if failure is not None:
            pytest.fail(failure, pytrace=False)
        endpoint = harness.Endpoint(url=urls["proxy"], process=process, admin_url=urls["admin"])
        started.append(endpoint)
        return endpoint

    try:
        yield start
    finally:
        for endpoint in started:
            endpoint.stop()


def denied_total(proxy: harness.Endpoint) -> float:
    assert proxy.admin_url is not None
    return metric_total(read_metrics(proxy.admin_url), DENIED_METRIC)


# --- clients: each returns {"tools": [names], "calls": [outcome]} ---------------------------------
# outcome: {"text": [texts], "is_error": bool} or {"error": {"code": int, "message": str}}

async def _python_outcome(transport: str, url: str, calls: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    connect = sse_client(url, timeout=20) if transport == "sse" else streamable_http_client(url)
    async with connect as streams, ClientSession(streams[0], streams[1]) as session:
        await session.initialize()
        tools = [tool.name for tool in (await session.list_tools()).tools]
        outcomes: list[dict[str, Any]] = []
        for name, arguments in calls:
            try:
                result = await session.call_tool(name, arguments)
            except McpError as error:
                outcomes.append({"error": {"code": error.error.code, "message": error.error.message}})
                continue
            texts = [block.text for block in result.content if isinstance(block, types.TextContent)]
            outcomes.append({"text": texts, "is_error": bool(result.isError)})
        return {"tools": tools, "calls": outcomes}


def python_client(transport: str, proxy: harness.Endpoint, calls: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    url = f"http://{proxy.host_header}/sse" if transport == "sse" else proxy.url
    return asyncio.run(asyncio.wait_for(_python_outcome(transport, url, calls), CLIENT_TIMEOUT_S))


def run_to_end(name: str, argv: list[str | Path], env: dict[str, str]) -> dict[str, Any]:
    """Runs a client process to completion (stopped by handle in any case); its last JSON line."""
    process = harness.ManagedProcess(name, argv, env=env)
    try:
        code = process.popen.wait(timeout=CLIENT_TIMEOUT_S)
    finally:
        process.stop()
    lines = [line for label, line in process._lines if label == "stdout" and line.startswith("{")]
    assert code == 0 and lines, f"{name} exited {code}:\n{process.output_tail()}"
    return json.loads(lines[-1])


def typescript_client(transport: str, proxy: harness.Endpoint,
                      calls: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    if not TS_SDK.is_dir():
        pytest.fail(f"the TypeScript SDK is not installed at {TS_SDK}: run `bash scripts/setup.sh`", pytrace=False)
    url = f"http://{proxy.host_header}/sse" if transport == "sse" else proxy.url
    spec = {"transport": transport, "url": url, "sdk": str(TS_SDK),
            "calls": [{"name": name, "arguments": arguments} for name, arguments in calls]}
    report = run_to_end("ts-tool-filter", [harness.node22(), TS_DRIVER, json.dumps(spec)], harness.child_env())
    # The TS SDK's McpError message is "MCP error CODE: MESSAGE"; the code is kept apart.
    for outcome in report["calls"]:
        if "error" in outcome:
            outcome["error"]["message"] = re.sub(r"^MCP error -?\d+: ", "", outcome["error"]["message"])
        else:
            outcome["is_error"] = outcome.pop("isError")
    return report


def rmcp_client(proxy: harness.Endpoint, calls: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    argv: list[str | Path] = [_modern_bin("modern_client"), proxy.url, "probe"]
    for name, arguments in calls:
        argv += [name, json.dumps(arguments)]
    return run_to_end("rmcp-modern-client", argv, harness.child_env())


# --- the shared assertions ---------------------------------------------------------------------------

def run_cell(filter_proxy, upstream: Upstream, filter_name: str,
             client: Callable[[harness.Endpoint, list[tuple[str, dict[str, Any]]]], dict[str, Any]]) -> None:
    proxy = filter_proxy(upstream.args, filter_flags(filter_name))
    hidden_name, hidden_args = upstream.hidden
    assert hidden_name in upstream.tools, (hidden_name, upstream.tools)
    assert not visible(hidden_name, *FILTERS[filter_name]), (hidden_name, filter_name)
    calls = [upstream.echo("before the hidden call"), upstream.hidden, upstream.echo("after the hidden call")]
    report = client(proxy, calls)

    listed = report["tools"]
    assert len(listed) == len(set(listed)), f"a tool listed twice: {listed}"
    want = expected_tools(upstream.tools, filter_name)
    assert set(listed) == want, (f"listed {sorted(listed)}, want {sorted(want)} "
                                 f"(filter {FILTERS[filter_name]}, upstream tools {upstream.tools})")

    first, refused, last = report["calls"]
    for outcome, message in ((first, "before the hidden call"), (last, "after the hidden call")):
        assert "error" not in outcome and not outcome["is_error"], f"visible echo failed: {report}"
        assert outcome["text"] == [upstream.echo_prefix + message], f"echo answered {outcome}"
    assert refused == {"error": {"code": UNKNOWN_TOOL, "message": f"Unknown tool: {hidden_name}"}}, \
        f"hidden {hidden_name}: {refused}"

    assert denied_total(proxy) == 1, read_metrics(proxy.admin_url or "")
    if upstream.logged_by is not None:
        # Both echo calls reach the upstream; by the time the second one is logged, the hidden call,
        # answered before it was sent, would have been logged too had it been forwarded.
        wait_until(lambda: upstream.calls_seen(proxy).count("echo") >= 2, "both echo calls logged upstream",
                   EVIDENCE_DEADLINE_S)
        seen = upstream.calls_seen(proxy)
        assert hidden_name not in seen, f"the hidden {hidden_name} reached the upstream: calls seen {seen}"
        assert seen == ["echo", "echo"], f"calls seen upstream: {seen}"


# --- the matrix --------------------------------------------------------------------------------------

PYTHON_UPSTREAMS = ["demo-http", "demo-http-sse", "everything-http", "modern-http", "modern-http-sse",
                    "modernonly-http", "demo-stdio", "fixture-stdio"]
TS_UPSTREAMS = ["demo-http", "demo-http-sse", "modern-http", "modernonly-http", "demo-stdio", "fixture-stdio"]
# rmcp speaks 2026-07-28: to the rmcp server natively, to the others through era translation.
RMCP_UPSTREAMS = ["modern-http", "modern-http-sse", "modernonly-http", "demo-http-legacy", "demo-stdio",
                  "fixture-stdio"]


@pytest.mark.parametrize("filter_name", list(FILTERS))
@pytest.mark.parametrize("upstream", PYTHON_UPSTREAMS, indirect=True)
@pytest.mark.parametrize("transport", ["streamable-http", "sse"])
def test_python_sdk(filter_proxy, upstream: Upstream, filter_name: str, transport: str) -> None:
    run_cell(filter_proxy, upstream, filter_name, lambda proxy, calls: python_client(transport, proxy, calls))


@pytest.mark.parametrize("filter_name", list(FILTERS))
@pytest.mark.parametrize("upstream", TS_UPSTREAMS, indirect=True)
@pytest.mark.parametrize("transport", ["streamable-http", "sse"])
def test_typescript_sdk(filter_proxy, upstream: Upstream, filter_name: str, transport: str) -> None:
    run_cell(filter_proxy, upstream, filter_name, lambda proxy, calls: typescript_client(transport, proxy, calls))


@pytest.mark.parametrize("filter_name", list(FILTERS))
@pytest.mark.parametrize("upstream", RMCP_UPSTREAMS, indirect=True)
def test_rmcp_2026_client(filter_proxy, upstream: Upstream, filter_name: str) -> None:
    run_cell(filter_proxy, upstream, filter_name, rmcp_client)
