"""Requests whose session another shard owns (DESIGN §3.2, `--hops`). Two shards and client
connections that carry sessions of both, as a backend does that multiplexes its users' sessions
over a connection pool: `move` moves the connection to the owner on every such request,
`forward` keeps it where it is and forwards each such request to the owner (its answer streamed
back), and `auto` (the default) moves it once and forwards after that. Every answer must be the
right one (JSON answers, SSE progress streams event by event, a chunked body sent after
`Expect: 100-continue`, `Connection: close`), a client that hangs up on a forwarded stream must
end it on the owner, a refusal the owner answers before reading a large body (a bad API key)
must reach the client as it was, and /metrics must say which way each hop went. Also the
official Python SDK through a forwarding proxy, in front of the demo server and server-everything.
"""

from __future__ import annotations

import asyncio
import time
from typing import Callable

import pytest

import auth_support as auth
import harness
from mcp_checks import DEMO, EVERYTHING, run_mcp_checks
from rawhttp import (RawConnection, RawSession, call_tool, initialize_body, jsonrpc, mcp_headers,
                     open_session, tool_text)
from test_shards import metric_total, read_metrics

# With 20 sessions minted on the shards their first connections landed on, the chance that all
# belong to one shard (and nothing hops) is 2 in a million.
SESSIONS = 20
ROUNDS = 3


def _counter(admin_url: str, name: str) -> float:
    return metric_total(read_metrics(admin_url), f"shadowcat_{name}")


def _await(condition: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
    """Polls `condition` (each check is a scrape) until it holds, or fails."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def _sessions(port: int) -> list[RawSession]:
    """SESSIONS sessions, each minted on whichever shard its own new connection landed on."""
    sessions = []
    for index in range(SESSIONS):
        with RawConnection(harness.LOOPBACK_HOST, port) as conn:
            sessions.append(open_session(conn, request_id=f"init-{index}"))
    return sessions


def _start(start_proxy, upstream: harness.Endpoint, hops: str | None) -> harness.Endpoint:
    extra = [] if hops is None else ["--hops", hops]
    proxy = start_proxy(upstream.url, shards=2, admin=True, extra=extra)
    assert proxy.admin_url is not None
    return proxy


@pytest.mark.parametrize("hops", ["auto", "move", "forward"])
def test_sessions_rotating_over_one_connection(demo_upstream: harness.Endpoint, start_proxy, hops: str) -> None:
    proxy = _start(start_proxy, demo_upstream, hops)
    sessions = _sessions(proxy.port)
    with RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
        for round_ in range(ROUNDS):
            for index, session in enumerate(sessions):
                message = f"round {round_} session {index}"
                answer = call_tool(conn, session, f"r{round_}s{index}", "echo", {"message": message})
                assert tool_text(answer) == message, answer
    metrics = read_metrics(proxy.admin_url)
    hops_total = metric_total(metrics, "shadowcat_hops_total")
    forwarded = metric_total(metrics, "shadowcat_hops_forwarded_total")
    moved = hops_total - forwarded
    assert hops_total > 0, metrics
    if hops == "move":
        assert forwarded == 0, metrics
    elif hops == "forward":
        assert moved == 0 and forwarded > 0, metrics
        # One link carries every forwarded request of the connection (it is kept between them).
        assert metric_total(metrics, "shadowcat_hop_links_opened_total") == 1, metrics
    else:
        # The connection moves once at most (its first request for the other shard), then stays.
        assert moved <= 1 and forwarded > 0, metrics


def _slow_call(request_id: str, steps: int, delay_ms: int) -> bytes:
    return jsonrpc("tools/call", {"name": "slow", "arguments": {"steps": steps, "delay_ms": delay_ms},
                                  "_meta": {"progressToken": request_id}}, request_id)


def _foreign_sessions(conn: RawConnection, sessions: list[RawSession], admin_url: str) -> list[RawSession]:
    """The sessions whose requests on `conn` are forwarded (owned by the other shard)."""
    foreign = []
    for index, session in enumerate(sessions):
        before = _counter(admin_url, "hops_forwarded_total")
        assert tool_text(call_tool(conn, session, f"probe-{index}", "echo", {"message": "x"})) == "x"
        if _counter(admin_url, "hops_forwarded_total") > before:
            foreign.append(session)
    assert foreign, "every session belongs to the connection's shard"
    return foreign


def test_forwarded_streams_and_bodies(demo_upstream: harness.Endpoint, start_proxy) -> None:
    proxy = _start(start_proxy, demo_upstream, "forward")
    sessions = _sessions(proxy.port)
    with RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
        foreign = _foreign_sessions(conn, sessions, proxy.admin_url)
        for index, session in enumerate(foreign):
            # A progress stream passes event by event: three progress notifications, then the result.
            request_id = f"slow-{index}"
            stream = conn.open_stream("POST", "/mcp", session.headers(), _slow_call(request_id, 3, 20))
            assert stream.is_sse, stream.response.describe()
            messages = [event.message() for event in stream.rest()]
            progress = [m["params"]["progress"] for m in messages if m.get("method") == "notifications/progress"]
            assert progress == [1, 2, 3], messages
            assert messages[-1]["id"] == request_id and "result" in messages[-1], messages

            # A chunked body after `Expect: 100-continue`: one interim answer, then the right one.
            body = jsonrpc("tools/call", {"name": "echo", "arguments": {"message": f"chunked {index}"}},
                           f"chunked-{index}")
            headers = session.headers([("Transfer-Encoding", "chunked"), ("Expect", "100-continue")])
            conn.send_request("POST", "/mcp", headers, add_length=False)
            interim = conn.read_response_head()
            assert interim.status == 100, interim.describe()
            half = len(body) // 2
            conn.send_raw(b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (half, body[:half], len(body) - half, body[half:]))
            answer = conn.read_response()
            assert answer.status == 200, answer.describe()
            assert tool_text(answer.response_for(f"chunked-{index}")) == f"chunked {index}"

        # The connection is still in step: a plain call, then one that asks to close.
        last = foreign[0]
        assert tool_text(call_tool(conn, last, "after", "echo", {"message": "after"})) == "after"
        body = jsonrpc("tools/call", {"name": "echo", "arguments": {"message": "bye"}}, "bye")
        answer = conn.request("POST", "/mcp", last.headers([("Connection", "close")]), body)
        assert answer.status == 200 and tool_text(answer.response_for("bye")) == "bye", answer.describe()
        assert (answer.header("connection") or "").lower() == "close", answer.describe()
        assert conn.peer_closed(), "the proxy kept the connection open after Connection: close"


def test_a_client_hanging_up_on_a_forwarded_stream_ends_it(demo_upstream: harness.Endpoint, start_proxy) -> None:
    proxy = _start(start_proxy, demo_upstream, "forward")
    sessions = _sessions(proxy.port)
    conn = RawConnection(harness.LOOPBACK_HOST, proxy.port)
    try:
        foreign = _foreign_sessions(conn, sessions, proxy.admin_url)
        gone_before = _counter(proxy.admin_url, "client_gone_total")
        # 100 steps of 100 ms: the call is still running when the client hangs up.
        stream = conn.open_stream("POST", "/mcp", foreign[0].headers(), _slow_call("long", 100, 100))
        first = stream.next_event()
        assert first is not None and first.message()["method"] == "notifications/progress", first
    finally:
        conn.close()
    # The owner sees its end of the link close, as if the client had hung up there.
    _await(lambda: _counter(proxy.admin_url, "client_gone_total") > gone_before,
           "the owner kept relaying a stream whose client hung up")
    # The session is still served, on a new connection.
    with RawConnection(harness.LOOPBACK_HOST, proxy.port) as again:
        assert tool_text(call_tool(again, foreign[0], "again", "echo", {"message": "again"})) == "again"


@pytest.mark.parametrize("upstream,profile", [("demo", DEMO), ("everything", EVERYTHING)])
def test_python_sdk_sessions_through_a_forwarding_proxy(request: pytest.FixtureRequest, start_proxy,
                                                        upstream: str, profile) -> None:
    """The SDK keeps one connection for its POSTs and opens another for its GET stream, each
    landing on either shard: sessions run until some of their requests were forwarded."""
    endpoint = request.getfixturevalue(f"{upstream}_upstream")
    proxy = _start(start_proxy, endpoint, "forward")
    runs = 0
    while runs < 3 or _counter(proxy.admin_url, "hops_forwarded_total") == 0:
        assert runs < 16, "no request of 16 SDK sessions was forwarded"
        report = asyncio.run(run_mcp_checks(proxy.url, profile, proxied=True))
        assert not report.failures, report.failure_text()
        runs += 1


def test_a_refusal_before_a_large_forwarded_body_reaches_the_client(demo_upstream: harness.Endpoint, start_proxy,
                                                                     tmp_path) -> None:
    """The owner refuses a bad API key before reading the body (401, closing its end of the link
    while this shard may still be writing a body larger than the socket pair holds): the client
    gets that 401, not an error of the link."""
    key = auth.new_key()
    keys_file = tmp_path / "keys.toml"
    auth.write_keys(keys_file, {"alice": (key, None)})
    proxy = start_proxy(demo_upstream.url, shards=2, admin=True,
                        extra=["--hops", "forward", "--api-keys", str(keys_file)])
    good = [("x-api-key", key)]
    sessions = []
    for index in range(SESSIONS):
        with RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
            answer = conn.request("POST", "/mcp", mcp_headers(None, None, good), initialize_body(index))
            assert answer.status == 200, answer.describe()
            session = RawSession(answer.header("mcp-session-id"), answer.response_for(index)["result"]["protocolVersion"])
            assert conn.request("POST", "/mcp", session.headers(good),
                                jsonrpc("notifications/initialized")).status == 202
            sessions.append(session)
    foreign = None
    with RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
        for index, session in enumerate(sessions):
            before = _counter(proxy.admin_url, "hops_forwarded_total")
            body = jsonrpc("tools/call", {"name": "echo", "arguments": {"message": "x"}}, index)
            answer = conn.request("POST", "/mcp", session.headers(good), body)
            assert answer.status == 200 and tool_text(answer.response_for(index)) == "x", answer.describe()
            if _counter(proxy.admin_url, "hops_forwarded_total") > before:
                foreign = session
                break
        assert foreign is not None, "every session belongs to the connection's shard"
        large = jsonrpc("tools/call", {"name": "echo", "arguments": {"message": "y" * (768 * 1024)}}, "large")
        refused = conn.request("POST", "/mcp", foreign.headers([("x-api-key", "sk-wrong")]), large)
        assert refused.status == 401, refused.describe()
        assert "error" in refused.json(), refused.describe()
