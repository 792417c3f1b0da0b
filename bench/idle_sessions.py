#!/usr/bin/env python3
"""bench/idle_sessions.py: memory cost of idle MCP sessions held by the proxy (stdlib only).

Not here: throughput or latency (bench/echo.lua), starting servers (bench/run.sh).

Opens --warmup sessions (so per-connection buffers and lazily built state land in the baseline),
reads the proxy's VmRSS, opens --count more sessions (initialize + notifications/initialized) over
a few keep-alive connections, reads VmRSS again and prints the difference per session. Then it
calls the echo tool on a sample of the sessions, so sessions that were silently dropped (which
would make them look cheap) fail the run.

Output: human lines, then one parseable line:
  idle_sessions count=N rss_before_kb=N rss_after_kb=N bytes_per_session=N [upstream_bytes_per_session=N]
Exit status 1 on any protocol failure.
"""

import argparse
import http.client
import json
import random
import sys
import threading
from urllib.parse import urlsplit

PROTOCOL_VERSION = "2025-06-18"
BASE_HEADERS = {
    "Accept": "application/json, text/event-stream",
    "Content-Type": "application/json",
}


class BenchError(Exception):
    """A protocol answer the benchmark cannot accept."""


def vm_rss_kb(pid):
    """VmRSS of a process in kB."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise BenchError(f"no VmRSS for pid {pid}")


def json_messages(content_type, body):
    """JSON-RPC messages in a JSON or text/event-stream response body."""
    text = body.decode("utf-8", "replace")
    if content_type.startswith("text/event-stream"):
        messages = []
        for event in text.replace("\r\n", "\n").split("\n\n"):
            data = "\n".join(
                line[5:].lstrip(" ") for line in event.split("\n") if line.startswith("data:")
            )
            if data.strip():
                messages.append(json.loads(data))
        return messages
    return [json.loads(text)] if text.strip() else []


class McpClient:
    """One keep-alive HTTP/1.1 connection to an MCP Streamable HTTP endpoint."""

    def __init__(self, url):
        parts = urlsplit(url)
        self.host, self.port, self.path = parts.hostname, parts.port or 80, parts.path or "/"
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        self.next_id = 1

    def post(self, message, session_id=None):
        """POST one message; returns (status, headers, JSON-RPC messages). Retries a dropped
        keep-alive connection once."""
        headers = dict(BASE_HEADERS)
        if session_id is not None:
            headers["Mcp-Session-Id"] = session_id
            headers["MCP-Protocol-Version"] = PROTOCOL_VERSION
        body = json.dumps(message, separators=(",", ":")).encode()
        for attempt in (1, 2):
            try:
                self.conn.request("POST", self.path, body=body, headers=headers)
                response = self.conn.getresponse()
                payload = response.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                if attempt == 2:
                    raise
        content_type = response.getheader("Content-Type", "")
        messages = json_messages(content_type, payload) if response.status == 200 else []
        return response.status, response, messages

    def request_id(self):
        self.next_id += 1
        return self.next_id

    def open_session(self):
        """initialize + notifications/initialized; returns the session id."""
        status, response, messages = self.post({
            "jsonrpc": "2.0", "id": self.request_id(), "method": "initialize",
            "params": {"protocolVersion": PROTOCOL_VERSION, "capabilities": {},
                       "clientInfo": {"name": "shadowcat-idle-sessions", "version": "0"}},
        })
        session_id = response.getheader("Mcp-Session-Id")
        if status != 200 or not session_id or not any("result" in m for m in messages):
            raise BenchError(f"initialize: HTTP {status}, session {session_id!r}, {messages!r:.200}")
        status, _, _ = self.post(
            {"jsonrpc": "2.0", "method": "notifications/initialized"}, session_id)
        if status not in (200, 202, 204):
            raise BenchError(f"notifications/initialized: HTTP {status}")
        return session_id

    def echo(self, session_id, text):
        """tools/call echo on a session; raises unless the text comes back."""
        request_id = self.request_id()
        status, _, messages = self.post({
            "jsonrpc": "2.0", "id": request_id, "method": "tools/call",
            "params": {"name": "echo", "arguments": {"message": text}},
        }, session_id)
        for message in messages:
            if message.get("id") == request_id:
                content = message.get("result", {}).get("content", [])
                if any(item.get("text") == text for item in content):
                    return
        raise BenchError(f"echo on session {session_id}: HTTP {status}, {messages!r:.200}")


def run_threads(count, work):
    """Runs work(index) on `count` threads; raises the first failure."""
    failures = []

    def guarded(index):
        try:
            work(index)
        except Exception as error:  # reported below, the run fails
            failures.append(error)

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]


def open_sessions(clients, count):
    """Opens `count` sessions spread over the clients, one thread per client."""
    results = [[] for _ in clients]

    def work(index):
        for _ in range(index, count, len(clients)):
            results[index].append(clients[index].open_session())

    run_threads(len(clients), work)
    return [session for part in results for session in part]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="proxy MCP endpoint, http://host:port/mcp")
    parser.add_argument("--pid", type=int, required=True, help="proxy process id")
    parser.add_argument("--upstream-pid", type=int, help="upstream process id (optional)")
    parser.add_argument("--count", type=int, default=10_000, help="idle sessions to open")
    parser.add_argument("--warmup", type=int, default=200, help="sessions opened before baseline")
    parser.add_argument("--connections", type=int, default=4, help="keep-alive connections")
    parser.add_argument("--verify", type=int, default=100, help="sessions re-checked at the end")
    args = parser.parse_args()

    clients = [McpClient(args.url) for _ in range(max(1, args.connections))]
    try:
        open_sessions(clients, args.warmup)
        before = vm_rss_kb(args.pid)
        upstream_before = vm_rss_kb(args.upstream_pid) if args.upstream_pid else None
        sessions = open_sessions(clients, args.count)
        after = vm_rss_kb(args.pid)
        upstream_after = vm_rss_kb(args.upstream_pid) if args.upstream_pid else None
        for session_id in random.sample(sessions, min(args.verify, len(sessions))):
            clients[0].echo(session_id, f"still-there-{session_id}")
    except (BenchError, OSError, ValueError) as error:
        print(f"idle_sessions: FAILED: {error}", file=sys.stderr)
        return 1

    count = max(1, args.count)
    per_session = (after - before) * 1024 / count
    print(f"idle sessions: {args.count} opened over {len(clients)} connections "
          f"(after {args.warmup} warm-up), {min(args.verify, len(sessions))} re-checked")
    print(f"proxy RSS: {before} kB -> {after} kB = {per_session:.0f} bytes per idle session")
    line = (f"idle_sessions count={args.count} rss_before_kb={before} rss_after_kb={after} "
            f"bytes_per_session={per_session:.0f}")
    if upstream_before is not None:
        upstream_per = (upstream_after - upstream_before) * 1024 / count
        print(f"upstream RSS: {upstream_before} kB -> {upstream_after} kB = "
              f"{upstream_per:.0f} bytes per session (not the proxy's cost)")
        line += f" upstream_bytes_per_session={upstream_per:.0f}"
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
