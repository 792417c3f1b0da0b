"""The one assertion helper: runs the whole MCP check list against a Streamable HTTP URL, a legacy
HTTP+SSE URL (2024-11-05, `run_mcp_checks_sse`) or, to validate a stdio fixture, straight against a
stdio server, with the official Python SDK (`mcp`), the same list for every target of the matrix (after agentgateway's shared transport-matrix helper). Every check runs even when an earlier one failed (except after a
failed initialize), so one test run reports every broken behaviour of a target at once.

Not here: starting servers (harness.py), raw-HTTP edge cases (test_http_edge.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import traceback
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable

import httpx
from mcp import ClientSession, StdioServerParameters, types
from mcp.client.sse import sse_client
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import McpError
from mcp.shared.version import SUPPORTED_PROTOCOL_VERSIONS

import rawhttp

# One check finishes in well under a second; 20 s bounds a hang without killing the whole run.
STEP_TIMEOUT_S = 20.0
CONCURRENT_CALLS = 20


@dataclass(frozen=True)
class ServerProfile:
    """What an upstream offers, so one check list fits servers with different fixtures."""

    label: str
    server_name: str | None  # exact serverInfo.name, None = any non-empty name
    echo_text: Callable[[str], str]  # text the echo tool answers for a message
    required_tools: frozenset[str]
    progress_tool: str
    progress_args: dict[str, Any]
    progress_steps: int
    required_resources: tuple[str, ...]  # URIs that must be listed; empty = any non-empty list
    read_resource: str | None  # URI to read; None = the first listed
    prompt: str
    prompt_args: dict[str, str]
    prompt_must_contain: str
    # Status a direct request answers on a session after DELETE (proxies answer 404, per spec).
    direct_closed_session_status: int
    # A tool that sends the client sampling/createMessage and puts the client's answer in its result.
    sampling_tool: str | None = None
    sampling_args: dict[str, Any] = field(default_factory=dict)
    # A tool that sends the client elicitation/create (schema {answer: string}) and echoes the answer.
    elicitation_tool: str | None = None
    elicitation_args: dict[str, Any] = field(default_factory=dict)


# What the test client answers to server->client requests; the tool results must carry them back.
SAMPLING_REPLY = "sampled by the shadowcat test client"
ELICITATION_REPLY = "elicited by the shadowcat test client"


DEMO = ServerProfile(
    label="shadowcat demo-server",
    server_name=None,
    echo_text=lambda message: message,
    required_tools=frozenset({"echo", "add", "slow"}),
    progress_tool="slow",
    progress_args={"steps": 3, "delay_ms": 20},
    progress_steps=3,
    required_resources=("demo://readme", "demo://stats"),
    read_resource="demo://readme",
    prompt="greet",
    prompt_args={"name": "Ada Lovelace"},
    prompt_must_contain="Ada Lovelace",
    direct_closed_session_status=404,
)

EVERYTHING = ServerProfile(
    label="server-everything",
    server_name="mcp-servers/everything",
    echo_text=lambda message: f"Echo: {message}",
    required_tools=frozenset({"echo", "get-sum", "trigger-long-running-operation"}),
    progress_tool="trigger-long-running-operation",
    progress_args={"duration": 0.3, "steps": 3},  # seconds in all, 0.1 s a step
    progress_steps=3,
    required_resources=(),
    read_resource=None,
    prompt="args-prompt",
    prompt_args={"city": "Ada Lovelace"},
    prompt_must_contain="Ada Lovelace",
    # server-everything answers an unknown session with 400 "No valid session ID provided".
    direct_closed_session_status=400,
    # Registered only for a client that declares the sampling capability (it is given a callback).
    sampling_tool="trigger-sampling-request",
    sampling_args={"prompt": "shadowcat sampling check", "maxTokens": 20},
)

# tests/interop/fixtures/fastmcp_server.py (official Python SDK, FastMCP, stdio).
FIXTURE = ServerProfile(
    label="FastMCP fixture",
    server_name="shadowcat-fastmcp-fixture",
    echo_text=lambda message: message,
    required_tools=frozenset({"echo", "add", "slow", "ask", "crash", "whoami", "log", "load_component", "noise", "big", "touch"}),
    progress_tool="slow",
    progress_args={"steps": 3, "delay_ms": 20},
    progress_steps=3,
    required_resources=("fixture://readme",),
    read_resource="fixture://readme",
    prompt="greet",
    prompt_args={"name": "Ada Lovelace"},
    prompt_must_contain="Ada Lovelace",
    direct_closed_session_status=404,  # unused: the fixture has no HTTP side
    sampling_tool="ask",
    sampling_args={"question": "shadowcat sampling check", "mode": "sampling"},
    elicitation_tool="ask",
    elicitation_args={"question": "shadowcat elicitation check", "mode": "elicitation"},
)


@dataclass
class CheckResult:
    name: str
    ok: bool
    summary: str = ""  # one line for the table
    detail: str = ""  # traceback for the failure details


def _failed(name: str, error: BaseException) -> CheckResult:
    leaf = error
    while isinstance(leaf, BaseExceptionGroup) and leaf.exceptions:
        leaf = leaf.exceptions[0]
    summary = "".join(traceback.format_exception_only(leaf)).strip().replace("\n", " ")
    return CheckResult(name, False, summary[:200], "".join(traceback.format_exception(error, limit=6)))


@dataclass
class CheckReport:
    target: str
    results: list[CheckResult] = field(default_factory=list)
    http_log: list[tuple[str, int]] = field(default_factory=list)

    @property
    def failures(self) -> list[CheckResult]:
        return [result for result in self.results if not result.ok]

    def table(self) -> str:
        width = max((len(result.name) for result in self.results), default=10)
        lines = [f"checks against {self.target}:"]
        for result in self.results:
            mark = "PASS" if result.ok else "FAIL"
            lines.append(f"  {mark}  {result.name:<{width}}  {result.summary}".rstrip())
        return "\n".join(lines)

    def failure_text(self) -> str:
        parts = [self.table(), "", "failure details:"]
        for result in self.failures:
            parts.append(f"--- {result.name}\n{result.detail}")
        parts.append(f"HTTP exchanges seen by the SDK: {self.http_log}")
        return "\n".join(parts)


class _Recorder:
    def __init__(self, report: CheckReport) -> None:
        self.report = report

    @contextlib.asynccontextmanager
    async def check(self, name: str) -> AsyncIterator[None]:
        try:
            async with asyncio.timeout(STEP_TIMEOUT_S):
                yield
        except Exception as error:  # noqa: BLE001 - every failure becomes a report line, not a crash
            self.report.results.append(_failed(name, error))
        else:
            self.report.results.append(CheckResult(name, True))

    def last_ok(self) -> bool:
        return bool(self.report.results) and self.report.results[-1].ok


def _text_of(result: Any) -> str:
    texts = [block.text for block in result.content if getattr(block, "type", None) == "text"]
    assert texts, f"no text content in {result!r}"
    return texts[0]


async def _check_session(session: ClientSession, profile: ServerProfile, rec: _Recorder) -> str | None:
    """Runs the in-session checks; returns the negotiated protocol version (None: no session)."""
    init = None
    async with rec.check("initialize"):
        init = await session.initialize()
        assert init.protocolVersion in SUPPORTED_PROTOCOL_VERSIONS, init.protocolVersion
        assert init.serverInfo.name, "empty serverInfo.name"
        if profile.server_name is not None:
            assert init.serverInfo.name == profile.server_name, init.serverInfo
    if init is None or not rec.last_ok():
        return None

    async with rec.check("ping"):
        await session.send_ping()

    async with rec.check("tools/list"):
        names = {tool.name for tool in (await session.list_tools()).tools}
        missing = profile.required_tools - names
        assert not missing, f"tools missing: {sorted(missing)} (listed: {sorted(names)})"

    async with rec.check("tools/call echo"):
        message = "hello through shadowcat: ünïcødé ✓"
        result = await session.call_tool("echo", {"message": message})
        assert not result.isError, result
        text = _text_of(result)
        assert text == profile.echo_text(message), f"echo answered {text!r}, want {profile.echo_text(message)!r}"

    async with rec.check("tools/call unknown tool is an error"):
        try:
            result = await session.call_tool("no-such-tool-shadowcat", {})
        except McpError:
            pass
        else:
            assert result.isError, f"unknown tool answered as a success: {result!r}"

    async with rec.check(f"{CONCURRENT_CALLS} concurrent calls on one session"):
        messages = [f"concurrent-{index}-{'x' * index}" for index in range(CONCURRENT_CALLS)]
        results = await asyncio.gather(*(session.call_tool("echo", {"message": m}) for m in messages))
        wrong = [(m, _text_of(r)) for m, r in zip(messages, results) if _text_of(r) != profile.echo_text(m)]
        assert not wrong, f"{len(wrong)} answers wrong, e.g. sent {wrong[0][0]!r} got {wrong[0][1]!r}"

    async with rec.check("progress notifications before the result"):
        progress: list[float] = []

        async def on_progress(value: float, total: float | None, message: str | None) -> None:
            progress.append(value)

        result = await session.call_tool(profile.progress_tool, profile.progress_args,
                                         progress_callback=on_progress)
        # The SDK runs progress callbacks in its receive loop before it resolves the response, so
        # every notification sent before the result is recorded by the time call_tool returns.
        seen_at_result = list(progress)
        assert not result.isError, result
        assert len(seen_at_result) == profile.progress_steps, f"progress seen: {seen_at_result}"
        assert seen_at_result == sorted(seen_at_result), f"progress out of order: {seen_at_result}"

    async with rec.check("resources/list + read"):
        resources = (await session.list_resources()).resources
        uris = [str(resource.uri) for resource in resources]
        assert uris, "no resources listed"
        missing = [uri for uri in profile.required_resources if uri not in uris]
        assert not missing, f"resources missing: {missing} (listed: {uris})"
        uri = profile.read_resource or uris[0]
        contents = (await session.read_resource(uri)).contents
        assert contents, f"{uri}: empty contents"
        assert any(getattr(c, "text", None) or getattr(c, "blob", None) for c in contents), contents

    async with rec.check("prompts/list + get"):
        names = {prompt.name for prompt in (await session.list_prompts()).prompts}
        assert profile.prompt in names, f"prompt {profile.prompt!r} not in {sorted(names)}"
        prompt = await session.get_prompt(profile.prompt, profile.prompt_args)
        texts = [getattr(m.content, "text", "") for m in prompt.messages]
        assert any(profile.prompt_must_contain in text for text in texts), prompt

    if profile.sampling_tool is not None:
        async with rec.check("server->client sampling answered by the client"):
            result = await session.call_tool(profile.sampling_tool, profile.sampling_args)
            assert not result.isError, result
            text = _text_of(result)
            assert SAMPLING_REPLY in text, f"the client's sampling answer is not in the result: {text!r}"

    if profile.elicitation_tool is not None:
        async with rec.check("server->client elicitation answered by the client"):
            result = await session.call_tool(profile.elicitation_tool, profile.elicitation_args)
            assert not result.isError, result
            text = _text_of(result)
            assert ELICITATION_REPLY in text, f"the client's elicitation answer is not in the result: {text!r}"
    return init.protocolVersion


async def answer_sampling(context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
    """The test client's sampling callback: a fixed answer (SAMPLING_REPLY)."""
    return types.CreateMessageResult(role="assistant", model="shadowcat-test",
                                     content=types.TextContent(type="text", text=SAMPLING_REPLY))


async def answer_elicitation(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
    """The test client's elicitation callback: accepts with {answer: ELICITATION_REPLY}."""
    return types.ElicitResult(action="accept", content={"answer": ELICITATION_REPLY})


def client_callbacks(profile: ServerProfile) -> dict[str, Any]:
    """ClientSession keyword arguments: the server->client callbacks this profile's checks need (a
    callback declares the capability, which changes what some servers offer, so only when needed)."""
    callbacks: dict[str, Any] = {}
    if profile.sampling_tool is not None:
        callbacks["sampling_callback"] = answer_sampling
    if profile.elicitation_tool is not None:
        callbacks["elicitation_callback"] = answer_elicitation
    return callbacks


async def run_mcp_checks(url: str, profile: ServerProfile, *, proxied: bool) -> CheckReport:
    """Runs the full check list against `url`; never raises for a failed check (see the report)."""
    report = CheckReport(target=f"{profile.label} {'through shadowcat' if proxied else 'direct'} ({url})")
    rec = _Recorder(report)

    async def log_response(response: httpx.Response) -> None:
        report.http_log.append((response.request.method, response.status_code))

    session_id: str | None = None
    version: str | None = None
    client = httpx.AsyncClient(timeout=httpx.Timeout(30.0, read=300.0), trust_env=False,
                               event_hooks={"response": [log_response]})
    try:
        async with client, streamable_http_client(url, http_client=client) as (read, write, get_id):
            async with ClientSession(read, write, **client_callbacks(profile)) as session:
                version = await _check_session(session, profile, rec)
                session_id = get_id()
    except Exception as error:  # noqa: BLE001 - a transport crash is one more failed check
        report.results.append(_failed("transport stayed up", error))
    if version is None:
        return report

    async with rec.check("DELETE ends the session"):
        deletes = [status for method, status in report.http_log if method == "DELETE"]
        assert session_id, "no Mcp-Session-Id was minted"
        assert deletes and all(status in (200, 204) for status in deletes), f"DELETE statuses: {deletes}"

    async with rec.check("closed session is refused"):
        expected = 404 if proxied else profile.direct_closed_session_status
        status = await asyncio.to_thread(_post_on_session, url, session_id, version)
        assert status == expected, f"request on a deleted session answered {status}, want {expected}"
    return report


async def run_mcp_checks_stdio(server: StdioServerParameters, profile: ServerProfile,
                               via: str = "the SDK's stdio client, direct") -> CheckReport:
    """The in-session checks over stdio: the SDK launches `server` (e.g. `shadowcat forward ...`, or
    a stdio fixture to validate it before any proxy is put in front of it) and speaks
    newline-delimited JSON-RPC to it; `via` names the path in the report. The SDK's stdio_client
    ends the process when the block exits (stdin closed, then SIGTERM/SIGKILL)."""
    report = CheckReport(target=f"{profile.label} through {via}")
    rec = _Recorder(report)
    try:
        async with stdio_client(server) as (read, write), \
                ClientSession(read, write, **client_callbacks(profile)) as session:
            await _check_session(session, profile, rec)
    except Exception as error:  # noqa: BLE001 - a transport crash is one more failed check
        report.results.append(_failed("transport stayed up", error))
    return report


async def run_mcp_checks_sse(url: str, profile: ServerProfile, via: str) -> CheckReport:
    """The in-session checks over the legacy HTTP+SSE transport (2024-11-05): the SDK's sse_client
    GETs `url`, waits for the `endpoint` event and POSTs every message there; all answers arrive on
    the stream. `via` names the path in the report."""
    report = CheckReport(target=f"{profile.label} through {via} ({url})")
    rec = _Recorder(report)
    try:
        async with sse_client(url, timeout=STEP_TIMEOUT_S) as (read, write), \
                ClientSession(read, write, **client_callbacks(profile)) as session:
            await _check_session(session, profile, rec)
    except Exception as error:  # noqa: BLE001 - a transport crash is one more failed check
        report.results.append(_failed("transport stayed up", error))
    return report


def _post_on_session(url: str, session_id: str | None, version: str) -> int:
    host, port = url.split("/")[2].split(":")
    with rawhttp.RawConnection(host, int(port)) as conn:
        response = conn.request("POST", "/" + url.split("/", 3)[3], rawhttp.mcp_headers(session_id, version),
                                rawhttp.jsonrpc("tools/list", {}, "after-close"))
        return response.status
