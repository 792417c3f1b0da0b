"""What the proxy answers at its HTTP edge, byte for byte (raw sockets, no SDK): content
negotiation, JSON-RPC framing errors, sessions, Host/Origin checks, request smuggling, a dead
upstream. Proxied targets only: these are the proxy's own answers, not the upstream's.
(A dead upstream and shutdown: test_proxy_process.py.)
"""

from __future__ import annotations

from typing import Any

import pytest

import harness
from conftest import PROXIED_TARGETS, Target
from rawhttp import (RAW_PROTOCOL_VERSION, RawConnection, RawResponse, initialize_body, jsonrpc,
                     mcp_headers, open_session)

pytestmark = pytest.mark.parametrize("target", PROXIED_TARGETS, indirect=True)


def connect(target: Target) -> RawConnection:
    return RawConnection(harness.LOOPBACK_HOST, target.endpoint.port)


def assert_jsonrpc_error(response: RawResponse, status: int, code: int, ids: tuple[Any, ...]) -> None:
    assert response.status == status, response.describe()
    assert (response.header("content-type") or "").startswith("application/json"), response.describe()
    body = response.json()
    assert body.get("jsonrpc") == "2.0", body
    assert isinstance(body.get("error"), dict) and body["error"].get("code") == code, body
    assert "id" in body and body["id"] in ids, f"id {body.get('id')!r} not in {ids}: {body}"


def test_wrong_accept_is_406(target: Target) -> None:
    with connect(target) as conn:
        headers = [("Accept", "text/html"), ("Content-Type", "application/json")]
        response = conn.request("POST", "/mcp", headers, initialize_body("accept-1"))
    assert response.status == 406, response.describe()


def test_wrong_content_type_is_415(target: Target) -> None:
    with connect(target) as conn:
        headers = [("Accept", "application/json, text/event-stream"), ("Content-Type", "text/plain")]
        response = conn.request("POST", "/mcp", headers, initialize_body("ctype-1"))
    assert response.status == 415, response.describe()


def test_bad_protocol_version_is_400(target: Target) -> None:
    with connect(target) as conn:
        session = open_session(conn)
        headers = mcp_headers(session.session_id, "1999-01-01")
        response = conn.request("POST", "/mcp", headers, jsonrpc("tools/list", {}, "version-1"))
    assert response.status == 400, response.describe()


def test_malformed_json_is_parse_error_with_null_id(target: Target) -> None:
    with connect(target) as conn:
        session = open_session(conn)
        body = b'{"jsonrpc": "2.0", "id": "parse-1", "method": "tools/list"'
        response = conn.request("POST", "/mcp", session.headers(), body)
    assert_jsonrpc_error(response, 400, -32700, (None,))


def test_invalid_jsonrpc_is_invalid_request(target: Target) -> None:
    with connect(target) as conn:
        session = open_session(conn)
        body = b'{"jsonrpc": "2.0", "id": "invalid-1", "method": 42}'
        response = conn.request("POST", "/mcp", session.headers(), body)
    assert_jsonrpc_error(response, 400, -32600, (None, "invalid-1"))


def test_unknown_session_is_404(target: Target) -> None:
    with connect(target) as conn:
        headers = mcp_headers("shadowcat-test-no-such-session", RAW_PROTOCOL_VERSION)
        response = conn.request("POST", "/mcp", headers, jsonrpc("tools/list", {}, "unknown-1"))
    assert response.status == 404, response.describe()


def test_notification_is_202_without_body(target: Target) -> None:
    with connect(target) as conn:
        session = open_session(conn)
        body = jsonrpc("notifications/cancelled", {"requestId": "never-sent", "reason": "test"})
        response = conn.request("POST", "/mcp", session.headers(), body)
    assert response.status == 202, response.describe()
    assert response.body == b"", response.describe()


def test_foreign_host_is_403(target: Target) -> None:
    with connect(target) as conn:
        headers = mcp_headers(extra=[("Host", "evil.example")])
        response = conn.request("POST", "/mcp", headers, initialize_body("host-1"))
    assert response.status == 403, response.describe()


def test_foreign_origin_is_403(target: Target) -> None:
    with connect(target) as conn:
        headers = mcp_headers(extra=[("Origin", "http://evil.example")])
        response = conn.request("POST", "/mcp", headers, initialize_body("origin-1"))
    assert response.status == 403, response.describe()


def test_own_host_and_origin_are_accepted(target: Target) -> None:
    with connect(target) as conn:
        headers = mcp_headers(extra=[("Origin", f"http://{conn.host_header}")])
        response = conn.request("POST", "/mcp", headers, initialize_body("origin-ok-1"))
    assert response.status == 200, response.describe()
    assert "result" in response.response_for("origin-ok-1"), response.describe()


PING = jsonrpc("ping", None, "smuggle-1")
SMUGGLING_HEADS = {
    "content-length-and-chunked": [("Content-Length", str(len(PING))), ("Transfer-Encoding", "chunked")],
    "conflicting-content-lengths": [("Content-Length", str(len(PING))), ("Content-Length", "3")],
}


@pytest.mark.parametrize("framing", sorted(SMUGGLING_HEADS))
def test_ambiguous_framing_is_400_and_closes(target: Target, framing: str) -> None:
    with connect(target) as conn:
        session = open_session(conn)
        head = ["POST /mcp HTTP/1.1", f"Host: {conn.host_header}"]
        head += [f"{name}: {value}" for name, value in session.headers() + SMUGGLING_HEADS[framing]]
        chunked = f"{len(PING):x}\r\n".encode() + PING + b"\r\n0\r\n\r\n"
        conn.send_raw(("\r\n".join(head) + "\r\n\r\n").encode() + chunked)
        response = conn.read_response()
        assert response.status == 400, response.describe()
        assert conn.peer_closed(), "connection left open after an ambiguous request"
