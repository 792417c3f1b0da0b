"""SSE streams against server-everything (streamableHttp mode, in-memory event store), direct and
through the proxy: `Last-Event-ID` resumption of a POST's progress stream on a new GET, and the
standalone GET stream (a server-initiated notification, its response head, a client leaving it).
The direct runs show each expectation holds for the server itself.

How server-everything replays (its `InMemoryEventStore` plus the TS SDK's
`WebStandardStreamableHTTPServerTransport.replayEvents`): a GET with `Last-Event-ID` is answered
200 `text/event-stream` with every event the session stored after that id, each with its
original id, and the response then stays open. A POST stream starts with a priming event (an id,
empty data) when the client speaks 2025-11-25. The SDK allows one standalone GET stream per
session (409 while one is registered) and writes `: keepalive` on idle streams every 15 s.

Not here: protocol edge answers (test_http_edge.py), proxy limits (test_proxy_limits.py).
"""

from __future__ import annotations

from typing import Any

import pytest

import harness
from conftest import Target
from rawhttp import RawConnection, RawSession, SseEvent, SseStream, call_tool, jsonrpc, open_session, tool_text
from test_proxy_limits import wait_until

LONG_RUNNING_TOOL = "trigger-long-running-operation"
PROGRESS_STEPS = 3
PROGRESS_TOKEN = "streams-progress"
LOGGING_TOOL = "toggle-simulated-logging"  # one log message at once, then one every 5 s
# How long a quiet GET stream may take to show its response head / to be released upstream.
# server-everything answers in milliseconds; its 15 s keep-alive would mask a stuck proxy
# (its first write releases a withheld head), so the bound stays well below that.
QUIET_STREAM_BOUND_S = 5.0

BOTH = ["everything-direct", "everything-proxied"]


def get_headers(session: RawSession, last_event_id: str | None = None) -> list[tuple[str, str]]:
    """What a client sends to open (or resume) a GET stream: no body, SSE only."""
    headers = [("Accept", "text/event-stream"), ("Mcp-Session-Id", session.session_id),
               ("MCP-Protocol-Version", session.protocol_version)]
    if last_event_id is not None:
        headers.append(("Last-Event-ID", last_event_id))
    return headers


def progress_call(request_id: str) -> bytes:
    return jsonrpc("tools/call", {
        "name": LONG_RUNNING_TOOL,
        "arguments": {"duration": 0.3, "steps": PROGRESS_STEPS},  # seconds in all
        "_meta": {"progressToken": PROGRESS_TOKEN},
    }, request_id)


def is_method(event: SseEvent, method: str) -> bool:
    message = event.message()
    return message is not None and message.get("method") == method


def summary(events: list[SseEvent]) -> list[tuple[str | None, Any]]:
    """(id, message) pairs: what must match between the original stream and its replay."""
    return [(event.id, event.message()) for event in events]


@pytest.mark.parametrize("target", BOTH, indirect=True)
def test_last_event_id_replays_the_rest_of_a_post_stream(target: Target) -> None:
    with RawConnection(harness.LOOPBACK_HOST, target.endpoint.port) as conn:
        session = open_session(conn)
        stream = conn.open_stream("POST", "/mcp", session.headers(), progress_call("resume-1"))
        assert stream.is_sse, f"a progress call must answer SSE: {stream.response.describe()}"
        original = stream.rest()

    with_data = [event for event in original if event.message() is not None]
    assert [is_method(event, "notifications/progress") for event in with_data] == \
        [True] * PROGRESS_STEPS + [False], summary(original)
    final = with_data[-1].message()
    assert final is not None and final.get("id") == "resume-1" and "result" in final, summary(original)
    ids = [event.id for event in original]
    assert all(ids) and len(set(ids)) == len(ids), f"every event needs its own id: {summary(original)}"

    # Resume after the first progress event: the server replays the later ones and the result.
    first_progress = with_data[0]
    expected = original[original.index(first_progress) + 1:]
    with RawConnection(harness.LOOPBACK_HOST, target.endpoint.port) as resume:
        replay = resume.open_stream("GET", "/mcp", get_headers(session, last_event_id=first_progress.id))
        assert replay.is_sse, f"resuming GET: {replay.response.describe()}"
        assert replay.response.header("mcp-session-id") == session.session_id, replay.response.describe()
        # The replay stays open afterwards (the resumed stream is live again): stop at the result.
        replayed = replay.events_until(lambda event: event.id == expected[-1].id, "the replayed result")
    assert summary(replayed) == summary(expected)


def get_stream_with_a_log_message(conn: RawConnection, session: RawSession,
                                  listener: RawConnection) -> tuple[SseStream, dict[str, Any]]:
    """Opens the session's standalone GET stream on `listener` and returns it with the first
    `notifications/message` it carried (a message unrelated to any request travels only there).

    The head is read only after logging is on: through the proxy a quiet stream shows no head
    (see test_get_stream_head_arrives_before_any_event). Logging repeats every 5 s, so a first
    message sent before the GET reached the server is followed by another.
    """
    listener.send_request("GET", "/mcp", get_headers(session))
    started = tool_text(call_tool(conn, session, "log-on", LOGGING_TOOL, {}))
    try:
        assert started.startswith("Started"), started
        stream = listener.read_stream()
        assert stream.is_sse, f"standalone GET: {stream.response.describe()}"
        assert stream.response.header("mcp-session-id") == session.session_id, stream.response.describe()
        events = stream.events_until(lambda event: is_method(event, "notifications/message"),
                                     "a notifications/message on the GET stream")
    finally:
        stopped = tool_text(call_tool(conn, session, "log-off", LOGGING_TOOL, {}))
    assert stopped.startswith("Stopped"), stopped
    message = events[-1].message()
    assert message is not None
    return stream, message


@pytest.mark.parametrize("target", BOTH, indirect=True)
def test_standalone_get_stream_carries_server_notifications(target: Target) -> None:
    with RawConnection(harness.LOOPBACK_HOST, target.endpoint.port) as conn:
        session = open_session(conn)
        with RawConnection(harness.LOOPBACK_HOST, target.endpoint.port) as listener:
            _, log = get_stream_with_a_log_message(conn, session, listener)
        # The client walked away from the open stream: the session goes on.
        assert log["params"]["level"] and log["params"]["data"], log
        pong = conn.request("POST", "/mcp", session.headers(), jsonrpc("ping", {}, "after-close"))
        assert pong.status == 200, pong.describe()
        assert pong.response_for("after-close").get("result") == {}, pong.describe()


@pytest.mark.parametrize("target", BOTH, indirect=True)
def test_get_stream_head_arrives_before_any_event(target: Target) -> None:
    with RawConnection(harness.LOOPBACK_HOST, target.endpoint.port) as conn:
        session = open_session(conn)
        # Nothing is sent on this session's GET stream: only the head can arrive in time.
        with RawConnection(harness.LOOPBACK_HOST, target.endpoint.port, timeout_s=QUIET_STREAM_BOUND_S) as listener:
            try:
                stream = listener.open_stream("GET", "/mcp", get_headers(session))
            except TimeoutError:
                raise AssertionError(f"no response head within {QUIET_STREAM_BOUND_S}s on a quiet GET stream")
            assert stream.is_sse, stream.response.describe()


@pytest.mark.parametrize("target", BOTH, indirect=True)
def test_get_stream_left_by_the_client_is_released(target: Target) -> None:
    with RawConnection(harness.LOOPBACK_HOST, target.endpoint.port) as conn:
        session = open_session(conn)
        with RawConnection(harness.LOOPBACK_HOST, target.endpoint.port) as listener:
            get_stream_with_a_log_message(conn, session, listener)

    # One GET stream per session: a new one opening proves the abandoned one was let go.
    def reopened() -> bool:
        with RawConnection(harness.LOOPBACK_HOST, target.endpoint.port) as again:
            again.send_request("GET", "/mcp", get_headers(session))
            status = again.read_response_head().status
        assert status in (200, 409), status
        return status == 200

    wait_until(reopened, "a new GET stream after the client left the first", QUIET_STREAM_BOUND_S)
