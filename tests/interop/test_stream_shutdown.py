"""Long-lived GET streams and shutdown: an open server→client stream must not hold the proxy's
shutdown for the whole grace period (it carries no in-flight request), and a client hanging up on
a silent stream must release the upstream connection.

Not here: in-flight POST requests during shutdown (test_shutdown.py).
"""

from __future__ import annotations

import time
from pathlib import Path

import harness
from rawhttp import RawConnection, open_session
from test_proxy_limits import wait_until
from test_shards import metric_total, read_metrics


def open_get_stream(port: int, session_id: str, version: str) -> RawConnection:
    conn = RawConnection(harness.LOOPBACK_HOST, port)
    conn.send_raw(
        (f"GET /mcp HTTP/1.1\r\nHost: {conn.host_header}\r\nAccept: text/event-stream\r\n"
         f"Mcp-Session-Id: {session_id}\r\nMCP-Protocol-Version: {version}\r\n\r\n").encode()
    )
    head = conn._take_until(b"\r\n\r\n").decode("latin-1")
    assert head.startswith("HTTP/1.1 200"), head
    assert "text/event-stream" in head.lower(), head
    return conn


def test_open_get_stream_does_not_delay_shutdown(shadowcat_bin: Path,
                                                 everything_upstream: harness.Endpoint) -> None:
    proxy = harness.start_proxy(shadowcat_bin, everything_upstream.url)
    try:
        with RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
            session = open_session(conn)
        stream = open_get_stream(proxy.port, session.session_id, session.protocol_version)
        try:
            started = time.monotonic()
            code = proxy.process.terminate_and_wait(timeout_s=10.0)
            elapsed = time.monotonic() - started
            assert code == 0, str(proxy.process.failure(f"exit code {code}"))
            # The default grace is 10 s; a stream held to the end of it would show here.
            assert elapsed < 5.0, f"shutdown took {elapsed:.1f}s with an open GET stream"
            # The stream ends cleanly (terminating chunk), then the connection closes.
            rest = stream._take_rest()
            assert rest.endswith(b"0\r\n\r\n"), rest[-200:]
        finally:
            stream.close()
    finally:
        proxy.stop()


def test_client_hanging_up_on_a_silent_stream_frees_it(everything_upstream: harness.Endpoint,
                                                      start_proxy) -> None:
    proxy = start_proxy(everything_upstream.url, admin=True)
    assert proxy.admin_url is not None
    with RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
        session = open_session(conn)
    stream = open_get_stream(proxy.port, session.session_id, session.protocol_version)
    before = metric_total(read_metrics(proxy.admin_url), "shadowcat_responses_2xx_total")
    stream.close()
    # The relay notices the hang-up and finishes the request (counted as a response).
    wait_until(lambda: metric_total(read_metrics(proxy.admin_url), "shadowcat_responses_2xx_total") > before,
               "the proxy to notice the client hung up")
