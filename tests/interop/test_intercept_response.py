"""Interception rules that hold messages going to the client (`direction = "response"`: `delay`,
`pause`), seen by the official Python SDK client through the proxy, over the demo HTTP upstream and
the demo as a stdio child (`demo-server --stdio` behind `reverse --upstream-cmd`):

- `delay` on a `tools/call` answer: the answer arrives, and only once the delay passed (the call is
  awaited and timed, never slept on);
- `pause` on a `tools/call` answer, decided with `shadowcat intercept resume|modify|block` (the
  paused list shows it as `direction: response`, its request's method and tool, the answer); while
  it is held, another call of its session and one of another session complete: on the stdio
  upstream the child's answers to them pass the shared read loop while one answer is held;
- a paused answer nobody decides: the rule's `default` after `timeout`;
- a pause on the second `notifications/progress` of the demo's `slow` tool: what preceded it
  arrived, nothing after it on that stream did while it is held, another call of the session
  completes; resumed, the rest follows in order;
- the legacy HTTP+SSE transport: a paused answer on the session's stream, resumed;
- era translation (a 2026-07-28-only rmcp upstream): a paused translated answer, modified;
- the client going away while its answer is paused takes the pause off the list;
- recording: a paused answer modified by an operator is on tape as it came (`msg`) and as it went
  on (`forwarded`); one whose client left while it was held, with `forwarded: null`;
- a log message on a GET stream (server-everything over Streamable HTTP and stdio) paused by a rule
  PUT after the stream opened, modified through the admin API;
- the admin API's `Expect: 100-continue` (a raw socket: `100 Continue` before the body is sent).

Helpers (the admin API, the CLI, the SDK session, polling the paused list) are test_intercept.py's.
Not here: the judge and the decisions on messages (src/pipeline/intercept/hold_tests.rs).
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit

import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import McpError

import harness
from test_intercept import (LOG_WAIT_S, PAUSE_SEEN_S, Client, admin_call, assert_decided, check_pause_times_out,
                            decide_paused_call, everything_behind_proxy, run, set_rules, start_run, text_of,
                            wait_paused)
from test_intercept import proxy  # noqa: F401 (the fixture: the demo HTTP upstream behind `run`)
from test_shards import metric_total, read_metrics

DELAY_S = 0.4
HOLD_ANSWERS = [{"direction": "response", "tool": "echo",
                 "when": [{"pointer": "/result/content/0/text", "regex": "^hold"}],
                 "action": "pause", "timeout": "60s", "default": "continue"}]


@pytest.fixture(params=["http", "stdio"])
def upstream_proxy(request: pytest.FixtureRequest, shadowcat_bin: Path, tmp_path: Path) -> Iterator[harness.Endpoint]:
    """The proxy in front of the demo: over HTTP (`run`, two shards), or as a stdio child."""
    if request.param == "http":
        demo = request.getfixturevalue("demo_upstream")
        proxy = start_run(shadowcat_bin, tmp_path, demo.url)
    else:
        proxy = harness.start_stdio_proxy(shadowcat_bin, [shadowcat_bin, "demo-server", "--stdio"], admin=True)
    try:
        yield proxy
    finally:
        proxy.stop()


def test_response_delay_holds_the_answer(upstream_proxy: harness.Endpoint) -> None:
    set_rules(upstream_proxy, [{"direction": "response", "tool": "echo", "action": "delay",
                                "delay": f"{int(DELAY_S * 1000)}ms"}])

    async def scenario() -> tuple[str, float]:
        async with Client(upstream_proxy) as session:
            started = time.monotonic()
            text = text_of(await session.call_tool("echo", {"message": "late answer"}))
            return text, time.monotonic() - started

    text, took = run(scenario())
    assert text == "late answer"
    assert took >= DELAY_S, f"answered after {took:.3f}s, before the {DELAY_S}s delay"
    metrics = read_metrics(upstream_proxy.admin_url or "")
    assert metric_total(metrics, "shadowcat_intercept_delayed_total") == 1, metrics


@pytest.mark.parametrize("decision", ["resume", "modify", "block"])
def test_paused_answer_decided_from_the_cli(shadowcat_bin: Path, upstream_proxy: harness.Endpoint,
                                            decision: str) -> None:
    set_rules(upstream_proxy, HOLD_ANSWERS)
    patch = '{"content":[{"type":"text","text":"modified while held"}]}'
    result = decide_paused_call(shadowcat_bin, upstream_proxy, decision, patch)
    entry = result["paused"][0]
    assert entry["direction"] == "response", entry
    assert entry["method"] == "tools/call" and entry["tool"] == "echo", entry
    assert entry["session"].startswith("sha256:"), entry
    assert entry["message"]["result"]["content"][0]["text"] == "hold this", entry
    assert_decided(result, decision)
    assert result["still_held"], result


def test_paused_answer_times_out_to_its_default(upstream_proxy: harness.Endpoint) -> None:
    check_pause_times_out(upstream_proxy, "response")


def test_paused_progress_holds_only_its_stream(upstream_proxy: harness.Endpoint) -> None:
    proxy = upstream_proxy
    set_rules(proxy, [{"direction": "response", "method": "notifications/progress",
                       "when": [{"pointer": "/params/progress", "equals": 2}], "action": "pause"}])
    progress: list[float] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)

    async def scenario() -> dict[str, Any]:
        async with Client(proxy) as session:
            slow = asyncio.create_task(
                session.call_tool("slow", {"steps": 3, "delay_ms": 10}, progress_callback=on_progress))
            paused = await wait_paused(proxy)
            # Another call of the session completes while the stream is held.
            same = text_of(await session.call_tool("echo", {"message": "same session"}))
            seen_while_held = list(progress)
            held_done = slow.done()
            status, answer = await asyncio.to_thread(admin_call, proxy, "POST",
                                                     f"paused/{paused[0]['id']}/resume")
            assert status == 200, answer
            return {"paused": paused, "same": same, "seen": seen_while_held, "held_done": held_done,
                    "result": await slow}

    result = run(scenario())
    entry = result["paused"][0]
    assert entry["direction"] == "response" and entry["method"] == "notifications/progress", entry
    assert entry["message"]["params"]["progress"] == 2, entry
    assert result["same"] == "same session"
    # What preceded the held event arrived; nothing after it on its stream did.
    assert result["seen"] == [1] and not result["held_done"], result
    assert progress == [1, 2, 3], progress
    assert not result["result"].isError, result["result"]


def test_legacy_sse_paused_answer(proxy: harness.Endpoint) -> None:
    """On a legacy stream an answer is matched without its request's method or tool: the rule
    selects by the answer's content alone."""
    set_rules(proxy, [{key: value for key, value in HOLD_ANSWERS[0].items() if key != "tool"}])

    async def scenario() -> tuple[list[dict[str, Any]], str]:
        async with Client(proxy, legacy=True) as session:
            held = asyncio.create_task(session.call_tool("echo", {"message": "hold on legacy"}))
            paused = await wait_paused(proxy)
            status, answer = await asyncio.to_thread(admin_call, proxy, "POST",
                                                     f"paused/{paused[0]['id']}/resume")
            assert status == 200, answer
            return paused, text_of(await held)

    paused, text = run(scenario())
    assert paused[0]["direction"] == "response", paused
    assert text == "hold on legacy"


def test_client_gone_takes_its_paused_answer_off_the_list(upstream_proxy: harness.Endpoint) -> None:
    set_rules(upstream_proxy, HOLD_ANSWERS)

    async def held_then_gone() -> None:
        async with Client(upstream_proxy) as session:
            held = asyncio.create_task(session.call_tool("echo", {"message": "hold, then hang up"}))
            await wait_paused(upstream_proxy)
            held.cancel()
        # Leaving the session closed its connections.

    async def list_empties() -> None:
        deadline = time.monotonic() + PAUSE_SEEN_S
        while True:
            status, answer = await asyncio.to_thread(admin_call, upstream_proxy, "GET", "paused")
            assert status == 200, answer
            if not answer["paused"]:
                return
            assert time.monotonic() < deadline, f"the pause outlived its client: {answer}"
            await asyncio.sleep(0.05)

    async def scenario() -> None:
        await held_then_gone()
        await list_empties()

    run(scenario())


def test_recording_keeps_a_modified_paused_answer(shadowcat_bin: Path, demo_upstream: harness.Endpoint,
                                                  tmp_path: Path) -> None:
    tapes = tmp_path / "tapes"
    extra = (f'[recording]\ndir = "{tapes}"\nflush_interval = "10ms"\n'
             '[[intercept.rules]]\ndirection = "response"\ntool = "echo"\naction = "pause"\n')
    proxy = start_run(shadowcat_bin, tmp_path, demo_upstream.url, extra)

    async def scenario() -> str:
        async with Client(proxy) as session:
            held = asyncio.create_task(session.call_tool("echo", {"message": "as it came"}))
            paused = await wait_paused(proxy)
            status, answer = await asyncio.to_thread(
                admin_call, proxy, "POST", f"paused/{paused[0]['id']}/modify",
                {"content": [{"type": "text", "text": "as it went on"}]})
            assert status == 200, answer
            return text_of(await held)

    async def left_behind() -> None:
        # The client goes away without ending its session (no DELETE, which would end the
        # session's tape first): the held answer has nowhere to go, and its tape is still open.
        async with streamable_http_client(proxy.url, terminate_on_close=False) as streams:
            async with ClientSession(streams[0], streams[1]) as session:
                await session.initialize()
                held = asyncio.create_task(session.call_tool("echo", {"message": "left behind"}))
                await wait_paused(proxy)
                held.cancel()

    def answers() -> list[dict[str, Any]]:
        lines = [json.loads(line) for tape in tapes.rglob("*.tape.jsonl")
                 for line in tape.read_text().splitlines() if line.strip()]
        return [line for line in lines if line.get("dir") == "s2c" and "forwarded" in line]

    def wait_answer(text: str) -> dict[str, Any]:
        """The answer whose text (as it came) is `text`, once on tape (sessions have tapes of
        their own: no order between them)."""
        deadline = time.monotonic() + PAUSE_SEEN_S
        while True:
            found = [line for line in answers() if line["msg"]["result"]["content"][0]["text"] == text]
            if found:
                return found[0]
            assert time.monotonic() < deadline, f"the answer never reached the tape: {answers()}"
            time.sleep(0.05)

    try:
        assert run(scenario()) == "as it went on"
        line = wait_answer("as it came")
        run(left_behind())
        gone = wait_answer("left behind")
    finally:
        proxy.stop()
    assert line["forwarded"]["result"]["content"][0]["text"] == "as it went on", line
    # A held answer whose client left was never forwarded: `null`.
    assert gone["forwarded"] is None, gone


def test_era_translation_paused_answer(shadowcat_bin: Path) -> None:
    """A legacy SDK session served by a 2026-07-28-only upstream (`--upstream-era modern`): the
    translated answer is held and modified by an operator like any other."""
    from test_modern import start_modern_server
    server = start_modern_server("--modern-only", "--sse")
    try:
        proxy = harness.start_proxy(shadowcat_bin, server.url, admin=True, extra=["--upstream-era", "modern"])
        try:
            set_rules(proxy, [{"direction": "response", "tool": "echo", "action": "pause"}])

            async def scenario() -> tuple[list[dict[str, Any]], str]:
                async with Client(proxy) as session:
                    held = asyncio.create_task(session.call_tool("echo", {"text": "translated"}))
                    paused = await wait_paused(proxy)
                    patch = {"content": [{"type": "text", "text": "translated, then modified"}]}
                    status, answer = await asyncio.to_thread(admin_call, proxy, "POST",
                                                             f"paused/{paused[0]['id']}/modify", patch)
                    assert status == 200, answer
                    return paused, text_of(await held)

            paused, text = run(scenario())
        finally:
            proxy.stop()
    finally:
        server.stop()
    assert paused[0]["direction"] == "response" and paused[0]["tool"] == "echo", paused
    assert paused[0]["message"]["result"]["content"][0]["text"] == "translated", paused
    assert text == "translated, then modified"


@pytest.mark.parametrize("upstream", ["http", "stdio"])
def test_paused_message_on_a_get_stream_opened_before_the_rule(shadowcat_bin: Path, upstream: str) -> None:
    """server-everything's log messages on the session's GET stream (opened with no rule, so passing
    through): a `pause` rule PUT afterwards holds the next one on that stream (listed with its own
    method); modified through the admin API, it reaches the SDK client changed."""
    proxy, endpoints = everything_behind_proxy(shadowcat_bin, upstream)

    async def scenario() -> tuple[str, list[dict[str, Any]], str]:
        logs: asyncio.Queue[str] = asyncio.Queue()

        async def on_log(params: Any) -> None:
            await logs.put(str(params.data))

        async with streamable_http_client(proxy.url) as streams:
            async with ClientSession(streams[0], streams[1], logging_callback=on_log) as session:
                await session.initialize()
                await session.call_tool("toggle-simulated-logging", {})
                before = await asyncio.wait_for(logs.get(), LOG_WAIT_S)
                await asyncio.to_thread(set_rules, proxy, [
                    {"direction": "response", "method": "notifications/message", "action": "pause"}])
                paused = await wait_paused(proxy)
                status, answer = await asyncio.to_thread(
                    admin_call, proxy, "POST", f"paused/{paused[0]['id']}/modify", {"data": "decided"})
                assert status == 200, answer
                while (after := await asyncio.wait_for(logs.get(), LOG_WAIT_S)) != "decided":
                    pass
                return before, paused, after

    try:
        before, paused, after = run(scenario())
    finally:
        for endpoint in endpoints:
            endpoint.stop()
    assert before != "decided", before
    entry = paused[0]
    assert entry["direction"] == "response" and entry["method"] == "notifications/message", entry
    assert entry["tool"] is None, entry
    assert after == "decided"


def test_the_admin_api_answers_expect_100_continue(demo_upstream: harness.Endpoint, start_proxy) -> None:
    """A client that asks for `100 Continue` (curl does for a large rule set) gets it before it sends
    the body of `PUT /api/intercept/rules`, then the answer; without it, it waits (curl: 1 s)."""
    proxy = start_proxy(demo_upstream.url, admin=True)
    admin = urlsplit(proxy.admin_url)
    body = json.dumps({"rules": [{"tool": "nothing-*", "action": "block"}]}).encode()
    head = (f"PUT /api/intercept/rules HTTP/1.1\r\nHost: {admin.hostname}:{admin.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            "Expect: 100-continue\r\n\r\n").encode()
    with socket.create_connection((admin.hostname, admin.port), timeout=10) as conn:
        conn.sendall(head)
        interim = b""
        while not interim.endswith(b"\r\n\r\n"):
            chunk = conn.recv(1)
            assert chunk, f"closed before 100 Continue: {interim!r}"
            interim += chunk
        assert interim.startswith(b"HTTP/1.1 100"), interim
        conn.sendall(body)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = conn.recv(4096)
            assert chunk, f"closed before the answer: {answer!r}"
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200"), answer
