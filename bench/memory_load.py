#!/usr/bin/env python3
"""bench/memory_load.py: the proxy's RSS across bursts of large bodies and a session churn
(stdlib only; bench/memory.sh starts the processes and calls this).

Not here: starting or stopping servers (bench/memory.sh), the MCP client (bench/idle_sessions.py).

Steps, all through the proxy at --url, every answer checked:
  baseline  one session, a few small echo calls; VmRSS of --pid.
  bursts    --rounds times: --concurrency connections each send one tools/call echo whose
            message is --body-bytes long, all released at once; once every answer is back (and
            carries the message), idle --settle seconds, then VmRSS.
  churn     --churn sessions over --churn-connections connections: initialize,
            notifications/initialized, one echo, DELETE; VmRSS at five points along the way.

Prints a table; with --admin, the proxy's shadowcat_buffers_pooled_bytes and
shadowcat_memory_trims_total beside each RSS ("-" where the build does not export them).
Exit status 1 when an answer is wrong, or when the RSS after a burst (settled) exceeds the
baseline by more than --cap-bytes + --slack-bytes.
"""

import argparse
import http.client
import sys
import threading
import time
import urllib.request

from idle_sessions import PROTOCOL_VERSION, BenchError, McpClient, run_threads, vm_rss_kb


def proxy_gauges(admin_url):
    """(shadowcat_buffers_pooled_bytes, shadowcat_memory_trims_total) from the admin /metrics;
    None for each one the proxy does not export."""
    found = {}
    if admin_url:
        with urllib.request.urlopen(admin_url.rstrip("/") + "/metrics", timeout=10) as response:
            for line in response.read().decode().splitlines():
                name, _, value = line.partition(" ")
                if name in ("shadowcat_buffers_pooled_bytes", "shadowcat_memory_trims_total"):
                    found[name] = int(float(value))
    return (found.get("shadowcat_buffers_pooled_bytes"),
            found.get("shadowcat_memory_trims_total"))


def burst(url, session_id, concurrency, body_bytes, round_no):
    """`concurrency` echo calls of a `body_bytes` message, sent together; returns when all
    were answered correctly."""
    clients = [McpClient(url) for _ in range(concurrency)]
    for client in clients:
        client.conn.connect()
    start = threading.Barrier(concurrency)

    def work(index):
        # Distinct per request, so an answer mixed up between requests fails the check.
        text = f"{round_no}-{index}-".ljust(body_bytes, "x")
        start.wait(timeout=60)
        clients[index].echo(session_id, text)

    try:
        run_threads(concurrency, work)
    finally:
        for client in clients:
            client.conn.close()


def delete_session(client, session_id):
    """DELETE the session; raises unless the proxy accepts it."""
    client.conn.request("DELETE", client.path, headers={
        "Mcp-Session-Id": session_id, "MCP-Protocol-Version": PROTOCOL_VERSION})
    response = client.conn.getresponse()
    response.read()
    if response.status not in (200, 202, 204):
        raise BenchError(f"DELETE {session_id}: HTTP {response.status}")


def churn(url, total, connections, on_progress):
    """`total` sessions opened, used and deleted over `connections` connections; calls
    on_progress(done) after each fifth of them."""
    step = max(1, total // 5)
    marks = list(range(step, total + 1, step))
    done = 0
    while marks:
        batch = marks.pop(0) - done
        clients = [McpClient(url) for _ in range(connections)]

        def work(index, clients=clients, batch=batch):
            for n in range(index, batch, connections):
                session_id = clients[index].open_session()
                clients[index].echo(session_id, f"churn-{n}")
                delete_session(clients[index], session_id)

        try:
            run_threads(connections, work)
        finally:
            for client in clients:
                client.conn.close()
        done += batch
        on_progress(done)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="proxy MCP endpoint, http://host:port/mcp")
    parser.add_argument("--pid", type=int, required=True, help="proxy process id")
    parser.add_argument("--admin", help="proxy admin URL (for shadowcat_buffers_pooled_bytes)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--body-bytes", type=int, default=1024 * 1024)
    parser.add_argument("--settle", type=float, default=3.0, help="idle seconds after a burst")
    parser.add_argument("--churn", type=int, default=20000, help="sessions in the churn soak")
    parser.add_argument("--churn-connections", type=int, default=8)
    parser.add_argument("--cap-bytes", type=int, required=True,
                        help="the proxy's buffer_pool_memory (one shard)")
    parser.add_argument("--slack-bytes", type=int, default=8 * 1024 * 1024)
    args = parser.parse_args()

    rows = []

    def record(step, seconds=None):
        pooled, trims = proxy_gauges(args.admin)
        rows.append((step, vm_rss_kb(args.pid)))
        rss = rows[-1][1]
        pooled_text = "-" if pooled is None else f"{pooled // 1024}"
        trims_text = "-" if trims is None else f"{trims}"
        took = "" if seconds is None else f"{seconds:.1f}"
        print(f"{step:<28} {rss:>10} {pooled_text:>12} {trims_text:>6} {took:>8}", flush=True)

    print(f"{'step':<28} {'VmRSS kB':>10} {'pooled KiB':>12} {'trims':>6} {'took s':>8}",
          flush=True)
    try:
        client = McpClient(args.url)
        session_id = client.open_session()
        for n in range(3):
            client.echo(session_id, f"warm-{n}")
        record("start")
        baseline = rows[-1][1]
        settled = []
        for round_no in range(1, args.rounds + 1):
            began = time.monotonic()
            burst(args.url, session_id, args.concurrency, args.body_bytes, round_no)
            took = time.monotonic() - began
            record(f"burst {round_no}: answered", took)
            time.sleep(args.settle)
            record(f"burst {round_no}: +{args.settle:g}s idle")
            settled.append(rows[-1][1])
        began = time.monotonic()
        churn(args.url, args.churn, args.churn_connections,
              lambda done: record(f"churn: {done} sessions", time.monotonic() - began))
        time.sleep(args.settle)
        record(f"churn: +{args.settle:g}s idle")
    except (BenchError, OSError, ValueError, http.client.HTTPException,
            threading.BrokenBarrierError) as error:
        print(f"memory: FAILED: {error}", file=sys.stderr)
        return 1

    limit_kb = baseline + (args.cap_bytes + args.slack_bytes) // 1024
    worst = max(settled)
    print(f"memory rss_start_kb={baseline} rss_burst_settled_max_kb={worst} "
          f"rss_churn_end_kb={rows[-1][1]} limit_kb={limit_kb}", flush=True)
    if worst > limit_kb:
        # On stdout, so it lands in the results file after the table.
        print(f"memory: FAILED: RSS after a burst {worst} kB > start {baseline} kB + cap "
              f"{args.cap_bytes // 1024} KiB + slack {args.slack_bytes // 1024} KiB", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
