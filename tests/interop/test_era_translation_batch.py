"""2025-03-26 batches on a translated session: a legacy client that negotiated 2025-03-26, served
by a modern-only upstream (tests/modern's rmcp server, `--modern-only --sse`) through
`shadowcat reverse --upstream-era modern`. No SDK sends batches (the Python SDK 1.30 never
does), so these speak raw HTTP.

Checks: a batch [tools/list, tools/call echo, ping, a notification] gets one JSON array of the
three replies in request order; element errors (unknown method upstream, a bad log level,
`initialize`, a repeated id) are entries of the array; progress comes first on SSE with the
array as the last event; a batch of notifications and responses gets 202; two MRTR `ask` calls
in one batch run concurrently (both sampling requests reach the client before it answers either),
the client's answers (themselves a batch of responses) complete them and the array follows; a
cancelled element is left out of the array; a batch on a 2025-06-18 translated session gets 400;
a batch of 40 annotated `route` calls on a cold tool cache costs the upstream one `tools/list`, and
a batch of 40 `slow` calls never has more than the proxy's cap (16) running upstream at once.

Not here: batches to stdio upstreams (test_stdio_batch.py), the SDK-level translation checks
(test_era_translation.py).
"""

from __future__ import annotations

import json
from typing import Any, Iterator

import pytest

import harness
from rawhttp import RawConnection, jsonrpc, mcp_headers
from test_modern import EVENT_DEADLINE_S, start_modern_server

BATCH_VERSION = "2025-03-26"
# src/proxy/l2m/batch.rs MAX_IN_FLIGHT: elements of one batch upstream at once.
IN_FLIGHT_CAP = 16
LARGE_BATCH = 40


@pytest.fixture
def server() -> Iterator[harness.Endpoint]:
    server = start_modern_server("--modern-only", "--sse", "--keepalive-ms", "100")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def proxy(server: harness.Endpoint, start_proxy) -> harness.Endpoint:
    return start_proxy(server.url, extra=["--upstream-era", "modern", "--request-timeout", "60s"])


def _session(conn: RawConnection, version: str) -> list[tuple[str, str]]:
    """initialize (declaring sampling) + notifications/initialized; the session's POST headers."""
    init = jsonrpc("initialize", {"protocolVersion": version, "capabilities": {"sampling": {}},
                                  "clientInfo": {"name": "raw-batch", "version": "0"}}, 0)
    response = conn.request("POST", "/mcp", mcp_headers(), init)
    assert response.status == 200, response.describe()
    assert response.json()["result"]["protocolVersion"] == version, response.describe()
    sid = response.header("mcp-session-id")
    assert sid, response.describe()
    headers = mcp_headers(session_id=sid, protocol_version=version)
    initialized = conn.request("POST", "/mcp", headers, jsonrpc("notifications/initialized"))
    assert initialized.status == 202, initialized.describe()
    return headers


def _batch(*messages: bytes) -> bytes:
    return b"[" + b",".join(messages) + b"]"


def _call(request_id: Any, name: str, arguments: dict[str, Any], meta: dict[str, Any] | None = None) -> bytes:
    params: dict[str, Any] = {"name": name, "arguments": arguments}
    if meta:
        params["_meta"] = meta
    return jsonrpc("tools/call", params, request_id)


def _text(reply: dict[str, Any]) -> str:
    assert "result" in reply, reply
    return reply["result"]["content"][0]["text"]


def test_a_batch_is_split_for_the_modern_upstream(proxy: harness.Endpoint) -> None:
    with RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
        headers = _session(conn, BATCH_VERSION)
        response = conn.request("POST", "/mcp", headers, _batch(
            jsonrpc("tools/list", {}, 1),
            _call(2, "echo", {"text": "one"}),
            jsonrpc("ping", None, 3),
            jsonrpc("notifications/roots/list_changed"),
        ))
        assert response.status == 200, response.describe()
        assert response.header("content-type") == "application/json", response.describe()
        replies = response.json()
        assert isinstance(replies, list), response.describe()
        assert [reply["id"] for reply in replies] == [1, 2, 3], replies
        assert "echo" in [tool["name"] for tool in replies[0]["result"]["tools"]], replies[0]
        assert _text(replies[1]) == "one"
        assert replies[2] == {"jsonrpc": "2.0", "id": 3, "result": {}}

        # Element errors are entries of the array; the other elements are served.
        errors = conn.request("POST", "/mcp", headers, _batch(
            jsonrpc("no/such", {}, "u"),
            jsonrpc("logging/setLevel", {"level": "loud"}, "l"),
            jsonrpc("initialize", {"protocolVersion": BATCH_VERSION, "capabilities": {},
                                   "clientInfo": {"name": "again", "version": "0"}}, "i"),
            _call("e", "echo", {"text": "two"}),
            jsonrpc("ping", None, "e"),
        ))
        assert errors.status == 200, errors.describe()
        replies = errors.json()
        assert [reply["id"] for reply in replies] == ["u", "l", "i", "e", "e"], replies
        assert [reply.get("error", {}).get("code") for reply in replies] == [-32601, -32602, -32600, None,
                                                                              -32600], replies
        assert _text(replies[3]) == "two"

        # Progress first, then the array as the last SSE event.
        progress = conn.request("POST", "/mcp", headers, _batch(
            _call("s", "slow", {"ms": 10}, {"progressToken": "tok"}),
            _call("t", "echo", {"text": "three"}),
        ))
        assert progress.status == 200, progress.describe()
        assert progress.header("content-type").startswith("text/event-stream"), progress.describe()
        *notes, replies = progress.jsonrpc_messages()
        assert [note["method"] for note in notes] == ["notifications/progress"], notes
        assert notes[0]["params"]["progressToken"] == "tok", notes
        assert [reply["id"] for reply in replies] == ["s", "t"], replies
        assert _text(replies[0]) == "done" and _text(replies[1]) == "three"

        only_notifications = conn.request("POST", "/mcp", headers, _batch(
            jsonrpc("notifications/roots/list_changed"),
            jsonrpc("notifications/cancelled", {"requestId": "nothing-in-flight"})))
        assert only_notifications.status == 202, only_notifications.describe()

        # The session still serves single messages.
        ping = conn.request("POST", "/mcp", headers, jsonrpc("ping", None, 4))
        assert ping.json() == {"jsonrpc": "2.0", "id": 4, "result": {}}, ping.describe()


def test_mrtr_calls_of_a_batch_run_concurrently(proxy: harness.Endpoint) -> None:
    with RawConnection(harness.LOOPBACK_HOST, proxy.port) as control:
        headers = _session(control, BATCH_VERSION)
        with RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
            stream = conn.open_stream("POST", "/mcp", headers, _batch(
                _call("a1", "ask", {"question": "first?"}),
                _call("a2", "ask", {"question": "second?"}),
                _call("e", "echo", {"text": "meanwhile"}),
            ))
            assert stream.is_sse, stream.response.describe()
            asked: dict[str, Any] = {}

            def both_asked(event) -> bool:
                message = event.message()
                if isinstance(message, dict) and message.get("method") == "sampling/createMessage":
                    asked[message["params"]["messages"][0]["content"]["text"]] = message["id"]
                return len(asked) == 2

            # Both input requests arrive before the client answers either: the calls run
            # side by side, not one after the other.
            stream.events_until(both_asked, "two sampling requests")
            assert set(asked) == {"first?", "second?"}, asked
            answers = [json.dumps({"jsonrpc": "2.0", "id": request_id, "result": {
                "role": "assistant", "model": "test-model",
                "content": {"type": "text", "text": f"sampled({question})"}}}).encode()
                       for question, request_id in asked.items()]
            accepted = control.request("POST", "/mcp", headers, _batch(*answers))
            assert accepted.status == 202, accepted.describe()

            rest = stream.rest()
            assert rest, "the batch's stream ended without the reply array"
            replies = rest[-1].message()
            assert isinstance(replies, list), rest
            assert [reply["id"] for reply in replies] == ["a1", "a2", "e"], replies
            assert _text(replies[0]) == "answered: sampled(first?)"
            assert _text(replies[1]) == "answered: sampled(second?)"
            assert _text(replies[2]) == "meanwhile"


def test_a_cancelled_element_is_left_out_of_the_array(server: harness.Endpoint,
                                                     proxy: harness.Endpoint) -> None:
    """`notifications/cancelled` for a request of a batch in flight closes its upstream request
    (the rmcp handler sees the cancellation) and the array holds the other replies only."""
    with RawConnection(harness.LOOPBACK_HOST, proxy.port) as control:
        headers = _session(control, BATCH_VERSION)
        with RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
            conn.send_request("POST", "/mcp", headers, _batch(
                _call("s", "slow", {"ms": 30000}),
                _call("e", "echo", {"text": "kept"}),
            ))
            server.process.wait_for_line(lambda l: l == "EVENT slow-started", "slow tool start",
                                         EVENT_DEADLINE_S)
            cancelled = control.request("POST", "/mcp", headers,
                                        jsonrpc("notifications/cancelled", {"requestId": "s"}))
            assert cancelled.status == 202, cancelled.describe()
            server.process.wait_for_line(lambda l: l in ("EVENT slow-cancelled", "EVENT slow-finished"),
                                         "slow tool end", EVENT_DEADLINE_S)
            assert ("stdout", "EVENT slow-cancelled") in server.process._lines
            response = conn.read_response()
            assert response.status == 200, response.describe()
            replies = response.json()
            assert [reply["id"] for reply in replies] == ["e"], replies
            assert _text(replies[0]) == "kept"


def test_a_batch_on_a_later_version_translated_session_is_refused(proxy: harness.Endpoint) -> None:
    with RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
        headers = _session(conn, "2025-06-18")
        response = conn.request("POST", "/mcp", headers, _batch(jsonrpc("ping", None, 1)))
        assert response.status == 400, response.describe()
        assert response.json()["error"]["code"] == -32600, response.describe()


def test_a_large_batch_lists_tools_once_and_caps_its_calls(server: harness.Endpoint,
                                                          proxy: harness.Endpoint) -> None:
    """A fresh proxy knows no tool annotations: the first `route` call fetches `tools/list` and
    the others wait for that fetch (one `tools/list` upstream, every call with its
    `Mcp-Param-*` headers, which rmcp checks). Then `slow` calls, counted from the server's
    start/finish events, run side by side but never more than the cap at once."""
    with RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
        headers = _session(conn, BATCH_VERSION)
        routes = conn.request("POST", "/mcp", headers, _batch(*(
            _call(n, "route", {"region": f"r{n}", "count": n}) for n in range(LARGE_BATCH))))
        assert routes.status == 200, routes.describe()
        replies = routes.json()
        assert [reply["id"] for reply in replies] == list(range(LARGE_BATCH)), replies
        assert [_text(reply) for reply in replies] == [f"routed r{n} {n}" for n in range(LARGE_BATCH)]

        conn.send_request("POST", "/mcp", headers, _batch(*(
            _call(f"s{n}", "slow", {"ms": 300}) for n in range(LARGE_BATCH))))
        counts = {"running": 0, "most": 0, "ended": 0}

        def track(line: str) -> bool:
            if line == "EVENT slow-started":
                counts["running"] += 1
                counts["most"] = max(counts["most"], counts["running"])
            elif line in ("EVENT slow-finished", "EVENT slow-cancelled"):
                counts["running"] -= 1
                counts["ended"] += 1
            return counts["ended"] == LARGE_BATCH

        server.process.wait_for_line(track, f"{LARGE_BATCH} slow calls ending", EVENT_DEADLINE_S * 2)
        # The server reports a call finished before its answer leaves, so its count never
        # exceeds what the proxy has in flight.
        assert 2 <= counts["most"] <= IN_FLIGHT_CAP, counts
        slow = conn.read_response()
        assert slow.status == 200, slow.describe()
        # Nothing streamed ahead of the replies (no progress token): one JSON array.
        assert slow.header("content-type") == "application/json", slow.describe()
        replies = slow.json()
        assert [reply["id"] for reply in replies] == [f"s{n}" for n in range(LARGE_BATCH)], replies
        assert all(_text(reply) == "done" for reply in replies), replies

    # stdout is read in order: the slow calls' events came after every tools/list event.
    lists = [line for label, line in server.process._lines
             if label == "stdout" and line == "EVENT tools-list"]
    assert len(lists) == 1, lists


def test_calls_waiting_for_a_slot_are_in_flight(server: harness.Endpoint, proxy: harness.Endpoint) -> None:
    """Past the cap, a call waits for a slot but its id is already in flight: a cancel (in the
    same batch, or POSTed meanwhile) means it is never sent, and another request under its id
    is refused."""
    blockers = [_call(f"b{n}", "slow", {"ms": 1500}) for n in range(IN_FLIGHT_CAP)]
    with RawConnection(harness.LOOPBACK_HOST, proxy.port) as control:
        headers = _session(control, BATCH_VERSION)
        with RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
            conn.send_request("POST", "/mcp", headers, _batch(
                *blockers,
                _call("queued", "echo", {"text": "never sent"}),
                _call("waiting", "echo", {"text": "sent later"}),
                _call("late", "echo", {"text": "cancelled meanwhile"}),
                jsonrpc("notifications/cancelled", {"requestId": "queued"}),
            ))
            started = {"n": 0}

            def all_blockers(line: str) -> bool:
                started["n"] += line == "EVENT slow-started"
                return started["n"] == IN_FLIGHT_CAP

            server.process.wait_for_line(all_blockers, "the cap's slow calls to start", EVENT_DEADLINE_S)
            twin = control.request("POST", "/mcp", headers, _call("waiting", "echo", {"text": "twin"}))
            assert twin.status == 400, twin.describe()
            assert twin.json()["error"]["code"] == -32600, twin.describe()
            cancelled = control.request("POST", "/mcp", headers,
                                        jsonrpc("notifications/cancelled", {"requestId": "late"}))
            assert cancelled.status == 202, cancelled.describe()
            response = conn.read_response()
            assert response.status == 200, response.describe()
            replies = response.json()
            ids = [reply["id"] for reply in replies]
            assert ids == [f"b{n}" for n in range(IN_FLIGHT_CAP)] + ["waiting"], ids
            assert _text(replies[-1]) == "sent later"
        # The ids are free again once the batch is over.
        again = control.request("POST", "/mcp", headers, _call("queued", "echo", {"text": "now"}))
        assert again.status == 200, again.describe()
