"""The proxy as a process: what a client gets when the upstream is down, and clean shutdown on
SIGTERM (exit 0) for the proxy and the demo server.
"""

from __future__ import annotations

from pathlib import Path

import harness
from rawhttp import RawConnection, initialize_body, mcp_headers, open_session


def test_dead_upstream_is_502_with_request_id(start_proxy) -> None:
    proxy = start_proxy(f"http://{harness.LOOPBACK_HOST}:{harness.dead_port()}/mcp")
    with RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
        response = conn.request("POST", "/mcp", mcp_headers(), initialize_body("down-1"))
    assert response.status == 502, response.describe()
    assert (response.header("content-type") or "").startswith("application/json"), response.describe()
    body = response.json()
    assert body.get("jsonrpc") == "2.0" and body.get("id") == "down-1", body
    assert isinstance(body.get("error", {}).get("code"), int), body


def test_proxy_exits_zero_on_sigterm(shadowcat_bin: Path, demo_upstream: harness.Endpoint) -> None:
    proxy = harness.start_proxy(shadowcat_bin, demo_upstream.url)
    try:
        with RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
            open_session(conn)  # shut down with a live session and an idle keep-alive connection
            code = proxy.process.terminate_and_wait(timeout_s=10.0)
    finally:
        proxy.stop()
    assert code == 0, str(proxy.process.failure(f"exit code {code} after SIGTERM"))


def test_demo_server_exits_zero_on_sigterm(shadowcat_bin: Path) -> None:
    server = harness.start_demo_server(shadowcat_bin)
    try:
        code = server.process.terminate_and_wait()
    finally:
        server.stop()
    assert code == 0, str(server.process.failure(f"exit code {code} after SIGTERM"))
