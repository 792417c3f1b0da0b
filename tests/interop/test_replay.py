"""`shadowcat replay`: a tape served as an MCP server (`--bind`) to the official Python and
TypeScript SDK clients over Streamable HTTP and legacy HTTP+SSE, and a tape re-sent to live servers
(`--target`) as a regression test: equal against the real demo server (over HTTP and stdio), a diff
and exit 1 against a changed server (fixtures/changed_echo_server.py), exit 2 when the server cannot
be reached.

The tapes are written here (tapes.py): by hand for `--bind` (recorded ids 100… differ from the
clients' own, so an answer only reaches the SDK with the id rewritten), and captured from the real
demo server for `--target`.

Not here: the tape commands (test_tape_cli.py), matching details (src/tape/script_tests.rs).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest
from mcp import ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import McpError

import harness
from tapes import TapeWriter, capture_http

FIXTURES = Path(__file__).resolve().parent / "fixtures"
STEP_TIMEOUT_S = 15


def recorded_session() -> TapeWriter:
    """What a client and a server said: initialize, a log message nobody asked for, tools/list,
    echo, and slow with two progress notifications 100 ms apart."""
    tape = TapeWriter()
    tape.c2s(0, {"jsonrpc": "2.0", "id": 100, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "recorder", "version": "1"}}})
    tape.s2c(1, {"jsonrpc": "2.0", "id": 100, "result": {
        "protocolVersion": "2025-06-18", "capabilities": {"tools": {}, "logging": {}},
        "serverInfo": {"name": "recorded-server", "version": "9.9.9"}}})
    tape.c2s(2, {"jsonrpc": "2.0", "method": "notifications/initialized"})
    tape.s2c(5, {"jsonrpc": "2.0", "method": "notifications/message",
                 "params": {"level": "info", "data": "recorded log"}})
    schema = {"type": "object", "properties": {"text": {"type": "string"}, "steps": {"type": "integer"}}}
    tape.c2s(10, {"jsonrpc": "2.0", "id": 101, "method": "tools/list"})
    tape.s2c(11, {"jsonrpc": "2.0", "id": 101, "result": {"tools": [
        {"name": "echo", "inputSchema": schema}, {"name": "slow", "inputSchema": schema}]}})
    tape.c2s(20, {"jsonrpc": "2.0", "id": 102, "method": "tools/call",
                  "params": {"name": "echo", "arguments": {"text": "hi"}}})
    tape.s2c(21, {"jsonrpc": "2.0", "id": 102, "result": {"content": [{"type": "text", "text": "recorded hi"}]}})
    tape.c2s(30, {"jsonrpc": "2.0", "id": 103, "method": "tools/call",
                  "params": {"name": "slow", "arguments": {"steps": 2}, "_meta": {"progressToken": 103}}})
    for step in (1, 2):
        tape.s2c(30 + 100 * step, {"jsonrpc": "2.0", "method": "notifications/progress",
                                   "params": {"progressToken": 103, "progress": step, "total": 2}})
    tape.s2c(330, {"jsonrpc": "2.0", "id": 103, "result": {"content": [{"type": "text", "text": "slow done"}]}})
    return tape


@pytest.fixture(scope="module")
def replay_server(shadowcat_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    tape = recorded_session().write(tmp_path_factory.mktemp("replay") / "session.tape.jsonl")
    argv = [shadowcat_bin, "replay", tape, "--bind", f"{harness.LOOPBACK_HOST}:0", "--speed", "10"]
    process = harness.ManagedProcess("replay", [str(a) for a in argv])
    try:
        urls = harness.wait_shadowcat_ready(process, ["proxy", "proxy-sse"])
        yield urls
    finally:
        process.stop()


async def python_client(url: str, transport: str) -> dict[str, Any]:
    logs: list[Any] = []
    logged = asyncio.Event()

    async def on_log(params: Any) -> None:
        logs.append(params.data)
        logged.set()

    progress: list[float] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)

    streams = streamable_http_client(url) if transport == "streamable" else sse_client(url)
    async with streams as pair:
        async with ClientSession(pair[0], pair[1], logging_callback=on_log) as session:
            seen: dict[str, Any] = {}
            init = await session.initialize()
            seen["server"] = init.serverInfo.name
            seen["tools"] = [t.name for t in (await session.list_tools()).tools]
            seen["echo"] = (await session.call_tool("echo", {"text": "hi"})).content[0].text
            seen["slow"] = (await session.call_tool("slow", {"steps": 2}, progress_callback=on_progress)).content[0].text
            seen["progress"] = progress
            with pytest.raises(McpError) as unmatched:
                await session.call_tool("echo", {"text": "bye"})
            seen["unmatched"] = str(unmatched.value)
            await asyncio.wait_for(logged.wait(), STEP_TIMEOUT_S)
            seen["logs"] = logs
            return seen


def check_replayed(seen: dict[str, Any]) -> None:
    assert seen["server"] == "recorded-server"
    assert seen["tools"] == ["echo", "slow"]
    assert seen["echo"] == "recorded hi"
    assert seen["slow"] == "slow done"
    assert seen["progress"] == [1, 2]
    assert "no recorded request matches tools/call" in seen["unmatched"]
    assert 'closest recorded: tools/call {"arguments":{"text":"hi"},"name":"echo"}' in seen["unmatched"]


@pytest.mark.parametrize("transport", ["streamable", "sse"])
def test_python_sdk_client_gets_the_recorded_answers(replay_server: dict[str, str], transport: str) -> None:
    url = replay_server["proxy" if transport == "streamable" else "proxy-sse"]
    seen = asyncio.run(asyncio.wait_for(python_client(url, transport), 60))
    check_replayed(seen)
    assert seen["logs"] == ["recorded log"]


@pytest.mark.parametrize("transport", ["streamable", "sse"])
def test_typescript_sdk_client_gets_the_recorded_answers(replay_server: dict[str, str], transport: str) -> None:
    url = replay_server["proxy" if transport == "streamable" else "proxy-sse"]
    check_replayed(run_ts_client(url, transport))


# --- replay --target -----------------------------------------------------------------------------

DEMO_CALLS: list[dict[str, Any]] = [
    {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "capture", "version": "1"}}},
    {"jsonrpc": "2.0", "method": "notifications/initialized"},
    {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "echo", "arguments": {"message": "hi"}}},
    {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "add", "arguments": {"a": 2, "b": 3}}},
    {"jsonrpc": "2.0", "id": 4, "method": "ping"},
    {"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "no-such-tool", "arguments": {}}},
]


@pytest.fixture(scope="module")
def demo_tape(shadowcat_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tape of what the real demo server answers, captured over Streamable HTTP."""
    demo = harness.start_demo_server(shadowcat_bin)
    try:
        tape = capture_http(demo.url, DEMO_CALLS)
    finally:
        demo.stop()
    return tape.write(tmp_path_factory.mktemp("target") / "demo.tape.jsonl")


def replay_target(shadowcat_bin: Path, tape: Path, *target: str) -> subprocess.CompletedProcess[str]:
    argv = [str(shadowcat_bin), "replay", str(tape), "--target", *target]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


def replay_against_demo(shadowcat_bin: Path, tape: Path) -> subprocess.CompletedProcess[str]:
    """`replay TAPE --target` against a demo server started (and stopped) for it."""
    demo = harness.start_demo_server(shadowcat_bin)
    try:
        return replay_target(shadowcat_bin, tape, demo.url)
    finally:
        demo.stop()


def test_target_demo_over_http_equals_the_tape(shadowcat_bin: Path, demo_tape: Path) -> None:
    run = replay_against_demo(shadowcat_bin, demo_tape)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "5 request(s) replayed: all answers equal the tape" in run.stdout


def test_target_demo_over_stdio_equals_the_tape(shadowcat_bin: Path, demo_tape: Path) -> None:
    run = replay_target(shadowcat_bin, demo_tape, "--", str(shadowcat_bin), "demo-server", "--stdio")
    assert run.returncode == 0, run.stdout + run.stderr


def test_target_changed_server_prints_the_diff_and_exits_1(shadowcat_bin: Path, demo_tape: Path) -> None:
    run = replay_target(shadowcat_bin, demo_tape, "--", sys.executable, str(FIXTURES / "changed_echo_server.py"))
    assert run.returncode == 1, run.stdout + run.stderr
    assert '≠ #2 tools/call echo (line 5)' in run.stdout, run.stdout
    assert '/result/content/0/text: recorded "hi" · live "HI"' in run.stdout, run.stdout
    assert "answer(s) differ" in run.stdout


def test_target_sends_a_cancelled_request_without_awaiting_it_and_names_batches(
        shadowcat_bin: Path, demo_tape: Path, tmp_path: Path) -> None:
    """A request the tape holds no answer for (the client cancelled it) is sent and not awaited
    (a slow call of 50 s would otherwise hold the replay), then the recorded cancellation; a
    batch line is named, not silently skipped."""
    lines = demo_tape.read_text().splitlines()
    last = json.loads(lines[-1])["t_us"]
    slow = {"jsonrpc": "2.0", "id": 99, "method": "tools/call",
            "params": {"name": "slow", "arguments": {"steps": 50, "delay_ms": 1000}}}
    cancel = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 99}}
    batch = [{"jsonrpc": "2.0", "id": 98, "method": "ping"}]
    extra = [{"t_us": last + 1000 * (i + 1), "dir": "c2s", "msg": m} for i, m in enumerate([slow, cancel, batch])]
    tape = tmp_path / "cancelled.tape.jsonl"
    tape.write_text("\n".join(lines + [json.dumps(e) for e in extra]) + "\n")
    run = replay_against_demo(shadowcat_bin, tape)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "#99 tools/call slow" in run.stdout and "not awaited" in run.stdout, run.stdout
    assert f"batch (line {len(lines) + 3}) not replayed" in run.stdout, run.stdout


def test_target_unreachable_server_exits_2(shadowcat_bin: Path, demo_tape: Path) -> None:
    run = replay_target(shadowcat_bin, demo_tape, f"http://{harness.LOOPBACK_HOST}:{harness.dead_port()}/mcp")
    assert run.returncode == 2, run.stdout + run.stderr
    assert "shadowcat replay: initialize" in run.stderr


# --- record, then replay -------------------------------------------------------------------------

async def demo_calls(url: str, transport: str) -> dict[str, Any]:
    """The same calls on any demo-like server: tools, echo, add, slow with progress, a resource."""
    progress: list[float] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)

    streams = streamable_http_client(url) if transport == "streamable" else sse_client(url)
    async with streams as pair:
        async with ClientSession(pair[0], pair[1]) as session:
            seen: dict[str, Any] = {"server": (await session.initialize()).serverInfo.name}
            seen["tools"] = [t.name for t in (await session.list_tools()).tools]
            seen["echo"] = (await session.call_tool("echo", {"message": "hi"})).content[0].text
            seen["add"] = (await session.call_tool("add", {"a": 2, "b": 3})).structuredContent
            slow = await session.call_tool("slow", {"steps": 3, "delay_ms": 20}, progress_callback=on_progress)
            seen["slow"] = slow.content[0].text
            seen["progress"] = progress
            seen["readme"] = (await session.read_resource("demo://readme")).contents[0].text
            return seen


def test_a_recorded_session_replays_with_the_same_results(shadowcat_bin: Path, tmp_path: Path) -> None:
    """Record the Python SDK client through `demo --record` (the recorder of issue 11), then the
    same calls against `replay --bind` of that tape, over both transports, give the same results."""
    tapes = tmp_path / "tapes"
    demo = harness.start_listening("demo", [shadowcat_bin, "demo", "--bind", f"{harness.LOOPBACK_HOST}:0",
                                            "--record", tapes], ["proxy"])
    try:
        recorded = asyncio.run(asyncio.wait_for(demo_calls(demo.url, "streamable"), 60))
    finally:
        demo.stop()
    [tape] = sorted(tapes.rglob("*.tape.jsonl"))
    verify = subprocess.run([str(shadowcat_bin), "tape", "verify", str(tape)], capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    process = harness.ManagedProcess("replay", [str(shadowcat_bin), "replay", str(tape), "--bind",
                                                f"{harness.LOOPBACK_HOST}:0", "--speed", "0"])
    try:
        urls = harness.wait_shadowcat_ready(process, ["proxy", "proxy-sse"])
        for transport, url in (("streamable", urls["proxy"]), ("sse", urls["proxy-sse"])):
            replayed = asyncio.run(asyncio.wait_for(demo_calls(url, transport), 60))
            assert replayed == recorded, transport
    finally:
        process.stop()
    assert recorded["progress"] == [1, 2, 3]


def run_ts_client(url: str, transport: str) -> dict[str, Any]:
    env = harness.child_env({"SHADOWCAT_NODE_MODULES": str(harness.NODE_MODULES)})
    argv = [str(harness.node22()), str(FIXTURES / "ts_replay_client.mjs"), url]
    if transport == "sse":
        argv.append("sse")
    run = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    lines = [line for line in run.stdout.splitlines() if line.startswith("{")]
    assert run.returncode == 0 and lines, f"ts client exited {run.returncode}:\n{run.stdout}\n{run.stderr}"
    return json.loads(lines[-1])


def test_a_typescript_recorded_session_replays_with_the_same_results(shadowcat_bin: Path, tmp_path: Path) -> None:
    """Record the TypeScript SDK client through `demo --record`, then the same client against
    `replay --bind` of that tape, over both transports, sees the same results.

    Over legacy SSE the last progress notification, sent right before the answer, does not reach
    the TypeScript client (the same against the live demo, without a tape: a proxy legacy-SSE
    ordering question, reported separately), so there only the progress seen is not compared."""
    tapes = tmp_path / "tapes"
    demo = harness.start_listening("demo", [shadowcat_bin, "demo", "--bind", f"{harness.LOOPBACK_HOST}:0",
                                            "--record", tapes], ["proxy"])
    try:
        recorded = run_ts_client(demo.url, "streamable")
    finally:
        demo.stop()
    [tape] = sorted(tapes.rglob("*.tape.jsonl"))
    process = harness.ManagedProcess("replay", [str(shadowcat_bin), "replay", str(tape), "--bind",
                                                f"{harness.LOOPBACK_HOST}:0", "--speed", "0"])
    try:
        urls = harness.wait_shadowcat_ready(process, ["proxy", "proxy-sse"])
        assert run_ts_client(urls["proxy"], "streamable") == recorded
        over_sse = run_ts_client(urls["proxy-sse"], "sse")
    finally:
        process.stop()
    assert recorded["server"] == "shadowcat-demo" and recorded["progress"] == [1, 2]
    assert {**over_sse, "progress": None} == {**recorded, "progress": None}
