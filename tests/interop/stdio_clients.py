"""Client side of the stdio upstream tests (test_stdio_upstream.py, test_stdio_shared_routing.py):
the matrix cells ("UPSTREAM/MODE": server-everything or the FastMCP fixture; direct over the SDK's
stdio_client, or through a `--upstream-cmd` proxy per-session / shared), an SDK client that records
every notification it gets, and polling helpers with deadlines.

Not here: the tests; process mechanics (harness.py, procs.py); the shared check list (mcp_checks.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
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

import harness
from mcp_checks import EVERYTHING, FIXTURE, ServerProfile, client_callbacks
from procs import children_of, kill_leftovers

UPSTREAMS = ["everything", "fixture"]
PROXY_MODES = ["per-session", "shared"]
MODES = ["direct", *PROXY_MODES]
# Child start (node ~1 s, python ~0.5 s) plus a loaded 2-core CI machine.
DEADLINE_S = 20.0
POLL_S = 0.02
# The proxy's shutdown grace (10 s) plus killing children (kill_grace 2 s) and margin.
EXIT_DEADLINE_S = 25.0

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


def serve_stdio_target(cell: str, shadowcat_bin: Callable[[], Path]) -> Iterator[StdioTarget]:
    """The `stdio_target` fixture (conftest.py): cell "UPSTREAM/MODE"; a proxied cell gets its own
    proxy (one shard), stopped at the end, and any child it left running is killed by pid.
    `shadowcat_bin` is only called by proxied cells (direct cells run without the binary)."""
    upstream, mode = cell.split("/")
    command = _command(upstream)
    profile = EVERYTHING if upstream == "everything" else FIXTURE
    if mode == "direct":
        yield StdioTarget(upstream, mode, command, profile, None)
        return
    try:
        proxy = harness.start_stdio_proxy(shadowcat_bin(), command, mode=mode)
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


def cells(upstreams: list[str], modes: list[str]) -> list[str]:
    return [f"{upstream}/{mode}" for upstream in upstreams for mode in modes]


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
