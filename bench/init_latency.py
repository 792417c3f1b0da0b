#!/usr/bin/env python3
"""bench/init_latency.py: `initialize` latency of an MCP Streamable HTTP endpoint, sequentially.

Each round: POST initialize on a fresh keep-alive-less connection (timed: send to full response),
then notifications/initialized and DELETE (untimed). With --pid and --settle N the next round waits
until the process PID has exactly N live children again (e.g. a stdio proxy whose warm pool has
refilled and whose deleted session's child is gone), so every round meets the same steady state;
the wait is a poll with a deadline, never a fixed sleep.

Prints one line (parsed by bench/stdio.sh):
  init_latency label=L count=N p50_us=X p90_us=X p99_us=X max_us=X mean_us=X
Standard library only. Not here: starting servers (bench/stdio.sh).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import time
from urllib.parse import urlsplit

PROTOCOL_VERSION = "2025-06-18"
SETTLE_DEADLINE_S = 30.0
REQUEST_TIMEOUT_S = 30.0


def live_children(ppid: int) -> int:
    count = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == ppid and fields[0] != "Z":
            count += 1
    return count


def settle(pid: int, want: int) -> None:
    deadline = time.monotonic() + SETTLE_DEADLINE_S
    while (have := live_children(pid)) != want:
        if time.monotonic() > deadline:
            sys.exit(f"init_latency: process {pid} has {have} live children, not {want}, after {SETTLE_DEADLINE_S}s")
        time.sleep(0.002)


def post(conn: http.client.HTTPConnection, path: str, body: dict, session: str | None) -> http.client.HTTPResponse:
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    if session:
        headers["Mcp-Session-Id"] = session
        headers["MCP-Protocol-Version"] = PROTOCOL_VERSION
    conn.request("POST", path, json.dumps(body), headers)
    return conn.getresponse()


def one_round(url: str, index: int) -> float:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=REQUEST_TIMEOUT_S)
    try:
        conn.connect()
        init = {"jsonrpc": "2.0", "id": index, "method": "initialize", "params": {
            "protocolVersion": PROTOCOL_VERSION, "capabilities": {},
            "clientInfo": {"name": "shadowcat-init-latency", "version": "0"}}}
        start = time.perf_counter()
        response = post(conn, parts.path, init, None)
        body = response.read()
        elapsed = time.perf_counter() - start
        if response.status != 200 or b'"result"' not in body:
            sys.exit(f"init_latency: initialize answered {response.status}: {body[:300]!r}")
        session = response.getheader("Mcp-Session-Id")
        if not session:
            sys.exit("init_latency: initialize answered without Mcp-Session-Id")
        post(conn, parts.path, {"jsonrpc": "2.0", "method": "notifications/initialized"}, session).read()
        conn.request("DELETE", parts.path, headers={"Mcp-Session-Id": session,
                                                    "MCP-Protocol-Version": PROTOCOL_VERSION})
        conn.getresponse().read()
        return elapsed
    finally:
        conn.close()


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--label", required=True)
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--pid", type=int, help="process whose live children are counted before each round")
    parser.add_argument("--settle", type=int, help="live children of --pid to wait for before each round")
    args = parser.parse_args()
    samples = []
    for index in range(args.count + 1):
        if args.pid is not None and args.settle is not None:
            settle(args.pid, args.settle)
        elapsed = one_round(args.url, index)
        if index > 0:  # the first round warms connections and caches
            samples.append(elapsed)
    micros = [sample * 1e6 for sample in samples]
    print(f"init_latency label={args.label} count={len(micros)} p50_us={percentile(micros, 50):.0f} "
          f"p90_us={percentile(micros, 90):.0f} p99_us={percentile(micros, 99):.0f} max_us={max(micros):.0f} "
          f"mean_us={statistics.fmean(micros):.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
