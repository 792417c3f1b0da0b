"""Sessions across shards: with two shards, the kernel spreads connections over both, so requests
for a session regularly arrive on a shard that does not own it and must be handed to the owner.
Every answer must still be the right one, and the admin /metrics must have counted the hops.
"""

from __future__ import annotations

import re
import urllib.request

import harness
from rawhttp import RawConnection, call_tool, open_session, tool_text

SESSIONS = 16
CONNECTIONS = 16
ALTERNATIONS = 10


def read_metrics(admin_url: str) -> str:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(admin_url.rstrip("/") + "/metrics", timeout=10) as response:
        assert response.status == 200
        return response.read().decode()


def metric_total(metrics: str, name: str) -> float:
    """Sum of every sample of `name` (labelled or not) in Prometheus text format."""
    pattern = re.compile(rf"^{re.escape(name)}(?:\{{[^}}]*\}})?\s+(\S+)", re.MULTILINE)
    samples = pattern.findall(metrics)
    assert samples, f"{name} missing from /metrics:\n{metrics}"
    return sum(float(sample) for sample in samples)


def test_sessions_answer_correctly_from_every_shard(demo_upstream: harness.Endpoint, start_proxy) -> None:
    proxy = start_proxy(demo_upstream.url, shards=2, admin=True)
    connections = [RawConnection(harness.LOOPBACK_HOST, proxy.port) for _ in range(CONNECTIONS)]
    try:
        sessions = []
        for index in range(SESSIONS):
            with RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
                sessions.append(open_session(conn, request_id=f"init-{index}"))
        assert len({session.session_id for session in sessions}) == SESSIONS, "session ids repeat"

        for c, conn in enumerate(connections):
            for s, session in enumerate(sessions):
                message = f"session {s} on connection {c}"
                answer = call_tool(conn, session, f"echo-{s}-{c}", "echo", {"message": message})
                assert tool_text(answer) == message, f"session {s}, connection {c}: {answer}"

        with RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
            for round_ in range(ALTERNATIONS):
                for s in (0, 1):
                    message = f"alternating round {round_} session {s}"
                    answer = call_tool(conn, sessions[s], f"alt-{round_}-{s}", "echo", {"message": message})
                    assert tool_text(answer) == message, answer

        assert proxy.admin_url is not None
        metrics = read_metrics(proxy.admin_url)
        assert metric_total(metrics, "shadowcat_hops_total") > 0, metrics
        assert metric_total(metrics, "shadowcat_sessions_active") >= SESSIONS, metrics
    finally:
        for conn in connections:
            conn.close()
