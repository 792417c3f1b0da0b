"""`shadowcat demo-server --stdio` driven by the official Python SDK's `stdio_client` (the SDK
spawns it in its own process group and kills the group on exit), plus raw pipe checks: stdout
carries only JSON-RPC lines, and end of input means exit status 0.

Last: the stdio demo behind `reverse --upstream-cmd` (both modes), as the benchmarks use it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import mcp.types as types
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.context import RequestContext

import harness
from mcp_checks import DEMO, run_mcp_checks

STEP_TIMEOUT_S = 20.0


def server_params(shadowcat_bin: Path) -> StdioServerParameters:
    return StdioServerParameters(command=str(shadowcat_bin), args=["demo-server", "--stdio"],
                                 env=harness.child_env({"RUST_LOG": "warn"}))


async def elicit(context: RequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
    assert "Ship it?" in params.message
    return types.ElicitResult(action="accept", content={"confirm": True})


async def sample(context: RequestContext,
                 params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
    asked = params.messages[0].content
    assert isinstance(asked, types.TextContent)
    return types.CreateMessageResult(role="assistant", model="test-model",
                                     content=types.TextContent(type="text", text=f"echo: {asked.text}"))


async def sdk_session_checks(shadowcat_bin: Path) -> None:
    async with asyncio.timeout(STEP_TIMEOUT_S):
        async with stdio_client(server_params(shadowcat_bin)) as (read, write):
            async with ClientSession(read, write, elicitation_callback=elicit,
                                     sampling_callback=sample) as session:
                init = await session.initialize()
                assert init.serverInfo.name == "shadowcat-demo"

                tools = await session.list_tools()
                names = [tool.name for tool in tools.tools]
                assert names == ["echo", "add", "slow", "confirm", "sample"], names

                echoed = await session.call_tool("echo", {"message": "hello stdio"})
                assert not echoed.isError
                assert echoed.content[0].text == "hello stdio"

                added = await session.call_tool("add", {"a": 2, "b": 40})
                assert added.structuredContent == {"sum": 42}

                # 20 concurrent calls, each gets its own answer.
                messages = [f"m{i}" for i in range(20)]
                results = await asyncio.gather(*(session.call_tool("echo", {"message": m}) for m in messages))
                assert [r.content[0].text for r in results] == messages

                # Progress arrives before the result; an echo sent meanwhile is not held up.
                events: list[str] = []

                async def on_progress(progress: float, total: float | None, message: str | None) -> None:
                    events.append(f"progress {progress:g}/{total:g}")

                slow = asyncio.create_task(session.call_tool(
                    "slow", {"steps": 3, "delay_ms": 150}, progress_callback=on_progress))
                await asyncio.sleep(0)  # let the slow call be written first
                fast = await session.call_tool("echo", {"message": "not blocked"})
                events.append("echo")
                slow_result = await slow
                events.append("result")
                assert fast.content[0].text == "not blocked"
                assert not slow_result.isError
                assert events[0] == "echo", events
                assert events[1:] == ["progress 1/3", "progress 2/3", "progress 3/3", "result"], events

                confirmed = await session.call_tool("confirm", {"message": "Ship it?"})
                assert not confirmed.isError, confirmed
                assert json.loads(confirmed.content[0].text) == {"action": "accept", "content": {"confirm": True}}

                sampled = await session.call_tool("sample", {"prompt": "2+2?"})
                assert not sampled.isError, sampled
                assert sampled.content[0].text == "echo: 2+2?"

                try:
                    unknown = await session.call_tool("no-such-tool", {})
                except Exception as error:  # the SDK raises McpError for JSON-RPC errors
                    assert "Unknown tool: no-such-tool" in str(error), error
                else:
                    assert unknown.isError, unknown

                resource = await session.read_resource("demo://readme")
                assert "shadowcat demo" in resource.contents[0].text
                assert (await session.send_ping()) is not None


def test_sdk_stdio_client_against_demo_server(shadowcat_bin: Path) -> None:
    asyncio.run(sdk_session_checks(shadowcat_bin))


class PipedServer:
    """`demo-server --stdio` on plain pipes, in its own process group, always stopped."""

    def __init__(self, shadowcat_bin: Path) -> None:
        self.process = subprocess.Popen(
            [str(shadowcat_bin), "demo-server", "--stdio"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=harness.child_env(),
            start_new_session=True)

    def __enter__(self) -> "PipedServer":
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


INIT = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "raw", "version": "1"}}}


def test_stdout_has_only_protocol_lines_and_eof_exits_zero(shadowcat_bin: Path) -> None:
    lines = [json.dumps(INIT), "not json", json.dumps({"jsonrpc": "2.0", "id": 1, "method": "nope"}),
             json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}),
             json.dumps({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                         "params": {"name": "slow", "arguments": {"steps": 2, "delay_ms": 50}}})]
    with PipedServer(shadowcat_bin) as server:
        out, err = server.process.communicate(("\n".join(lines) + "\n").encode(), timeout=STEP_TIMEOUT_S)
        assert server.process.returncode == 0, err.decode(errors="replace")
    replies = [json.loads(line) for line in out.decode().splitlines()]
    assert [reply.get("id") for reply in replies] == [0, None, 1, 2], replies
    assert replies[1]["error"]["code"] == -32700
    assert replies[2]["error"]["code"] == -32601
    # The slow call started before EOF still finished.
    assert replies[3]["result"]["content"][0]["text"]


def test_pipelined_echo_rate(shadowcat_bin: Path) -> None:
    """Measures echo calls/s through one child with a pipelined driver (reported, not asserted)."""
    count = 50_000
    request = ('{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"echo",'
               '"arguments":{"message":"hello"}}}\n')
    payload = "".join(request % i for i in range(1, count + 1)).encode()
    with PipedServer(shadowcat_bin) as server:
        assert server.process.stdin is not None and server.process.stdout is not None
        server.process.stdin.write((json.dumps(INIT) + "\n").encode())
        server.process.stdin.flush()
        assert json.loads(server.process.stdout.readline())["id"] == 0
        stdin = server.process.stdin

        def feed() -> None:
            stdin.write(payload)
            stdin.close()

        started = time.perf_counter()
        writer = threading.Thread(target=feed)
        writer.start()
        received = 0
        last = b""
        for line in server.process.stdout:
            received += 1
            last = line
        elapsed = time.perf_counter() - started
        writer.join()
        assert received == count
        assert json.loads(last)["id"] == count
        assert server.process.wait(timeout=STEP_TIMEOUT_S) == 0
    print(f"\ndemo-server --stdio: {count} pipelined echo calls in {elapsed:.3f}s = {count / elapsed:,.0f} calls/s")


def start_stdio_proxy(shadowcat_bin: Path, mode: str) -> harness.Endpoint:
    """`reverse --upstream-cmd -- shadowcat demo-server --stdio` on 127.0.0.1:0, one shard."""
    argv = [shadowcat_bin, "reverse", "--bind", f"{harness.LOOPBACK_HOST}:0", "--shards", "1",
            "--upstream-cmd", "--stdio-mode", mode, "--", shadowcat_bin, "demo-server", "--stdio"]
    return harness.start_listening(f"shadowcat-proxy-stdio-{mode}", argv, ["proxy"])


async def proxied_confirm(url: str) -> None:
    async def accept(context: RequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        return types.ElicitResult(action="accept", content={"confirm": True})

    async with asyncio.timeout(STEP_TIMEOUT_S):
        async with streamable_http_client(url) as (read, write, _):
            async with ClientSession(read, write, elicitation_callback=accept) as session:
                await session.initialize()
                result = await session.call_tool("confirm", {"message": "Through the proxy?"})
                assert not result.isError, result
                assert json.loads(result.content[0].text) == {"action": "accept", "content": {"confirm": True}}


@pytest.mark.parametrize("mode", ["per-session", "shared"])
def test_stdio_demo_behind_the_proxy(shadowcat_bin: Path, mode: str) -> None:
    """The SDK check list and an elicitation round trip (server->client request over the POST's
    SSE stream) through `reverse --upstream-cmd` in both modes; the proxy exits 0 on SIGTERM."""
    proxy = start_stdio_proxy(shadowcat_bin, mode)
    try:
        report = asyncio.run(run_mcp_checks(proxy.url, DEMO, proxied=True))
        failed = [result for result in report.results if not result.ok]
        assert not failed, failed
        asyncio.run(proxied_confirm(proxy.url))
        code = proxy.process.terminate_and_wait(timeout_s=15.0)
        assert code == 0, str(proxy.process.failure(f"exit code {code}"))
    finally:
        proxy.stop()
