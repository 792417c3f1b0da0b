"""`Mcp-Param-*` headers on translated `tools/call` (2026-07-28 §Custom Headers from Tool
Parameters): a legacy client (the Python SDK `mcp` 1.30.0, a 2025-11-25 session) calls, through
`shadowcat reverse --upstream-era modern`, the `route` tool of tests/modern's rmcp server
(`--modern-only`), whose schema annotates `region` and `count` with `x-mcp-header`; rmcp checks
the headers against the body (`get_tool`) and refuses a missing or different one with -32020.

Checks: the server really refuses a call without the header and accepts one with it (raw HTTP,
straight to the server); the rmcp 2026 client, straight to the server, calls it (control);
through the proxy a plain ASCII value, a non-ASCII value with an edge space (base64 form), an
integer and an absent argument all succeed, whether or not the client listed the tools first
(the proxy then lists them upstream itself); a legacy client's own forged
`Mcp-Param-Region` header is not forwarded; a tool whose annotation breaks the spec is left out
of the legacy client's `tools/list`, as the rmcp 2026 client leaves it out of its own; a stale
schema (no annotation) is refreshed after the upstream's -32020 and the call retried; each call
of a 2025-03-26 batch gets its own headers.

Not here: the encoding and reachability rules in detail (src/proxy/l2m/params_tests.rs).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

import harness
from rawhttp import RawConnection, jsonrpc, mcp_headers, open_session
from test_era_translation import modern_only_server  # noqa: F401 (fixture)
from test_modern import modern_body, modern_headers, run_client, start_modern_server

ROUTE_CALL = {"name": "route", "arguments": {"region": "us-west1", "count": 3}}



def raw_call(server: harness.Endpoint, extra: list[tuple[str, str]]):
    with RawConnection(harness.LOOPBACK_HOST, server.port) as conn:
        return conn.request("POST", "/mcp", modern_headers("tools/call", "route") + extra,
                            modern_body("p-1", "tools/call", ROUTE_CALL))


def test_the_upstream_checks_the_param_headers(modern_only_server) -> None:
    missing = raw_call(modern_only_server, [("Mcp-Param-Count", "3")])
    assert missing.status == 400, missing.describe()
    assert missing.json()["error"]["code"] == -32020, missing.describe()
    wrong = raw_call(modern_only_server, [("Mcp-Param-Region", "eu"), ("Mcp-Param-Count", "3")])
    assert wrong.status == 400, wrong.describe()
    right = raw_call(modern_only_server, [("Mcp-Param-Region", "us-west1"), ("Mcp-Param-Count", "3")])
    assert right.status == 200, right.describe()
    assert right.response_for("p-1")["result"]["content"][0]["text"] == "routed us-west1 3"


def test_rmcp_client_straight_to_the_server(modern_only_server) -> None:
    answer = run_client(modern_only_server.url, "list-call", "route", '{"region": "Zürich ", "count": 7}')
    assert answer["text"] == ["routed Zürich  7"], answer


async def legacy_calls(url: str, *, list_first: bool) -> dict[str, Any]:
    from mcp import ClientSession, types
    from mcp.client.streamable_http import streamable_http_client

    seen: dict[str, Any] = {}

    async def call(key: str, arguments: dict[str, Any]) -> None:
        result = await session.call_tool("route", arguments)
        seen[key] = (result.isError, result.content[0].text)

    async with streamable_http_client(url) as (read, write, _), ClientSession(read, write) as session:
        await session.initialize()
        if list_first:
            seen["tools"] = [t.name for t in (await session.list_tools()).tools]
        await call("ascii", {"region": "us-west1", "count": 3})
        await call("non_ascii", {"region": "Zürich ", "count": -7})
        await call("absent", {"region": "eu"})
        await call("null", {"region": "ap", "count": None, "note": "n"})
    return seen


@pytest.mark.parametrize("list_first", [True, False], ids=["listed", "unlisted"])
def test_legacy_client_calls_an_annotated_tool_through_the_proxy(modern_only_server, start_proxy,
                                                                 list_first) -> None:
    proxy = start_proxy(modern_only_server.url, extra=["--upstream-era", "modern"])
    seen = asyncio.run(legacy_calls(proxy.url, list_first=list_first))
    if list_first:
        assert "route" in seen["tools"]
    assert seen["ascii"] == (False, "routed us-west1 3")
    assert seen["non_ascii"] == (False, "routed Zürich  -7")
    assert seen["absent"] == (False, "routed eu -")
    assert seen["null"] == (False, "routed ap null")


def test_a_legacy_clients_own_param_header_is_not_forwarded(modern_only_server, start_proxy) -> None:
    proxy = start_proxy(modern_only_server.url, extra=["--upstream-era", "modern"])
    with RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
        session = open_session(conn)
        forged = session.headers([("Mcp-Param-Region", "forged")])
        answer = conn.request("POST", "/mcp", forged, jsonrpc("tools/call", ROUTE_CALL, 2))
    assert answer.status == 200, answer.describe()
    assert answer.response_for(2)["result"]["content"][0]["text"] == "routed us-west1 3", answer.describe()


async def legacy_tool_names(url: str) -> list[str]:
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    async with streamable_http_client(url) as (read, write, _), ClientSession(read, write) as session:
        await session.initialize()
        return [t.name for t in (await session.list_tools()).tools]


def test_invalid_annotations_are_left_out_like_the_rmcp_client_does(start_proxy) -> None:
    server = start_modern_server("--modern-only", "--bad-header-tool")
    try:
        direct = run_client(server.url, "list")["tools"]
        proxy = start_proxy(server.url, extra=["--upstream-era", "modern"])
        through = asyncio.run(legacy_tool_names(proxy.url))
    finally:
        server.stop()
    assert "bad_header" not in direct and "route" in direct
    assert through == direct


def test_a_stale_schema_is_refreshed_after_32020(start_proxy) -> None:
    """The first tools/list shows `route` without annotations (so the proxy sends no
    Mcp-Param-* header and the upstream answers -32020); the proxy lists the tools again and
    the retry succeeds, as the spec asks of a client. A raw session: no GET stream whose
    list_changed would refresh the cache first."""
    server = start_modern_server("--modern-only", "--stale-first-list")
    try:
        proxy = start_proxy(server.url, extra=["--upstream-era", "modern"])
        with RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
            session = open_session(conn)
            listed = conn.request("POST", "/mcp", session.headers(), jsonrpc("tools/list", {}, 1))
            tools = {t["name"]: t for t in listed.response_for(1)["result"]["tools"]}
            assert "x-mcp-header" not in json.dumps(tools["route"]), tools["route"]
            answer = conn.request("POST", "/mcp", session.headers(), jsonrpc("tools/call", ROUTE_CALL, 2))
    finally:
        server.stop()
    assert answer.status == 200, answer.describe()
    assert answer.response_for(2)["result"]["content"][0]["text"] == "routed us-west1 3", answer.describe()


def test_each_element_of_a_2025_03_26_batch_gets_its_own_headers(modern_only_server, start_proxy) -> None:
    proxy = start_proxy(modern_only_server.url, extra=["--upstream-era", "modern"])
    with RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
        init = jsonrpc("initialize", {"protocolVersion": "2025-03-26", "capabilities": {},
                                      "clientInfo": {"name": "raw-batch", "version": "0"}}, 0)
        response = conn.request("POST", "/mcp", mcp_headers(), init)
        assert response.status == 200, response.describe()
        headers = mcp_headers(session_id=response.header("mcp-session-id"), protocol_version="2025-03-26")
        batch = b"[" + b",".join([
            jsonrpc("tools/call", {"name": "route", "arguments": {"region": "eu", "count": 1}}, 1),
            jsonrpc("tools/call", {"name": "route", "arguments": {"region": "東京", "count": 2}}, 2),
        ]) + b"]"
        answer = conn.request("POST", "/mcp", headers, batch)
    assert answer.status == 200, answer.describe()
    messages = answer.jsonrpc_messages()
    # A JSON array, or (SSE) an array as the last event.
    replies = messages[-1] if isinstance(messages[-1], list) else messages
    texts = {r["id"]: r["result"]["content"][0]["text"] for r in replies}
    assert texts == {1: "routed eu 1", 2: "routed 東京 2"}, answer.describe()
