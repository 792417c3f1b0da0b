"""2025-03-26 batches to the HTTP demo server behind the proxy, which forwards the array's bytes as
they are: the demo answers every request in order in one JSON array (an unknown tool's error in
its place), or on one SSE stream when a `slow` call streams progress. A batch under 2025-06-18 is
refused with 400/-32600 (by the proxy's batch check, before the demo; the demo's own refusal is
unit-tested in src/demo/batch_tests.rs).
"""

from __future__ import annotations

import harness
from rawhttp import jsonrpc, mcp_headers
from test_stdio_batch import BATCH_VERSION, _batch, _connect, _session


def test_the_http_demo_server_answers_a_batch_through_the_proxy(demo_upstream: harness.Endpoint,
                                                                 start_proxy) -> None:
    proxy = start_proxy(demo_upstream.url)
    with _connect(proxy.url) as conn:
        session = _session(conn, BATCH_VERSION)
        headers = mcp_headers(session, BATCH_VERSION)
        response = conn.request("POST", "/mcp", headers, _batch(
            jsonrpc("notifications/initialized"),
            jsonrpc("tools/call", {"name": "echo", "arguments": {"message": "one"}}, request_id=1),
            jsonrpc("tools/call", {"name": "nope", "arguments": {}}, request_id=2),
            jsonrpc("ping", request_id="p"),
        ))
        assert response.status == 200, response.describe()
        replies = response.json()
        assert [reply["id"] for reply in replies] == [1, 2, "p"], replies
        assert replies[0]["result"]["content"][0]["text"] == "one"
        assert replies[1]["error"]["code"] == -32602 and replies[2]["result"] == {}, replies

        progress = conn.request("POST", "/mcp", headers, _batch(
            jsonrpc("ping", request_id="first"),
            jsonrpc("tools/call", {"name": "slow", "arguments": {"steps": 2, "delay_ms": 5},
                                   "_meta": {"progressToken": "tok"}}, request_id="s"),
        ))
        assert progress.status == 200, progress.describe()
        assert progress.header("content-type").startswith("text/event-stream"), progress.describe()
        shape = [m.get("id", m.get("method")) for m in progress.jsonrpc_messages()]
        assert shape == ["first", "notifications/progress", "notifications/progress", "s"], shape

        later = _session(conn, "2025-06-18")
        refused = conn.request("POST", "/mcp", mcp_headers(later, "2025-06-18"),
                               _batch(jsonrpc("ping", request_id=1)))
        assert refused.status == 400, refused.describe()
        assert refused.json()["error"]["code"] == -32600
