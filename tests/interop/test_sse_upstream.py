"""Legacy HTTP+SSE upstreams (`--upstream-transport sse`) beyond the check list (which
test_sdk_matrix.py runs as `everythingsse-proxied`): the upstream session's life follows the
client session's, and an upstream that goes away ends the client session cleanly.
"""

from __future__ import annotations

import harness
from rawhttp import RawConnection, call_tool, jsonrpc, open_session, tool_text
from test_proxy_limits import wait_until


def test_an_upstream_that_goes_away_ends_the_session_cleanly(start_proxy) -> None:
    upstream = harness.start_everything_server("sse")
    try:
        proxy = start_proxy(upstream.url, extra=["--upstream-transport", "sse", "--shards", "1",
                                                 "--request-timeout", "5s"])
        with RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
            session = open_session(conn)
            assert tool_text(call_tool(conn, session, 1, "echo", {"message": "hi"})) == "Echo: hi"
            upstream.stop()

            def answered_404() -> bool:
                response = conn.request("POST", "/mcp", session.headers(),
                                        jsonrpc("ping", request_id="after"))
                if response.status == 404:
                    assert response.json()["error"]["code"] == -32001, response.describe()
                    return True
                # Until the proxy has seen the stream end, a call fails in-band.
                assert response.status == 200, response.describe()
                return False

            wait_until(answered_404, "the session to end after the upstream went away")
    finally:
        upstream.stop()


def test_delete_ends_the_upstream_stream(start_proxy) -> None:
    upstream = harness.start_everything_server("sse")
    try:
        proxy = start_proxy(upstream.url, extra=["--upstream-transport", "sse", "--shards", "1",
                                                 "--log-level", "debug"])
        with RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
            session = open_session(conn)
            deleted = conn.request("DELETE", "/mcp", session.headers())
            assert deleted.status == 200, deleted.describe()
            proxy.process.wait_for_line(lambda text: "upstream peer stopped" in text,
                                        "the proxy closing the upstream SSE session", 10.0,
                                        stream="stderr")
            gone = conn.request("POST", "/mcp", session.headers(), jsonrpc("ping", request_id=2))
            assert gone.status == 404, gone.describe()
    finally:
        upstream.stop()
