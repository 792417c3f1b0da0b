"""Interception rules (`[[intercept.rules]]`, the admin API, `shadowcat intercept`) seen by the
official Python SDK client through the proxy:

- each action: `block` (the SDK raises McpError with the rule's code and message), `mock` (a result
  the upstream never saw: the recording fixture counts the POSTs it received), `modify` of a
  request's params and of a response's result, `delay` (only that the answer arrives);
- a response rule on an SSE stream: every progress notification of the demo's `slow` tool and its
  result are rewritten one by one;
- the legacy HTTP+SSE transport (`sse_client`): block and modify; a paused call holds only itself
  there too (its POST is answered 202 at once);
- the client's answer to a server request (server-everything's sampling tool, the SDK's sampling
  callback) passes a catch-all `block` rule;
- `pause`: a call held until `shadowcat intercept resume|modify|block` decides, one held until its
  timeout's default; while one call is held, another call of its session and a call of another
  session complete (the test polls the admin list until the pause shows up, never sleeps);
- streams that answer no request: server-everything's log messages on the GET stream (Streamable
  HTTP and stdio upstreams) rewritten by a response rule, in force at open or PUT while the stream
  is open (it turns from pass-through to message by message), and on tape as sent and forwarded;
  a legacy HTTP+SSE stream and a translated session's GET stream (rmcp 2026-07-28 upstream) take a
  rule set PUT after they opened;
- a raw 2025-03-26 batch with a blocked request and the client's answer to the server's
  `sampling/createMessage`: the error comes back, and the answer still reaches the server;
- the rule set swapped (`PUT /api/intercept/rules`, `intercept rules --set`) under a loop of calls
  from two sessions: no call lost or failed, both sets seen in force; a bad set is refused with 400
  and the old set stays; concurrent PUTs leave every shard with the same (last numbered) set.

Not here: matching, compilation and merge patch unit tests (src/config/intercept_tests.rs,
src/pipeline/intercept/tests.rs).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterator

import pytest
from mcp import ClientSession, types
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import McpError

import harness
from test_shards import metric_total, read_metrics

# A client run takes well under a second; this bounds a hang.
CLIENT_TIMEOUT_S = 60.0
# How long the test waits for a pause to show up in the admin list (a condition, polled).
PAUSE_SEEN_S = 20.0


def admin_call(proxy: harness.Endpoint, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    assert proxy.admin_url
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(proxy.admin_url.rstrip("/") + "/api/intercept/" + path, data=data,
                                     method=method, headers={"Content-Type": "application/json"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def set_rules(proxy: harness.Endpoint, rules: list[dict[str, Any]]) -> None:
    status, answer = admin_call(proxy, "PUT", "rules", {"rules": rules})
    assert status == 200, answer


def cli(shadowcat_bin: Path, proxy: harness.Endpoint, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(shadowcat_bin), "intercept", "--admin", proxy.admin_url or "", *args],
                          capture_output=True, text=True, timeout=30, check=False)


def start_run(shadowcat_bin: Path, tmp_path: Path, upstream_url: str, rules_toml: str = "") -> harness.Endpoint:
    config = tmp_path / "shadowcat.toml"
    config.write_text(
        f'[listeners.main]\nbind = "{harness.LOOPBACK_HOST}:0"\n'
        f'[[listeners.main.routes]]\npath = "/mcp"\nupstream = "up"\nlegacy_sse = true\n'
        f'[upstreams.up]\nurl = "{upstream_url}"\n'
        f'[admin]\nbind = "{harness.LOOPBACK_HOST}:0"\n' + rules_toml
    )
    return harness.start_listening("shadowcat-run", [shadowcat_bin, "run", "--config", config, "--shards", "2"],
                                   ["proxy", "admin"])


@pytest.fixture
def proxy(shadowcat_bin: Path, demo_upstream: harness.Endpoint, tmp_path: Path) -> Iterator[harness.Endpoint]:
    endpoint = start_run(shadowcat_bin, tmp_path, demo_upstream.url)
    try:
        yield endpoint
    finally:
        endpoint.stop()


class Client:
    """One SDK session through the proxy (Streamable HTTP, or legacy HTTP+SSE at /sse)."""

    def __init__(self, proxy: harness.Endpoint, legacy: bool = False) -> None:
        self.url = f"http://{proxy.host_header}/sse" if legacy else proxy.url
        self.legacy = legacy

    async def __aenter__(self) -> ClientSession:
        self._transport = sse_client(self.url, timeout=20) if self.legacy else streamable_http_client(self.url)
        streams = await self._transport.__aenter__()
        self._session = ClientSession(streams[0], streams[1])
        session = await self._session.__aenter__()
        await session.initialize()
        return session

    async def __aexit__(self, *exc: Any) -> None:
        await self._session.__aexit__(*exc)
        await self._transport.__aexit__(*exc)


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, CLIENT_TIMEOUT_S))


def text_of(result: Any) -> str:
    return result.content[0].text


# --- each action -----------------------------------------------------------------------------------

def test_block_modify_delay_and_response_modify(proxy: harness.Endpoint) -> None:
    set_rules(proxy, [
        {"tool": "add", "action": "block", "code": -32042, "message": "adding is blocked"},
        {"tool": "echo", "when": [{"pointer": "/params/arguments/message", "equals": "rewrite me"}],
         "action": "modify", "patch": {"arguments": {"message": "rewritten"}}},
        {"tool": "echo", "when": [{"pointer": "/params/arguments/message", "regex": "^late"}],
         "action": "delay", "delay": "200ms"},
        {"direction": "response", "method": "tools/call", "tool": "echo",
         "when": [{"pointer": "/result/content/0/text", "equals": "patch the answer"}],
         "action": "modify", "patch": {"structuredContent": {"intercepted": True}}},
    ])

    async def scenario() -> dict[str, Any]:
        async with Client(proxy) as session:
            with pytest.raises(McpError) as blocked:
                await session.call_tool("add", {"a": 1, "b": 2})
            rewritten = await session.call_tool("echo", {"message": "rewrite me"})
            late = await session.call_tool("echo", {"message": "late but here"})
            patched = await session.call_tool("echo", {"message": "patch the answer"})
            plain = await session.call_tool("echo", {"message": "untouched"})
            return {"blocked": blocked.value.error, "rewritten": text_of(rewritten), "late": text_of(late),
                    "patched": patched.structuredContent, "plain": text_of(plain)}

    outcome = run(scenario())
    assert outcome["blocked"].code == -32042 and outcome["blocked"].message == "adding is blocked", outcome
    assert outcome["rewritten"] == "rewritten", outcome
    assert outcome["late"] == "late but here", outcome
    assert outcome["patched"] == {"intercepted": True}, outcome
    assert outcome["plain"] == "untouched", outcome


def test_mock_never_reaches_the_upstream(shadowcat_bin: Path, recording_upstream: harness.Endpoint,
                                         tmp_path: Path) -> None:
    rules = """
[[intercept.rules]]
tool = "echo"
action = "mock"
result = { content = [{ type = "text", text = "mocked by shadowcat" }], structuredContent = { result = "mocked by shadowcat" } }
"""
    proxy = start_run(shadowcat_bin, tmp_path, recording_upstream.url, rules)

    async def scenario() -> tuple[int, str, int]:
        async with Client(proxy) as session:
            # The SDK lists tools once to validate results against their output schemas: first.
            await session.list_tools()
            before = len([r for r in json.loads(text_of(await session.call_tool("recorded_headers", {})))
                          if r["method"] == "POST"])
            mocked = text_of(await session.call_tool("echo", {"message": "hello"}))
            after = len([r for r in json.loads(text_of(await session.call_tool("recorded_headers", {})))
                         if r["method"] == "POST"])
            return before, mocked, after

    try:
        before, mocked, after = run(scenario())
    finally:
        proxy.stop()
    assert mocked == "mocked by shadowcat"
    # The upstream saw only the second `recorded_headers` call: the mocked echo never reached it.
    assert after == before + 1, (before, after)


def test_response_rules_apply_to_each_sse_event(proxy: harness.Endpoint) -> None:
    set_rules(proxy, [
        {"direction": "response", "method": "notifications/progress", "action": "modify",
         "patch": {"message": "seen by shadowcat"}},
        {"direction": "response", "tool": "slow", "action": "modify",
         "patch": {"structuredContent": {"steps_seen": True}}},
    ])
    progress: list[tuple[float, str | None]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, message))

    async def scenario() -> Any:
        async with Client(proxy) as session:
            return await session.call_tool("slow", {"steps": 3, "delay_ms": 10}, progress_callback=on_progress)

    result = run(scenario())
    assert result.structuredContent == {"steps_seen": True}, result
    assert [value for value, _ in progress] == [1, 2, 3], progress
    assert all(message == "seen by shadowcat" for _, message in progress), progress


def test_legacy_sse_block_and_modify(proxy: harness.Endpoint) -> None:
    set_rules(proxy, [
        {"tool": "add", "action": "block", "code": -32043, "message": "not on legacy either"},
        {"tool": "echo", "action": "modify", "patch": {"arguments": {"message": "legacy rewritten"}}},
        {"direction": "response", "when": [{"pointer": "/result/content/0/text", "equals": "legacy rewritten"}],
         "action": "modify", "patch": {"structuredContent": {"r": 1}}},
    ])

    async def scenario() -> tuple[Any, Any]:
        async with Client(proxy, legacy=True) as session:
            with pytest.raises(McpError) as blocked:
                await session.call_tool("add", {"a": 1, "b": 2})
            echoed = await session.call_tool("echo", {"message": "x"})
            return blocked.value.error, echoed

    error, echoed = run(scenario())
    assert (error.code, error.message) == (-32043, "not on legacy either")
    assert text_of(echoed) == "legacy rewritten"
    # The stream's messages pass the response rules one by one too.
    assert echoed.structuredContent == {"r": 1}


def test_stdio_upstream(shadowcat_bin: Path) -> None:
    """server-everything as a stdio child: the request side before the link, the response side on
    the child's answers."""
    proxy = harness.start_stdio_proxy(shadowcat_bin, harness.everything_stdio_command(), admin=True)
    try:
        set_rules(proxy, [
            {"tool": "echo", "when": [{"pointer": "/params/arguments/message", "equals": "block me"}],
             "action": "block", "code": -32045, "message": "blocked before the child"},
            {"tool": "echo", "action": "modify", "patch": {"arguments": {"message": "from the rule"}}},
            {"direction": "response", "tool": "echo", "action": "modify", "patch": {"isError": False,
                                                                                    "_meta": {"seen": True}}},
        ])

        async def scenario() -> tuple[Any, Any]:
            async with Client(proxy) as session:
                with pytest.raises(McpError) as blocked:
                    await session.call_tool("echo", {"message": "block me"})
                return blocked.value.error, await session.call_tool("echo", {"message": "anything"})

        error, echoed = run(scenario())
    finally:
        proxy.stop()
    assert (error.code, error.message) == (-32045, "blocked before the child")
    assert text_of(echoed).endswith("from the rule"), text_of(echoed)
    assert echoed.meta == {"seen": True}, echoed


def test_client_answers_to_server_requests_pass_a_catch_all_block(shadowcat_bin: Path) -> None:
    """server-everything's `trigger-sampling-request` asks the client for a sampling/createMessage:
    the SDK client's answer is a JSON-RPC response, never judged by request rules, so a catch-all
    `block` after the allowed methods does not answer it in the server's place."""
    proxy = harness.start_stdio_proxy(shadowcat_bin, harness.everything_stdio_command(), admin=True)
    try:
        set_rules(proxy, [
            {"method": "initialize", "action": "continue"},
            {"method": "notifications/*", "action": "continue"},
            {"method": "tools/list", "action": "continue"},
            {"method": "tools/call", "tool": "trigger-sampling-request", "action": "continue"},
            {"action": "block", "code": -32046, "message": "catch-all"},
        ])

        async def sample(context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
            return types.CreateMessageResult(role="assistant", model="test-model",
                                             content=types.TextContent(type="text", text="sampled by the client"))

        async def scenario() -> str:
            async with streamable_http_client(proxy.url) as streams:
                async with ClientSession(streams[0], streams[1], sampling_callback=sample) as session:
                    await session.initialize()
                    result = await session.call_tool("trigger-sampling-request", {"prompt": "hi"})
                    return " ".join(getattr(c, "text", "") for c in result.content)

        text = run(scenario())
    finally:
        proxy.stop()
    assert "sampled by the client" in text, text


# --- pause ---------------------------------------------------------------------------------------

PAUSE_RULES = [{"tool": "echo", "when": [{"pointer": "/params/arguments/message", "regex": "^hold"}],
                "action": "pause", "timeout": "60s", "default": "continue"}]


async def wait_paused(proxy: harness.Endpoint, count: int = 1) -> list[dict[str, Any]]:
    """Polls the admin list until `count` messages are paused (a condition, not a fixed sleep)."""
    deadline = time.monotonic() + PAUSE_SEEN_S
    while True:
        status, answer = await asyncio.to_thread(admin_call, proxy, "GET", "paused")
        assert status == 200, answer
        if len(answer["paused"]) >= count:
            return answer["paused"]
        assert time.monotonic() < deadline, f"no pause showed up: {answer}"
        await asyncio.sleep(0.05)


def decide_paused_call(shadowcat_bin: Path, proxy: harness.Endpoint, decision: str, patch: str) -> dict[str, Any]:
    """Calls echo "hold this" in one session while a rule pauses it (the call, or its answer); once
    the pause is listed, a call of the same session and one of another session complete; then the
    CLI decides (`modify` with `patch`) and decides again (refused). What each step saw."""

    async def scenario() -> dict[str, Any]:
        async with Client(proxy) as held_session, Client(proxy) as other_session:
            held = asyncio.create_task(held_session.call_tool("echo", {"message": "hold this"}))
            paused = await wait_paused(proxy)
            # The held message holds only itself: its session and another session go on.
            same = text_of(await held_session.call_tool("echo", {"message": "same session"}))
            other = text_of(await other_session.call_tool("echo", {"message": "other session"}))
            still_held = not held.done()
            listed = await asyncio.to_thread(cli, shadowcat_bin, proxy, "list")
            pause_id = paused[0]["id"]
            args = {"resume": ["resume", pause_id],
                    "modify": ["modify", pause_id, "--patch", patch],
                    "block": ["block", pause_id, "--message", "an operator said no"]}[decision]
            decided = await asyncio.to_thread(cli, shadowcat_bin, proxy, *args)
            try:
                outcome: Any = text_of(await held)
            except McpError as error:
                outcome = error.error
            again = await asyncio.to_thread(cli, shadowcat_bin, proxy, "resume", pause_id)
            return {"paused": paused, "same": same, "other": other, "still_held": still_held, "listed": listed,
                    "decided": decided, "outcome": outcome, "again": again}

    result: dict[str, Any] = run(scenario())
    return result


@pytest.mark.parametrize("decision", ["resume", "modify", "block"])
def test_paused_call_decided_from_the_cli(shadowcat_bin: Path, proxy: harness.Endpoint, decision: str) -> None:
    set_rules(proxy, PAUSE_RULES)
    patch = '{"arguments":{"message":"modified while held"}}'
    result = decide_paused_call(shadowcat_bin, proxy, decision, patch)
    entry = result["paused"][0]
    assert entry["method"] == "tools/call" and entry["tool"] == "echo", entry
    assert entry["session"].startswith("sha256:") and entry["message"]["params"]["arguments"]["message"] == "hold this"
    assert_decided(result, decision)


def assert_decided(result: dict[str, Any], decision: str) -> None:
    """What `decide_paused_call` saw: the other calls went on, the CLI listed and decided the
    pause, the held call got what the decision made of it, and a second decision was refused."""
    entry = result["paused"][0]
    assert result["same"] == "same session" and result["other"] == "other session", result
    assert result["listed"].returncode == 0 and entry["id"] in result["listed"].stdout, result["listed"]
    assert result["decided"].returncode == 0, result["decided"].stderr
    wanted = {"resume": "hold this", "modify": "modified while held"}
    if decision == "block":
        assert result["outcome"].message == "an operator said no", result["outcome"]
        assert result["outcome"].code == -32000
    else:
        assert result["outcome"] == wanted[decision], result
    # Decided once: a second decision is refused, clearly.
    assert result["again"].returncode == 1 and "no paused message" in result["again"].stderr, result["again"]


def test_legacy_sse_paused_call_holds_only_itself(proxy: harness.Endpoint) -> None:
    """The legacy `sse_client` posts one message at a time: a paused call's POST is answered 202 at
    once (the hold runs after it), so another call of the same session completes while it is held."""
    set_rules(proxy, PAUSE_RULES)

    async def scenario() -> tuple[str, str]:
        async with Client(proxy, legacy=True) as session:
            held = asyncio.create_task(session.call_tool("echo", {"message": "hold this"}))
            paused = await wait_paused(proxy)
            same = text_of(await session.call_tool("echo", {"message": "same session"}))
            status, answer = await asyncio.to_thread(admin_call, proxy, "POST",
                                                     f"paused/{paused[0]['id']}/resume")
            assert status == 200, answer
            return same, text_of(await held)

    same, held = run(scenario())
    assert (same, held) == ("same session", "hold this")


def test_pause_times_out_to_its_default(proxy: harness.Endpoint) -> None:
    check_pause_times_out(proxy, "request")


def check_pause_times_out(proxy: harness.Endpoint, direction: str) -> None:
    """A pause on the echo call's `direction` side nobody decides: its default (`block`) after its
    timeout, the list empty again, and the pause counted as timed out."""
    set_rules(proxy, [{"direction": direction, "tool": "echo", "action": "pause", "timeout": "1s",
                       "default": "block", "code": -32044, "message": "nobody decided"}])

    async def scenario() -> Any:
        async with Client(proxy) as session:
            with pytest.raises(McpError) as timed_out:
                await session.call_tool("echo", {"message": "wait for me"})
            return timed_out.value.error

    error = run(scenario())
    assert (error.code, error.message) == (-32044, "nobody decided")
    status, answer = admin_call(proxy, "GET", "paused")
    assert status == 200 and answer["paused"] == [], answer
    metrics = read_metrics(proxy.admin_url or "")
    assert metric_total(metrics, "shadowcat_intercept_paused_total") == 1, metrics
    assert metric_total(metrics, "shadowcat_intercept_pause_timeouts_total") == 1, metrics


# --- rule sets -----------------------------------------------------------------------------------

def test_rules_swapped_under_load_lose_nothing(shadowcat_bin: Path, proxy: harness.Endpoint,
                                               tmp_path: Path) -> None:
    sets = []
    for name in ("A", "B"):
        path = tmp_path / f"rules-{name}.toml"
        path.write_text(f'[[rules]]\ndirection = "response"\ntool = "echo"\naction = "modify"\n'
                        f'patch = {{ structuredContent = {{ set = "{name}" }} }}\n')
        sets.append(path)
    calls_per_client = 60

    async def loop(session: ClientSession, seen: list[Any]) -> None:
        n = 0
        # At least `calls_per_client` calls, and on until both sets were seen (bounded).
        while n < calls_per_client or not {"A", "B"} <= set(seen) and n < 20 * calls_per_client:
            result = await session.call_tool("echo", {"message": f"call {n}"})
            assert text_of(result) == f"call {n}"
            seen.append((result.structuredContent or {}).get("set"))
            n += 1

    async def scenario() -> tuple[list[Any], list[int]]:
        seen: list[Any] = []
        swaps: list[int] = []
        async with Client(proxy) as first, Client(proxy) as second:
            load = asyncio.gather(loop(first, seen), loop(second, seen))
            task = asyncio.ensure_future(load)
            n = 0
            while not task.done():
                done = await asyncio.to_thread(cli, shadowcat_bin, proxy, "rules", "--set", str(sets[n % 2]))
                swaps.append(done.returncode)
                n += 1
            await task
        return seen, swaps

    seen, swaps = run(scenario())
    assert len(seen) >= 2 * calls_per_client
    # Every call answered under one of the sets (or before the first swap), and both sets were in force.
    assert set(seen) <= {None, "A", "B"}, set(seen)
    assert {"A", "B"} <= set(seen), set(seen)
    assert swaps and all(code == 0 for code in swaps), swaps


def test_concurrent_puts_leave_every_shard_with_the_same_set(proxy: harness.Endpoint) -> None:
    """PUTs racing on both shards: shard 0 numbers every set, a shard keeps only a newer one, so
    afterwards every shard (each GET may land on either) shows the last numbered set."""
    def put(n: int) -> Any:
        status, answer = admin_call(proxy, "PUT", "rules", {"rules": [{"tool": f"t{n}", "action": "block"}]})
        assert status == 200, answer
        return answer

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(put, range(24)))
    generations = sorted(answer["generation"] for answer in answers)
    assert len(set(generations)) == len(generations), generations
    last = max(answers, key=lambda answer: answer["generation"])
    seen = set()
    for _ in range(16):
        status, answer = admin_call(proxy, "GET", "rules")
        assert status == 200, answer
        seen.add((answer["generation"], json.dumps(answer["rules"])))
    assert len(seen) == 1, seen
    (generation, _), = seen
    assert generation == last["generation"], (seen, last)


def test_bad_rule_set_is_refused_whole(shadowcat_bin: Path, proxy: harness.Endpoint, tmp_path: Path) -> None:
    set_rules(proxy, [{"tool": "add", "action": "block", "message": "old set"}])
    status, answer = admin_call(proxy, "PUT", "rules", {"rules": [
        {"tool": "echo", "action": "block"},
        {"tool": "add", "action": "mock"},
    ]})
    assert status == 400 and "rules[1].result" in answer["error"], answer
    bad = tmp_path / "bad.json"
    bad.write_text('[{"action": "pause", "timeout": "forever"}]')
    refused = cli(shadowcat_bin, proxy, "rules", "--set", str(bad))
    assert refused.returncode == 1 and "rules[0].timeout" in refused.stderr, refused
    status, answer = admin_call(proxy, "GET", "rules")
    assert status == 200 and answer["rules"] == [{"tool": "add", "action": "block", "message": "old set"}], answer

    async def scenario() -> tuple[str, Any]:
        async with Client(proxy) as session:
            echoed = text_of(await session.call_tool("echo", {"message": "still allowed"}))
            with pytest.raises(McpError) as blocked:
                await session.call_tool("add", {"a": 1, "b": 2})
            return echoed, blocked.value.error

    echoed, error = run(scenario())
    assert echoed == "still allowed" and error.message == "old set"


def test_cli_errors_are_clear(shadowcat_bin: Path, proxy: harness.Endpoint) -> None:
    unknown = cli(shadowcat_bin, proxy, "resume", "0-999")
    assert unknown.returncode == 1 and "no paused message" in unknown.stderr, unknown
    bad_patch = cli(shadowcat_bin, proxy, "modify", "0-1", "--patch", "{nope")
    assert bad_patch.returncode == 2 and "--patch is not JSON" in bad_patch.stderr, bad_patch
    dead = subprocess.run([str(shadowcat_bin), "intercept", "--admin", f"http://{harness.LOOPBACK_HOST}:{harness.dead_port()}",
                           "list"], capture_output=True, text=True, timeout=30, check=False)
    assert dead.returncode == 2 and "cannot reach the admin API" in dead.stderr, dead


def test_shutdown_ends_a_pause_with_its_default(shadowcat_bin: Path, demo_upstream: harness.Endpoint,
                                                tmp_path: Path) -> None:
    """SIGTERM while a call is held: the pause ends with its default (`continue`), the call is
    answered by the upstream during the drain, and the proxy exits cleanly. Raw HTTP: the SDK
    client's own teardown fails once its server is gone, which is not what is tested here."""
    rules = '[[intercept.rules]]\ntool = "echo"\naction = "pause"\ntimeout = "10m"\n'
    proxy = start_run(shadowcat_bin, tmp_path, demo_upstream.url, rules)
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}

    def post(body: dict[str, Any], extra: dict[str, str]) -> tuple[dict[str, str], Any]:
        request = urllib.request.Request(proxy.url, data=json.dumps(body).encode(), method="POST",
                                         headers={**headers, **extra})
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=CLIENT_TIMEOUT_S) as response:
            return dict(response.headers), json.loads(response.read())

    async def scenario() -> tuple[Any, int]:
        init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                           "clientInfo": {"name": "intercept-test", "version": "0"}}}
        answer_headers, _ = await asyncio.to_thread(post, init, {})
        session = {"Mcp-Session-Id": answer_headers["Mcp-Session-Id"], "MCP-Protocol-Version": "2025-06-18"}
        call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                "params": {"name": "echo", "arguments": {"message": "released by shutdown"}}}
        held = asyncio.ensure_future(asyncio.to_thread(post, call, session))
        await wait_paused(proxy)
        code = await asyncio.to_thread(proxy.process.terminate_and_wait)
        return (await held)[1], code

    try:
        answer, code = run(scenario())
    finally:
        proxy.stop()
    assert answer["result"]["content"][0]["text"] == "released by shutdown", answer
    assert code == 0, proxy.process.output_tail()


def tape_lines(tapes: Path) -> list[dict[str, Any]]:
    """Every line of every tape under `tapes`, as written so far."""
    return [json.loads(line) for tape in tapes.rglob("*.tape.jsonl")
            for line in tape.read_text().splitlines() if line.strip()]


def await_tape(written: Any, what: str) -> None:
    """Polls the tapes (flushed every 10 ms) until `written()` holds."""
    deadline = time.monotonic() + PAUSE_SEEN_S
    while not written():
        assert time.monotonic() < deadline, f"{what} never reached the tape"
        time.sleep(0.05)


def test_recording_keeps_what_came_and_what_went_on(shadowcat_bin: Path, demo_upstream: harness.Endpoint,
                                                    tmp_path: Path) -> None:
    """With `[recording]`: a message a rule changed is on tape as the client sent it (`msg`) and as it
    went on (`forwarded`); a blocked one has `forwarded: null` (docs/tapes.md)."""
    tapes = tmp_path / "tapes"
    extra = (f'[recording]\ndir = "{tapes}"\nflush_interval = "10ms"\n'
             '[[intercept.rules]]\ntool = "add"\naction = "block"\n'
             '[[intercept.rules]]\ntool = "echo"\naction = "modify"\n'
             'patch = { arguments = { message = "as forwarded" } }\n')
    proxy = start_run(shadowcat_bin, tmp_path, demo_upstream.url, extra)

    async def scenario() -> str:
        async with Client(proxy) as session:
            with pytest.raises(McpError):
                await session.call_tool("add", {"a": 1, "b": 2})
            return text_of(await session.call_tool("echo", {"message": "as sent"}))

    def calls() -> list[dict[str, Any]]:
        return [line for line in tape_lines(tapes) if line.get("dir") == "c2s" and
                line.get("msg", {}).get("method") == "tools/call"]

    try:
        assert run(scenario()) == "as forwarded"
        await_tape(lambda: len(calls()) >= 2, "the calls")
    finally:
        proxy.stop()
    blocked, echoed = sorted(calls(), key=lambda line: line["t_us"])
    assert blocked["msg"]["params"]["name"] == "add" and blocked["forwarded"] is None, blocked
    assert echoed["msg"]["params"]["arguments"] == {"message": "as sent"}, echoed
    assert echoed["forwarded"]["params"]["arguments"] == {"message": "as forwarded"}, echoed


# --- streams that answer no request, rule-set swaps on open streams, blocked batches ---------------

# A log message server-everything sends on the session's GET stream (`toggle-simulated-logging`:
# one at once, then one every 5 s), rewritten by its own method.
LOG_RULE = {"direction": "response", "method": "notifications/message", "action": "modify",
            "patch": {"data": "seen by shadowcat"}}
# A log message takes at most one 5 s interval to come; this bounds a wait for one.
LOG_WAIT_S = 20.0


def everything_behind_proxy(shadowcat_bin: Path, upstream: str) -> tuple[harness.Endpoint, list[harness.Endpoint]]:
    """server-everything behind a proxy with an admin listener: as a stdio child, or over Streamable
    HTTP; the endpoints to stop, proxy first."""
    if upstream == "stdio":
        proxy = harness.start_stdio_proxy(shadowcat_bin, harness.everything_stdio_command(), admin=True)
        return proxy, [proxy]
    server = harness.start_everything_server()
    try:
        proxy = harness.start_proxy(shadowcat_bin, server.url, admin=True)
    except BaseException:
        server.stop()
        raise
    return proxy, [proxy, server]


@pytest.mark.parametrize("upstream", ["http", "stdio"])
@pytest.mark.parametrize("put_later", [False, True], ids=["rule_at_open", "rule_put_later"])
def test_response_rule_on_a_get_stream(shadowcat_bin: Path, upstream: str, put_later: bool) -> None:
    """Log messages the server sends outside any request reach the SDK client on its GET stream,
    rewritten by a response rule on their method. With the rule in force when the stream opens, from
    the first message; with the rule PUT while the stream is open, the messages before come
    untouched (the stream passed through) and the ones after are rewritten (it turned message by
    message)."""
    proxy, endpoints = everything_behind_proxy(shadowcat_bin, upstream)

    async def scenario() -> tuple[str, str]:
        logs: asyncio.Queue[str] = asyncio.Queue()

        async def on_log(params: types.LoggingMessageNotificationParams) -> None:
            await logs.put(str(params.data))

        if not put_later:
            await asyncio.to_thread(set_rules, proxy, [LOG_RULE])
        async with streamable_http_client(proxy.url) as streams:
            async with ClientSession(streams[0], streams[1], logging_callback=on_log) as session:
                await session.initialize()
                await session.call_tool("toggle-simulated-logging", {})
                if not put_later:
                    # The first may come on the call's own answer; the second (5 s on, no call
                    # in flight) comes on the GET stream.
                    first = await asyncio.wait_for(logs.get(), LOG_WAIT_S)
                    return first, await asyncio.wait_for(logs.get(), LOG_WAIT_S)
                before = await asyncio.wait_for(logs.get(), LOG_WAIT_S)
                await asyncio.to_thread(set_rules, proxy, [LOG_RULE])
                # A message sent before the PUT may still be queued: wait for one the rule judged.
                while (after := await asyncio.wait_for(logs.get(), LOG_WAIT_S)) != "seen by shadowcat":
                    pass
                return before, after

    try:
        before, after = run(scenario())
    finally:
        for endpoint in endpoints:
            endpoint.stop()
    if put_later:
        assert before != "seen by shadowcat" and "message" in str(before), before
    else:
        assert before == "seen by shadowcat"
    assert after == "seen by shadowcat"


def test_legacy_stream_judges_by_the_rule_set_put_after_it_opened(proxy: harness.Endpoint) -> None:
    """A legacy HTTP+SSE session opened with no rule: a response rule PUT while its stream is open
    changes the next answer on it, and removing the rules again leaves answers as they come."""
    rule = {"direction": "response", "when": [{"pointer": "/result/content/0/text", "equals": "judged"}],
            "action": "modify", "patch": {"structuredContent": {"swapped": True}}}

    async def scenario() -> tuple[Any, Any, Any]:
        async with Client(proxy, legacy=True) as session:
            before = await session.call_tool("echo", {"message": "judged"})
            await asyncio.to_thread(set_rules, proxy, [rule])
            during = await session.call_tool("echo", {"message": "judged"})
            await asyncio.to_thread(set_rules, proxy, [])
            after = await session.call_tool("echo", {"message": "judged"})
            return before, during, after

    before, during, after = run(scenario())
    assert before.structuredContent != {"swapped": True}, before
    assert during.structuredContent == {"swapped": True}, during
    assert after.structuredContent != {"swapped": True}, after


@pytest.mark.parametrize("upstream", ["http", "stdio"])
def test_a_blocked_batch_still_sends_the_client_answer(shadowcat_bin: Path, upstream: str) -> None:
    """A 2025-03-26 batch holding a blocked request and the client's answer to the server's
    `sampling/createMessage`: the client gets the request's error, and the answer still reaches
    server-everything, whose `trigger-sampling-request` call then ends with the sampled text."""
    from rawhttp import RawConnection, initialize_body, jsonrpc, mcp_headers

    proxy, endpoints = everything_behind_proxy(shadowcat_bin, upstream)
    version = "2025-03-26"
    try:
        set_rules(proxy, [{"tool": "echo", "action": "block", "code": -32047, "message": "no echo"}])
        host, port = proxy.host_header.rsplit(":", 1)
        with RawConnection(host, int(port)) as conn, RawConnection(host, int(port)) as other:
            hello = json.loads(initialize_body("init"))
            hello["params"].update(protocolVersion=version, capabilities={"sampling": {}})
            opened = conn.request("POST", "/mcp", mcp_headers(), json.dumps(hello).encode())
            assert opened.status == 200, opened.describe()
            headers = mcp_headers(opened.header("mcp-session-id"), version)
            initialized = conn.request("POST", "/mcp", headers, jsonrpc("notifications/initialized"))
            assert initialized.status == 202, initialized.describe()
            call = jsonrpc("tools/call", {"name": "trigger-sampling-request", "arguments": {"prompt": "hi"}},
                           "sampling-call")
            stream = conn.open_stream("POST", "/mcp", headers, call)
            assert stream.is_sse, stream.response.describe()
            asked = stream.events_until(
                lambda e: (e.message() or {}).get("method") == "sampling/createMessage", "the sampling request")
            question = asked[-1].message() or {}
            answer = {"jsonrpc": "2.0", "id": question["id"], "result": {
                "role": "assistant", "model": "test-model",
                "content": {"type": "text", "text": "sampled through a blocked batch"}}}
            batch = (b"[" + json.dumps(answer).encode() + b","
                     + jsonrpc("tools/call", {"name": "echo", "arguments": {"message": "x"}}, 7) + b"]")
            refused = other.request("POST", "/mcp", headers, batch)
            assert refused.status == 200, refused.describe()
            assert refused.json() == [{"jsonrpc": "2.0", "id": 7,
                                       "error": {"code": -32047, "message": "no echo"}}], refused.describe()
            done = stream.events_until(lambda e: (e.message() or {}).get("id") == "sampling-call",
                                       "the call's result")
            result = done[-1].message() or {}
    finally:
        for endpoint in endpoints:
            endpoint.stop()
    assert "sampled through a blocked batch" in result["result"]["content"][0]["text"], result


def test_recording_shows_what_a_get_stream_forwarded(shadowcat_bin: Path, tmp_path: Path) -> None:
    """With `[recording]`, a log message a response rule rewrote on the GET stream is on tape as the
    server sent it (`msg`) and as the client got it (`forwarded`)."""
    server = harness.start_everything_server()
    tapes = tmp_path / "tapes"
    extra = (f'[recording]\ndir = "{tapes}"\nflush_interval = "10ms"\n'
             '[[intercept.rules]]\ndirection = "response"\nmethod = "notifications/message"\n'
             'action = "modify"\npatch = { data = "seen by shadowcat" }\n')
    try:
        proxy = start_run(shadowcat_bin, tmp_path, server.url, extra)
    except BaseException:
        server.stop()
        raise

    async def scenario() -> None:
        logs: asyncio.Queue[str] = asyncio.Queue()

        async def on_log(params: types.LoggingMessageNotificationParams) -> None:
            await logs.put(str(params.data))

        async with streamable_http_client(proxy.url) as streams:
            async with ClientSession(streams[0], streams[1], logging_callback=on_log) as session:
                await session.initialize()
                await session.call_tool("toggle-simulated-logging", {})
                # The second comes on the GET stream (see test_response_rule_on_a_get_stream).
                for _ in range(2):
                    assert await asyncio.wait_for(logs.get(), LOG_WAIT_S) == "seen by shadowcat"

    def rewritten_logs() -> list[dict[str, Any]]:
        return [line for line in tape_lines(tapes) if line.get("dir") == "s2c"
                and line.get("msg", {}).get("method") == "notifications/message" and "forwarded" in line]

    try:
        run(scenario())
        await_tape(lambda: len(rewritten_logs()) >= 2, "the GET stream's log messages")
    finally:
        proxy.stop()
        server.stop()
    for line in rewritten_logs():
        assert line["forwarded"]["params"]["data"] == "seen by shadowcat", line
        assert line["msg"]["params"]["data"] != "seen by shadowcat", line


def test_translated_get_stream_follows_the_rule_set(start_proxy: Any) -> None:
    """A legacy SDK client in front of a 2026-07-28-only upstream (rmcp): its GET stream is fed by an
    upstream `subscriptions/listen`, which sends `notifications/tools/list_changed` each time it opens.
    The first arrives untouched; after a response rule is PUT, `resources/subscribe` reopens the
    listen, and its list_changed arrives rewritten on the same GET stream."""
    from test_modern import start_modern_server

    server = start_modern_server("--modern-only", "--sse")
    try:
        proxy = start_proxy(server.url, admin=True, extra=["--upstream-era", "modern"])

        async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
            metas: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

            async def on_message(message: Any) -> None:
                if isinstance(message, types.ServerNotification) and \
                        message.root.method == "notifications/tools/list_changed":
                    meta = message.root.params.meta if message.root.params is not None else None
                    await metas.put(meta.model_dump() if meta is not None else {})

            async with streamable_http_client(proxy.url) as streams:
                async with ClientSession(streams[0], streams[1], message_handler=on_message) as session:
                    await session.initialize()
                    before = [await asyncio.wait_for(metas.get(), LOG_WAIT_S)]
                    await asyncio.to_thread(set_rules, proxy, [
                        {"direction": "response", "method": "notifications/tools/list_changed",
                         "action": "modify", "patch": {"_meta": {"seen": True}}}])
                    await session.subscribe_resource("test://watched")
                    after = [await asyncio.wait_for(metas.get(), LOG_WAIT_S)]
                    return before, after

        before, after = run(scenario())
    finally:
        server.stop()
    assert "seen" not in before[0], before
    assert after[0].get("seen") is True, after
