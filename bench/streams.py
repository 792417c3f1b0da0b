#!/usr/bin/env python3
"""bench/streams.py: holds N concurrent MCP tool calls open, each a long SSE stream of progress
notifications, and checks that every event arrives.

Not here: starting servers, memory and latency measurement while the streams are open
(bench/scale.sh does those around this script).

Each stream is one keep-alive-free HTTP/1.1 connection carrying one `tools/call slow` with a
progress token over an initialized session (sessions are shared round-robin: a session may have
many calls in flight). The answer is an SSE stream: `steps` progress notifications, then the
result. Raw asyncio sockets, so 10 000 streams cost the load generator little.

Protocol with the caller:
- prints `opened N` (and creates the --opened-file) once every stream has received its first
  progress event, i.e. all N are open at the same time (the caller measures while they are);
- prints one `result ...` line at the end and exits 1 when any stream failed or missed an event.

Usage: streams.py URL --sessions ID,ID,... --streams N --steps S --delay-ms D [--opened-file F]
       [--connect-concurrency C] [--protocol-version V]
"""

import argparse
import asyncio
import json
import sys
import time
from urllib.parse import urlsplit


class StreamError(Exception):
    """One stream went wrong: the reason is the message."""


async def read_head(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return status, headers


async def body_chunks(reader, headers):
    """Yields the body's bytes as they arrive (chunked, length or until close)."""
    if headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                return
            data = await reader.readexactly(size)
            await reader.readexactly(2)
            yield data
    elif "content-length" in headers:
        yield await reader.readexactly(int(headers["content-length"]))
    else:
        while data := await reader.read(65536):
            yield data


async def one_stream(n, args, host, port, path, session, opened, all_open):
    """Runs stream `n`; returns the number of progress events seen."""
    body = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": n,
            "method": "tools/call",
            "params": {
                "name": "slow",
                "arguments": {"steps": args.steps, "delay_ms": args.delay_ms},
                "_meta": {"progressToken": f"p{n}"},
            },
        }
    ).encode()
    request = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        "Accept: application/json, text/event-stream\r\nContent-Type: application/json\r\n"
        f"Mcp-Session-Id: {session}\r\nMCP-Protocol-Version: {args.protocol_version}\r\n"
        f"Connection: close\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    async with args.connect_gate:
        reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
        writer.write(request)
        await writer.drain()
        status, headers = await read_head(reader)
    try:
        if status != 200 or "text/event-stream" not in headers.get("content-type", ""):
            raise StreamError(f"HTTP {status} {headers.get('content-type')}")
        progress, finished, pending = 0, False, b""
        async for data in body_chunks(reader, headers):
            pending += data
            while b"\n\n" in pending:
                event, pending = pending.split(b"\n\n", 1)
                payload = b"".join(
                    line[5:].lstrip() for line in event.split(b"\n") if line.startswith(b"data:")
                )
                if not payload:
                    continue
                message = json.loads(payload)
                if message.get("method") == "notifications/progress":
                    if message["params"]["progressToken"] != f"p{n}":
                        raise StreamError(f"foreign progress token {message['params']['progressToken']}")
                    progress += 1
                    if progress == 1:
                        opened.append(n)
                        if len(opened) == args.streams:
                            all_open.set()
                elif message.get("id") == n and "result" in message:
                    finished = True
                else:
                    raise StreamError(f"unexpected message {payload[:200]!r}")
        if not finished:
            raise StreamError(f"stream ended without the result after {progress} progress events")
        return progress
    finally:
        writer.close()


async def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("--sessions", required=True)
    parser.add_argument("--streams", type=int, default=10000)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--delay-ms", type=int, default=1000)
    parser.add_argument("--opened-file")
    parser.add_argument("--connect-concurrency", type=int, default=256)
    parser.add_argument("--protocol-version", default="2025-06-18")
    args = parser.parse_args()
    args.connect_gate = asyncio.Semaphore(args.connect_concurrency)
    url = urlsplit(args.url)
    sessions = args.sessions.split(",")
    opened, all_open = [], asyncio.Event()
    started = time.monotonic()

    async def announce():
        await all_open.wait()
        print(f"opened {args.streams} in {time.monotonic() - started:.2f}s", flush=True)
        if args.opened_file:
            open(args.opened_file, "w").close()

    announcer = asyncio.create_task(announce())
    results = await asyncio.gather(
        *(
            one_stream(n, args, url.hostname, url.port, url.path, sessions[n % len(sessions)], opened, all_open)
            for n in range(args.streams)
        ),
        return_exceptions=True,
    )
    announcer.cancel()
    failures = [r for r in results if isinstance(r, BaseException)]
    events = sum(r for r in results if isinstance(r, int))
    expected = args.streams * args.steps
    print(
        f"result streams={args.streams} failed={len(failures)} progress_events={events} "
        f"expected={expected} all_open={int(all_open.is_set())} seconds={time.monotonic() - started:.1f}",
        flush=True,
    )
    for failure in failures[:5]:
        print(f"failure {type(failure).__name__}: {failure}", file=sys.stderr)
    return 0 if not failures and events == expected and all_open.is_set() else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
