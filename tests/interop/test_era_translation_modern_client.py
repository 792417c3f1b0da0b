"""Era translation, modern client → legacy upstream: a 2026-07-28 client (rmcp 3.11, tests/modern
`modern_client`, and raw HTTP) through the proxy to upstreams that speak only `initialize` +
sessions: server-everything Streamable HTTP (`--upstream-era legacy` and `auto`) and HTTP+SSE,
and stdio upstreams (the embedded demo server, server-everything, the FastMCP fixture).

Checks: server/discover answered from the upstream's initialize result; tools/list and an echo
call; a sampling round trip through MRTR (the upstream's `sampling/createMessage` becomes an
`input_required` result, rmcp answers it and retries with `requestState`); a tampered or
foreign requestState refused with 400/-32602; a retry landing on the other shard handed to the
shard owning the pending exchange (`--shards 2`), and retries of both shards over one connection
(`--hops auto` moves it once, then forwards); no client session is ever minted;
`subscriptions/listen` mapped onto a legacy session's stream; a client hang-up cancelling the
upstream call.

Not here: sealing and pool unit tests (src/proxy/modern_client/), pass-through of modern
requests to modern upstreams (test_modern.py).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

import harness
from rawhttp import RawConnection, jsonrpc, mcp_headers
from test_modern import MODERN, metric, run_client

SAMPLED = "sampled by rmcp"


def demo_stdio_command(shadowcat_bin) -> list[str]:
    return [str(shadowcat_bin), "demo-server", "--stdio"]


@pytest.fixture
def stdio_proxy(shadowcat_bin):
    started: list[harness.Endpoint] = []

    def start(command: list[str], **options) -> harness.Endpoint:
        proxy = harness.start_stdio_proxy(shadowcat_bin, command, **options)
        started.append(proxy)
        return proxy

    try:
        yield start
    finally:
        for proxy in started:
            proxy.stop()


def check_basics(proxy_url: str, *, server_name: str, echo_args: dict[str, Any], echo_text: str) -> None:
    info = run_client(proxy_url, "discover")["info"]
    assert server_name in json.dumps(info), info
    tools = run_client(proxy_url, "list")["tools"]
    assert "echo" in tools, tools
    answer = run_client(proxy_url, "call", "echo", json.dumps(echo_args))
    assert answer["is_error"] in (False, None) and echo_text in " ".join(answer["text"]), answer


@pytest.mark.parametrize("era", ["legacy", "auto"])
def test_rmcp_client_through_legacy_everything(everything_upstream, start_proxy, era: str) -> None:
    proxy = start_proxy(everything_upstream.url, admin=True, extra=["--upstream-era", era])
    check_basics(proxy.url, server_name="everything", echo_args={"message": "héllo legacy"},
                 echo_text="héllo legacy")
    answer = run_client(proxy.url, "call", "trigger-sampling-request", json.dumps({"prompt": "hi"}))
    assert answer.get("rounds") == 1 and SAMPLED in " ".join(answer["text"]), answer
    assert metric(proxy, "shadowcat_sessions_created_total") == 0
    assert metric(proxy, "shadowcat_input_required_total") == 1
    assert metric(proxy, "shadowcat_modern_translated_total") >= 8  # 4 × (discover + request) + retry
    if era == "auto":
        # Learnt once per shard and remembered: not probed on every request.
        learnt = [line for _, line in proxy.process._lines if "upstream era found" in line]
        assert 1 <= len(learnt) <= 2, proxy.process.output_tail()


def test_rmcp_client_through_legacy_sse_everything(everythingsse_upstream, start_proxy) -> None:
    """A 2024-11-05 HTTP+SSE upstream (always legacy): the link machinery serves the pool."""
    proxy = start_proxy(everythingsse_upstream.url, extra=["--upstream-transport", "sse"])
    check_basics(proxy.url, server_name="everything", echo_args={"message": "héllo sse"}, echo_text="héllo sse")
    answer = run_client(proxy.url, "call", "trigger-sampling-request", json.dumps({"prompt": "hi"}))
    assert answer.get("rounds") == 1 and SAMPLED in " ".join(answer["text"]), answer


def test_rmcp_client_through_stdio_demo_server(shadowcat_bin, stdio_proxy) -> None:
    proxy = stdio_proxy(demo_stdio_command(shadowcat_bin))
    check_basics(proxy.url, server_name="shadowcat", echo_args={"message": "héllo stdio"},
                 echo_text="héllo stdio")
    answer = run_client(proxy.url, "call", "sample", json.dumps({"prompt": "hi"}))
    assert answer.get("rounds") == 1 and SAMPLED in " ".join(answer["text"]), answer


def test_rmcp_client_through_stdio_everything(stdio_proxy) -> None:
    proxy = stdio_proxy(harness.everything_stdio_command())
    check_basics(proxy.url, server_name="everything", echo_args={"message": "héllo"}, echo_text="héllo")
    answer = run_client(proxy.url, "call", "trigger-sampling-request", json.dumps({"prompt": "hi"}))
    assert answer.get("rounds") == 1 and SAMPLED in " ".join(answer["text"]), answer


@pytest.mark.parametrize("mode", ["per-session", "shared"])
def test_rmcp_client_answers_fastmcp_sampling_and_elicitation(stdio_proxy, mode: str) -> None:
    """The Python SDK's FastMCP (stdio) asks the client mid-call; rmcp answers through MRTR."""
    proxy = stdio_proxy(harness.fixture_stdio_command(), mode=mode)
    answer = run_client(proxy.url, "call", "ask", json.dumps({"question": "ok?", "mode": "sampling"}))
    assert answer.get("rounds") == 1 and answer["text"] == [f"client answered: {SAMPLED}"], answer
    answer = run_client(proxy.url, "call", "ask", json.dumps({"question": "ok?", "mode": "elicitation"}))
    assert answer.get("rounds") == 1 and answer["text"] == ["client answered: elicited by rmcp"], answer


# --- raw HTTP: requestState checks and cross-shard retries ---------------------------------

def sampling_call(request_id: Any, extra: dict[str, Any] | None = None) -> bytes:
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {"sampling": {}},
        "io.modelcontextprotocol/clientInfo": {"name": "shadowcat-interop-raw", "version": "0"},
    }
    params = {"name": "trigger-sampling-request", "arguments": {"prompt": "raw"}, "_meta": meta, **(extra or {})}
    return jsonrpc("tools/call", params, request_id)


CALL_HEADERS = mcp_headers(extra=[("MCP-Protocol-Version", MODERN), ("Mcp-Method", "tools/call"),
                                  ("Mcp-Name", "trigger-sampling-request")])
SAMPLING_RESULT = {"role": "assistant", "content": {"type": "text", "text": SAMPLED}, "model": "raw"}


def post(proxy: harness.Endpoint, body: bytes):
    with RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
        return conn.request("POST", "/mcp", CALL_HEADERS, body)


def input_required(proxy: harness.Endpoint, request_id: Any) -> dict[str, Any]:
    response = post(proxy, sampling_call(request_id))
    assert response.status == 200, response.describe()
    result = response.response_for(request_id)["result"]
    assert result["resultType"] == "input_required", result
    (key, asked), = result["inputRequests"].items()
    assert asked["method"] == "sampling/createMessage", asked
    return {"key": key, "state": result["requestState"]}


def retry(proxy: harness.Endpoint, request_id: Any, pending: dict[str, Any], state: str | None = None):
    extra = {"inputResponses": {pending["key"]: SAMPLING_RESULT}, "requestState": state or pending["state"]}
    return post(proxy, sampling_call(request_id, extra))


def test_legacy_only_methods_are_not_modern_methods(everything_upstream, start_proxy) -> None:
    proxy = start_proxy(everything_upstream.url, extra=["--upstream-era", "legacy"])
    for method in ("ping", "logging/setLevel"):
        params = {"level": "info"} if method == "logging/setLevel" else {}
        headers, body = modern_post(method, params, 9)
        with RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
            response = conn.request("POST", "/mcp", headers, body)
        assert response.status == 404, response.describe()
        assert response.response_for(9)["error"]["code"] == -32601


def test_tampered_and_unknown_request_state_are_refused(everything_upstream, start_proxy) -> None:
    proxy = start_proxy(everything_upstream.url, extra=["--upstream-era", "legacy"])
    pending = input_required(proxy, 1)
    state = pending["state"]
    tampered = state[:-2] + ("AA" if state[-2:] != "AA" else "BB")
    for bad in (tampered, "not-a-sealed-state", state[:10]):
        response = retry(proxy, 2, pending, bad)
        assert response.status == 400, response.describe()
        error = response.response_for(2)["error"]
        assert error["code"] == -32602 and "requestState" in error["message"], error
    # The genuine state still works once, then it is spent.
    response = retry(proxy, 3, pending)
    assert response.status == 200, response.describe()
    result = response.response_for(3)["result"]
    assert result.get("resultType") == "complete" and SAMPLED in json.dumps(result), result
    assert "everything" in json.dumps(result["_meta"]["io.modelcontextprotocol/serverInfo"]), result
    response = retry(proxy, 4, pending)
    assert response.status == 400 and response.response_for(4)["error"]["code"] == -32602, response.describe()


def test_request_state_from_another_proxy_instance_is_refused(everything_upstream, start_proxy) -> None:
    """One random sealing key per process: a state sealed by another instance does not open."""
    first = start_proxy(everything_upstream.url, extra=["--upstream-era", "legacy"])
    second = start_proxy(everything_upstream.url, extra=["--upstream-era", "legacy"])
    pending = input_required(first, 1)
    response = retry(second, 2, pending)
    assert response.status == 400, response.describe()
    error = response.response_for(2)["error"]
    assert error["code"] == -32602 and "another proxy instance" in error["message"], error


# Each retry's state is sealed by the shard its call's new connection landed on (SO_REUSEPORT
# hashes it), so a retry is foreign with probability 1/2. With 40 tries, finding no foreign retry
# (the first test) happens once in 10^12 runs, and fewer than two (the second) once in 10^10.
TRIES = 40


@pytest.mark.parametrize("hops", ["auto", "forward"])
def test_retry_on_the_other_shard_is_handed_to_the_owner(everything_upstream, start_proxy, hops: str) -> None:
    """`auto` moves a plain connection to the owner; `forward` sends only the retry there."""
    proxy = start_proxy(everything_upstream.url, shards=2, admin=True,
                        extra=["--upstream-era", "legacy", "--hops", hops])
    for n in range(TRIES):
        pending = input_required(proxy, f"call-{n}")
        response = retry(proxy, f"retry-{n}", pending)
        assert_sampled(response, f"retry-{n}")
        if metric(proxy, "shadowcat_hops_total") > 0:
            break
    assert metric(proxy, "shadowcat_hops_total") > 0, f"no retry landed on the other shard in {TRIES} tries"
    forwarded = metric(proxy, "shadowcat_hops_forwarded_total")
    assert forwarded == (metric(proxy, "shadowcat_hops_total") if hops == "forward" else 0), forwarded


@pytest.mark.parametrize("hops", ["auto", "forward"])
def test_retries_of_both_shards_over_one_connection(everything_upstream, start_proxy, hops: str) -> None:
    """A backend multiplexing its users' retries over one connection: under `auto` the
    connection moves on its first retry for the other shard and forwards after that (it does
    not wander between the shards); under `forward` it never moves."""
    proxy = start_proxy(everything_upstream.url, shards=2, admin=True,
                        extra=["--upstream-era", "legacy", "--hops", hops])
    with RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
        for n in range(TRIES):
            pending = input_required(proxy, f"call-{n}")
            extra = {"inputResponses": {pending["key"]: SAMPLING_RESULT}, "requestState": pending["state"]}
            response = conn.request("POST", "/mcp", CALL_HEADERS, sampling_call(f"retry-{n}", extra))
            assert_sampled(response, f"retry-{n}")
            if metric(proxy, "shadowcat_hops_forwarded_total") > 0:
                break
    forwarded = metric(proxy, "shadowcat_hops_forwarded_total")
    assert forwarded > 0, f"no retry was forwarded in {TRIES} tries"
    moved = metric(proxy, "shadowcat_hops_total") - forwarded
    assert moved == (1 if hops == "auto" else 0), moved


def assert_sampled(response, request_id: str) -> None:
    assert response.status == 200, response.describe()
    result = response.response_for(request_id)["result"]
    assert result.get("resultType") == "complete" and SAMPLED in json.dumps(result), result


# --- subscriptions/listen onto a legacy session's stream -----------------------------------

def modern_post(method: str, params: dict[str, Any], request_id: Any, name: str | None = None):
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "shadowcat-interop-raw", "version": "0"},
    }
    extra = [("MCP-Protocol-Version", MODERN), ("Mcp-Method", method)]
    if name is not None:
        extra.append(("Mcp-Name", name))
    return mcp_headers(extra=extra), jsonrpc(method, {**params, "_meta": meta}, request_id)


def call_tool(proxy: harness.Endpoint, name: str, arguments: dict[str, Any], request_id: Any) -> dict[str, Any]:
    headers, body = modern_post("tools/call", {"name": name, "arguments": arguments}, request_id, name)
    with RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
        response = conn.request("POST", "/mcp", headers, body)
    assert response.status == 200, response.describe()
    return response.response_for(request_id)["result"]


def test_listen_maps_onto_the_legacy_session_stream(stdio_proxy) -> None:
    """A shared stdio child (the FastMCP fixture): list changes and resource updates it sends
    reach the listen stream, acknowledged first and tagged with the listen's id."""
    proxy = stdio_proxy(harness.fixture_stdio_command(), mode="shared")
    filters = {"toolsListChanged": True, "promptsListChanged": True,
               "resourceSubscriptions": ["fixture://readme"]}
    headers, body = modern_post("subscriptions/listen", {"notifications": filters}, "listen-1")
    sub_id = "io.modelcontextprotocol/subscriptionId"
    with RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
        stream = conn.open_stream("POST", "/mcp", headers, body)
        assert stream.is_sse, stream.response.describe()
        ack = stream.next_event().message()
        assert ack["method"] == "notifications/subscriptions/acknowledged", ack
        assert ack["params"]["_meta"][sub_id] == "listen-1", ack
        honoured = ack["params"]["notifications"]
        assert honoured.get("toolsListChanged") is True and honoured.get("resourceSubscriptions") == ["fixture://readme"], ack

        call_tool(proxy, "load_component", {"name": "listened"}, 1)
        changed = stream.events_until(
            lambda e: (e.message() or {}).get("method") == "notifications/tools/list_changed", "tools/list_changed")
        assert changed[-1].message()["params"]["_meta"][sub_id] == "listen-1"

        call_tool(proxy, "touch", {"uri": "fixture://readme"}, 2)
        updated = stream.events_until(
            lambda e: (e.message() or {}).get("method") == "notifications/resources/updated", "resources/updated")
        message = updated[-1].message()
        assert message["params"]["uri"] == "fixture://readme" and message["params"]["_meta"][sub_id] == "listen-1"


def test_client_hang_up_cancels_the_legacy_call(stdio_proxy) -> None:
    """Closing a modern request's stream is its cancellation: the legacy upstream hears
    notifications/cancelled (the fixture counts it), and the pooled session serves on."""
    from test_proxy_limits import wait_until

    proxy = stdio_proxy(harness.fixture_stdio_command(), mode="shared")
    params = {"name": "slow", "arguments": {"steps": 200, "delay_ms": 50}}
    headers, body = modern_post("tools/call", params, "slow-1", "slow")
    message = json.loads(body)
    message["params"]["_meta"]["progressToken"] = "p-1"
    with RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
        stream = conn.open_stream("POST", "/mcp", headers, json.dumps(message).encode())
        assert stream.is_sse, stream.response.describe()
        first = stream.next_event().message()
        assert first["method"] == "notifications/progress" and first["params"]["progressToken"] == "p-1", first

    def cancelled() -> int:
        text = call_tool(proxy, "whoami", {}, "who")["content"][0]["text"]
        return json.loads(text)["cancelled"]

    wait_until(lambda: cancelled() >= 1, "the fixture to see notifications/cancelled")


def test_log_messages_follow_the_request_log_level(stdio_proxy) -> None:
    """2026-07-28 logging: notifications/message only with `_meta` logLevel, at or above it."""
    proxy = stdio_proxy(harness.fixture_stdio_command())

    def methods(level: str | None, request_id: str) -> list[str]:
        headers, body = modern_post("tools/call", {"name": "log", "arguments": {"message": "hello log"}},
                                    request_id, "log")
        if level is not None:
            message = json.loads(body)
            message["params"]["_meta"]["io.modelcontextprotocol/logLevel"] = level
            body = json.dumps(message).encode()
        with RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
            response = conn.request("POST", "/mcp", headers, body)
        assert response.status == (400 if level == "loud" else 200), response.describe()
        if level == "loud":
            assert response.response_for(request_id)["error"]["code"] == -32602
            return []
        assert response.response_for(request_id)["result"]["resultType"] == "complete"
        return [m.get("method") for m in response.jsonrpc_messages() if "method" in m]

    assert "notifications/message" in methods("info", "with-info")
    assert "notifications/message" not in methods(None, "without-level")
    assert "notifications/message" not in methods("error", "with-error")
    methods("loud", "bad-level")


def test_idle_pooled_children_make_room_at_max(stdio_proxy) -> None:
    """Per-session stdio with `--max 1`: the idle pooled session of one capability set holds the
    only child; a request with other capabilities ends it and gets a child of its own."""
    proxy = stdio_proxy(harness.fixture_stdio_command(), extra=["--max", "1", "--warm", "0"])
    first = call_tool(proxy, "echo", {"message": "first"}, 1)
    assert first["resultType"] == "complete" and "first" in json.dumps(first), first
    answer = run_client(proxy.url, "call", "echo", json.dumps({"message": "second"}))
    assert answer["text"] == ["second"], answer
    assert any("ending idle pooled sessions" in line for _, line in proxy.process._lines), proxy.process.output_tail()


def test_listen_on_a_legacy_http_upstream_is_acknowledged(everything_upstream, start_proxy) -> None:
    """server-everything (Streamable HTTP): the listen opens the session's GET stream and
    acknowledges what the upstream declares, tagged with the listen's id."""
    proxy = start_proxy(everything_upstream.url, admin=True, extra=["--upstream-era", "legacy"])
    headers, body = modern_post("subscriptions/listen", {"notifications": {"toolsListChanged": True}}, 5)
    with RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
        stream = conn.open_stream("POST", "/mcp", headers, body)
        assert stream.is_sse, stream.response.describe()
        ack = stream.next_event().message()
        assert ack["method"] == "notifications/subscriptions/acknowledged", ack
        assert ack["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"] == 5, ack
        assert metric(proxy, "shadowcat_translation_sessions_opened_total") == 1
