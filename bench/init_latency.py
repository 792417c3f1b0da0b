#!/usr/bin/env python3
"""bench/init_latency.py: `initialize` latency of an MCP Streamable HTTP endpoint, sequentially.

Each round: POST initialize on a fresh connection (timed: send to full response), then
notifications/initialized and DELETE (untimed). With --pid and --settle N the next round waits
until the process PID has exactly N live children again, each of them idle (all threads sleeping,
CPU time unchanged for IDLE_S): e.g. a stdio proxy whose warm pool has refilled with a child that
finished starting, and whose deleted session's child is gone. So every round meets the same steady
state; the wait is a poll with a deadline, never a fixed sleep.

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
# A child whose CPU time has not moved for this long (and whose threads all sleep) has finished
# starting: 0.15 s is 15 clock ticks, far above the tick resolution.
IDLE_S = 0.15
REQUEST_TIMEOUT_S = 30.0


def _stat(pid: str) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def live_children(ppid: int) -> list[str]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat(entry)) is not None:
            if int(fields[1]) == ppid and fields[0] != "Z":
                found.append(entry)
    return found


def activity(pid: str) -> tuple[int, bool] | None:
    """(utime + stime, whether any thread is running) of `pid`; None when gone."""
    fields = _stat(pid)
    if fields is None:
        return None
    running = False
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            task_fields = _stat(f"{pid}/task/{task}")
            running |= task_fields is not None and task_fields[0] == "R"
    except OSError:
        return None
    return int(fields[11]) + int(fields[12]), running


def settle(pid: int, want: int) -> None:
    deadline = time.monotonic() + SETTLE_DEADLINE_S
    last: dict[str, int] = {}
    quiet_since = time.monotonic()
    while True:
        now = time.monotonic()
        children = live_children(pid)
        busy = len(children) != want
        for child in children:
            state = activity(child)
            if state is None or state[1] or last.get(child) != state[0]:
                busy = True
            if state is not None:
                last[child] = state[0]
        if busy:
            quiet_since = now
        elif now - quiet_since >= IDLE_S:
            return
        if now > deadline:
            sys.exit(f"init_latency: process {pid} has {len(children)} live children (want {want}, idle), "
                     f"not settled after {SETTLE_DEADLINE_S}s")
        time.sleep(0.005)


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
