"""The proxy's lifecycle edges with the demo server upstream: SIGTERM while a streamed request is
in flight (the stream completes, the listener stops accepting, exit 0), and an idle session's
expiry ending the upstream session too (the proxy logs the upstream's answer to its DELETE).

Not here: SIGTERM of an idle proxy and a dead upstream (test_proxy_process.py), the client-facing
side of expiry (test_proxy_limits.py::test_idle_session_expires).
"""

from __future__ import annotations

import signal
import subprocess

import harness
from rawhttp import RawConnection, RawHttpError, SseEvent, initialize_body, jsonrpc, mcp_headers, open_session
from test_proxy_limits import CONDITION_DEADLINE_S, wait_until

SLOW_STEPS = 10
# The proxy's default shutdown grace is 10 s; exiting may take that plus ending upstream sessions.
EXIT_DEADLINE_S = 20.0


def slow_call(request_id: str) -> bytes:
    """The demo `slow` tool: SLOW_STEPS progress notifications 100 ms apart, then the result (~1 s)."""
    return jsonrpc("tools/call", {
        "name": "slow",
        "arguments": {"steps": SLOW_STEPS, "delay_ms": 100},
        "_meta": {"progressToken": "shutdown-progress"},
    }, request_id)


def is_progress(event: SseEvent) -> bool:
    message = event.message()
    return message is not None and message.get("method") == "notifications/progress"


def new_connection_turned_away(port: int) -> bool:
    """True when a fresh connection is refused, or accepted and closed without an answer."""
    try:
        with RawConnection(harness.LOOPBACK_HOST, port) as probe:
            probe.request("POST", "/mcp", mcp_headers(), initialize_body("late-init"))
    except (ConnectionRefusedError, ConnectionResetError, RawHttpError):
        return True
    return False


def test_sigterm_lets_an_in_flight_stream_finish(demo_upstream: harness.Endpoint, start_proxy) -> None:
    proxy = start_proxy(demo_upstream.url)
    with RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
        session = open_session(conn)
        stream = conn.open_stream("POST", "/mcp", session.headers(), slow_call("slow-1"))
        assert stream.is_sse, f"a slow call with a progress token answers SSE: {stream.response.describe()}"
        before = stream.events_until(is_progress, "the first progress notification")

        proxy.process.popen.send_signal(signal.SIGTERM)
        # The listener closes at once, while the stream above is still being relayed.
        wait_until(lambda: new_connection_turned_away(proxy.port), "new connections to be turned away")

        events = before + stream.rest()  # rest() fails on a stream cut short (no last chunk)
    messages = [event.message() for event in events if event.message() is not None]
    progress = [m["params"]["progress"] for m in messages if m.get("method") == "notifications/progress"]
    assert len(progress) == SLOW_STEPS and progress == sorted(progress), messages
    final = messages[-1]
    assert final.get("id") == "slow-1" and "result" in final, messages
    try:
        code = proxy.process.popen.wait(timeout=EXIT_DEADLINE_S)
    except subprocess.TimeoutExpired as error:
        raise proxy.process.failure(f"did not exit within {EXIT_DEADLINE_S}s of SIGTERM") from error
    assert code == 0, proxy.process.failure(f"exit code {code} after SIGTERM")


def test_session_expiry_ends_the_upstream_session(demo_upstream: harness.Endpoint, start_proxy) -> None:
    proxy = start_proxy(demo_upstream.url, extra=["--session-ttl", "1s", "--log-level", "info"])
    with RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
        open_session(conn)
    # Expiry sends DELETE upstream and logs the upstream's status: 200 = the upstream ended it.
    line = proxy.process.wait_for_line(lambda text: "upstream session ended" in text,
                                       "the `upstream session ended` log line", CONDITION_DEADLINE_S,
                                       stream="stderr")
    assert "status=200" in line.split(), line


def test_sigterm_with_a_request_outliving_the_grace_exits_cleanly(
        demo_upstream: harness.Endpoint, shadowcat_bin, tmp_path) -> None:
    """A call still running when `shutdown_grace` ends is cut off and the proxy exits 0 promptly
    (the wait for in-flight requests is abandoned at the grace)."""
    config = tmp_path / "grace.toml"
    config.write_text(
        "[listeners.main]\n"
        f'bind = "{harness.LOOPBACK_HOST}:0"\n'
        "[[listeners.main.routes]]\n"
        'path = "/mcp"\n'
        'upstream = "demo"\n'
        "[upstreams.demo]\n"
        f'url = "{demo_upstream.url}"\n'
        "[timeouts]\n"
        'shutdown_grace = "500ms"\n')
    process = harness.ManagedProcess("shadowcat-grace", [shadowcat_bin, "run", "--config", config])
    try:
        urls = harness.wait_shadowcat_ready(process, ["proxy"])
        port = int(urls["proxy"].split(":")[2].split("/")[0])
        with RawConnection(harness.LOOPBACK_HOST, port) as conn:
            session = open_session(conn)
            long_call = jsonrpc("tools/call", {
                "name": "slow",
                "arguments": {"steps": 40, "delay_ms": 100},
                "_meta": {"progressToken": "grace-progress"},
            }, "slow-long")
            stream = conn.open_stream("POST", "/mcp", session.headers(), long_call)
            stream.events_until(is_progress, "the first progress notification")
            process.popen.send_signal(signal.SIGTERM)
            try:
                code = process.popen.wait(timeout=EXIT_DEADLINE_S)
            except subprocess.TimeoutExpired as error:
                raise process.failure(f"did not exit within {EXIT_DEADLINE_S}s of SIGTERM") from error
        assert code == 0, process.failure(f"exit code {code} after SIGTERM with a request past the grace")
    finally:
        process.stop()
