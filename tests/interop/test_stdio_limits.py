"""stdio upstreams at their edges, with the FastMCP fixture behind `reverse --upstream-cmd` and raw
HTTP (rawhttp.py) as the client: `--max` (503 + Retry-After, a slot freed by DELETE), request
timeout (JSON-RPC error, the child stays), the child's stderr in the proxy's log, a non-JSON stdout
line (skipped), long and oversized lines, `--env`/`--cwd`, session TTL ending the child, sessions
kept on their child across 2 shards, SIGTERM with a call in flight, the warm pool after sessions
end, a missing program (refused at start), and a child that exits at once or never answers (a
clear error, never a hang).

Not here: the SDK matrix through stdio upstreams (test_stdio_upstream.py).
"""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import pytest

import harness
from procs import children_of, dead, gone, kill_leftovers, zombies_of
from rawhttp import RawConnection, RawSession, call_tool, jsonrpc, mcp_headers, initialize_body, open_session, tool_text

DEADLINE_S = 20.0
POLL_S = 0.02
FIXTURE_TAIL = harness.FASTMCP_FIXTURE.name


def wait_until(condition: Callable[[], bool], what: str, deadline_s: float = DEADLINE_S) -> None:
    """Polls `condition()` until true; fails naming `what` at the deadline (never a fixed sleep)."""
    deadline = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {deadline_s}s waiting for {what}")
        time.sleep(POLL_S)


@pytest.fixture
def stdio_proxy(shadowcat_bin: Path) -> Iterator[Callable[..., harness.Endpoint]]:
    """Factory: a stdio proxy in front of COMMAND (default: the fixture); all stopped at test end,
    and any child they left running killed by pid."""
    started: list[tuple[harness.Endpoint, set[int], str]] = []

    def start(*flags: str, command: Sequence[str] | None = None, **options: Any) -> harness.Endpoint:
        argv = list(command or harness.fixture_stdio_command())
        try:
            proxy = harness.start_stdio_proxy(shadowcat_bin, argv, extra=flags, **options)
        except harness.HarnessError as error:
            pytest.fail(str(error), pytrace=False)
        started.append((proxy, set(), argv[-1]))
        return proxy

    try:
        yield start
    finally:
        for proxy, children, tail in started:
            children.update(children_of(proxy.process.pid))
            proxy.stop()
            kill_leftovers(sorted(children), tail)


def whoami(conn: RawConnection, session: RawSession, request_id: str) -> dict[str, Any]:
    return json.loads(tool_text(call_tool(conn, session, request_id, "whoami", {})))


def post(conn: RawConnection, session: RawSession | None, body: bytes):
    headers = session.headers() if session else mcp_headers()
    return conn.request("POST", "/mcp", headers, body)


def test_max_children_then_503_until_a_slot_is_freed(stdio_proxy) -> None:
    proxy = stdio_proxy("--max", "1", warm=0)
    with RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
        first = open_session(conn, "init-first")
        pid = whoami(conn, first, "who-1")["pid"]
        over = conn.request("POST", "/mcp", mcp_headers(), initialize_body("init-over"))
        assert over.status == 503, f"a session beyond --max 1: {over.describe()}"
        assert over.header("retry-after"), f"503 without Retry-After: {over.describe()}"
        deleted = conn.request("DELETE", "/mcp", first.headers())
        assert deleted.status in (200, 204), f"DELETE: {deleted.describe()}"
        wait_until(lambda: gone(pid), f"the deleted session's child {pid} to be reaped")

        def slot_free() -> bool:
            response = conn.request("POST", "/mcp", mcp_headers(), initialize_body("init-again"))
            return response.status == 200

        wait_until(slot_free, "a new session once the first one's child is gone")


def test_request_timeout_fails_the_call_and_keeps_the_child(stdio_proxy) -> None:
    # 3 s: the fixture's own start (python + mcp imports, ~1 s on a loaded box) must fit in it,
    # since the initialize waits for a child still starting.
    proxy = stdio_proxy("--request-timeout", "3s")
    with RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
        session = open_session(conn, "init-timeout")
        pid = whoami(conn, session, "who-1")["pid"]
        started = time.monotonic()
        # No progress token: the fixture stays silent for 2 x 5 s, past the 3 s request timeout.
        response = post(conn, session, jsonrpc("tools/call", {
            "name": "slow", "arguments": {"steps": 2, "delay_ms": 5000}}, "slow-1"))
        elapsed = time.monotonic() - started
        assert elapsed < 8, f"the timeout answered after {elapsed:.1f}s (the call itself takes 10 s)"
        message = response.response_for("slow-1")
        assert "error" in message, f"a timed-out call answered {response.describe()}"
        after = whoami(conn, session, "who-2")
        assert after["pid"] == pid, "the child was replaced after a request timeout"


def test_child_stderr_is_logged_and_a_non_json_line_skipped(stdio_proxy) -> None:
    proxy = stdio_proxy()
    with RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
        session = open_session(conn, "init-log")
        pid = whoami(conn, session, "who-1")["pid"]
        assert tool_text(call_tool(conn, session, "log-1", "log", {"message": "stderr-marker-7"})) \
            == "logged stderr-marker-7"
        line = proxy.process.wait_for_line(lambda text: "fixture-stderr: stderr-marker-7" in text,
                                           "the child's stderr line in the proxy's log", DEADLINE_S)
        assert str(pid) in line, f"the stderr line does not name the child's pid {pid}: {line!r}"
        assert session.session_id in line, f"the stderr line does not name the session: {line!r}"
        assert tool_text(call_tool(conn, session, "noise-1", "noise", {"text": "this is not json"})) == "noisy"
        proxy.process.wait_for_line(lambda text: "not a JSON-RPC message" in text and "this is not json" in text,
                                    "the skipped stdout line in the proxy's log", DEADLINE_S)
        assert whoami(conn, session, "who-2")["pid"] == pid, "a non-JSON line ended the child"


def test_long_lines_pass_and_an_oversized_line_ends_the_child(stdio_proxy) -> None:
    """A 2 MiB result line passes (default max_line 4 MiB); a ~6 MiB one ends the child: the pending
    call gets a JSON-RPC error, the session then 404s, and the child is reaped."""
    proxy = stdio_proxy()
    with RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
        session = open_session(conn, "init-big")
        pid = whoami(conn, session, "who-1")["pid"]
        size = 1 << 20
        assert len(tool_text(call_tool(conn, session, "big-1", "big", {"size": size}))) == size
        response = post(conn, session, jsonrpc("tools/call", {"name": "big", "arguments": {"size": 3 << 20}}, "big-2"))
        message = response.response_for("big-2")
        assert "error" in message, f"an oversized line answered {response.describe()[:300]}"
        wait_until(lambda: gone(pid), f"the child {pid} that wrote an oversized line to be reaped")
        after = post(conn, session, jsonrpc("tools/list", {}, "after-big"))
        assert after.status == 404, f"a request after the child ended: {after.describe()}"


def test_env_and_cwd_reach_the_child(stdio_proxy, tmp_path: Path) -> None:
    proxy = stdio_proxy("--env", "FIXTURE_MARKER=from-the-proxy", "--cwd", str(tmp_path))
    with RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
        session = open_session(conn, "init-env")
        state = whoami(conn, session, "who-1")
    assert state["marker"] == "from-the-proxy", state
    assert Path(state["cwd"]).resolve() == tmp_path.resolve(), state


def test_session_ttl_ends_the_child(stdio_proxy) -> None:
    proxy = stdio_proxy("--session-ttl", "1s", warm=0)
    with RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
        session = open_session(conn, "init-ttl")
        pid = whoami(conn, session, "who-1")["pid"]
    wait_until(lambda: gone(pid), f"the expired session's child {pid} to be reaped")
    wait_until(lambda: not zombies_of(proxy.process.pid), "no zombie children of the proxy")
    with RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
        response = conn.request("POST", "/mcp", session.headers(), jsonrpc("tools/list", {}, "after-ttl"))
    assert response.status == 404, f"a request on the expired session: {response.describe()}"


def test_a_missing_program_is_refused_at_start(shadowcat_bin: Path) -> None:
    """The proxy checks the command before it listens: exit non-zero, the message names it."""
    missing = "/nonexistent/shadowcat-no-such-server"
    process = harness.ManagedProcess("shadowcat-stdio-proxy", [
        shadowcat_bin, "reverse", "--bind", f"{harness.LOOPBACK_HOST}:0", "--upstream-cmd", "--", missing])
    try:
        code = process.popen.wait(timeout=DEADLINE_S)
        process.wait_for_line(lambda line: missing in line, "the error naming the command", DEADLINE_S, "stderr")
    finally:
        process.stop()
    assert code not in (0, None), f"the proxy started with a missing program (exit {code})"


@pytest.mark.parametrize("command", [
    [sys.executable, "-c", "import sys; sys.exit(7)"],
    [sys.executable, "-c", "import sys; sys.stdin.read()"],
], ids=["exits-at-once", "never-answers"])
def test_a_child_that_cannot_serve_gets_a_clear_error(stdio_proxy, command: list[str]) -> None:
    """initialize answers a JSON-RPC error with its id in bounded time and mints no session
    (src/proxy/README.md: errors of a started child are in-band, HTTP 200); the child is reaped."""
    proxy = stdio_proxy("--request-timeout", "3s", command=command, warm=0)
    with RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
        started = time.monotonic()
        response = conn.request("POST", "/mcp", mcp_headers(), initialize_body("init-broken"))
        elapsed = time.monotonic() - started
    assert elapsed < DEADLINE_S, f"initialize took {elapsed:.1f}s"
    assert response.status in (200, 502, 503), f"initialize with a broken command: {response.describe()}"
    body = response.json()
    assert body.get("error", {}).get("code") in (-32010, -32011), f"not a -32010/-32011 error: {response.describe()}"
    assert body.get("id") == "init-broken", f"the error does not carry the request id: {body}"
    assert response.header("mcp-session-id") is None, f"a failed initialize minted a session: {response.describe()}"
    # --warm 0: the broken child was the only one; it must be stopped and reaped.
    wait_until(lambda: not children_of(proxy.process.pid), "the broken child to be stopped and reaped")


@pytest.mark.parametrize("mode", ["per-session", "shared"])
def test_sessions_keep_their_child_across_shards(stdio_proxy, mode: str) -> None:
    """--shards 2: every request of a session, each on a fresh connection (the kernel spreads them
    over both shards), reaches the same child; per-session children are all different, shared mode
    has at most one child per shard."""
    proxy = stdio_proxy(mode=mode, shards=2)
    sessions: list[RawSession] = []
    for index in range(6):
        with RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
            sessions.append(open_session(conn, f"init-{index}"))
    pids: dict[str, set[int]] = {}
    for round_index in range(4):
        for index, session in enumerate(sessions):
            with RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
                pid = whoami(conn, session, f"who-{index}-{round_index}")["pid"]
            pids.setdefault(session.session_id, set()).add(pid)
    moved = {sid: found for sid, found in pids.items() if len(found) != 1}
    assert not moved, f"sessions answered by more than one child: {moved}"
    distinct = {next(iter(found)) for found in pids.values()}
    if mode == "shared":
        assert len(distinct) <= 2, f"shared mode on 2 shards used {len(distinct)} children"
    else:
        assert len(distinct) == len(sessions), f"per-session children shared: {pids}"


def test_sigterm_lets_an_in_flight_stdio_call_finish(stdio_proxy) -> None:
    """SIGTERM while a streamed call (progress, then result) is in flight: the stream completes
    with the result, the proxy exits 0 and its children are dead."""
    proxy = stdio_proxy()
    with RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
        session = open_session(conn, "init-drain")
        pid = whoami(conn, session, "who-1")["pid"]
        stream = conn.open_stream("POST", "/mcp", session.headers(), jsonrpc("tools/call", {
            "name": "slow", "arguments": {"steps": 8, "delay_ms": 100},
            "_meta": {"progressToken": "drain-progress"}}, "slow-drain"))
        assert stream.is_sse, f"a call whose first child message is progress answers SSE: {stream.response.describe()}"
        stream.events_until(lambda event: (event.message() or {}).get("method") == "notifications/progress",
                            "the first progress notification")
        children = list(children_of(proxy.process.pid))
        proxy.process.popen.send_signal(signal.SIGTERM)
        messages = [event.message() for event in stream.rest() if event.message() is not None]
    final = [message for message in messages if message.get("id") == "slow-drain"]
    assert final and "result" in final[-1], f"the in-flight call did not complete: {messages[-3:]}"
    code = proxy.process.popen.wait(timeout=DEADLINE_S + 10)
    assert code == 0, f"proxy exited {code}\n{proxy.process.output_tail()}"
    wait_until(lambda: all(dead(child) for child in children + [pid]), f"children {children} to be dead")


def test_children_come_back_to_the_warm_pool(stdio_proxy) -> None:
    """--warm 2: the pool fills at start; 5 sessions take children and it refills; after their
    DELETEs exactly the 2 warm children are left (nothing leaks, nothing is a zombie)."""
    proxy = stdio_proxy(warm=2)

    def live() -> list[int]:
        return [pid for pid, state in children_of(proxy.process.pid).items() if state != "Z"]

    wait_until(lambda: len(live()) == 2, "the warm pool of 2 children at start")
    with RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
        sessions = [open_session(conn, f"init-{index}") for index in range(5)]
        pids = {whoami(conn, session, f"who-{index}")["pid"] for index, session in enumerate(sessions)}
        assert len(pids) == 5, f"5 sessions, {len(pids)} children: {pids}"
        wait_until(lambda: len(live()) == 7, "5 session children + a refilled pool of 2")
        for session in sessions:
            deleted = conn.request("DELETE", "/mcp", session.headers())
            assert deleted.status in (200, 204), f"DELETE: {deleted.describe()}"
    wait_until(lambda: all(gone(pid) for pid in pids), "the 5 session children to be reaped")
    wait_until(lambda: len(live()) == 2 and not zombies_of(proxy.process.pid), "only the 2 warm children left")
