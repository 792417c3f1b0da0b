"""Per-route tool allow/deny lists (`--allow-tool`/`--deny-tool`, `allow_tools`/`deny_tools`):
the `tool_filter` stage seen by real clients.

The matrix: client (Python SDK `streamable_http_client` and `sse_client`, the TypeScript SDK's
StreamableHTTPClientTransport and SSEClientTransport, rmcp as a 2026-07-28 client) × upstream
(the demo server over HTTP with JSON and with SSE answers; server-everything over Streamable HTTP
and over legacy HTTP+SSE (`--upstream-transport sse`); the rmcp `modern_server` serving legacy
sessions with JSON and SSE answers, natively to rmcp; `modern_server --modern-only` behind era
translation; the demo server and the FastMCP fixture as stdio children; rmcp reaches the legacy
ones through era translation) × filter (allow list only, deny list only, both). Every cell lists
the tools, calls `echo`, calls a hidden tool, and calls `echo` again, then asserts:

- the listing is exactly the upstream's tools that the lists let through (computed here from the
  globs: `*` any run, `?` one character, the rest literal, whole name; deny wins);
- the hidden call fails with the JSON-RPC error -32602 `Unknown tool: NAME` (the SDKs raise it);
- both visible calls work;
- the hidden call never reached the upstream: the rmcp server's `EVENT call NAME` lines
  (`--log-calls`) and the FastMCP fixture's `fixture-call: NAME` stderr lines
  (`FIXTURE_LOG_CALLS=1`, relayed into the proxy's log) show both echo calls and never the hidden
  tool; for every upstream `shadowcat_tools_denied_total` counts exactly the one refused call.

Then raw HTTP (the exact answer: HTTP 200 + the error with the request's id on Streamable HTTP;
202 + the error on the stream for legacy SSE; odd spellings of a hidden call, 2026-07-28 requests,
2025-03-26 batches, two shards), names spelt with JSON escapes over two pages
(fixtures/escaped_tools_server.py, also behind an unfiltered shadowcat over HTTP and legacy SSE),
answers to other requests whose result carries a top-level `tools` array naming a hidden tool
(the escaped fixture's `"listing": true`), which keep it in a batch, a 2026-07-28 call served on
legacy sessions, a legacy call translated onto 2026-07-28, and on a legacy HTTP+SSE stream,
a tool registered later (`load_component`, after `notifications/tools/list_changed`), `?` on a
non-ASCII name, a TOML route (`shadowcat run`),
`shadowcat demo`, and `shadowcat config check` (the route's stage list names `tool_filter`; a bad
glob is refused).

Not here: the glob matcher's unit tests (src/config/tools.rs), the stage's byte-level rewrite
tests (src/pipeline/tool_filter_tests.rs).
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from mcp import ClientSession, types
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import McpError

import harness
import rawhttp
from conftest import _started
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
        elif key == "everything-sse":
            everything = request.getfixturevalue("everythingsse_upstream")
            tools = asyncio.run(asyncio.wait_for(_python_tool_names(everything.url, "sse"), CLIENT_TIMEOUT_S))
            yield Upstream(key, ["--upstream", everything.url, "--upstream-transport", "sse"], tools,
                           echo_prefix="Echo: ", hidden=("get-sum", {"a": 1, "b": 2}))
        elif key in ("everything-http-rmcp", "everything-sse-rmcp"):
            # rmcp declares sampling and elicitation, which adds tools: its own unfiltered listing.
            if key == "everything-http-rmcp":
                args = ["--upstream", request.getfixturevalue("everything_upstream").url, "--upstream-era", "legacy"]
            else:
                args = ["--upstream", request.getfixturevalue("everythingsse_upstream").url,
                        "--upstream-transport", "sse"]
            unfiltered = request.getfixturevalue("filter_proxy")(args, [])
            tools = rmcp_client(unfiltered, [])["tools"]
            yield Upstream(key, args, tools, echo_prefix="Echo: ", hidden=("get-sum", {"a": 1, "b": 2}))
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
        elif key in ("fixture-stdio", "fixture-stdio-shared"):
            mode = ["--stdio-mode", "shared"] if key.endswith("shared") else []
            yield Upstream(key, [*mode, "--upstream-cmd", "--env", "FIXTURE_LOG_CALLS=1", "--",
                                 *harness.fixture_stdio_command()], FIXTURE_TOOLS, logged_by="fixture")
        else:
            raise AssertionError(f"unknown upstream {key}")
    finally:
        for server in started:
            server.stop()


async def _python_tool_names(url: str, transport: str = "streamable-http") -> list[str]:
    """The upstream's own listing, by the same kind of client (no callbacks) the matrix uses."""
    connect = sse_client(url, timeout=20) if transport == "sse" else streamable_http_client(url)
    async with connect as streams, ClientSession(streams[0], streams[1]) as session:
        await session.initialize()
        return [tool.name for tool in (await session.list_tools()).tools]


@pytest.fixture
def filter_proxy(shadowcat_bin: Path) -> Iterator[Callable[..., harness.Endpoint]]:
    """Starts `reverse --legacy-sse --admin` with the filter's flags in front of an upstream (one
    shard unless told); every proxy started is stopped at the end of the test."""
    started: list[harness.Endpoint] = []

    def start(upstream_args: list[str | Path], flags: list[str], shards: int = 1) -> harness.Endpoint:
        # `--upstream-cmd -- CMD...` must come last: everything after `--` is the command.
        argv: list[str | Path] = [shadowcat_bin, "reverse", "--bind", f"{harness.LOOPBACK_HOST}:0",
                                  "--shards", str(shards), "--legacy-sse", "--admin", f"{harness.LOOPBACK_HOST}:0",
                                  *flags, *upstream_args]
        def launch() -> harness.Endpoint:
            process = harness.ManagedProcess("shadowcat-tool-filter-proxy", argv)
            try:
                urls = harness.wait_shadowcat_ready(process, ["proxy", "proxy-sse", "admin"])
            except BaseException:
                process.stop()
                raise
            return harness.Endpoint(url=urls["proxy"], process=process, admin_url=urls["admin"])

        endpoint = _started(launch)
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

PYTHON_UPSTREAMS = ["demo-http", "demo-http-sse", "everything-http", "everything-sse", "modern-http",
                    "modern-http-sse", "modernonly-http", "demo-stdio", "fixture-stdio", "fixture-stdio-shared"]
TS_UPSTREAMS = ["demo-http", "demo-http-sse", "everything-http", "everything-sse", "modern-http", "modernonly-http",
                "demo-stdio", "fixture-stdio"]
# rmcp speaks 2026-07-28: to the rmcp server natively, to the others through era translation.
RMCP_UPSTREAMS = ["modern-http", "modern-http-sse", "modernonly-http", "demo-http-legacy", "everything-http-rmcp",
                  "everything-sse-rmcp", "demo-stdio", "fixture-stdio"]


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


# --- raw HTTP: the proxy's exact answer ----------------------------------------------------------

@pytest.mark.parametrize("upstream", ["demo-http", "demo-http-sse"], indirect=True)
def test_raw_streamable_http_answer(filter_proxy, upstream: Upstream) -> None:
    """HTTP 200 and exactly the JSON-RPC error carrying the request's id (string and integer ids),
    for JSON and SSE upstream answers alike; the raw listing (JSON or SSE) is cut too."""
    proxy = filter_proxy(upstream.args, ["--deny-tool", "add"])
    with rawhttp.RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
        session = rawhttp.open_session(conn)
        listing = conn.request("POST", "/mcp", session.headers(), rawhttp.jsonrpc("tools/list", {}, "list-1"))
        assert listing.status == 200, listing.describe()
        names = [tool["name"] for tool in listing.response_for("list-1")["result"]["tools"]]
        assert names == ["echo", "slow"], listing.describe()
        for request_id in ("hidden-7", 8):
            answer = rawhttp.call_tool(conn, session, request_id, "add", {"a": 1, "b": 2})  # asserts HTTP 200
            assert answer == {"jsonrpc": "2.0", "id": request_id,
                              "error": {"code": UNKNOWN_TOOL, "message": "Unknown tool: add"}}, answer
        assert rawhttp.tool_text(rawhttp.call_tool(conn, session, "echo-1", "echo", {"message": "still here"})) \
            == "still here"
    assert denied_total(proxy) == 2


@pytest.mark.parametrize("upstream", ["demo-http", "fixture-stdio"], indirect=True)
def test_raw_legacy_sse_answer(filter_proxy, upstream: Upstream) -> None:
    """Legacy HTTP+SSE: the POST of a hidden call gets 202 like any message, and the error with
    the request's id arrives on the client's stream."""
    proxy = filter_proxy(upstream.args, ["--allow-tool", "e*"])
    legacy = LegacyStream(proxy)
    try:
        legacy.initialize()
        accepted = legacy.post(rawhttp.jsonrpc("tools/call", {"name": "add", "arguments": {"a": 1, "b": 2}}, 41))
        assert accepted.status == 202, accepted.describe()
        assert legacy.response_for(41) == {"jsonrpc": "2.0", "id": 41,
                                           "error": {"code": UNKNOWN_TOOL, "message": "Unknown tool: add"}}
        assert legacy.post(rawhttp.jsonrpc("tools/list", {}, "list-2")).status == 202
        assert [tool["name"] for tool in legacy.response_for("list-2")["result"]["tools"]] == ["echo"]
        assert legacy.post(rawhttp.jsonrpc("tools/call", {"name": "echo", "arguments": {"message": "ok"}},
                                           "echo-2")).status == 202
        assert legacy.response_for("echo-2")["result"]["content"][0]["text"] == "ok"
    finally:
        legacy.close()
    assert denied_total(proxy) == 1
    if upstream.logged_by is not None:
        wait_until(lambda: "echo" in upstream.calls_seen(proxy), "the echo call logged upstream", EVIDENCE_DEADLINE_S)
        assert upstream.calls_seen(proxy) == ["echo"], upstream.calls_seen(proxy)


# --- a tool the upstream adds later ----------------------------------------------------------------

async def _load_then_list(url: str, names: list[str]) -> dict[str, Any]:
    changed = asyncio.Event()

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ServerNotification) and \
                isinstance(message.root, types.ToolListChangedNotification):
            changed.set()

    async with streamable_http_client(url) as (read, write, _), \
            ClientSession(read, write, message_handler=on_message) as session:
        await session.initialize()
        for name in names:
            result = await session.call_tool("load_component", {"name": name})
            assert not result.isError, result
        # The fixture announces each load; the announcement passes the filter untouched.
        await asyncio.wait_for(changed.wait(), EVIDENCE_DEADLINE_S)
        tools = [tool.name for tool in (await session.list_tools()).tools]
        outcomes = {}
        for name in names:
            try:
                result = await session.call_tool(name, {})
                outcomes[name] = [block.text for block in result.content if isinstance(block, types.TextContent)]
            except McpError as error:
                outcomes[name] = {"code": error.error.code, "message": error.error.message}
        return {"tools": tools, "calls": outcomes}


@pytest.mark.parametrize("upstream", ["fixture-stdio"], indirect=True)
def test_tool_registered_later_is_filtered_too(filter_proxy, upstream: Upstream) -> None:
    """The FastMCP fixture registers tools at run time (`load_component`, then
    notifications/tools/list_changed): the new listing is cut by the same lists."""
    proxy = filter_proxy(upstream.args, ["--deny-tool", "secret*", "--deny-tool", "crash"])
    # `my_secret` stays: a glob matches the whole name, so `secret*` does not match inside it.
    report = asyncio.run(asyncio.wait_for(_load_then_list(proxy.url, ["secret_tool", "public_tool", "my_secret"]),
                                          CLIENT_TIMEOUT_S))
    assert set(report["tools"]) == (set(FIXTURE_TOOLS) - {"crash"}) | {"public_tool", "my_secret"}, report
    assert report["calls"] == {"secret_tool": {"code": UNKNOWN_TOOL, "message": "Unknown tool: secret_tool"},
                               "public_tool": ["component public_tool"], "my_secret": ["component my_secret"]}, report
    assert denied_total(proxy) == 1
    wait_until(lambda: "public_tool" in upstream.calls_seen(proxy), "the public_tool call logged upstream",
               EVIDENCE_DEADLINE_S)
    assert "secret_tool" not in upstream.calls_seen(proxy), upstream.calls_seen(proxy)


@pytest.mark.parametrize("upstream", ["fixture-stdio"], indirect=True)
def test_question_mark_is_one_character(filter_proxy, upstream: Upstream) -> None:
    """`?` matches one character, also a non-ASCII one (`caf?` shows `café`, not `caffe`)."""
    proxy = filter_proxy(upstream.args, ["--allow-tool", "caf?", "--allow-tool", "load_component"])
    report = asyncio.run(asyncio.wait_for(_load_then_list(proxy.url, ["café", "caffe"]), CLIENT_TIMEOUT_S))
    assert sorted(report["tools"]) == ["café", "load_component"], report
    assert report["calls"] == {"café": ["component café"],
                               "caffe": {"code": UNKNOWN_TOOL, "message": "Unknown tool: caffe"}}, report


# --- configuration: a TOML route, `shadowcat demo`, `config check` ----------------------------------

ROUTES_TOML = """\
[listeners.main]
bind = "{bind}"

[[listeners.main.routes]]
path = "/mcp"
upstream = "up"
allow_tools = ["echo", "add*"]
deny_tools = ["adder", "slo?"]

[[listeners.main.routes]]
path = "/open"
upstream = "up"

[upstreams.up]
url = "{url}"
"""


async def _list_and_call(url: str, calls: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    return await _python_outcome("streamable-http", url, calls)


def test_toml_route_lists_apply_to_that_route_only(shadowcat_bin: Path, demo_upstream: harness.Endpoint,
                                                  tmp_path: Path) -> None:
    config = tmp_path / "shadowcat.toml"
    config.write_text(ROUTES_TOML.format(bind=f"{harness.LOOPBACK_HOST}:0", url=demo_upstream.url))
    process = harness.ManagedProcess("shadowcat-run", [shadowcat_bin, "run", "--config", config])
    try:
        urls = harness.wait_shadowcat_ready(process, ["proxy"])
        base = urls["proxy"].rsplit("/", 1)[0]
        calls = [("slow", {"steps": 1, "delay_ms": 0}), ("add", {"a": 1, "b": 2})]
        filtered = asyncio.run(asyncio.wait_for(_list_and_call(base + "/mcp", calls), CLIENT_TIMEOUT_S))
        open_route = asyncio.run(asyncio.wait_for(_list_and_call(base + "/open", calls), CLIENT_TIMEOUT_S))
    finally:
        process.stop()
    assert sorted(filtered["tools"]) == ["add", "echo"], filtered
    assert filtered["calls"][0] == {"error": {"code": UNKNOWN_TOOL, "message": "Unknown tool: slow"}}, filtered
    assert filtered["calls"][1]["is_error"] is False, filtered
    assert sorted(open_route["tools"]) == ["add", "echo", "slow"], open_route
    assert all("error" not in c and not c["is_error"] for c in open_route["calls"]), open_route


def test_demo_command_takes_the_flags(shadowcat_bin: Path) -> None:
    process = harness.ManagedProcess("shadowcat-demo", [
        shadowcat_bin, "demo", "--bind", f"{harness.LOOPBACK_HOST}:0", "--admin", f"{harness.LOOPBACK_HOST}:0",
        "--shards", "1", "--deny-tool", "sl*", "--deny-tool", "a?d"])
    try:
        urls = harness.wait_shadowcat_ready(process, ["proxy", "admin"])
        proxy = harness.Endpoint(url=urls["proxy"], process=process, admin_url=urls["admin"])
        report = python_client("streamable-http", proxy, [("echo", {"message": "demo"}), ("add", {"a": 1, "b": 2})])
        denied = denied_total(proxy)
    finally:
        process.stop()
    assert report == {"tools": ["echo"], "calls": [
        {"text": ["demo"], "is_error": False},
        {"error": {"code": UNKNOWN_TOOL, "message": "Unknown tool: add"}}]}, report
    assert denied == 1


def config_check(shadowcat_bin: Path, path: Path) -> tuple[int, str, str]:
    process = harness.ManagedProcess("shadowcat-config-check", [shadowcat_bin, "config", "check", path])
    try:
        code = process.popen.wait(timeout=CLIENT_TIMEOUT_S)
    finally:
        process.stop()
    out = "\n".join(line for label, line in process._lines if label == "stdout")
    err = "\n".join(line for label, line in process._lines if label == "stderr")
    return code, out, err


def test_config_check_prints_the_lists_and_the_stage(shadowcat_bin: Path, tmp_path: Path) -> None:
    import tomllib

    config = tmp_path / "shadowcat.toml"
    config.write_text(ROUTES_TOML.format(bind="127.0.0.1:8080", url="http://127.0.0.1:9/mcp"))
    code, out, err = config_check(shadowcat_bin, config)
    assert code == 0, err
    printed = tomllib.loads(out)  # the stage list is TOML comments: the whole output still loads
    routes = {route["path"]: route for route in printed["listeners"]["main"]["routes"]}
    assert routes["/mcp"]["allow_tools"] == ["echo", "add*"], out
    assert routes["/mcp"]["deny_tools"] == ["adder", "slo?"], out
    assert "allow_tools" not in routes["/open"] and "deny_tools" not in routes["/open"], out
    pattern = r"^#\s+main (?P<method>POST|GET/DELETE) (?P<path>/\S+) -> up: (?P<stages>.+)$"
    stages = {(match["method"], match["path"]): [s.strip() for s in match["stages"].split(",")]
              for match in re.finditer(pattern, out, re.MULTILINE)}
    assert set(stages) == {(m, p) for m in ("POST", "GET/DELETE") for p in ("/mcp", "/open")}, out
    for method in ("POST", "GET/DELETE"):
        assert "tool_filter" in stages[(method, "/mcp")], out
        assert "tool_filter" not in stages[(method, "/open")], out
        # The stage runs before the request goes upstream (and, on GET, on what comes back).
        listed = stages[(method, "/mcp")]
        assert listed.index("tool_filter") < next(i for i, s in enumerate(listed) if s.startswith("upstream")), out
    # The built-in checks come first, the session lookup before the configured stage.
    assert stages[("POST", "/open")][:4] == ["host_origin", "route", "method", "accept"], out
    assert stages[("GET/DELETE", "/mcp")].index("session") < stages[("GET/DELETE", "/mcp")].index("tool_filter"), out


@pytest.mark.parametrize("entry", ['allow_tools = [""]', 'deny_tools = ["ok", "bad\\u0007"]'])
def test_config_check_refuses_a_bad_glob(shadowcat_bin: Path, tmp_path: Path, entry: str) -> None:
    config = tmp_path / "shadowcat.toml"
    config.write_text(f'[listeners.main]\nbind = "127.0.0.1:8080"\n'
                      f'[[listeners.main.routes]]\npath = "/mcp"\nupstream = "up"\n{entry}\n'
                      '[upstreams.up]\nurl = "http://127.0.0.1:9/mcp"\n')
    code, out, err = config_check(shadowcat_bin, config)
    key = "allow_tools[0]" if entry.startswith("allow") else "deny_tools[1]"
    assert code != 0, out
    assert f"listeners.main.routes[0].{key}" in err, err


# --- names spelt with JSON escapes, paginated listings, odd request shapes --------------------------

ESCAPED_FIXTURE = Path(__file__).resolve().parent / "fixtures" / "escaped_tools_server.py"


async def _paged_outcome(transport: str, url: str, calls: list[str]) -> dict[str, Any]:
    connect = sse_client(url, timeout=20) if transport == "sse" else streamable_http_client(url)
    async with connect as streams, ClientSession(streams[0], streams[1]) as session:
        await session.initialize()
        first = await session.list_tools()
        assert first.nextCursor is not None, f"the first page lost its nextCursor: {first}"
        second = await session.list_tools(params=types.PaginatedRequestParams(cursor=first.nextCursor))
        outcomes: dict[str, Any] = {}
        for name in calls:
            try:
                result = await session.call_tool(name, {})
                outcomes[name] = [block.text for block in result.content if isinstance(block, types.TextContent)]
            except McpError as error:
                outcomes[name] = {"code": error.error.code, "message": error.error.message}
        return {"pages": [[t.name for t in first.tools], [t.name for t in second.tools]],
                "cursors": [first.nextCursor, second.nextCursor], "calls": outcomes}


ESCAPED_DENY = ["add", "s*", "p/q", "v1.tool", "x[ab]", "ECHO"]


@pytest.mark.parametrize("path", ["stdio", "http", "sse"])
@pytest.mark.parametrize("transport", ["streamable-http", "sse"])
def test_escaped_names_and_pages(filter_proxy, transport: str, path: str) -> None:
    """The upstream spells `add`, `slow`, `p/q` and `café` with JSON escapes, over two pages, and
    lists names holding `.` and `[ab]`: the filter judges decoded names, literally and
    case-sensitively, on every page, and keeps the cursor. The upstream is the fixture as a stdio
    child, or the same behind an unfiltered shadowcat reached over Streamable HTTP (`http`) or the
    legacy HTTP+SSE transport (`sse`, `--upstream-transport sse`), which relays its bytes."""
    child = ["--upstream-cmd", "--", sys.executable, ESCAPED_FIXTURE]
    if path == "stdio":
        logs = proxy = filter_proxy(child, [f"--deny-tool={glob}" for glob in ESCAPED_DENY])
    else:
        logs = filter_proxy(child, [])
        upstream = ["--upstream", logs.url] if path == "http" else \
            ["--upstream", f"http://{logs.host_header}/sse", "--upstream-transport", "sse"]
        proxy = filter_proxy(upstream, [f"--deny-tool={glob}" for glob in ESCAPED_DENY])
    hidden = ["add", "slow", "p/q", "v1.tool", "x[ab]"]
    shown = ["café", "v1xtool", "xa", "echo"]
    report = asyncio.run(asyncio.wait_for(_paged_outcome(transport, _client_url(transport, proxy), hidden + shown),
                                          CLIENT_TIMEOUT_S))
    assert report["pages"] == [["echo"], ["café", "v1xtool", "xa"]], report
    assert report["cursors"] == ["page-2", None], report
    assert report["calls"] == {
        **{name: {"code": UNKNOWN_TOOL, "message": f"Unknown tool: {name}"} for name in hidden},
        **{name: [f"called {name}"] for name in shown}}, report
    assert denied_total(proxy) == len(hidden)

    def seen() -> list[str]:
        text = harness._ANSI_ESCAPE.sub("", "\n".join(line for _, line in logs.process._lines))
        return re.findall(r"escaped-call: (\S+)", text)

    wait_until(lambda: "echo" in seen(), "the last call logged by the upstream", EVIDENCE_DEADLINE_S)
    assert seen() == shown, seen()


def test_escaped_tools_member_is_cut_too(filter_proxy) -> None:
    proxy = filter_proxy(["--upstream-cmd", "--", sys.executable, ESCAPED_FIXTURE, "--escape-key"],
                         [f"--deny-tool={glob}" for glob in ESCAPED_DENY])
    report = asyncio.run(asyncio.wait_for(_paged_outcome("streamable-http", proxy.url, []), CLIENT_TIMEOUT_S))
    assert report["pages"] == [["echo"], ["café", "v1xtool", "xa"]], report


def _client_url(transport: str, proxy: harness.Endpoint) -> str:
    return f"http://{proxy.host_header}/sse" if transport == "sse" else proxy.url


# A hidden call (`add`, denied) however the request spells it: each must be refused, never sent.
CALL = b'{"jsonrpc":"2.0","id":"odd",'
ODD_CALLS = {
    "escaped name": CALL + b'"method":"tools/call","params":{"name":"\\u0061dd","arguments":{}}}',
    "escaped method": CALL + b'"method":"tools\\/call","params":{"name":"add","arguments":{}}}',
    "name after arguments": CALL + b'"method":"tools/call","params":{"arguments":{"name":"echo"},"name":"add"}}',
    "decoy in _meta": CALL + b'"method":"tools/call","params":{"_meta":{"name":"echo"},"name":"add"}}',
    "params before method": b'{"jsonrpc":"2.0","params":{"name":"add","arguments":{}},"id":"odd","method":"tools/call"}',
    "whitespace": b'{ "jsonrpc" : "2.0" , "id" : "odd" , "method" : "tools/call" , "params" : { "name" : "add" } }',
}


@pytest.mark.parametrize("spelling", list(ODD_CALLS))
@pytest.mark.parametrize("upstream", ["modern-http", "fixture-stdio"], indirect=True)
def test_raw_hidden_call_spellings(filter_proxy, upstream: Upstream, spelling: str) -> None:
    """Raw bodies on a legacy session: every spelling of a call to the denied `add` is answered
    -32602 by the proxy; the upstream sees only the echo that follows."""
    proxy = filter_proxy(upstream.args, ["--deny-tool", "add", "--deny-tool", "whoami"])
    with rawhttp.RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
        session = rawhttp.open_session(conn)
        answer = conn.request("POST", "/mcp", session.headers(), ODD_CALLS[spelling])
        assert answer.status == 200, answer.describe()
        assert answer.response_for("odd") == {"jsonrpc": "2.0", "id": "odd",
                                              "error": {"code": UNKNOWN_TOOL, "message": "Unknown tool: add"}}
        name, arguments = upstream.echo("after")
        assert rawhttp.call_tool(conn, session, "echo-1", name, arguments)["result"]["content"][0]["text"] \
            == upstream.echo_prefix + "after"
    wait_until(lambda: "echo" in upstream.calls_seen(proxy), "the echo call logged upstream", EVIDENCE_DEADLINE_S)
    assert upstream.calls_seen(proxy) == ["echo"], upstream.calls_seen(proxy)
    assert denied_total(proxy) == 1


@pytest.mark.parametrize("upstream", ["modern-http"], indirect=True)
def test_raw_2026_request_spellings(filter_proxy, upstream: Upstream) -> None:
    """2026-07-28 stateless calls: the hidden tool named plainly or with an escape (Mcp-Name says
    `whoami`) is refused with -32602; a body/Mcp-Name disagreement is the proxy's 400/-32020;
    none of them reaches the server, the echo after them does."""
    from test_modern import modern_body, modern_headers

    proxy = filter_proxy(upstream.args, ["--deny-tool", "whoami"])
    cases = [("whoami", "whoami", 200, UNKNOWN_TOOL), ("wh\\u006fami", "whoami", 200, UNKNOWN_TOOL),
             ("whoami", "echo", 400, -32020), ("echo", "whoami", 400, -32020)]
    for index, (body_name, header_name, status, code) in enumerate(cases):
        body = modern_body(index, "tools/call", {"name": "NAME", "arguments": {"text": "x"}}) \
            .replace(b'"NAME"', json.dumps(body_name).replace("\\\\", "\\").encode())
        with rawhttp.RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
            answer = conn.request("POST", "/mcp", modern_headers("tools/call", header_name), body)
        assert answer.status == status, (body_name, header_name, answer.describe())
        error = answer.response_for(index)["error"]
        assert error["code"] == code, (body_name, header_name, answer.describe())
        if code == UNKNOWN_TOOL:
            assert error["message"] == "Unknown tool: whoami", answer.describe()
    with rawhttp.RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
        answer = conn.request("POST", "/mcp", modern_headers("tools/call", "echo"),
                              modern_body("echo", "tools/call", {"name": "echo", "arguments": {"text": "after"}}))
    assert answer.response_for("echo")["result"]["content"][0]["text"] == "after", answer.describe()
    wait_until(lambda: "echo" in upstream.calls_seen(proxy), "the echo call logged upstream", EVIDENCE_DEADLINE_S)
    assert upstream.calls_seen(proxy) == ["echo"], upstream.calls_seen(proxy)
    assert denied_total(proxy) == 2


def _batch_session(conn: rawhttp.RawConnection) -> str:
    """A 2025-03-26 session (the last version with JSON-RPC batches); its id."""
    init = conn.request("POST", "/mcp", rawhttp.mcp_headers(), rawhttp.jsonrpc("initialize", {
        "protocolVersion": "2025-03-26", "capabilities": {},
        "clientInfo": {"name": "shadowcat-interop-raw", "version": "0"}}, "init"))
    assert init.status == 200 and init.response_for("init")["result"]["protocolVersion"] == "2025-03-26", \
        init.describe()
    session_id = init.header("mcp-session-id")
    assert session_id, init.describe()
    done = conn.request("POST", "/mcp", rawhttp.mcp_headers(session_id, "2025-03-26"),
                        rawhttp.jsonrpc("notifications/initialized"))
    assert done.status == 202, done.describe()
    return session_id


@pytest.mark.parametrize("upstream", ["everything-http", "modernonly-http", "demo-stdio", "fixture-stdio"],
                         indirect=True)
def test_batch_listing_and_call(filter_proxy, upstream: Upstream) -> None:
    """A 2025-03-26 batch: its tools/list answer is cut like any other; a batch calling the
    hidden tool is refused with -32602 naming it (as the batch's error or as that element's entry),
    and the hidden call never reaches the upstream."""
    hidden_name, hidden_args = upstream.hidden
    proxy = filter_proxy(upstream.args, ["--deny-tool", hidden_name])
    with rawhttp.RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
        session_id = _batch_session(conn)
        headers = rawhttp.mcp_headers(session_id, "2025-03-26")
        listing = conn.request("POST", "/mcp", headers, b"[" + rawhttp.jsonrpc("tools/list", {}, "b-list") + b","
                               + rawhttp.jsonrpc("ping", {}, "b-ping") + b"]")
        assert listing.status == 200, listing.describe()
        names = [tool["name"] for tool in listing.response_for("b-list")["result"]["tools"]]
        assert set(names) == set(upstream.tools) - {hidden_name} and len(names) == len(set(names)), names
        assert listing.response_for("b-ping")["result"] == {}, listing.describe()

        name, arguments = upstream.echo("in the batch")
        calls = conn.request("POST", "/mcp", headers, b"[" + rawhttp.jsonrpc(
            "tools/call", {"name": name, "arguments": arguments}, "b-echo") + b"," + rawhttp.jsonrpc(
            "tools/call", {"name": hidden_name, "arguments": hidden_args}, "b-hidden") + b"]")
        errors = [m["error"] for m in calls.jsonrpc_messages() if "error" in m and m.get("id") in (None, "b-hidden")]
        assert len(errors) == 1 and errors[0]["code"] == UNKNOWN_TOOL, calls.describe()
        assert errors[0]["message"].startswith(f"Unknown tool: {hidden_name}"), calls.describe()
        name, arguments = upstream.echo("after the batch")
        assert rawhttp.call_tool(conn, rawhttp.RawSession(session_id, "2025-03-26"), "after", name, arguments) \
            ["result"]["content"][0]["text"] == upstream.echo_prefix + "after the batch"
    assert denied_total(proxy) == 1
    if upstream.logged_by is not None:
        wait_until(lambda: upstream.calls_seen(proxy).count("echo") >= 1, "the echo after the batch logged",
                   EVIDENCE_DEADLINE_S)
        assert hidden_name not in upstream.calls_seen(proxy), upstream.calls_seen(proxy)


def _call_listing(request_id: Any) -> bytes:
    """A `tools/call` of the escaped fixture's `echo` whose result carries a top-level `tools`
    array naming the hidden `add`."""
    return rawhttp.jsonrpc("tools/call", {"name": "echo", "arguments": {"listing": True}}, request_id)


PAGE_1_NAMES = ["echo", "add", "p/q"]


@pytest.mark.parametrize("path", ["stdio", "http"])
def test_batch_judges_only_its_tools_list_answers(filter_proxy, path: str) -> None:
    """A 2025-03-26 batch holding a tools/list and two tools/calls whose results carry a
    top-level `tools` array naming the hidden `add`: only the tools/list answer (id 1) is cut;
    the call answered under id "1" (a string) and the one under id 2 keep every tool. The
    upstream is the escaped fixture as a stdio child, or behind an unfiltered shadowcat."""
    child = ["--upstream-cmd", "--", sys.executable, ESCAPED_FIXTURE]
    if path == "stdio":
        proxy = filter_proxy(child, ["--deny-tool", "add"])
    else:
        proxy = filter_proxy(["--upstream", filter_proxy(child, []).url], ["--deny-tool", "add"])
    with rawhttp.RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
        session_id = _batch_session(conn)
        headers = rawhttp.mcp_headers(session_id, "2025-03-26")
        answer = conn.request("POST", "/mcp", headers, b"[" + rawhttp.jsonrpc("tools/list", {}, 1) + b","
                              + _call_listing("1") + b"," + _call_listing(2) + b"]")
    assert answer.status == 200, answer.describe()
    assert [t["name"] for t in answer.response_for(1)["result"]["tools"]] == ["echo", "p/q"], answer.describe()
    for request_id in ("1", 2):
        result = answer.response_for(request_id)["result"]
        assert [t["name"] for t in result["tools"]] == PAGE_1_NAMES, answer.describe()
        assert result["content"][0]["text"] == "called echo", answer.describe()


def test_modern_call_answer_is_not_judged(filter_proxy) -> None:
    """A 2026-07-28 client served on legacy sessions (`--upstream-era legacy`; the escaped
    fixture behind an unfiltered shadowcat): a tools/call whose result carries a top-level
    `tools` array naming the hidden `add` keeps it; the tools/list answer loses it."""
    from test_modern import modern_body, modern_headers

    child = ["--upstream-cmd", "--", sys.executable, ESCAPED_FIXTURE]
    legacy = filter_proxy(child, [])
    proxy = filter_proxy(["--upstream", legacy.url, "--upstream-era", "legacy"], ["--deny-tool", "add"])
    with rawhttp.RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
        call = conn.request("POST", "/mcp", modern_headers("tools/call", "echo"), modern_body(
            "c", "tools/call", {"name": "echo", "arguments": {"listing": True}}))
        listing = conn.request("POST", "/mcp", modern_headers("tools/list"), modern_body("l", "tools/list"))
    assert [t["name"] for t in call.response_for("c")["result"]["tools"]] == PAGE_1_NAMES, call.describe()
    assert [t["name"] for t in listing.response_for("l")["result"]["tools"]] == ["echo", "p/q"], \
        listing.describe()


def test_translated_call_answer_is_not_judged(filter_proxy) -> None:
    """A legacy session translated onto a 2026-07-28 upstream (`--upstream-era modern`; that
    upstream is an unfiltered shadowcat serving 2026-07-28 on legacy sessions of another, in
    front of the escaped fixture): a tools/call whose result carries a top-level `tools` array
    naming the hidden `add` keeps it; the tools/list answer loses it."""
    child = ["--upstream-cmd", "--", sys.executable, ESCAPED_FIXTURE]
    modern = filter_proxy(["--upstream", filter_proxy(child, []).url, "--upstream-era", "legacy"], [])
    proxy = filter_proxy(["--upstream", modern.url, "--upstream-era", "modern"], ["--deny-tool", "add"])
    with rawhttp.RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
        session = rawhttp.open_session(conn)
        call = rawhttp.call_tool(conn, session, "c", "echo", {"listing": True})
        listing = conn.request("POST", "/mcp", session.headers(), rawhttp.jsonrpc("tools/list", {}, "l"))
    assert [t["name"] for t in call["result"]["tools"]] == PAGE_1_NAMES, call
    assert [t["name"] for t in listing.response_for("l")["result"]["tools"]] == ["echo", "p/q"], \
        listing.describe()


@pytest.mark.parametrize("era", ["modern", "direct"])
def test_legacy_stream_call_answer_is_not_judged(filter_proxy, era: str) -> None:
    """A legacy HTTP+SSE session: a tools/call whose result carries a top-level `tools` array
    naming the hidden `add` arrives on the stream with it, also under the id a tools/list was
    answered under before; the tools/list answer loses `add`. `modern`: the session translated
    onto a 2026-07-28 upstream (an unfiltered shadowcat serving 2026-07-28 on legacy sessions of
    another, in front of the escaped fixture); `direct`: the escaped fixture as a stdio child."""
    child = ["--upstream-cmd", "--", sys.executable, ESCAPED_FIXTURE]
    if era == "modern":
        modern = filter_proxy(["--upstream", filter_proxy(child, []).url, "--upstream-era", "legacy"], [])
        proxy = filter_proxy(["--upstream", modern.url, "--upstream-era", "modern"], ["--deny-tool", "add"])
    else:
        proxy = filter_proxy(child, ["--deny-tool", "add"])
    legacy = LegacyStream(proxy)
    try:
        legacy.initialize()
        assert legacy.post(_call_listing("c")).status == 202
        call = legacy.response_for("c")["result"]
        assert [t["name"] for t in call["tools"]] == PAGE_1_NAMES, call
        assert legacy.post(rawhttp.jsonrpc("tools/list", {}, "l")).status == 202
        assert [t["name"] for t in legacy.response_for("l")["result"]["tools"]] == ["echo", "p/q"]
        assert legacy.post(_call_listing("l")).status == 202
        again = legacy.response_for("l")["result"]
        assert [t["name"] for t in again["tools"]] == PAGE_1_NAMES, again
    finally:
        legacy.close()


@pytest.mark.parametrize("upstream", ["demo-http", "fixture-stdio"], indirect=True)
def test_two_shards_legacy_posts_on_any_shard(filter_proxy, upstream: Upstream) -> None:
    """`--shards 2`: legacy POSTs arrive on fresh connections, on either shard (handed to the
    session's owner); every hidden call is refused wherever it lands."""
    proxy = filter_proxy(upstream.args, ["--deny-tool", "add"], shards=2)
    sessions = [LegacyStream(proxy) for _ in range(4)]
    try:
        for legacy in sessions:
            legacy.initialize()
        for index in range(4):
            for number, legacy in enumerate(sessions):
                request_id = f"h-{index}-{number}"
                assert legacy.post(rawhttp.jsonrpc("tools/call", {"name": "add", "arguments": {"a": 1, "b": 2}},
                                                   request_id)).status == 202
                assert legacy.response_for(request_id)["error"] == {"code": UNKNOWN_TOOL,
                                                                     "message": "Unknown tool: add"}
    finally:
        for legacy in sessions:
            legacy.close()
    assert denied_total(proxy) == 16
    assert "add" not in upstream.calls_seen(proxy), upstream.calls_seen(proxy)


@pytest.mark.parametrize("upstream", ["demo-http", "fixture-stdio"], indirect=True)
def test_hidden_call_as_notification_is_not_answered(filter_proxy, upstream: Upstream) -> None:
    """`tools/call` without an id is a notification: whether its tool is visible or hidden, the
    POST gets 202 with no body (Streamable HTTP) and nothing arrives on a legacy stream."""
    proxy = filter_proxy(upstream.args, ["--deny-tool", "add"])
    notification = rawhttp.jsonrpc("tools/call", {"name": "add", "arguments": {"a": 1, "b": 2}})
    visible_one = rawhttp.jsonrpc("tools/call", {"name": "echo", "arguments": {"message": "m"}})
    with rawhttp.RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
        session = rawhttp.open_session(conn)
        control = conn.request("POST", "/mcp", session.headers(), visible_one)
        assert control.status == 202 and control.body == b"", control.describe()
        answer = conn.request("POST", "/mcp", session.headers(), notification)
        assert (answer.status, answer.body) == (control.status, control.body), answer.describe()
    legacy = LegacyStream(proxy)
    try:
        legacy.initialize()
        assert legacy.post(notification).status == 202
        assert legacy.post(rawhttp.jsonrpc("ping", {}, "after")).status == 202
        event = legacy.stream.next_event()
        assert event is not None and event.message() == {"jsonrpc": "2.0", "id": "after", "result": {}}, \
            f"the stream carried {event and event.message()} before the ping's answer"
    finally:
        legacy.close()
    assert "add" not in upstream.calls_seen(proxy), upstream.calls_seen(proxy)


@pytest.mark.parametrize("path", ["stdio", "http", "sse"])
def test_large_listing(filter_proxy, path: str) -> None:
    """120 tools registered at run time (about 40 KB of listing, over many reads and SSE frames
    upstream): the cut listing is exact, in the upstream's order."""
    child = ["--upstream-cmd", "--", *harness.fixture_stdio_command()]
    flags = ["--deny-tool", "*_3", "--deny-tool", "crash", "--deny-tool", "bulk_01?_*"]
    if path == "stdio":
        proxy = filter_proxy(child, flags)
        loader = proxy
    else:
        # One shared child behind an unfiltered shadowcat, so the tools loaded through it are the
        # ones the filtered proxy lists.
        loader = filter_proxy(["--stdio-mode", "shared", *child], [])
        upstream = ["--upstream", loader.url] if path == "http" else \
            ["--upstream", f"http://{loader.host_header}/sse", "--upstream-transport", "sse"]
        proxy = filter_proxy(upstream, flags)
    names = [f"bulk_{index:03d}_{'x' * 90}_{index % 7}" for index in range(120)]

    async def load_and_list() -> tuple[list[str], list[str]]:
        async with streamable_http_client(loader.url) as (read, write, _), ClientSession(read, write) as loading:
            await loading.initialize()
            await asyncio.gather(*(loading.call_tool("load_component", {"name": name}) for name in names))
            if loader is proxy:
                return [t.name for t in (await loading.list_tools()).tools], []
            async with streamable_http_client(proxy.url) as (r2, w2, _), ClientSession(r2, w2) as listing:
                await listing.initialize()
                cut = [t.name for t in (await listing.list_tools()).tools]
            return cut, [t.name for t in (await loading.list_tools()).tools]

    cut, unfiltered = asyncio.run(asyncio.wait_for(load_and_list(), CLIENT_TIMEOUT_S * 2))
    everything = FIXTURE_TOOLS + names
    if unfiltered:
        assert sorted(unfiltered) == sorted(everything), "the unfiltered proxy lost tools"
    allow, deny = [], ["*_3", "crash", "bulk_01?_*"]
    order = unfiltered or cut
    want = [name for name in order if visible(name, allow, deny)]
    assert cut == want, f"{len(cut)} listed, {len(want)} wanted; first difference at " \
                        f"{next((i for i, (a, b) in enumerate(zip(cut, want)) if a != b), min(len(cut), len(want)))}"
    assert len(want) == len([n for n in everything if visible(n, allow, deny)])


@pytest.mark.parametrize("flag", ["--allow-tool", "--deny-tool"])
def test_cli_refuses_a_bad_glob(shadowcat_bin: Path, flag: str) -> None:
    process = harness.ManagedProcess("shadowcat-bad-glob", [
        shadowcat_bin, "reverse", "--bind", f"{harness.LOOPBACK_HOST}:0", "--upstream",
        f"http://{harness.LOOPBACK_HOST}:{harness.dead_port()}/mcp", flag, "echo", flag, ""])
    try:
        code = process.popen.wait(timeout=CLIENT_TIMEOUT_S)
    finally:
        process.stop()
    err = "\n".join(line for label, line in process._lines if label == "stderr")
    assert code != 0 and f"`{flag}`" in err, (code, process.output_tail())
