"""Recording (issue 11): tapes of real clients' sessions, read back from the files.

- `shadowcat run` with `[recording]` (a `redact` pointer, 2 shards) in front of the in-process
  demo server (SSE answers): the official Python SDK over Streamable HTTP (carrying an
  `Authorization` header and an `X-API-Key` that must never be written) and over legacy HTTP+SSE,
  and raw httpx for a request whose exact bytes (odd spacing, a line break) must be the tape's.
- `shadowcat reverse --record` in front of server-everything: over stdio (a child process), and
  over Streamable HTTP, where its SSE events carry ids the tape keeps.
- SIGKILL while a client thread keeps calling: every complete line of every tape parses.
- A file size limit on the running proxy (RLIMIT_FSIZE, the portable "full disk"): the tape stops,
  its header says `failed`, `shadowcat_tape_write_errors_total` counts it, and the SDK client's
  calls keep working.

Not here: line encoding, rotation and retention details (src/record unit tests).
"""

from __future__ import annotations

import asyncio
import json
import resource
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

import auth_support as auth
import harness
import rawhttp
from test_policy_rate_limit import CLIENT_TIMEOUT_S, sdk_view, sse_view, toml_string

SECRET_BEARER = "Bearer sk-never-on-tape-0123456789"
SECRET_KEY = "sk-api-key-never-on-tape-9876543210"
PASSWORD = "hunter2-on-no-tape"

RUN_TOML = """\
[runtime]
shards = 2

[listeners.main]
bind = "127.0.0.1:0"

[[listeners.main.routes]]
path = "/mcp"
upstream = "demo"
legacy_sse = true

[upstreams.demo]
url = "http://127.0.0.1:0/mcp"

[demo]
bind = "127.0.0.1:0"
sse = true

[admin]
bind = "127.0.0.1:0"

[recording]
dir = {dir}
redact = ["/params/arguments/password"]
flush_interval = "20ms"
"""


def start_recording_proxy(shadowcat_bin: Path, tmp_path: Path, tapes: Path) -> harness.Endpoint:
    config = tmp_path / "shadowcat.toml"
    config.write_text(RUN_TOML.format(dir=toml_string(str(tapes))))
    return harness.start_listening("shadowcat-record", [shadowcat_bin, "run", "--config", config],
                                   ["proxy", "admin"])


def tape_files(tapes: Path) -> list[Path]:
    return sorted(tapes.glob("*/*.tape.jsonl"))


def read_tape(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]], list[str]]:
    """(header, message lines, raw line texts) of a finished tape: every line complete."""
    text = path.read_text()
    assert text.endswith("\n"), f"{path} ends in half a line: {text[-200:]!r}"
    raw = text.splitlines()
    header = json.loads(raw[0])
    return header, [json.loads(line) for line in raw[1:]], raw[1:]


def all_tapes(tapes: Path) -> list[tuple[dict[str, Any], list[dict[str, Any]], list[str]]]:
    return [read_tape(path) for path in tape_files(tapes)]


def metric(admin_url: str, name: str) -> float:
    text = httpx.get(f"{admin_url.rstrip('/')}/metrics", timeout=auth.TIMEOUT_S, trust_env=False).text
    for line in text.splitlines():
        if line.startswith(f"shadowcat_{name} "):
            return float(line.split()[1])
    raise AssertionError(f"no shadowcat_{name} in /metrics")


def messages(lines: list[dict[str, Any]], direction: str) -> list[dict[str, Any]]:
    return [line["msg"] for line in lines if line["dir"] == direction and "msg" in line]


def methods(lines: list[dict[str, Any]]) -> list[str]:
    return [m.get("method") for m in messages(lines, "c2s") if isinstance(m, dict)]


def test_sdk_sessions_are_recorded_both_ways(shadowcat_bin: Path, tmp_path: Path) -> None:
    tapes = tmp_path / "tapes"
    proxy = start_recording_proxy(shadowcat_bin, tmp_path, tapes)
    headers = {"Authorization": SECRET_BEARER, "X-API-Key": SECRET_KEY}
    exact = (b'{"jsonrpc":"2.0",  "id": 77,\n"method":"tools/call","params":{"name":"echo",'
             b'"arguments":{"message":"exact bytes"}}}')
    try:
        seen = asyncio.run(asyncio.wait_for(
            sdk_view(proxy.url, headers, [("echo", {"message": "hi", "password": PASSWORD})]), CLIENT_TIMEOUT_S))
        legacy = asyncio.run(asyncio.wait_for(
            sse_view(f"http://{proxy.host_header}/sse", headers, [("echo", {"message": "legacy"})]),
            CLIENT_TIMEOUT_S))
        session = auth.open_session(proxy.url, headers)
        answer = auth.post(proxy.url, exact, headers, session_id=session[0], protocol_version=session[1])
        assert answer.status_code == 200, auth.describe(answer)
    finally:
        proxy.stop()
    assert seen["calls"]["echo"]["is_error"] is False, seen
    assert legacy["calls"]["echo"]["text"] == ["legacy"], legacy

    recorded = all_tapes(tapes)
    by_transport: dict[str, list] = {}
    for header, lines, raw in recorded:
        assert header["shadowcat_tape"] == 1 and header["status"] == "complete", header
        assert header["session"].startswith("sha256:") and len(header["session"]) == 7 + 32, header
        assert (header["route"], header["upstream"], header["part"]) == ("/mcp", "demo", 1), header
        assert header["shard"] in (0, 1) and header["started_us"] > 0, header
        assert header["started"].endswith("Z") and "T" in header["started"], header
        by_transport.setdefault(header["transport"], []).append((header, lines, raw))
    assert len(by_transport.get("streamable_http", [])) == 2, [h for h, _, _ in recorded]
    assert len(by_transport.get("legacy_sse", [])) == 1, [h for h, _, _ in recorded]

    # The SDK's Streamable HTTP session: every request and its answer, SSE from the demo server.
    sdk = next(t for t in by_transport["streamable_http"] if "tools/list" in methods(t[1]))
    header, lines, _ = sdk
    assert header["protocol_version"], header
    assert methods(lines)[:3] == ["initialize", "notifications/initialized", "tools/list"], methods(lines)
    answers = {m.get("id"): m for m in messages(lines, "s2c") if isinstance(m, dict)}
    requests = [m for m in messages(lines, "c2s") if "id" in m]
    assert all(r["id"] in answers for r in requests), (requests, answers)
    sse_lines = [line for line in lines if line["dir"] == "s2c" and line["http"].get("content_type") == "text/event-stream"]
    assert sse_lines and all(line["http"]["status"] == 200 for line in sse_lines), lines
    assert all(line["http"] == {"method": "POST"} for line in lines if line["dir"] == "c2s"), lines
    # Redaction: the pointer is gone from the call, named in `redacted`; the rest stays.
    call = next(line for line in lines if line["dir"] == "c2s" and line["msg"].get("method") == "tools/call")
    assert call["redacted"] == ["/params/arguments/password"], call
    assert call["msg"]["params"]["arguments"] == {"message": "hi"}, call
    # Times grow.
    times = [line["t_us"] for line in lines]
    assert times == sorted(times) and times[0] >= header["started_us"], times

    # The legacy session: POSTed messages one way, the stream's events the other.
    _, legacy_lines, _ = by_transport["legacy_sse"][0]
    assert "tools/call" in methods(legacy_lines), legacy_lines
    echoed = [m for m in messages(legacy_lines, "s2c") if "legacy" in json.dumps(m)]
    assert echoed, legacy_lines

    # The raw request: its exact bytes, the line break written as a space.
    raw_tape = next(t for t in by_transport["streamable_http"] if "tools/list" not in methods(t[1]))
    expected = exact.replace(b"\n", b" ").decode()
    assert any(f'"msg":{expected},' in text for text in raw_tape[2]), raw_tape[2]

    # `shadowcat tape verify` finds nothing wrong.
    verify = subprocess.run([str(shadowcat_bin), "tape", "verify", str(tapes)], capture_output=True, text=True,
                            timeout=auth.TIMEOUT_S)
    assert verify.returncode == 0, verify.stdout + verify.stderr

    # No credential and no redacted value anywhere.
    for path in tape_files(tapes):
        text = path.read_text()
        for secret in (SECRET_BEARER, SECRET_KEY, PASSWORD, session[0], "Authorization", "X-API-Key"):
            assert secret not in text, (secret, path)


def test_server_everything_over_stdio_and_http(shadowcat_bin: Path, tmp_path: Path) -> None:
    try:
        command = harness.everything_stdio_command()
    except harness.HarnessError as error:
        pytest.fail(str(error), pytrace=False)
    stdio_tapes, http_tapes = tmp_path / "stdio", tmp_path / "http"
    proxy = harness.start_stdio_proxy(shadowcat_bin, command, extra=["--record", str(stdio_tapes)])
    try:
        seen = asyncio.run(asyncio.wait_for(
            sdk_view(proxy.url, {}, [("echo", {"message": "via stdio"})]), CLIENT_TIMEOUT_S))
    finally:
        proxy.stop()
    assert seen["calls"]["echo"]["text"] == ["Echo: via stdio"], seen
    [(header, lines, _)] = all_tapes(stdio_tapes)
    assert (header["transport"], header["upstream"], header["status"]) == ("streamable_http", "main", "complete")
    assert "tools/call" in methods(lines), lines
    assert any("Echo: via stdio" in json.dumps(m) for m in messages(lines, "s2c")), lines

    everything = harness.start_everything_server("streamableHttp")
    try:
        proxy = harness.start_proxy(shadowcat_bin, everything.url, extra=["--record", str(http_tapes)])
        try:
            seen = asyncio.run(asyncio.wait_for(
                sdk_view(proxy.url, {}, [("echo", {"message": "via http"})]), CLIENT_TIMEOUT_S))
        finally:
            proxy.stop()
    finally:
        everything.stop()
    assert seen["calls"]["echo"]["text"] == ["Echo: via http"], seen
    [(header, lines, _)] = all_tapes(http_tapes)
    assert header["status"] == "complete", header
    events = [line for line in lines if line["dir"] == "s2c" and line["http"].get("content_type") == "text/event-stream"]
    assert events, lines
    # server-everything keeps an event store: its events carry ids, and the tape keeps them.
    assert all(line["http"].get("event_id") for line in events), events
    assert any("Echo: via http" in json.dumps(line["msg"]) for line in events), events


def call_in_a_loop(url: str, stop: threading.Event, calls: list[int]) -> None:
    """A client thread: sessions of calls until `stop` (counted in `calls`)."""
    while not stop.is_set():
        try:
            session = auth.open_session(url, {})
            for n in range(20):
                body = rawhttp.jsonrpc("tools/call", {"name": "echo", "arguments": {"message": f"load {n}"}}, n)
                auth.post(url, body, {}, session_id=session[0], protocol_version=session[1])
                calls[0] += 1
        except (httpx.HTTPError, AssertionError):
            return  # the proxy was killed


def test_sigkill_leaves_only_complete_lines_but_maybe_the_last(shadowcat_bin: Path, tmp_path: Path) -> None:
    tapes = tmp_path / "tapes"
    proxy = start_recording_proxy(shadowcat_bin, tmp_path, tapes)
    stop, calls = threading.Event(), [0]
    client = threading.Thread(target=call_in_a_loop, args=(proxy.url, stop, calls), daemon=True)
    try:
        client.start()
        deadline = time.monotonic() + auth.TIMEOUT_S
        while metric(proxy.admin_url or "", "tape_lines_total") < 200 and time.monotonic() < deadline:
            time.sleep(0.02)  # polling the metric: the condition awaited is the lines written
        assert metric(proxy.admin_url or "", "tape_lines_total") >= 200
        proxy.process.popen.kill()
        proxy.process.popen.wait(timeout=auth.TIMEOUT_S)
    finally:
        stop.set()
        proxy.stop()
        client.join(timeout=auth.TIMEOUT_S)
    assert calls[0] > 0
    complete = 0
    for path in tape_files(tapes):
        data = path.read_bytes()
        lines = data.split(b"\n")
        # After the last "\n" there may be a cut line (what `tape verify` reports); nothing else.
        for line in lines[:-1]:
            json.loads(line)
            complete += 1
        header = json.loads(lines[0])
        assert header["status"] == "recording", header  # killed: never marked complete
    assert complete >= 200, complete
    # `shadowcat tape verify` agrees: at most a cut last line per tape, nothing else.
    verify = subprocess.run([str(shadowcat_bin), "tape", "verify", str(tapes)], capture_output=True, text=True,
                            timeout=auth.TIMEOUT_S)
    problems = [line for line in verify.stdout.splitlines() if line.startswith("PROBLEM")]
    assert all("cut last line" in line for line in problems), verify.stdout + verify.stderr
    assert verify.returncode == (1 if problems else 0), verify.stdout + verify.stderr


def test_a_file_size_limit_stops_the_tape_not_the_proxy(shadowcat_bin: Path, tmp_path: Path) -> None:
    tapes = tmp_path / "tapes"
    proxy = start_recording_proxy(shadowcat_bin, tmp_path, tapes)
    try:
        # The portable full disk: files of the running proxy may not grow past 4 KiB.
        resource.prlimit(proxy.process.pid, resource.RLIMIT_FSIZE, (4096, 4096))
        admin = proxy.admin_url or ""
        calls = [("echo", {"message": "x" * 300})] * 1
        deadline = time.monotonic() + auth.TIMEOUT_S
        seen = None
        while metric(admin, "tape_write_errors_total") < 1 and time.monotonic() < deadline:
            seen = asyncio.run(asyncio.wait_for(sdk_view(proxy.url, {}, calls), CLIENT_TIMEOUT_S))
            assert seen["calls"]["echo"]["is_error"] is False, seen
        assert metric(admin, "tape_write_errors_total") >= 1
        # Proxying goes on.
        seen = asyncio.run(asyncio.wait_for(sdk_view(proxy.url, {}, calls), CLIENT_TIMEOUT_S))
        assert seen["calls"]["echo"]["text"] == ["x" * 300], seen
        assert proxy.process.popen.poll() is None
    finally:
        proxy.stop()
    headers = [json.loads(path.read_bytes().split(b"\n", 1)[0]) for path in tape_files(tapes)]
    assert any(h["status"] == "failed" for h in headers), headers


@pytest.mark.parametrize("client", ["python", "typescript"])
@pytest.mark.parametrize("transport", ["sse", "streamable-http"])
def test_sdk_check_lists_through_a_recording_proxy(shadowcat_bin: Path, tmp_path: Path, client: str,
                                                   transport: str) -> None:
    """The whole SDK check list (tools, progress, resources, prompts, sampling: server→client
    requests and the client's answers) through a recording proxy in front of server-everything
    on stdio: recording changes nothing the client sees, and every request on tape has its
    answer on tape, both ways."""
    from test_legacy_sse import EVERYTHING, TS_SDK, run_mcp_checks, run_mcp_checks_sse, start_legacy_proxy, ts_checks

    tapes = tmp_path / "tapes"
    try:
        upstream: list[str | Path] = ["--record", str(tapes), "--upstream-cmd", "--", *harness.everything_stdio_command()]
    except harness.HarnessError as error:
        pytest.fail(str(error), pytrace=False)
    if client == "typescript" and not TS_SDK.is_dir():
        pytest.fail(f"TypeScript SDK not found at {TS_SDK}: run `bash scripts/setup.sh`", pytrace=False)
    proxy = start_legacy_proxy(shadowcat_bin, upstream)
    url = f"http://{proxy.host_header}/sse" if transport == "sse" else proxy.url
    try:
        if client == "typescript":
            report = ts_checks(transport, url, EVERYTHING)
            failed = [r for r in report["results"] if not r["ok"]]
            assert report["results"] and not failed, failed
        elif transport == "sse":
            report = asyncio.run(run_mcp_checks_sse(url, EVERYTHING, via="recording proxy"))
            assert report.results and not report.failures, report.failure_text()
        else:
            report = asyncio.run(run_mcp_checks(url, EVERYTHING, proxied=True))
            assert report.results and not report.failures, report.failure_text()
    finally:
        proxy.stop()
    recorded = all_tapes(tapes)
    assert recorded
    expected = "legacy_sse" if transport == "sse" else "streamable_http"
    sampled = False
    for header, lines, _ in recorded:
        assert (header["transport"], header["status"]) == (expected, "complete"), header
        for ours, theirs in (("c2s", "s2c"), ("s2c", "c2s")):
            asked = {json.dumps(m["id"]) for m in messages(lines, ours) if "method" in m and "id" in m}
            answered = {json.dumps(m["id"]) for m in messages(lines, theirs) if "method" not in m and "id" in m}
            assert asked <= answered, (ours, asked - answered)
        sampled |= any(m.get("method") == "sampling/createMessage" for m in messages(lines, "s2c"))
    assert sampled, "no server→client request on tape"


def test_forward_mode_records_its_session(shadowcat_bin: Path, tmp_path: Path) -> None:
    """`shadowcat forward --record DIR -- server-everything stdio` under the Python SDK's stdio
    client and its whole check list: one tape, `transport` `stdio`, every request answered on it."""
    from mcp import StdioServerParameters

    from mcp_checks import EVERYTHING, run_mcp_checks_stdio

    tapes = tmp_path / "tapes"
    try:
        command = harness.everything_stdio_command()
    except harness.HarnessError as error:
        pytest.fail(str(error), pytrace=False)
    server = StdioServerParameters(command=str(shadowcat_bin),
                                   args=["forward", "--record", str(tapes), "--", *command],
                                   env=harness.child_env())
    report = asyncio.run(run_mcp_checks_stdio(server, EVERYTHING, "forward --record"))
    assert report.results and not report.failures, report.failure_text()
    [(header, lines, _)] = all_tapes(tapes)
    assert (header["transport"], header["route"], header["status"]) == ("stdio", "stdio", "complete"), header
    assert header["session"].startswith("connection:") and header["upstream"].startswith("stdio:"), header
    asked = {json.dumps(m["id"]) for m in messages(lines, "c2s") if "method" in m and "id" in m}
    answered = {json.dumps(m["id"]) for m in messages(lines, "s2c") if "method" not in m and "id" in m}
    assert asked and asked <= answered, asked - answered
    assert all("http" not in line for line in lines), lines


def test_a_translated_session_is_recorded_as_the_client_saw_it(shadowcat_bin: Path, tmp_path: Path) -> None:
    """A legacy Python SDK session through `--upstream-era modern` in front of the rmcp
    modern-only server (the era translation): the tape holds the client's side, the MRTR
    round trip as a server→client `sampling/createMessage` and the client's answer, and the
    listen-fed notifications of the GET stream."""
    from test_era_translation import legacy_session_run
    from test_modern import start_modern_server

    tapes = tmp_path / "tapes"
    upstream = start_modern_server("--modern-only", "--sse")
    try:
        proxy = harness.start_proxy(shadowcat_bin, upstream.url,
                                    extra=["--upstream-era", "modern", "--record", str(tapes)])
        try:
            seen = asyncio.run(asyncio.wait_for(legacy_session_run(proxy.url), CLIENT_TIMEOUT_S))
        finally:
            proxy.stop()
    finally:
        upstream.stop()
    assert seen["ask"] == "answered: sampled(six times seven?)", seen
    [(header, lines, _)] = all_tapes(tapes)
    assert (header["transport"], header["status"]) == ("streamable_http", "complete"), header
    assert {"initialize", "tools/call", "ping"} <= set(methods(lines)), methods(lines)
    sampling = [m for m in messages(lines, "s2c") if m.get("method") == "sampling/createMessage"]
    assert sampling, lines
    answers = {json.dumps(m.get("id")) for m in messages(lines, "c2s") if "result" in m}
    assert json.dumps(sampling[0]["id"]) in answers, lines
    notified = {m.get("method") for m in messages(lines, "s2c")}
    assert "notifications/tools/list_changed" in notified, notified


def test_a_legacy_sse_upstream_is_recorded_on_the_client_side(shadowcat_bin: Path, tmp_path: Path) -> None:
    """server-everything over the legacy HTTP+SSE transport (`--upstream-transport sse`) behind
    a Streamable HTTP client: the tape holds what the client sent and got."""
    tapes = tmp_path / "tapes"
    everything = harness.start_everything_server("sse")
    try:
        proxy = harness.start_proxy(shadowcat_bin, everything.url,
                                    extra=["--upstream-transport", "sse", "--record", str(tapes)])
        try:
            seen = asyncio.run(asyncio.wait_for(
                sdk_view(proxy.url, {}, [("echo", {"message": "via sse upstream"})]), CLIENT_TIMEOUT_S))
        finally:
            proxy.stop()
    finally:
        everything.stop()
    assert seen["calls"]["echo"]["text"] == ["Echo: via sse upstream"], seen
    [(header, lines, _)] = all_tapes(tapes)
    assert (header["transport"], header["status"]) == ("streamable_http", "complete"), header
    asked = {json.dumps(m["id"]) for m in messages(lines, "c2s") if "method" in m and "id" in m}
    answered = {json.dumps(m["id"]) for m in messages(lines, "s2c") if "method" not in m and "id" in m}
    assert asked and asked <= answered, asked - answered
