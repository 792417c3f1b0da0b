"""`shadowcat forward --allow-tool/--deny-tool`: the `tool_filter` stage in forward mode, seen by
the official Python SDK's stdio client (`mcp.client.stdio.stdio_client`, which starts forward and
stops it when the test leaves its context, failed or not; forward's child dies with it).

Each case lists the tools, calls a hidden tool and calls `echo`, then asserts: the listing is the
target's tools minus the hidden ones; the hidden call fails with -32602 `Unknown tool: NAME`;
`echo` works. Targets: the demo server as a stdio child (`-- shadowcat demo-server --stdio`) and
over HTTP (`--target`), and the FastMCP fixture as a stdio child with `FIXTURE_LOG_CALLS=1`, whose
`fixture-call: NAME` stderr lines (relayed into forward's log) show the hidden call never reached
it. Then raw lines to the escaped fixture: only the answer to a tools/list is cut, not a
tools/call answer carrying a top-level `tools` array.

Not here: the filter on the reverse proxy (test_tool_filter.py), forward's other behaviour
(test_forward.py), the stage's unit tests (src/forward/stages.rs, src/pipeline/).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import McpError

import harness

# One client run (start, list, two calls) takes about a second; this bounds a hang.
CLIENT_TIMEOUT_S = 60.0
UNKNOWN_TOOL = -32602
DEMO_HTTP_TOOLS = ["echo", "add", "slow"]
DEMO_STDIO_TOOLS = ["echo", "add", "slow", "confirm", "sample"]


def _forward(shadowcat_bin: Path, *args: str | Path, env: dict[str, str] | None = None) -> StdioServerParameters:
    return StdioServerParameters(command=str(shadowcat_bin), args=["forward", *map(str, args)],
                                 env={**os.environ, **(env or {})})


def _session(server: StdioServerParameters, hidden: str, errlog: Path) -> tuple[list[str], McpError, str]:
    """Lists the tools, calls `hidden` (must fail) and `echo`; forward's stderr goes to `errlog`."""

    async def run() -> tuple[list[str], McpError, str]:
        with errlog.open("w") as log:
            async with stdio_client(server, errlog=log) as (read, write), \
                    ClientSession(read, write) as session:
                async with asyncio.timeout(CLIENT_TIMEOUT_S):
                    await session.initialize()
                    listing = await session.list_tools()
                    with pytest.raises(McpError) as refused:
                        await session.call_tool(hidden, {"a": 1, "b": 2})
                    echo = await session.call_tool("echo", {"message": "still here"})
        assert not echo.isError, echo
        texts = " ".join(getattr(part, "text", "") for part in echo.content)
        return [tool.name for tool in listing.tools], refused.value, texts

    return asyncio.run(run())


def _assert_refused(error: McpError, name: str) -> None:
    assert error.error.code == UNKNOWN_TOOL, error.error
    assert error.error.message == f"Unknown tool: {name}", error.error


@pytest.mark.parametrize("flags, shown", [
    (["--deny-tool", "add"], ["echo", "slow", "confirm", "sample"]),
    (["--allow-tool", "echo", "--allow-tool", "s*"], ["echo", "slow", "sample"]),
    (["--allow-tool", "*", "--deny-tool", "a?d", "--deny-tool", "c*"], ["echo", "slow", "sample"]),
], ids=["deny", "allow", "both"])
def test_a_stdio_child_target(shadowcat_bin: Path, tmp_path: Path, flags: list[str], shown: list[str]) -> None:
    server = _forward(shadowcat_bin, *flags, "--", shadowcat_bin, "demo-server", "--stdio")
    names, refused, echoed = _session(server, "add", tmp_path / "forward.log")
    assert names == shown, f"hidden tools must be left out: {names}"
    assert set(DEMO_STDIO_TOOLS) >= set(names)
    _assert_refused(refused, "add")
    assert "still here" in echoed


@pytest.mark.parametrize("flags, shown", [
    (["--deny-tool", "a*"], ["echo", "slow"]),
    (["--allow-tool", "ech?"], ["echo"]),
], ids=["deny", "allow"])
def test_an_http_target(shadowcat_bin: Path, demo_upstream: harness.Endpoint, tmp_path: Path,
                        flags: list[str], shown: list[str]) -> None:
    server = _forward(shadowcat_bin, *flags, "--target", demo_upstream.url)
    names, refused, echoed = _session(server, "add", tmp_path / "forward.log")
    assert names == shown, f"hidden tools must be left out: {names}"
    assert set(DEMO_HTTP_TOOLS) >= set(names)
    _assert_refused(refused, "add")
    assert "still here" in echoed


def test_a_hidden_call_never_reaches_the_child(shadowcat_bin: Path, tmp_path: Path) -> None:
    log = tmp_path / "forward.log"
    server = _forward(shadowcat_bin, "--deny-tool", "add", "--log-level", "info", "--",
                      *harness.fixture_stdio_command(), env={"FIXTURE_LOG_CALLS": "1"})
    names, refused, _ = _session(server, "add", log)
    assert "add" not in names and "echo" in names, names
    _assert_refused(refused, "add")
    calls = re.findall(r"fixture-call: (\S+)", harness._ANSI_ESCAPE.sub("", log.read_text()))
    assert calls == ["echo"], f"the child saw: {calls}"


ESCAPED_FIXTURE = Path(__file__).resolve().parent / "fixtures" / "escaped_tools_server.py"


def test_only_answers_to_tools_list_are_judged(shadowcat_bin: Path) -> None:
    """Forward remembers the ids of the client's tools/list requests: the answer under id 1 is
    cut; tools/call answers whose results carry a top-level `tools` array naming the hidden `add`
    (under id "1", a string, and under id 1 once the listing was answered) keep every tool. The
    target is the escaped fixture (raw JSON-RPC lines, no SDK)."""

    def line(request_id: object, method: str, params: dict) -> str:
        return json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})

    call = {"name": "echo", "arguments": {"listing": True}}
    lines = [line(0, "initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                    "clientInfo": {"name": "t", "version": "0"}}),
             line(1, "tools/list", {}), line("1", "tools/call", call), line(1, "tools/call", call)]
    # One request at a time: forward answers in the target's order, and id 1 is reused.
    process = subprocess.Popen([str(shadowcat_bin), "forward", "--deny-tool", "add", "--", sys.executable,
                                str(ESCAPED_FIXTURE)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdin is not None and process.stdout is not None
        answers = []
        for text in lines:
            process.stdin.write(text + "\n")
            process.stdin.flush()
            answers.append(json.loads(process.stdout.readline()))
        process.stdin.close()
        assert process.wait(timeout=CLIENT_TIMEOUT_S) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    listing, string_call, reused_call = answers[1:]
    assert listing["id"] == 1 and [t["name"] for t in listing["result"]["tools"]] == ["echo", "p/q"], listing
    for answer, request_id in ((string_call, "1"), (reused_call, 1)):
        assert answer["id"] == request_id, answer
        assert [t["name"] for t in answer["result"]["tools"]] == ["echo", "add", "p/q"], answer
