"""stdio upstreams behind `shadowcat reverse --upstream-cmd`: the official Python SDK client
(streamable_http_client + ClientSession) through the proxy to stdio server-everything and to the
FastMCP fixture (fixtures/fastmcp_server.py), in both modes (`per-session`, `shared`).

Every cell also runs `direct`: the SDK's own stdio_client talking straight to the same stdio
server, with the same assertions where they apply. That validates the fixture and each check
without the proxy, so a failure in a proxied cell is a proxy bug (or a documented mode difference).

Covered: the shared check list (mcp_checks: initialize ... 20 concurrent calls ... progress before
the result ... server->client sampling/elicitation), cancellation, two sessions at once (isolation
of progress/logs; per-session children differ, shared ones are the same pid), list_changed
reaching the client, a child crash mid-request (JSON-RPC error, then 404, no zombie), DELETE ends
the child (per-session), SIGTERM with children running (exit 0, every child gone).
Processes are checked by pid in /proc; every wait polls a condition with a deadline.

Not here: the HTTP upstream matrix (test_sdk_matrix.py), conformance (scripts/conformance.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Iterator

import anyio
import httpx
import pytest
from mcp import ClientSession, StdioServerParameters, types
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import McpError

import harness
import rawhttp
from procs import children_of, dead, gone, kill_leftovers, zombies_of
from mcp_checks import EVERYTHING, FIXTURE, ServerProfile, client_callbacks, run_mcp_checks, run_mcp_checks_stdio

UPSTREAMS = ["everything", "fixture"]
PROXY_MODES = ["per-session", "shared"]
MODES = ["direct", *PROXY_MODES]
# Child start (node ~1 s, python ~0.5 s) plus a loaded 2-core CI machine.
DEADLINE_S = 20.0
POLL_S = 0.02
# The proxy's shutdown grace (10 s) plus killing children (kill_grace 2 s) and margin.
EXIT_DEADLINE_S = 25.0
# Brief: a dead child fails pending requests with this JSON-RPC code.
CHILD_EXITED_CODE = -32010


@dataclass
class StdioTarget:
    """One cell: the upstream command, the mode, and the proxy in front of it (None = direct)."""

    upstream: str
    mode: str
    command: list[str]
    profile: ServerProfile
    proxy: harness.Endpoint | None
    # Records the proxy's current children for teardown (tests call it once children exist).
    remember_children: Callable[[], None] = lambda: None

    @property
    def proxied(self) -> bool:
        return self.proxy is not None

    @property
    def shared(self) -> bool:
        return self.mode == "shared"


def _command(upstream: str) -> list[str]:
    return harness.everything_stdio_command() if upstream == "everything" else harness.fixture_stdio_command()


@pytest.fixture
def stdio_target(request: pytest.FixtureRequest, shadowcat_bin_optional) -> Iterator[StdioTarget]:
    """Parametrize indirectly with "UPSTREAM/MODE"; a proxied cell gets its own proxy (one shard)."""
    upstream, mode = request.param.split("/")
    command = _command(upstream)
    profile = EVERYTHING if upstream == "everything" else FIXTURE
    if mode == "direct":
        yield StdioTarget(upstream, mode, command, profile, None)
        return
    shadowcat_bin = shadowcat_bin_optional()
    try:
        proxy = harness.start_stdio_proxy(shadowcat_bin, command, mode=mode)
    except harness.HarnessError as error:
        pytest.fail(str(error), pytrace=False)
    children: set[int] = set()

    def remember_children() -> None:
        children.update(children_of(proxy.process.pid))

    try:
        yield StdioTarget(upstream, mode, command, profile, proxy, remember_children)
    finally:
        remember_children()
        proxy.stop()
        kill_leftovers(sorted(children), command[-1])


@pytest.fixture
def shadowcat_bin_optional(request: pytest.FixtureRequest) -> Callable[[], Path]:
    """The shadowcat binary, resolved only by cells that need it (direct cells run without it)."""
    return lambda: request.getfixturevalue("shadowcat_bin")


def cells(upstreams: list[str], modes: list[str]) -> list[str]:
    return [f"{upstream}/{mode}" for upstream in upstreams for mode in modes]


# ------------------------------------------------------------------ clients

@dataclass
class Client:
    """An initialized SDK session plus everything it received outside of responses."""

    session: ClientSession
    notifications: list[Any] = field(default_factory=list)  # types.ServerNotification.root objects
    http_log: list[tuple[str, int]] = field(default_factory=list)
    session_id: str | None = None

    async def call_text(self, name: str, arguments: dict[str, Any] | None = None, **options: Any) -> str:
        result = await self.session.call_tool(name, arguments or {}, **options)
        assert not result.isError, f"{name}: {result}"
        texts = [block.text for block in result.content if getattr(block, "type", None) == "text"]
        assert texts, f"{name}: no text in {result}"
        return texts[0]

    async def whoami(self) -> dict[str, Any]:
        return json.loads(await self.call_text("whoami"))

    def logs(self) -> list[str]:
        return [str(n.params.data) for n in self.notifications if isinstance(n, types.LoggingMessageNotification)]

    def progress_totals(self) -> list[float | None]:
        return [n.params.total for n in self.notifications if isinstance(n, types.ProgressNotification)]

    def saw(self, kind: type) -> bool:
        return any(isinstance(n, kind) for n in self.notifications)


@contextlib.asynccontextmanager
async def connect(target: StdioTarget, sampling_reply: str | None = None) -> AsyncIterator[Client]:
    """An initialized client session on `target` (through the proxy, or straight over stdio);
    `sampling_reply` makes this client answer sampling requests with its own text."""
    client: Client | None = None

    async def on_message(message: Any) -> None:
        if client is not None and isinstance(message, types.ServerNotification):
            client.notifications.append(message.root)

    callbacks = client_callbacks(target.profile)
    if sampling_reply is not None:
        async def answer(context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
            return types.CreateMessageResult(role="assistant", model="shadowcat-test",
                                             content=types.TextContent(type="text", text=sampling_reply))

        callbacks["sampling_callback"] = answer
    if target.proxy is None:
        server = StdioServerParameters(command=target.command[0], args=target.command[1:])
        # The SDK's stdio_client fails its own teardown (BrokenResourceError) when the server still
        # writes while it closes (server-everything goes on with a cancelled operation's progress).
        with _suppress_only(anyio.BrokenResourceError):
            async with stdio_client(server) as (read, write):
                async with ClientSession(read, write, message_handler=on_message, **callbacks) as session:
                    client = Client(session)
                    await session.initialize()
                    yield client
        return

    log: list[tuple[str, int]] = []

    async def log_response(response: httpx.Response) -> None:
        log.append((response.request.method, response.status_code))

    http = httpx.AsyncClient(timeout=httpx.Timeout(30.0, read=300.0), trust_env=False,
                             event_hooks={"response": [log_response]})
    async with http, streamable_http_client(target.proxy.url, http_client=http) as (read, write, get_id):
        async with ClientSession(read, write, message_handler=on_message, **callbacks) as session:
            client = Client(session, http_log=log)
            await session.initialize()
            client.session_id = get_id()
            target.remember_children()
            yield client


@contextlib.contextmanager
def _suppress_only(kind: type[BaseException]) -> Iterator[None]:
    """Suppresses `kind`, also as the only kind inside an exception group."""
    try:
        yield
    except BaseExceptionGroup as group:
        rest = group.subgroup(lambda error: not isinstance(error, (kind, BaseExceptionGroup)))
        if rest is not None:
            raise
    except kind:
        pass


async def until(condition: Callable[[], bool], what: str, deadline_s: float = DEADLINE_S) -> None:
    """Polls `condition()` until true; fails naming `what` at the deadline (never a fixed sleep)."""
    deadline = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {deadline_s}s waiting for {what}")
        await asyncio.sleep(POLL_S)


async def get_stream_open(client: Client, target: StdioTarget) -> None:
    """Proxied: waits until the SDK's standalone GET stream got its 200 (notifications unrelated
    to a request can only reach the client there)."""
    if target.proxied:
        await until(lambda: ("GET", 200) in client.http_log, "the client's GET stream to open")


def run(coroutine) -> Any:
    return asyncio.run(asyncio.wait_for(coroutine, timeout=120))


def only_fixture_children(target: StdioTarget) -> None:
    """The proxy's live children are all the upstream command (nothing else was spawned)."""
    assert target.proxy is not None
    for pid in children_of(target.proxy.process.pid):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # reaped meanwhile
        if not cmdline:
            continue  # exiting right now (its memory, and so its cmdline, is already gone)
        assert target.command[-1] in cmdline, f"unexpected child {pid} of the proxy: {cmdline}"


# ------------------------------------------------------------------ the shared check list

@pytest.mark.parametrize("stdio_target", cells(UPSTREAMS, MODES), indirect=True)
def test_check_list(stdio_target: StdioTarget) -> None:
    target = stdio_target
    if target.proxy is None:
        server = StdioServerParameters(command=target.command[0], args=target.command[1:])
        report = run(run_mcp_checks_stdio(server, target.profile))
    else:
        report = run(run_mcp_checks(target.proxy.url, target.profile, proxied=True))
    print(report.table())
    assert report.results, "no check ran"
    if report.failures:
        output = target.proxy.process.output_tail() if target.proxy else ""
        pytest.fail(f"{report.failure_text()}\nproxy output:\n{output}", pytrace=False)


# ------------------------------------------------------------------ cancellation

@pytest.mark.parametrize("stdio_target", cells(UPSTREAMS, MODES), indirect=True)
def test_cancel_a_slow_call_and_keep_going(stdio_target: StdioTarget) -> None:
    """The client cancels a slow call (notifications/cancelled, as the spec's canceller does); the
    fixture counts the cancel (so shared mode must remap requestId to the child's id); the session
    keeps answering afterwards."""
    target = stdio_target
    fixture = target.upstream == "fixture"
    tool, arguments = ("slow", {"steps": 200, "delay_ms": 50}) if fixture else (
        "trigger-long-running-operation", {"duration": 2, "steps": 4})

    async def scenario() -> None:
        async with connect(target) as client:
            before = await client.whoami() if fixture else None
            progress: list[float] = []

            async def on_progress(value: float, total: float | None, message: str | None) -> None:
                progress.append(value)

            # ClientSession numbers requests from a counter; nothing else is in flight right now.
            request_id = client.session._request_id
            call = asyncio.create_task(client.session.call_tool(tool, arguments, progress_callback=on_progress))
            await until(lambda: bool(progress) or call.done(), "the slow call's first progress")
            assert not call.done(), f"the slow call ended before it was cancelled: {call.result()}"
            await client.session.send_notification(types.ClientNotification(types.CancelledNotification(
                params=types.CancelledNotificationParams(requestId=request_id, reason="test cancels"))))
            if fixture:
                async def saw_cancel() -> bool:
                    return (await client.whoami())["cancelled"] > before["cancelled"]

                deadline = time.monotonic() + DEADLINE_S
                while not await saw_cancel():
                    assert time.monotonic() < deadline, "the server never saw the cancel (requestId not remapped?)"
                    await asyncio.sleep(POLL_S)
            # The canceller ignores any late answer: stop waiting for one.
            call.cancel()
            with contextlib.suppress(asyncio.CancelledError, McpError):
                await call
            message = "after the cancel"
            echoed = await client.call_text("echo", {"message": message})
            assert echoed == target.profile.echo_text(message)
            if fixture:
                after = await client.whoami()
                assert after["pid"] == before["pid"], "the child changed under the session"

    run(scenario())


# ------------------------------------------------------------------ two sessions at once

@pytest.mark.parametrize("stdio_target", cells(["fixture"], MODES), indirect=True)
def test_two_sessions_do_not_see_each_other(stdio_target: StdioTarget) -> None:
    """Per-session (and direct): two children. Shared: one child, yet each session gets only its
    own progress and log notifications although both clients use the same request ids/tokens."""
    target = stdio_target

    async def scenario() -> None:
        async with connect(target) as a, connect(target) as b:
            who_a, who_b = await a.whoami(), await b.whoami()
            if target.shared:
                assert who_a["pid"] == who_b["pid"], f"shared mode with one shard used two children: {who_a} {who_b}"
            else:
                assert who_a["pid"] != who_b["pid"], f"two sessions share child {who_a['pid']}"

            async def busy(client: Client, marker: str, steps: int) -> list[float]:
                seen: list[float] = []

                async def on_progress(value: float, total: float | None, message: str | None) -> None:
                    assert total == steps, f"{marker} got progress of a {total}-step call"
                    seen.append(value)

                await client.call_text("slow", {"steps": steps, "delay_ms": 10}, progress_callback=on_progress)
                await client.call_text("log", {"message": marker})
                return seen

            seen_a, seen_b = await asyncio.gather(busy(a, "marker-of-A", 7), busy(b, "marker-of-B", 4))
            assert seen_a == [1, 2, 3, 4, 5, 6, 7], seen_a
            assert seen_b == [1, 2, 3, 4], seen_b
            assert set(a.progress_totals()) <= {7}, f"A saw B's progress: {a.progress_totals()}"
            assert set(b.progress_totals()) <= {4}, f"B saw A's progress: {b.progress_totals()}"
            assert any("marker-of-A" in line for line in a.logs()), f"A's own log missing: {a.logs()}"
            assert any("marker-of-B" in line for line in b.logs()), f"B's own log missing: {b.logs()}"
            assert not any("marker-of-B" in line for line in a.logs()), f"A saw B's log: {a.logs()}"
            assert not any("marker-of-A" in line for line in b.logs()), f"B saw A's log: {b.logs()}"

    run(scenario())


SHARED_SERVER_REQUEST_BUG = (
    "proxy bug (shared mode): a server->client request goes to the session of the NEWEST call in flight "
    "(upstream/link/reader.rs), so session A's sampling request, with A's prompt, reaches session B's "
    "client and B's answer completes A's call")


@pytest.mark.parametrize("stdio_target", [
    "fixture/direct", "fixture/per-session",
    pytest.param("fixture/shared", marks=pytest.mark.xfail(strict=True, reason=SHARED_SERVER_REQUEST_BUG)),
], indirect=True)
def test_server_request_reaches_the_session_that_caused_it(stdio_target: StdioTarget) -> None:
    """A's call asks A's client (sampling) while B has a newer call in flight: the request must reach
    A's client only, and A's call must end with A's answer."""
    target = stdio_target
    questions: dict[str, list[str]] = {"A": [], "B": []}

    async def scenario() -> None:
        async with connect(target, sampling_reply="reply-of-A") as a, connect(target, sampling_reply="reply-of-B") as b:
            for name, client in (("A", a), ("B", b)):
                seen = questions[name]
                original = client.session._sampling_callback

                async def spy(context: Any, params: types.CreateMessageRequestParams, seen=seen, original=original):
                    seen.extend(getattr(m.content, "text", "") for m in params.messages)
                    return await original(context, params)

                client.session._sampling_callback = spy
            # A's tool waits 1 s before it asks; meanwhile B's call starts and is the newest in flight.
            ask_a = asyncio.create_task(a.call_text("ask", {"question": "question-of-A", "delay_ms": 1000}))
            b_started = asyncio.Event()

            async def on_progress(value: float, total: float | None, message: str | None) -> None:
                b_started.set()

            slow_b = asyncio.create_task(b.call_text("slow", {"steps": 30, "delay_ms": 50}, progress_callback=on_progress))
            async with asyncio.timeout(DEADLINE_S):
                await b_started.wait()
                assert not ask_a.done(), "A's ask ended before B's call started"
                answer_a = await ask_a
                await slow_b
            assert "question-of-A" not in questions["B"], f"B's client was asked A's question: {questions}"
            assert answer_a == "client answered: reply-of-A", answer_a
            assert questions["A"] == ["question-of-A"], questions

    run(scenario())


@pytest.mark.parametrize("stdio_target", [
    "fixture/direct", "fixture/per-session",
    pytest.param("fixture/shared", marks=pytest.mark.xfail(strict=True, reason=SHARED_SERVER_REQUEST_BUG.replace(
        "a server->client request", "a request's log notification").replace(
        "sampling request, with A's prompt,", "log message").replace(
        " and B's answer completes A's call", ""))),
], indirect=True)
def test_log_notification_reaches_the_session_that_caused_it(stdio_target: StdioTarget) -> None:
    """A's call logs (notifications/message) while B has a newer call in flight: only A sees it."""
    target = stdio_target

    async def scenario() -> None:
        async with connect(target) as a, connect(target) as b:
            log_a = asyncio.create_task(a.call_text("log", {"message": "marker-of-A", "delay_ms": 1000}))
            b_started = asyncio.Event()

            async def on_progress(value: float, total: float | None, message: str | None) -> None:
                b_started.set()

            slow_b = asyncio.create_task(b.call_text("slow", {"steps": 30, "delay_ms": 50}, progress_callback=on_progress))
            async with asyncio.timeout(DEADLINE_S):
                await b_started.wait()
                assert not log_a.done(), "A's log call ended before B's call started"
                await log_a
                await slow_b
            assert not any("marker-of-A" in line for line in b.logs()), f"B got A's log: {b.logs()}"
            assert any("marker-of-A" in line for line in a.logs()), f"A's own log missing: {a.logs()}"

    run(scenario())


@pytest.mark.parametrize("stdio_target", cells(["fixture"], MODES), indirect=True)
def test_cancel_with_the_same_request_id_in_two_sessions(stdio_target: StdioTarget) -> None:
    """Both sessions have a call in flight under the same JSON-RPC id (each SDK client counts from
    0): B cancelling its id cancels B's call only (shared mode: requestId remapped per session)."""
    target = stdio_target

    async def scenario() -> None:
        async with connect(target) as a, connect(target) as b:
            before_b = (await b.whoami())["cancelled"]
            await a.whoami()  # keeps both counters in step
            assert a.session._request_id == b.session._request_id, "the two sessions' ids are not aligned"
            request_id = b.session._request_id
            started = {"A": asyncio.Event(), "B": asyncio.Event()}

            def on_progress(name: str):
                async def record(value: float, total: float | None, message: str | None) -> None:
                    started[name].set()
                return record

            call_a = asyncio.create_task(a.call_text("slow", {"steps": 6, "delay_ms": 100},
                                                     progress_callback=on_progress("A")))
            call_b = asyncio.create_task(b.session.call_tool("slow", {"steps": 200, "delay_ms": 50},
                                                             progress_callback=on_progress("B")))
            async with asyncio.timeout(DEADLINE_S):
                await started["A"].wait()
                await started["B"].wait()
            await b.session.send_notification(types.ClientNotification(types.CancelledNotification(
                params=types.CancelledNotificationParams(requestId=request_id, reason="B cancels"))))
            async with asyncio.timeout(DEADLINE_S):
                assert await call_a == "done 6", "A's call with the same id did not complete"
            deadline = time.monotonic() + DEADLINE_S
            while (await b.whoami())["cancelled"] <= before_b:
                assert time.monotonic() < deadline, "B's cancel never reached the server"
                await asyncio.sleep(POLL_S)
            call_b.cancel()
            with contextlib.suppress(asyncio.CancelledError, McpError):
                await call_b
            state_a = await a.whoami()
            if target.shared:
                assert state_a["cancelled"] == before_b + 1, f"one cancel expected in the shared child: {state_a}"
            else:
                assert state_a["cancelled"] == 0, f"A's child saw a cancel: {state_a}"

    run(scenario())


# ------------------------------------------------------------------ list_changed

@pytest.mark.parametrize("stdio_target", cells(["fixture"], MODES), indirect=True)
def test_tools_list_changed_reaches_the_client(stdio_target: StdioTarget) -> None:
    """A component load (new tool + notifications/tools/list_changed, as Wassette does) reaches the
    session that caused it; in shared mode every session on the child (same tool list), in
    per-session mode nobody else (the other child has no such tool)."""
    target = stdio_target

    async def scenario() -> None:
        async with connect(target) as a, connect(target) as b:
            await get_stream_open(a, target)
            await get_stream_open(b, target)
            assert await a.call_text("load_component", {"name": "component_x"}) == "loaded component_x"
            await until(lambda: a.saw(types.ToolListChangedNotification), "list_changed at the loading session")
            assert "component_x" in {tool.name for tool in (await a.session.list_tools()).tools}
            assert await a.call_text("component_x") == "component component_x"
            names_b = {tool.name for tool in (await b.session.list_tools()).tools}
            if target.shared:
                await until(lambda: b.saw(types.ToolListChangedNotification), "list_changed at the other session")
                assert "component_x" in names_b
            else:
                assert "component_x" not in names_b, "a per-session child saw another session's component"
                assert not b.saw(types.ToolListChangedNotification), "list_changed leaked to another session"

    run(scenario())


SHARED_SUBSCRIPTION_BUG = (
    "proxy bug (shared mode): notifications/resources/updated goes to every session's inbox "
    "(upstream/link/reader.rs), also to sessions that never subscribed; the proxy must track "
    "subscriptions per session (MCP-NOTES §11.5: fan out only to subscribers)")


@pytest.mark.parametrize("stdio_target", [
    "fixture/direct", "fixture/per-session",
    pytest.param("fixture/shared", marks=pytest.mark.xfail(strict=True, reason=SHARED_SUBSCRIPTION_BUG)),
], indirect=True)
def test_resource_updates_reach_subscribers_only(stdio_target: StdioTarget) -> None:
    """A subscribes to fixture://readme, B does not; the server reports the resource updated: A
    gets notifications/resources/updated, B never does."""
    target = stdio_target
    uri = "fixture://readme"

    async def scenario() -> None:
        async with connect(target) as a, connect(target) as b:
            await get_stream_open(a, target)
            await get_stream_open(b, target)
            await a.session.subscribe_resource(uri)
            assert uri in (await a.whoami())["subscribed"]
            assert await a.call_text("touch", {"uri": uri}) == f"touched {uri}"
            await until(lambda: a.saw(types.ResourceUpdatedNotification), "the update at the subscriber")
            # B's own request after A's update: anything queued for B has had its chance to arrive.
            await b.call_text("echo", {"message": "after the update"})
            await b.session.send_ping()
            assert not b.saw(types.ResourceUpdatedNotification), "a session that never subscribed got the update"

    run(scenario())


# ------------------------------------------------------------------ child crash

@pytest.mark.parametrize("stdio_target", cells(["fixture"], MODES), indirect=True)
def test_child_crash_mid_request(stdio_target: StdioTarget) -> None:
    """The child exits (code 3) while a request is pending: that request gets a JSON-RPC error
    (-32010 naming the exit status through the proxy), the session's next request 404, the child is
    reaped (no zombie of the proxy) and a new session works. Shared: every session on the dead
    child is ended the same way."""
    target = stdio_target
    crashed: dict[str, Any] = {}

    async def scenario() -> None:
        async with contextlib.AsyncExitStack() as stack:
            a = await stack.enter_async_context(connect(target))
            b = await stack.enter_async_context(connect(target)) if target.shared else None
            crashed["pid"] = (await a.whoami())["pid"]
            crashed["sessions"] = [c.session_id for c in (a, b) if c is not None]
            with pytest.raises(McpError) as failure:
                await a.session.call_tool("crash", {"code": 3})
            crashed["error"] = failure.value.error
            if not target.proxied:
                return
            with contextlib.suppress(Exception):
                await stack.aclose()  # the SDK's DELETE on a dead session may fail; that is fine

    with contextlib.suppress(Exception) if not target.proxied else contextlib.nullcontext():
        run(scenario())
    error = crashed.get("error")
    assert error is not None, "the pending request got no error"
    if not target.proxied:
        return  # direct: the SDK's stdio client fails pending requests with "Connection closed"
    proxy = target.proxy
    assert proxy is not None
    assert error.code == CHILD_EXITED_CODE, f"pending request error: {error}"
    assert re.search(r"\b3\b", error.message), f"the error does not name exit status 3: {error.message!r}"

    for session_id in crashed["sessions"]:
        status = next_request_status(proxy, session_id)
        assert status == 404, f"a request on session {session_id} after its child died answered {status}"

    pid = crashed["pid"]
    run(until(lambda: gone(pid), f"the crashed child {pid} to be reaped"))
    run(until(lambda: not zombies_of(proxy.process.pid), "no zombie children of the proxy"))

    async def fresh_session() -> None:
        async with connect(target) as client:
            assert (await client.whoami())["pid"] != pid

    run(fresh_session())


def next_request_status(proxy: harness.Endpoint, session_id: str | None) -> int:
    assert session_id, "no session id"
    with rawhttp.RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
        response = conn.request("POST", "/mcp", rawhttp.mcp_headers(session_id, "2025-06-18"),
                                rawhttp.jsonrpc("tools/list", {}, "after-crash"))
        return response.status


# ------------------------------------------------------------------ DELETE and shutdown

@pytest.mark.parametrize("stdio_target", cells(["fixture"], PROXY_MODES), indirect=True)
def test_delete_ends_the_child(stdio_target: StdioTarget) -> None:
    """Per-session: DELETE kills and reaps the session's child. Shared: the child stays for others."""
    target = stdio_target
    proxy = target.proxy
    assert proxy is not None

    async def scenario() -> tuple[int, int]:
        async with connect(target) as keeper:
            async with connect(target) as leaving:
                pid = (await leaving.whoami())["pid"]
            # leaving's context sent DELETE
            assert ("DELETE", 200) in leaving.http_log or ("DELETE", 204) in leaving.http_log, leaving.http_log
            keeper_pid = (await keeper.whoami())["pid"]
            if target.shared:
                assert keeper_pid == pid and not gone(pid), "DELETE of one session ended the shared child"
            else:
                await until(lambda: gone(pid), f"the deleted session's child {pid} to be reaped")
                assert not gone(keeper_pid), "DELETE of one session ended another session's child"
            return pid, keeper_pid

    run(scenario())
    run(until(lambda: not zombies_of(proxy.process.pid), "no zombie children of the proxy"))
    only_fixture_children(target)


@pytest.mark.parametrize("stdio_target", cells(UPSTREAMS, PROXY_MODES), indirect=True)
def test_sigterm_with_children_running(stdio_target: StdioTarget) -> None:
    """SIGTERM with two live sessions (and the warm pool): the proxy exits 0 and no child remains."""
    target = stdio_target
    proxy = target.proxy
    assert proxy is not None
    with rawhttp.RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn_a, \
            rawhttp.RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn_b:
        for conn, name in ((conn_a, "a"), (conn_b, "b")):
            session = rawhttp.open_session(conn, f"init-{name}")
            response = rawhttp.call_tool(conn, session, f"echo-{name}", "echo", {"message": name})
            assert rawhttp.tool_text(response) == target.profile.echo_text(name)
        children = children_of(proxy.process.pid)
        target.remember_children()
        live = [pid for pid, state in children.items() if state != "Z"]
        expected = 1 if target.shared else 2
        assert len(live) >= expected, f"expected >= {expected} live children of the proxy, found {children}"
        code = proxy.process.terminate_and_wait(timeout_s=EXIT_DEADLINE_S)
    assert code == 0, f"proxy exited {code}\n{proxy.process.output_tail()}"
    # Reaped by the proxy before it exited: gone. Killed but left unreaped, an orphan is a zombie
    # of init for a moment (dead either way); still running would be the bug.
    run(until(lambda: all(dead(pid) for pid in live), f"children {live} to be dead after the proxy exited"))
