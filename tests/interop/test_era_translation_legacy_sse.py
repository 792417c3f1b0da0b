"""Era translation for a legacy HTTP+SSE client (2024-11-05: `GET /sse` + `POST /messages`)
served through the proxy by a modern-only upstream (tests/modern's rmcp server with
`--modern-only`): `shadowcat reverse --legacy-sse --upstream-era modern|auto`.

Checks, with the Python SDK's `sse_client` (both eras) and the TypeScript SDK's
`SSEClientTransport` (fixtures/ts_legacy_client.mjs): initialize answered from `server/discover`,
tools/list, echo, the `_meta` the upstream saw (clientInfo, 2026-07-28, the log level after
`logging/setLevel`), `Mcp-Param-*` headers (the `route` tool), progress, MRTR on the session
stream (the `ask` tool's sampling request answered by the client's callback, `confirm`'s
elicitation), an unknown tool's error, ping, the upstream's `subscriptions/listen` feeding the stream (tools list_changed; `resources/subscribe`
reopens it and resources/updated arrives), also with 2 shards. At the byte level: every answer
arrives on the stream as `event: message`, the POSTs get 202, an MRTR sampling request rides the
stream and its POSTed answer completes the call (-32021 without the capability), hanging up the
stream ends the session (later POSTs 404) and cancels the upstream listen and a call in flight,
SIGTERM ends the stream and the listen cleanly, and a 401 on discover is the initialize's -32010.

Not here: the Streamable HTTP legacy client (test_era_translation.py), legacy SSE in front of
legacy upstreams (test_legacy_sse.py).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from typing import Any

import pytest

import harness
import rawhttp
from test_era_translation import CLIENT_NAME, Recorder, modern_only_server, refusing_upstream  # noqa: F401 (fixture)
from test_legacy_sse import LegacyStream
from test_modern import EVENT_DEADLINE_S, metric

TOOLS = ["echo", "slow", "ask", "whoami", "confirm", "route"]



def start_translating_proxy(start_proxy, upstream: harness.Endpoint, era: str, *extra: str,
                            shards: int | None = None) -> harness.Endpoint:
    return start_proxy(upstream.url, admin=True, shards=shards,
                       extra=["--legacy-sse", "--upstream-era", era, *extra])


def sse_url(proxy: harness.Endpoint) -> str:
    return f"http://{proxy.host_header}/sse"


def count(server: harness.Endpoint, line: str) -> int:
    return sum(1 for entry in list(server.process._lines) if entry == ("stdout", line))


def await_condition(condition, what: str, timeout_s: float = EVENT_DEADLINE_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def await_listens_cancelled(server: harness.Endpoint) -> None:
    """Every upstream listen the proxy opened was cancelled (the session is over)."""
    await_condition(lambda: count(server, "EVENT listen-started") > 0
                    and count(server, "EVENT listen-cancelled") == count(server, "EVENT listen-started"),
                    "every upstream listen to be cancelled")


async def sse_session_run(url: str) -> dict[str, Any]:
    """One Python SDK `sse_client` session doing the whole check list; returns what it saw."""
    from mcp import ClientSession
    from mcp.client.sse import sse_client
    from mcp.shared.exceptions import McpError

    recorder = Recorder()
    seen = recorder.seen

    async with sse_client(url, timeout=20) as (read, write), ClientSession(
            read, write, **recorder.session_args()) as session:
        init = await session.initialize()
        seen["version"] = init.protocolVersion
        seen["server"] = init.serverInfo.name
        seen["tools_cap"] = init.capabilities.tools is not None
        seen["tools"] = [t.name for t in (await session.list_tools()).tools]
        seen["echo"] = (await session.call_tool("echo", {"text": "héllo legacy sse"})).content[0].text
        seen["whoami"] = (await session.call_tool("whoami", {})).content[0].text
        # `route` annotates its arguments with x-mcp-header: refused upstream (-32020) unless the
        # translated call carries the matching Mcp-Param-* headers.
        seen["route"] = (await session.call_tool("route", {"region": "eu-west", "count": 3})).content[0].text
        await session.set_logging_level("error")
        seen["whoami_level"] = (await session.call_tool("whoami", {})).content[0].text
        seen["slow"] = (await session.call_tool("slow", {"ms": 10}, progress_callback=recorder.progress)).content[0].text
        # Two MRTR exchanges at once: each server→client request goes out on the one stream and
        # each answer (POSTed) reaches its own exchange.
        ask, confirm = await asyncio.gather(session.call_tool("ask", {"question": "six times seven?"}),
                                            session.call_tool("confirm", {}))
        seen["ask"] = ask.content[0].text
        seen["confirm"] = confirm.content[0].text
        try:
            unknown = await session.call_tool("no-such-tool", {})
            seen["unknown"] = "isError" if unknown.isError else "success"
        except McpError as error:
            seen["unknown"] = error.error.code
        # The session stream carries the upstream's subscriptions/listen.
        await recorder.ping_and_listen(session, "test://watched-sse")
    return seen


@pytest.mark.parametrize("era,shards", [("modern", 1), ("auto", 1), ("modern", 2)])
def test_python_sse_client_through_modern_only_upstream(modern_only_server, start_proxy, era, shards) -> None:
    """With 2 shards, POSTs (the MRTR answers included) that land on the other shard are handed
    to the one holding the session and its translation state."""
    proxy = start_translating_proxy(start_proxy, modern_only_server, era, shards=shards)
    seen = asyncio.run(sse_session_run(sse_url(proxy)))
    assert seen["version"] == "2025-11-25"
    assert seen["server"] == "rmcp-modern-test-server"
    assert seen["tools_cap"]
    assert seen["tools"] == TOOLS
    assert seen["echo"] == "héllo legacy sse"
    assert seen["whoami"] == f"{CLIENT_NAME} 2026-07-28 -"
    assert seen["whoami_level"] == f"{CLIENT_NAME} 2026-07-28 error"
    assert seen["route"] == "routed eu-west 3"
    assert seen["slow"] == "done" and seen["progress"] == [0.0]
    assert seen["sampled"] == ["six times seven?"]
    assert seen["ask"] == "answered: sampled(six times seven?)"
    assert seen["elicited"] == "Proceed?"
    assert seen["confirm"] == "confirmed: accept Some(true)"
    assert seen["unknown"] in ("isError", -32601, -32602), seen["unknown"]
    assert seen["ping"]
    assert "notifications/tools/list_changed" in seen["notifications"]
    assert seen["updated"] == "test://watched-sse"
    lines = modern_only_server.process._lines
    assert ("stdout", "EVENT listen-resources test://watched-sse") in lines
    # Leaving sse_client closed the stream: the session ended, and with it the upstream listen.
    await_listens_cancelled(modern_only_server)
    assert metric(proxy, "shadowcat_legacy_sessions_total") == 1


def test_typescript_sse_client_through_modern_only_upstream(modern_only_server, start_proxy) -> None:
    """The official TypeScript SDK's SSEClientTransport: the same translation, MRTR included."""
    proxy = start_translating_proxy(start_proxy, modern_only_server, "auto")
    env = harness.child_env({"SHADOWCAT_NODE_MODULES": str(harness.NODE_MODULES)})
    script = harness.REPO_ROOT / "tests" / "interop" / "fixtures" / "ts_legacy_client.mjs"
    process = harness.ManagedProcess("ts-legacy-sse-client", [harness.node22(), script, sse_url(proxy), "sse"],
                                     env=env)
    try:
        code = process.popen.wait(timeout=60)
    except subprocess.TimeoutExpired:
        code = None
    finally:
        process.stop()
    lines = [line for label, line in process._lines if label == "stdout" and line.startswith("{")]
    assert code == 0 and lines, f"ts client exited {code}:\n{process.output_tail()}"
    seen = json.loads(lines[-1])
    assert seen["server"] == "rmcp-modern-test-server"
    assert seen["tools"] == TOOLS
    assert seen["echo"] == "from ts"
    assert seen["whoami"] == "ts-legacy-client 2026-07-28 -"
    assert seen["route"] == "routed ts 1"
    assert seen["sampled"] == ["ts question"]
    assert seen["ask"] == "answered: ts(ts question)"
    assert seen["confirm"] == "confirmed: accept Some(true)"
    assert seen["unknown"] in ("isError", -32601, -32602), seen["unknown"]
    assert seen["listChanged"]
    assert seen["ping"]


def test_hang_up_ends_the_translated_session(modern_only_server, start_proxy) -> None:
    """At the byte level: answers are `event: message` on the stream, POSTs get 202; hanging up
    the stream cancels the upstream call in flight and the listen, and the session is gone."""
    proxy = start_translating_proxy(start_proxy, modern_only_server, "modern", "--request-timeout", "60s")
    legacy = LegacyStream(proxy)
    try:
        legacy.initialize()
        await_condition(lambda: count(modern_only_server, "EVENT listen-started") == 1, "listen started")
        ping = legacy.post(rawhttp.jsonrpc("ping", None, "p"))
        assert ping.status == 202 and ping.body == b"Accepted", ping.describe()
        assert legacy.response_for("p") == {"jsonrpc": "2.0", "id": "p", "result": {}}
        unknown = legacy.post(rawhttp.jsonrpc("no/such", {}, "u"))
        assert unknown.status == 202, unknown.describe()
        assert legacy.response_for("u")["error"]["code"] == -32601
        slow = legacy.post(rawhttp.jsonrpc("tools/call", {"name": "slow", "arguments": {"ms": 30000}}, "s"))
        assert slow.status == 202, slow.describe()
        await_condition(lambda: count(modern_only_server, "EVENT slow-started") == 1, "slow tool start")
    finally:
        legacy.close()
    await_condition(lambda: count(modern_only_server, "EVENT slow-cancelled")
                    + count(modern_only_server, "EVENT slow-finished") == 1, "slow tool end")
    assert count(modern_only_server, "EVENT slow-cancelled") == 1
    await_listens_cancelled(modern_only_server)
    gone = legacy.post(rawhttp.jsonrpc("ping", None, "late"))
    assert gone.status == 404, gone.describe()


def test_refused_credentials_answer_initialize_in_band(start_proxy) -> None:
    """`era = "modern"` and an upstream answering 401 to `server/discover`: the POST already got
    its 202, so the refusal reaches the legacy client as the initialize's -32010 error, on the
    stream (a Streamable HTTP client gets the 401 itself, test_era_translation.py)."""
    with refusing_upstream() as (url, _):
        proxy = start_proxy(url, extra=["--legacy-sse", "--upstream-era", "modern"])
        legacy = LegacyStream(proxy)
        try:
            assert legacy.post(rawhttp.initialize_body("init")).status == 202
            error = legacy.response_for("init")["error"]
            assert error["code"] == -32010 and "(401)" in error["message"], error
        finally:
            legacy.close()


def test_sigterm_ends_a_translated_session_cleanly(modern_only_server, start_proxy) -> None:
    """SIGTERM with a translated session and its listen open: the stream ends (its terminating
    chunk), the upstream listen is cancelled and the proxy exits 0."""
    proxy = start_translating_proxy(start_proxy, modern_only_server, "modern")
    legacy = LegacyStream(proxy)
    try:
        legacy.initialize()
        await_condition(lambda: count(modern_only_server, "EVENT listen-started") == 1, "listen started")
        proxy.process.popen.send_signal(15)
        rest = legacy.stream.rest()
        assert all(event.event == "message" for event in rest), rest
        assert proxy.process.popen.wait(timeout=EVENT_DEADLINE_S) == 0
    finally:
        legacy.close()
    await_listens_cancelled(modern_only_server)


def test_mrtr_requests_ride_the_stream_and_answers_come_by_post(modern_only_server, start_proxy) -> None:
    """At the byte level: the upstream's `input_required` becomes a `sampling/createMessage`
    request with a proxy-minted id as an `event: message` on the stream; the client's answer,
    POSTed to the messages URL (202), completes the call. A session that did not declare
    `sampling` gets -32021 instead."""
    proxy = start_translating_proxy(start_proxy, modern_only_server, "modern")
    legacy = LegacyStream(proxy)
    try:
        init = rawhttp.jsonrpc("initialize", {"protocolVersion": "2024-11-05", "capabilities": {"sampling": {}},
                                              "clientInfo": {"name": "raw-sse", "version": "0"}}, "init")
        assert legacy.post(init).status == 202
        assert legacy.response_for("init")["result"]["protocolVersion"] == "2024-11-05"
        assert legacy.post(rawhttp.jsonrpc("notifications/initialized")).status == 202
        ask = rawhttp.jsonrpc("tools/call", {"name": "ask", "arguments": {"question": "raw?"}}, 41)
        assert legacy.post(ask).status == 202
        while True:
            event = legacy.stream.next_event()
            assert event is not None, "stream ended before the sampling request"
            assert event.event == "message", event
            request = event.message()
            if request and request.get("method") == "sampling/createMessage":
                break
        assert str(request["id"]).startswith("shadowcat-input-"), request
        answer = {"jsonrpc": "2.0", "id": request["id"], "result": {
            "role": "assistant", "model": "raw", "content": {"type": "text", "text": "raw answer"}}}
        assert legacy.post(json.dumps(answer).encode()).status == 202
        result = legacy.response_for(41)["result"]
        assert result["content"][0]["text"] == "answered: raw answer", result
    finally:
        legacy.close()
    bare = LegacyStream(proxy)
    try:
        bare.initialize()
        assert bare.post(rawhttp.jsonrpc("tools/call", {"name": "ask", "arguments": {"question": "q"}}, 42)).status == 202
        assert bare.response_for(42)["error"]["code"] == -32021
    finally:
        bare.close()
