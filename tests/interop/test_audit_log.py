"""The audit log (issue 10) as real clients produce it, checked from the client side and from the file.

`shadowcat run --config` on 2 shards with API keys alice and bob in front of server-everything (a
stdio child), a policy (alice may do anything, nobody else the `get-*` tools), a per-tool rate limit
on `echo` (1/h: counted, never timed) and `[audit] arguments = true`. The official Python SDK calls
tools over Streamable HTTP and legacy HTTP+SSE, raw httpx makes an unauthenticated request and an
over-limit call; after a graceful stop (the last lines are written on the way out) every line of the
file parses and says who did what and what was decided: allowed by rule 0, denied by rule 1,
rate-limited, unauthenticated, with the canonical arguments and their SHA-256 as Python computes
them, hashed sessions, and no key anywhere in the file.

`shadowcat demo --audit-log /dev/full --audit-required`: once a write failed, requests get 503 with
JSON-RPC -32017 and `Retry-After`; without `--audit-required` the proxy keeps serving.

Not here: line and file details (tests/request_path/audit.rs, src/audit unit tests).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

import auth_support as auth
import harness
from test_policy_rate_limit import CLIENT_TIMEOUT_S, sdk_view, sse_view, start_config_proxy, toml_string, unknown_tool

AUDIT_UNAVAILABLE = -32017
RATE_LIMITED = -32015
ECHO_ARGS = {"message": "audit me", "extra": {"z": 1, "a": [True, None]}}
SUM_ARGS = {"b": 3, "a": 2}

AUDIT_TOML = """\
[runtime]
shards = 2

[listeners.main]
bind = "127.0.0.1:0"

[[listeners.main.routes]]
path = "/mcp"
upstream = "everything"
legacy_sse = true

[listeners.main.routes.auth]
api_keys = {keys}

[[listeners.main.routes.policy]]
action = "allow"
principals = ["alice"]

[[listeners.main.routes.policy]]
action = "deny"
tools = ["get-*"]

[listeners.main.routes.rate_limit]
rate = "1000/s"
per_tool = {{ "echo" = "1/h" }}

[upstreams.everything]
command = {command}

[audit]
file = {audit}
arguments = true
"""


def canonical(arguments: dict[str, Any]) -> str:
    """The proxy's canonical JSON: keys sorted, no whitespace."""
    return json.dumps(arguments, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def read_lines(path: Path) -> list[dict[str, Any]]:
    text = path.read_text()
    assert text.endswith("\n"), f"the file ends in half a line: {text[-200:]!r}"
    return [json.loads(line) for line in text.splitlines()]


def raw_call(url: str, headers: dict[str, str], session: tuple[str, str], request_id: int,
             name: str, arguments: dict[str, Any]) -> httpx.Response:
    body = {"jsonrpc": "2.0", "id": request_id, "method": "tools/call",
            "params": {"name": name, "arguments": arguments}}
    return auth.post(url, json.dumps(body).encode(), headers, session_id=session[0],
                     protocol_version=session[1])


def one(lines: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    """The one line whose fields have these values."""
    found = [line for line in lines if all(line.get(k) == v for k, v in fields.items())]
    assert len(found) == 1, (fields, json.dumps(lines, indent=1))
    return found[0]


def test_decisions_of_real_clients_are_lines_of_the_file(shadowcat_bin: Path, tmp_path: Path) -> None:
    keys = {"alice": auth.new_key(), "bob": auth.new_key()}
    auth.write_keys(tmp_path / "keys.toml", {name: (key, None) for name, key in keys.items()})
    audit_file = tmp_path / "audit.jsonl"
    try:
        command = harness.everything_stdio_command()
    except harness.HarnessError as error:
        pytest.fail(str(error), pytrace=False)
    text = AUDIT_TOML.format(keys=toml_string(str(tmp_path / "keys.toml")), command=json.dumps(command),
                             audit=toml_string(str(audit_file)))
    alice, bob = {"X-API-Key": keys["alice"]}, auth.bearer(keys["bob"])
    calls = [("echo", ECHO_ARGS), ("get-sum", SUM_ARGS)]
    proxy = start_config_proxy(shadowcat_bin, tmp_path / "shadowcat.toml", text)
    try:
        seen_alice = asyncio.run(asyncio.wait_for(sdk_view(proxy.url, alice, calls), CLIENT_TIMEOUT_S))
        seen_bob = asyncio.run(asyncio.wait_for(sdk_view(proxy.url, bob, calls), CLIENT_TIMEOUT_S))
        sse_url = f"http://{proxy.host_header}/sse"
        legacy_bob = asyncio.run(asyncio.wait_for(sse_view(sse_url, bob, [("get-sum", SUM_ARGS)]), CLIENT_TIMEOUT_S))
        unauthenticated = auth.initialize(proxy.url, {})
        session = auth.open_session(proxy.url, alice)
        over_limit = raw_call(proxy.url, alice, session, 41, "echo", ECHO_ARGS)
    finally:
        proxy.stop()

    # The client side.
    assert seen_alice["calls"]["echo"]["is_error"] is False, seen_alice
    assert seen_alice["calls"]["get-sum"]["is_error"] is False, seen_alice
    assert seen_bob["calls"]["get-sum"] == unknown_tool("get-sum"), seen_bob
    assert legacy_bob["calls"]["get-sum"] == unknown_tool("get-sum"), legacy_bob
    assert unauthenticated.status_code == 401, auth.describe(unauthenticated)
    assert over_limit.status_code == 429 and over_limit.headers.get("retry-after"), auth.describe(over_limit)
    auth.assert_error_body(over_limit, RATE_LIMITED, 41)

    # The file.
    lines = read_lines(audit_file)
    calls_of = [line for line in lines if line["method"] == "tools/call"]
    allowed_echo = one(calls_of, principal="alice", tool="echo", decision="allowed")
    assert allowed_echo["arguments"] == ECHO_ARGS, allowed_echo
    expected_hash = hashlib.sha256(canonical(ECHO_ARGS).encode()).hexdigest()
    assert allowed_echo["arguments_sha256"] == expected_hash, allowed_echo
    assert (allowed_echo["rule"], allowed_echo["status"], allowed_echo["transport"]) == (0, 200, "streamable_http")
    assert allowed_echo["principal_id"].startswith("key:") and allowed_echo["route"] == "/mcp", allowed_echo
    assert allowed_echo["session"].startswith("sha256:") and allowed_echo["latency_us"] >= 0, allowed_echo

    sum_hash = hashlib.sha256(canonical(SUM_ARGS).encode()).hexdigest()
    denied = one(calls_of, principal="bob", tool="get-sum", transport="streamable_http")
    assert (denied["decision"], denied["rule"], denied["status"]) == ("denied", 1, 200), denied
    assert denied["arguments_sha256"] == sum_hash, denied
    legacy_denied = one(calls_of, principal="bob", tool="get-sum", transport="legacy_sse")
    assert (legacy_denied["decision"], legacy_denied["rule"]) == ("denied", 1), legacy_denied
    bob_echo = one(calls_of, principal="bob", tool="echo")
    assert (bob_echo["decision"], bob_echo["rule"]) == ("allowed", "policy_default"), bob_echo

    limited = one(calls_of, principal="alice", tool="echo", decision="rate_limited")
    assert (limited["status"], limited["id"]) == (429, 41), limited
    refused = one(lines, decision="unauthenticated")
    assert (refused["status"], refused["principal"], refused["route"]) == (401, None, "/mcp"), refused

    # One hashed session per client session, the same on each of its lines; no secret anywhere.
    assert len({line["session"] for line in lines if line["principal"] == "alice" and line["session"]}) == 2
    text = audit_file.read_text()
    assert keys["alice"] not in text and keys["bob"] not in text and session[0] not in text
    assert {line["shard"] for line in lines} <= {0, 1}


def test_a_required_audit_log_refuses_requests_while_it_cannot_be_written(shadowcat_bin: Path) -> None:
    proxy = harness.start_listening(
        "shadowcat-audit-required",
        [shadowcat_bin, "demo", "--bind", "127.0.0.1:0", "--shards", "1", "--audit-log", "/dev/full",
         "--audit-required"],
        ["proxy"],
    )
    try:
        # The first lines' write fails within a flush interval; from then on requests get 503.
        deadline = time.monotonic() + auth.TIMEOUT_S
        answer = auth.initialize(proxy.url, {})
        while answer.status_code == 200 and time.monotonic() < deadline:
            answer = auth.initialize(proxy.url, {})
        assert answer.status_code == 503, auth.describe(answer)
        assert answer.headers.get("retry-after") == "1", auth.describe(answer)
        auth.assert_error_body(answer, AUDIT_UNAVAILABLE)
    finally:
        proxy.stop()


def test_an_unwritable_audit_log_does_not_stop_the_proxy(shadowcat_bin: Path) -> None:
    admin_port = harness.reusable_port()
    proxy = harness.start_listening(
        "shadowcat-audit-full",
        [shadowcat_bin, "demo", "--bind", "127.0.0.1:0", "--shards", "1", "--audit-log", "/dev/full",
         "--admin", f"127.0.0.1:{admin_port}"],
        ["proxy"],
    )
    try:
        deadline = time.monotonic() + auth.TIMEOUT_S
        errors = 0.0
        while errors < 1 and time.monotonic() < deadline:
            answer = auth.initialize(proxy.url, {})
            assert answer.status_code == 200, auth.describe(answer)
            metrics = httpx.get(f"http://127.0.0.1:{admin_port}/metrics", timeout=auth.TIMEOUT_S, trust_env=False)
            errors = next((float(line.split()[1]) for line in metrics.text.splitlines()
                           if line.startswith("shadowcat_audit_write_errors_total ")), 0.0)
        assert errors >= 1, "no failed audit write was counted"
        assert auth.initialize(proxy.url, {}).status_code == 200
    finally:
        proxy.stop()
