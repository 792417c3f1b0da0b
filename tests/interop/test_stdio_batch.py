"""2025-03-26 batches to a stdio upstream (`demo-server --stdio` behind `--upstream-cmd`): split
into single messages for the child, answered with one reply array (JSON, or SSE when progress
comes first), 202 for a batch of notifications, 400 on a session that negotiated a later version.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

import pytest

import harness
from rawhttp import RawConnection, initialize_body, jsonrpc, mcp_headers

BATCH_VERSION = "2025-03-26"


@pytest.fixture
def proxy(shadowcat_bin: Path) -> Iterator[harness.Endpoint]:
    argv = [shadowcat_bin, "reverse", "--bind", f"{harness.LOOPBACK_HOST}:0", "--shards", "1",
            "--upstream-cmd", "--", shadowcat_bin, "demo-server", "--stdio"]
    process = harness.ManagedProcess("shadowcat-stdio-batch", argv, env=dict(os.environ))
    try:
        urls = harness.wait_shadowcat_ready(process, ["proxy"])
        endpoint = harness.Endpoint(url=urls["proxy"], process=process)
    except BaseException:
        process.stop()
        raise
    try:
        yield endpoint
    finally:
        endpoint.stop()


def _connect(url: str) -> RawConnection:
    parts = urlsplit(url)
    return RawConnection(parts.hostname or harness.LOOPBACK_HOST, parts.port or 80)


def _session(conn: RawConnection, version: str) -> str:
    body = json.loads(initialize_body("init"))
    body["params"]["protocolVersion"] = version
    response = conn.request("POST", "/mcp", mcp_headers(), json.dumps(body).encode())
    assert response.status == 200, response.describe()
    session = response.header("mcp-session-id")
    assert session, response.describe()
    return session


def _batch(*messages: bytes) -> bytes:
    return b"[" + b",".join(messages) + b"]"


def test_a_batch_is_split_for_the_child_and_answered_with_one_array(proxy: harness.Endpoint) -> None:
    with _connect(proxy.url) as conn:
        session = _session(conn, BATCH_VERSION)
        headers = mcp_headers(session, BATCH_VERSION)
        response = conn.request("POST", "/mcp", headers, _batch(
            jsonrpc("notifications/initialized"),
            jsonrpc("ping", request_id="p"),
            jsonrpc("tools/call", {"name": "echo", "arguments": {"message": "one"}}, request_id=1),
            jsonrpc("tools/call", {"name": "echo", "arguments": {"message": "two"}}, request_id=2),
        ))
        assert response.status == 200, response.describe()
        replies = response.json()
        assert isinstance(replies, list), response.describe()
        assert [reply["id"] for reply in replies] == ["p", 1, 2]
        assert replies[1]["result"]["content"][0]["text"] == "one"
        assert replies[2]["result"]["content"][0]["text"] == "two"

        progress = conn.request("POST", "/mcp", headers, _batch(
            jsonrpc("tools/call", {"name": "slow", "arguments": {"steps": 2, "delay_ms": 5},
                                   "_meta": {"progressToken": "tok"}}, request_id="s"),
        ))
        assert progress.status == 200, progress.describe()
        assert progress.header("content-type").startswith("text/event-stream"), progress.describe()
        # Progress events first, then the reply array as the last event (2025-03-26 SSE data may
        # hold an array).
        *notes, replies = progress.jsonrpc_messages()
        assert [note["method"] for note in notes] == ["notifications/progress"] * 2, notes
        assert isinstance(replies, list) and [reply["id"] for reply in replies] == ["s"], replies

        only_notifications = conn.request("POST", "/mcp", headers, _batch(
            jsonrpc("notifications/roots/list_changed")))
        assert only_notifications.status == 202, only_notifications.describe()


def test_a_batch_on_a_later_version_session_is_refused(proxy: harness.Endpoint) -> None:
    with _connect(proxy.url) as conn:
        session = _session(conn, "2025-06-18")
        response = conn.request("POST", "/mcp", mcp_headers(session, "2025-06-18"),
                                _batch(jsonrpc("ping", request_id=1)))
        assert response.status == 400, response.describe()
        assert response.json()["error"]["code"] == -32600

