"""A shard that dies ends the process: a connection task's panic (armed in debug builds by
SHADOWCAT_DEBUG_PANIC=connection, see src/proxy/debug_panic.rs) makes the proxy log which shard
died and why, stop the other shard, and exit 1 within a bound, instead of living on with a dead
shard that accepts nothing and ignores SIGTERM.

The trigger exists only in debug builds, so this test runs the debug binary
(SHADOWCAT_DEBUG_BIN, default target/debug/shadowcat, which `cargo test` builds and
scripts/test.sh checks) whatever SHADOWCAT_BIN names.

Not here: the runtime's own cases (a main future's panic, a sibling that never ends), which are
unit tests in shards/src/executor_tests.rs.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

import harness
from rawhttp import RawConnection, RawHttpError, initialize_body, mcp_headers

# The other shard, idle, stops at once (it may take up to the stop bound: grace + 5 s); the rest is
# the debug build's backtrace.
EXIT_DEADLINE_S = 15.0


@pytest.fixture
def debug_proxy(demo_upstream: harness.Endpoint, monkeypatch: pytest.MonkeyPatch) -> Iterator[harness.Endpoint]:
    """A debug-build proxy on 2 shards whose connection tasks panic; stopped at test end."""
    binary = Path(os.environ.get("SHADOWCAT_DEBUG_BIN") or harness.REPO_ROOT / "target" / "debug" / "shadowcat")
    if not os.access(binary, os.X_OK):
        pytest.fail(f"debug build {binary} missing: run `cargo build` (or set SHADOWCAT_DEBUG_BIN)", pytrace=False)
    monkeypatch.setenv("SHADOWCAT_DEBUG_PANIC", "connection")
    proxy = harness.start_proxy(binary, demo_upstream.url, shards=2)
    try:
        yield proxy
    finally:
        proxy.stop()


def test_a_panicking_connection_task_ends_the_process_with_code_1(debug_proxy: harness.Endpoint) -> None:
    proxy = debug_proxy
    # The connection's task panics before answering: the connection is cut.
    with pytest.raises((OSError, RawHttpError)):
        with RawConnection(harness.LOOPBACK_HOST, proxy.port) as conn:
            conn.request("POST", "/mcp", mcp_headers(), initialize_body("doomed-1"))
    try:
        code = proxy.process.popen.wait(timeout=EXIT_DEADLINE_S)
    except subprocess.TimeoutExpired as error:
        raise proxy.process.failure(f"still running {EXIT_DEADLINE_S}s after a shard panicked") from error
    assert code == 1, proxy.process.failure(f"exit code {code} after a shard panicked")
    died = proxy.process.wait_for_line(lambda text: "a shard died" in text, "the `a shard died` log line",
                                       EXIT_DEADLINE_S, stream="stderr")
    assert "panicked: SHADOWCAT_DEBUG_PANIC=connection" in died, died
