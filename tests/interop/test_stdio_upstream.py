"""stdio upstreams behind `shadowcat reverse --upstream-cmd`: the official Python SDK client
(streamable_http_client + ClientSession) through the proxy to stdio server-everything and to the
FastMCP fixture (fixtures/fastmcp_server.py), in both modes (`per-session`, `shared`).

Every cell also runs `direct`: the SDK's own stdio_client talking straight to the same stdio
server, with the same assertions where they apply. That validates the fixture and each check
without the proxy, so a failure in a proxied cell is a proxy bug (or a documented mode difference).

Covered: the shared check list (mcp_checks: initialize ... 20 concurrent calls ... progress before
the result ... server->client sampling/elicitation), cancellation, two sessions at once (isolation
of progress/logs; per-session children differ, shared ones are the same pid), list_changed
reaching the client, a child crash mid-request (JSON-RPC error, then 404, no zombie), DELETE ends
the child (per-session), SIGTERM with children running (exit 0, every child gone).
Two sessions on one shared child in harder orders: test_stdio_shared_routing.py.
Processes are checked by pid in /proc; every wait polls a condition with a deadline.

Not here: the client helpers (stdio_clients.py), the HTTP upstream matrix (test_sdk_matrix.py), conformance (scripts/conformance.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from typing import Any

import pytest
from mcp import StdioServerParameters, types
from mcp.shared.exceptions import McpError

import harness
import rawhttp
from mcp_checks import run_mcp_checks, run_mcp_checks_stdio
from procs import children_of, dead, gone, zombies_of
from stdio_clients import (DEADLINE_S, MODES, POLL_S, PROXY_MODES, UPSTREAMS, Client, StdioTarget, cells, connect,
                           get_stream_open, only_fixture_children, run, until)

# The proxy's shutdown grace (10 s) plus killing children (kill_grace 2 s) and margin.
EXIT_DEADLINE_S = 25.0
# Brief: a dead child fails pending requests with this JSON-RPC code.
CHILD_EXITED_CODE = -32010


# ------------------------------------------------------------------ the shared check list

@pytest.mark.parametrize("stdio_target", cells(UPSTREAMS, MODES), indirect=True)
def test_check_list(stdio_target: StdioTarget) -> None:
    target = stdio_target
    if target.proxy is None:
        server = StdioServerParameters(command=target.command[0], args=target.command[1:])
        report = run(run_mcp_checks_stdio(server, target.profile))
    else:
        report = run(run_mcp_checks(target.proxy.url, target.profile, proxied=True))
    print(report.table())
    assert report.results, "no check ran"
    if report.failures:
        output = target.proxy.process.output_tail() if target.proxy else ""
        pytest.fail(f"{report.failure_text()}\nproxy output:\n{output}", pytrace=False)


# ------------------------------------------------------------------ cancellation

@pytest.mark.parametrize("stdio_target", cells(UPSTREAMS, MODES), indirect=True)
def test_cancel_a_slow_call_and_keep_going(stdio_target: StdioTarget) -> None:
    """The client cancels a slow call (notifications/cancelled, as the spec's canceller does); the
    fixture counts the cancel (so shared mode must remap requestId to the child's id); the session
    keeps answering afterwards."""
    target = stdio_target
    fixture = target.upstream == "fixture"
    tool, arguments = ("slow", {"steps": 200, "delay_ms": 50}) if fixture else (
        "trigger-long-running-operation", {"duration": 2, "steps": 4})

    async def scenario() -> None:
        async with connect(target) as client:
            before = await client.whoami() if fixture else None
            progress: list[float] = []

            async def on_progress(value: float, total: float | None, message: str | None) -> None:
                progress.append(value)

            # ClientSession numbers requests from a counter; nothing else is in flight right now.
            request_id = client.session._request_id
            call = asyncio.create_task(client.session.call_tool(tool, arguments, progress_callback=on_progress))
            await until(lambda: bool(progress) or call.done(), "the slow call's first progress")
            assert not call.done(), f"the slow call ended before it was cancelled: {call.result()}"
            await client.session.send_notification(types.ClientNotification(types.CancelledNotification(
                params=types.CancelledNotificationParams(requestId=request_id, reason="test cancels"))))
            if fixture:
                async def saw_cancel() -> bool:
                    return (await client.whoami())["cancelled"] > before["cancelled"]

                deadline = time.monotonic() + DEADLINE_S
                while not await saw_cancel():
                    assert time.monotonic() < deadline, "the server never saw the cancel (requestId not remapped?)"
                    await asyncio.sleep(POLL_S)
            # The canceller ignores any late answer: stop waiting for one.
            call.cancel()
            with contextlib.suppress(asyncio.CancelledError, McpError):
                await call
            message = "after the cancel"
            echoed = await client.call_text("echo", {"message": message})
            assert echoed == target.profile.echo_text(message)
            if fixture:
                after = await client.whoami()
                assert after["pid"] == before["pid"], "the child changed under the session"

    run(scenario())


# ------------------------------------------------------------------ two sessions at once

@pytest.mark.parametrize("stdio_target", cells(["fixture"], MODES), indirect=True)
def test_two_sessions_do_not_see_each_other(stdio_target: StdioTarget) -> None:
    """Per-session (and direct): two children. Shared: one child, yet each session gets only its
    own progress (concurrent calls) and log notifications although both clients use the same
    request ids/tokens."""
    target = stdio_target

    async def scenario() -> None:
        async with connect(target) as a, connect(target) as b:
            who_a, who_b = await a.whoami(), await b.whoami()
            if target.shared:
                assert who_a["pid"] == who_b["pid"], f"shared mode with one shard used two children: {who_a} {who_b}"
            else:
                assert who_a["pid"] != who_b["pid"], f"two sessions share child {who_a['pid']}"

            async def busy(client: Client, marker: str, steps: int) -> list[float]:
                seen: list[float] = []

                async def on_progress(value: float, total: float | None, message: str | None) -> None:
                    assert total == steps, f"{marker} got progress of a {total}-step call"
                    seen.append(value)

                await client.call_text("slow", {"steps": steps, "delay_ms": 10}, progress_callback=on_progress)
                return seen

            seen_a, seen_b = await asyncio.gather(busy(a, "marker-of-A", 7), busy(b, "marker-of-B", 4))
            # One at a time: a log line is tied to its request only while one session has calls in
            # flight (docs/architecture.md, shared mode); concurrent logs: test_stdio_shared_routing.py.
            await a.call_text("log", {"message": "marker-of-A"})
            await b.call_text("log", {"message": "marker-of-B"})
            assert seen_a == [1, 2, 3, 4, 5, 6, 7], seen_a
            assert seen_b == [1, 2, 3, 4], seen_b
            assert set(a.progress_totals()) <= {7}, f"A saw B's progress: {a.progress_totals()}"
            assert set(b.progress_totals()) <= {4}, f"B saw A's progress: {b.progress_totals()}"
            assert any("marker-of-A" in line for line in a.logs()), f"A's own log missing: {a.logs()}"
            assert any("marker-of-B" in line for line in b.logs()), f"B's own log missing: {b.logs()}"
            assert not any("marker-of-B" in line for line in a.logs()), f"A saw B's log: {a.logs()}"
            assert not any("marker-of-A" in line for line in b.logs()), f"B saw A's log: {b.logs()}"

    run(scenario())


# ------------------------------------------------------------------ list_changed

@pytest.mark.parametrize("stdio_target", cells(["fixture"], MODES), indirect=True)
def test_tools_list_changed_reaches_the_client(stdio_target: StdioTarget) -> None:
    """A component load (new tool + notifications/tools/list_changed, as Wassette does) reaches the
    session that caused it; in shared mode every session on the child (same tool list), in
    per-session mode nobody else (the other child has no such tool)."""
    target = stdio_target

    async def scenario() -> None:
        async with connect(target) as a, connect(target) as b:
            await get_stream_open(a, target)
            await get_stream_open(b, target)
            assert await a.call_text("load_component", {"name": "component_x"}) == "loaded component_x"
            await until(lambda: a.saw(types.ToolListChangedNotification), "list_changed at the loading session")
            assert "component_x" in {tool.name for tool in (await a.session.list_tools()).tools}
            assert await a.call_text("component_x") == "component component_x"
            names_b = {tool.name for tool in (await b.session.list_tools()).tools}
            if target.shared:
                await until(lambda: b.saw(types.ToolListChangedNotification), "list_changed at the other session")
                assert "component_x" in names_b
            else:
                assert "component_x" not in names_b, "a per-session child saw another session's component"
                assert not b.saw(types.ToolListChangedNotification), "list_changed leaked to another session"

    run(scenario())


# ------------------------------------------------------------------ child crash

@pytest.mark.parametrize("stdio_target", cells(["fixture"], MODES), indirect=True)
def test_child_crash_mid_request(stdio_target: StdioTarget) -> None:
    """The child exits (code 3) while a request is pending: that request gets a JSON-RPC error
    (-32010 naming the exit status through the proxy), the session's next request 404, the child is
    reaped (no zombie of the proxy) and a new session works. Shared: every session on the dead
    child is ended the same way."""
    target = stdio_target
    crashed: dict[str, Any] = {}

    async def scenario() -> None:
        async with contextlib.AsyncExitStack() as stack:
            a = await stack.enter_async_context(connect(target))
            b = await stack.enter_async_context(connect(target)) if target.shared else None
            crashed["pid"] = (await a.whoami())["pid"]
            crashed["sessions"] = [c.session_id for c in (a, b) if c is not None]
            with pytest.raises(McpError) as failure:
                await a.session.call_tool("crash", {"code": 3})
            crashed["error"] = failure.value.error
            if not target.proxied:
                return
            with contextlib.suppress(Exception):
                await stack.aclose()  # the SDK's DELETE on a dead session may fail; that is fine

    with contextlib.suppress(Exception) if not target.proxied else contextlib.nullcontext():
        run(scenario())
    error = crashed.get("error")
    assert error is not None, "the pending request got no error"
    if not target.proxied:
        return  # direct: the SDK's stdio client fails pending requests with "Connection closed"
    proxy = target.proxy
    assert proxy is not None
    assert error.code == CHILD_EXITED_CODE, f"pending request error: {error}"
    assert re.search(r"\b3\b", error.message), f"the error does not name exit status 3: {error.message!r}"

    for session_id in crashed["sessions"]:
        status = next_request_status(proxy, session_id)
        assert status == 404, f"a request on session {session_id} after its child died answered {status}"

    pid = crashed["pid"]
    run(until(lambda: gone(pid), f"the crashed child {pid} to be reaped"))
    run(until(lambda: not zombies_of(proxy.process.pid), "no zombie children of the proxy"))

    async def fresh_session() -> None:
        async with connect(target) as client:
            assert (await client.whoami())["pid"] != pid

    run(fresh_session())


def next_request_status(proxy: harness.Endpoint, session_id: str | None) -> int:
    assert session_id, "no session id"
    with rawhttp.RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
        response = conn.request("POST", "/mcp", rawhttp.mcp_headers(session_id, "2025-06-18"),
                                rawhttp.jsonrpc("tools/list", {}, "after-crash"))
        return response.status


# ------------------------------------------------------------------ DELETE and shutdown

@pytest.mark.parametrize("stdio_target", cells(["fixture"], PROXY_MODES), indirect=True)
def test_delete_ends_the_child(stdio_target: StdioTarget) -> None:
    """Per-session: DELETE kills and reaps the session's child. Shared: the child stays for others."""
    target = stdio_target
    proxy = target.proxy
    assert proxy is not None

    async def scenario() -> tuple[int, int]:
        async with connect(target) as keeper:
            async with connect(target) as leaving:
                pid = (await leaving.whoami())["pid"]
            # leaving's context sent DELETE
            assert ("DELETE", 200) in leaving.http_log or ("DELETE", 204) in leaving.http_log, leaving.http_log
            keeper_pid = (await keeper.whoami())["pid"]
            if target.shared:
                assert keeper_pid == pid and not gone(pid), "DELETE of one session ended the shared child"
            else:
                await until(lambda: gone(pid), f"the deleted session's child {pid} to be reaped")
                assert not gone(keeper_pid), "DELETE of one session ended another session's child"
            return pid, keeper_pid

    run(scenario())
    run(until(lambda: not zombies_of(proxy.process.pid), "no zombie children of the proxy"))
    only_fixture_children(target)


@pytest.mark.parametrize("stdio_target", cells(UPSTREAMS, PROXY_MODES), indirect=True)
def test_sigterm_with_children_running(stdio_target: StdioTarget) -> None:
    """SIGTERM with two live sessions (and the warm pool): the proxy exits 0 and no child remains."""
    target = stdio_target
    proxy = target.proxy
    assert proxy is not None
    with rawhttp.RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn_a, \
            rawhttp.RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn_b:
        served: set[int] = set()  # the fixture's own pids, from whoami
        for conn, name in ((conn_a, "a"), (conn_b, "b")):
            session = rawhttp.open_session(conn, f"init-{name}")
            response = rawhttp.call_tool(conn, session, f"echo-{name}", "echo", {"message": name})
            assert rawhttp.tool_text(response) == target.profile.echo_text(name)
            if target.upstream == "fixture":
                who = rawhttp.call_tool(conn, session, f"who-{name}", "whoami", {})
                served.add(json.loads(rawhttp.tool_text(who))["pid"])
        children = children_of(proxy.process.pid)
        target.remember_children()
        live = [pid for pid, state in children.items() if state != "Z"]
        expected = 1 if target.shared else 2
        assert len(live) >= expected, f"expected >= {expected} live children of the proxy, found {children}"
        assert served <= set(live), f"whoami pids {served} are not live children of the proxy {children}"
        code = proxy.process.terminate_and_wait(timeout_s=EXIT_DEADLINE_S)
    assert code == 0, f"proxy exited {code}\n{proxy.process.output_tail()}"
    # Reaped by the proxy before it exited: gone. Killed but left unreaped, an orphan is a zombie
    # of init for a moment (dead either way); still running would be the bug.
    run(until(lambda: all(dead(pid) for pid in live), f"children {live} to be dead after the proxy exited"))
