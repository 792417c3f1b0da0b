"""An upstream that closes idle keep-alive connections (uvicorn's `timeout_keep_alive`, here 1 s):
the proxy must notice that a pooled connection was closed before it writes a request on it (on
the io_uring path from what the connection's armed receive already got, with no probe syscall;
otherwise with a `MSG_PEEK`), so that every call of the official Python SDK client gets its
answer and reaches the upstream exactly once (a request written on a closed connection is not
retried: a POST may not be sent twice).

Not here: the pool's unit behaviour (src/upstream/pool.rs), the retry rules (src/proxy/exchange.rs).
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit

import httpx
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

import harness

CALLS = 3
CLOSE_DEADLINE_S = 15.0
ESTABLISHED = "01"
CLOSE_WAIT = "08"


def _states_to(port: int) -> list[str]:
    """The TCP states of the sockets on this host whose remote port is `port`: the proxy's side of
    its connections to the upstream (the upstream's own sockets have `port` as local port)."""
    states = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table, encoding="ascii") as lines:
            next(lines)
            for line in lines:
                fields = line.split()
                if int(fields[2].rsplit(":", 1)[1], 16) == port:
                    states.append(fields[3])
    return states


async def _until_upstream_closed_idle(port: int) -> bool:
    """Awaits the upstream closing every idle connection the proxy holds to it: one connection
    stays open, the client's GET stream. Whether one it closed is still held by the proxy
    (CLOSE_WAIT: a dead connection in the pool, for the next request to find)."""
    deadline = time.monotonic() + CLOSE_DEADLINE_S
    while (states := _states_to(port)).count(ESTABLISHED) > 1:
        assert time.monotonic() < deadline, f"the upstream kept idle connections open: {states}"
        await asyncio.sleep(0.05)
    return CLOSE_WAIT in states


async def _calls_across_closes(url: str, upstream_port: int) -> tuple[list[str], str, int]:
    answers = []
    dead_in_pool = 0
    async with httpx.AsyncClient(timeout=30.0, trust_env=False) as client, \
            streamable_http_client(url, http_client=client) as (read, write, _):
        async with ClientSession(read, write) as session:
            await session.initialize()
            for index in range(CALLS):
                # The pooled connection the last request used is closed by the upstream first.
                dead_in_pool += await _until_upstream_closed_idle(upstream_port)
                result = await session.call_tool("echo", {"message": f"call {index}"})
                answers.append(result.content[0].text)
            ran = await session.call_tool("echo_count", {})
    return answers, ran.content[0].text, dead_in_pool


def test_every_call_survives_an_upstream_closing_idle_connections(start_proxy) -> None:
    upstream = harness.start_recording_server(keep_alive_s=1)
    try:
        proxy = start_proxy(upstream.url)
        port = urlsplit(upstream.url).port
        answers, ran, dead_in_pool = asyncio.run(_calls_across_closes(proxy.url, port))
    finally:
        upstream.process.stop()
    assert answers == [f"call {index}" for index in range(CALLS)]
    assert dead_in_pool, "no call found a connection the upstream had closed in the pool"
    # Each call ran once: none was lost on a dead connection or sent twice.
    assert ran == str(CALLS)
