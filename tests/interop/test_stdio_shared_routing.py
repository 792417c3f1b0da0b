"""Two client sessions on one stdio child, through `--upstream-cmd --stdio-mode shared` (and, as
the reference, per-session and direct): messages about one session's request must reach that
session only, although stdio carries no "related request" field and both SDK clients use the same
JSON-RPC ids. Server->client requests (sampling) and request logs while the other session's call
is newer (shared mode cannot know the owner then: refused / dropped, never delivered to the other
session), a cancel of a request id both sessions have in flight, resource updates to subscribers
only (shared mode counts subscriptions per URI and fans updates out to subscribers only).

Not here: the check list and lifecycle tests (test_stdio_upstream.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import pytest
from mcp import types
from mcp.shared.exceptions import McpError

from stdio_clients import DEADLINE_S, MODES, POLL_S, StdioTarget, cells, connect, get_stream_open, run, until


def text_of(result: types.CallToolResult) -> str:
    return " ".join(block.text for block in result.content if getattr(block, "type", None) == "text")


@pytest.mark.parametrize("stdio_target", cells(["fixture"], MODES), indirect=True)
def test_server_request_reaches_the_session_that_caused_it(stdio_target: StdioTarget) -> None:
    """A's call asks A's client (sampling) while B has a newer call in flight. Per-session (and
    direct): A's client answers and A's call ends with A's answer. Shared: the owner cannot be known
    (docs/architecture.md), so the proxy refuses the request to the child, naming per-session mode,
    and A's call ends with that error. Never: B's client is asked A's question."""
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
            ask_a = asyncio.create_task(a.session.call_tool("ask", {"question": "question-of-A", "delay_ms": 1000}))
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
            if target.shared:
                assert answer_a.isError, f"shared mode answered an ambiguous server request: {answer_a}"
                assert "per-session" in text_of(answer_a), f"the error does not point to per-session mode: {answer_a}"
            else:
                assert text_of(answer_a) == "client answered: reply-of-A", answer_a
                assert questions["A"] == ["question-of-A"], questions

    run(scenario())


@pytest.mark.parametrize("stdio_target", cells(["fixture"], MODES), indirect=True)
def test_log_notification_reaches_the_session_that_caused_it(stdio_target: StdioTarget) -> None:
    """A's call logs (notifications/message) while B has a newer call in flight: B never sees it; A
    does, except in shared mode, where the owner cannot be known and the line is dropped
    (docs/architecture.md)."""
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
            if not target.shared:
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


@pytest.mark.parametrize("stdio_target", [
    "fixture/direct", "fixture/per-session",
    "fixture/shared",
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
