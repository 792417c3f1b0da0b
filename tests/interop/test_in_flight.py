"""`max_in_flight` (issue 10) seen by the official Python SDK's legacy HTTP+SSE client
(`sse_client`) in front of the demo server as a stdio child: with one slot, a `slow` call in
flight (its first progress notification proves it reached the demo server) holds it, and the
next call's POST is refused with 503 + `Retry-After: 1` and JSON-RPC -32010 before any 202; the
SDK's post writer raises it (HTTPStatusError).

Not here: the request-path details (tests/request_path/in_flight.rs).
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import anyio
import httpx
from mcp import ClientSession
from mcp.client.sse import sse_client

import harness
from test_policy_rate_limit import CLIENT_TIMEOUT_S, _PostWriterErrors, call_or_post_error, start_config_proxy

UPSTREAM_BUSY = -32010

# One shard, so its share of the limit is the whole of it. A stdio child (the demo server): a
# legacy client's notification is written to it before the 202, so the slot is free again when
# the next request comes (over HTTP the notification's own upstream POST may still hold it).
IN_FLIGHT_TOML = """\
runtime = {{ shards = 1 }}
listeners.main = {{ bind = "127.0.0.1:0", routes = [{{ path = "/mcp", upstream = "demo", legacy_sse = true }}] }}
upstreams.demo = {{ command = {command}, max_in_flight = 1 }}
"""

# Two steps: the first progress notification comes after one pause, the answer after another,
# so the call holds its slot for a whole pause after the test knows it is in flight.
SLOW_ARGS = {"steps": 2, "delay_ms": 4000}


async def busy_post(sse_url: str) -> dict[str, Any]:
    """initialize, a `slow` call awaited until its first progress, then an `echo` call: what the
    SDK's post writer raised for it (or that it was answered)."""
    handler = _PostWriterErrors()
    logger = logging.getLogger("mcp.client.sse")
    logger.addHandler(handler)
    report: dict[str, Any] = {}
    try:
        async with sse_client(sse_url, timeout=30.0) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                progressed = anyio.Event()

                async def on_progress(progress: float, total: float | None, message: str | None) -> None:
                    progressed.set()

                async with anyio.create_task_group() as group:
                    group.start_soon(lambda: session.call_tool("slow", SLOW_ARGS, progress_callback=on_progress))
                    with anyio.fail_after(CLIENT_TIMEOUT_S):
                        await progressed.wait()
                    report["echo_answered"] = await call_or_post_error(
                        group, session, handler, ("echo", {"message": "busy?"}))
                    group.cancel_scope.cancel()
    finally:
        logger.removeHandler(handler)
    report["post_errors"] = handler.errors
    return report


def test_a_legacy_post_beyond_max_in_flight_gets_503(shadowcat_bin: Path, tmp_path: Path) -> None:
    text = IN_FLIGHT_TOML.format(command=json.dumps([str(shadowcat_bin), "demo-server", "--stdio"]))
    proxy = start_config_proxy(shadowcat_bin, tmp_path / "in-flight.toml", text)
    try:
        report = asyncio.run(asyncio.wait_for(busy_post(f"http://{proxy.host_header}/sse"), 2 * CLIENT_TIMEOUT_S))
    finally:
        proxy.stop()
    assert report["echo_answered"] is False, report
    errors = report["post_errors"]
    assert len(errors) == 1 and isinstance(errors[0], httpx.HTTPStatusError), report
    refused = errors[0].response
    assert refused.status_code == 503 and refused.headers.get("retry-after") == "1", refused
    body = refused.json()
    assert body["error"]["code"] == UPSTREAM_BUSY, body
    assert body["id"] == json.loads(refused.request.content)["id"], body
