"""Client side of the auth interop tests (test_auth_oauth.py, test_auth_api_keys.py): proxies with
auth flags on a known loopback port (so the default audience, `http://127.0.0.1:PORT/mcp`, is known
before the proxy starts), raw MCP requests with credentials over httpx, the checks on the
proxy's 401/403/400/404 answers (`WWW-Authenticate`, JSON-RPC error codes), an SDK session with
fixed headers, what the recording upstream saw, and API keys and their key files.

Not here: the authorization server and tokens (oauth.py), process mechanics (harness.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import subprocess
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import httpx
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

import harness
import rawhttp

TIMEOUT_S = 20.0
# The proxy's JSON-RPC codes on its own auth answers (src/mcp/jsonrpc.rs: from the
# implementation-defined range -32000..=-32019; the first draft's -32040..-32042 sit in the range the
# MCP spec reserves, and -32042 is URL_ELICITATION_REQUIRED).
UNAUTHORIZED = -32012
FORBIDDEN = -32013
AUTH_UNAVAILABLE = -32014
INVALID_REQUEST = -32600
SESSION_NOT_FOUND = -32001
CREDENTIAL_HEADERS = ("authorization", "x-api-key")
RUN_HEADER = "X-Interop-Run"

_AUTH_PARAM = re.compile(r'(\w+)="([^"]*)"')


def new_key() -> str:
    return f"sk-{secrets.token_urlsafe(32)}"


def write_keys(path: Path, keys: dict[str, tuple[str, list[str] | None]]) -> None:
    """name -> (key, scopes or None): the TOML file, keys stored as SHA-256 hex only."""
    lines = []
    for name, (key, scopes) in keys.items():
        lines += [f"[keys.{name}]", f'sha256 = "{hashlib.sha256(key.encode()).hexdigest()}"']
        if scopes is not None:
            lines.append("scopes = [" + ", ".join(f'"{scope}"' for scope in scopes) + "]")
        lines.append("")
    temporary = path.with_suffix(".tmp")
    temporary.write_text("\n".join(lines))
    temporary.replace(path)  # the proxy never reads a half-written file


def start_auth_proxy(shadowcat_bin: Path, upstream_url: str, auth_flags: Sequence[str], *,
                     port: int | None = None, shards: int = 1, extra: Sequence[str] = ()) -> harness.Endpoint:
    """`shadowcat reverse` on 127.0.0.1:`port` (a free one by default) with `auth_flags`; stop() it."""
    port = harness.reusable_port() if port is None else port
    argv: list[str | Path] = [shadowcat_bin, "reverse", "--bind", f"{harness.LOOPBACK_HOST}:{port}",
                              "--upstream", upstream_url, "--shards", str(shards), *auth_flags, *extra]
    return harness.start_listening("shadowcat-auth-proxy", argv, ["proxy"])


def serving(start: Callable[[], harness.Endpoint]) -> Iterator[harness.Endpoint]:
    """A fixture body: the endpoint `start` returns, stopped after the module; a start failure
    fails the test with the harness's message."""
    try:
        endpoint = start()
    except harness.HarnessError as error:
        pytest.fail(str(error), pytrace=False)
    try:
        yield endpoint
    finally:
        endpoint.stop()


def origin(url: str) -> str:
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{rest.split('/', 1)[0]}"


def prm_url(proxy_url: str) -> str:
    """The path-specific protected resource metadata URL the contract puts in `resource_metadata`."""
    path = "/" + proxy_url.split("://", 1)[1].split("/", 1)[1]
    return f"{origin(proxy_url)}/.well-known/oauth-protected-resource{path}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def post(url: str, body: bytes, headers: dict[str, str] | None = None, *, session_id: str | None = None,
         protocol_version: str | None = None) -> httpx.Response:
    sent = dict(rawhttp.mcp_headers(session_id, protocol_version))
    sent.update(headers or {})
    return httpx.post(url, content=body, headers=sent, timeout=TIMEOUT_S, trust_env=False)


def initialize(url: str, headers: dict[str, str] | None = None, request_id: Any = "init-1") -> httpx.Response:
    return post(url, rawhttp.initialize_body(request_id, "shadowcat-interop-auth"), headers)


def rpc_message(response: httpx.Response, request_id: Any) -> dict:
    """The JSON-RPC message with `request_id` in a JSON or SSE answer."""
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        candidates = [json.loads(data) for data in rawhttp.sse_data_fields(response.content) if data.strip()]
    else:
        body = response.json()
        candidates = body if isinstance(body, list) else [body]
    for message in candidates:
        if isinstance(message, dict) and message.get("id") == request_id:
            return message
    raise AssertionError(f"no JSON-RPC message with id {request_id!r}: {response.status_code} {response.text[:600]}")


def open_session(url: str, headers: dict[str, str]) -> tuple[str, str]:
    """initialize + notifications/initialized with `headers`; (session id, protocol version)."""
    response = initialize(url, headers)
    assert response.status_code == 200, f"initialize: {describe(response)}"
    session_id = response.headers.get("mcp-session-id")
    assert session_id, f"initialize answered without Mcp-Session-Id: {describe(response)}"
    version = rpc_message(response, "init-1")["result"]["protocolVersion"]
    initialized = post(url, rawhttp.jsonrpc("notifications/initialized"), headers, session_id=session_id,
                       protocol_version=version)
    assert initialized.status_code == 202, f"notifications/initialized: {describe(initialized)}"
    return session_id, version


def list_tools(url: str, headers: dict[str, str], session_id: str, version: str,
               request_id: Any = "list-1") -> httpx.Response:
    return post(url, rawhttp.jsonrpc("tools/list", {}, request_id), headers, session_id=session_id,
                protocol_version=version)


def describe(response: httpx.Response) -> str:
    return (f"{response.request.method} {response.request.url} -> {response.status_code} "
            f"WWW-Authenticate={response.headers.get('www-authenticate')!r} body={response.text[:400]!r}")


def challenge(response: httpx.Response) -> dict[str, str]:
    """The auth-params of a `Bearer` WWW-Authenticate challenge (asserts the scheme)."""
    header = response.headers.get("www-authenticate", "")
    assert header.lower().startswith("bearer"), f"no Bearer challenge: {describe(response)}"
    return dict(_AUTH_PARAM.findall(header))


def assert_error_body(response: httpx.Response, code: int, request_id: Any = None) -> None:
    """The proxy's own JSON-RPC error: `{"jsonrpc": "2.0", "id": request_id, "error": {code, message}}`."""
    try:
        body = response.json()
    except ValueError as error:
        raise AssertionError(f"not a JSON body: {describe(response)}") from error
    assert body.get("jsonrpc") == "2.0" and body.get("id") == request_id, describe(response)
    assert body.get("error", {}).get("code") == code, f"expected code {code}: {describe(response)}"
    assert isinstance(body["error"].get("message"), str) and body["error"]["message"], describe(response)


def assert_unauthorized(response: httpx.Response, proxy_url: str, *, invalid_token: bool,
                        scope: str | None = None, metadata: bool = True) -> dict[str, str]:
    """401, code -32012, `Bearer resource_metadata="..."` (+ `error="invalid_token"` and a
    description when a credential was sent and refused, + `scope` when the route requires some).
    `metadata=False` (a route with API keys only: no authorization server, no metadata document):
    a Bearer challenge without `resource_metadata`."""
    assert response.status_code == 401, describe(response)
    params = challenge(response)
    if metadata:
        assert params.get("resource_metadata") == prm_url(proxy_url), describe(response)
    else:
        assert "resource_metadata" not in params, describe(response)
    if invalid_token:
        assert params.get("error") == "invalid_token", describe(response)
        assert params.get("error_description"), describe(response)
    else:
        assert "error" not in params, f"no credential was sent, yet: {describe(response)}"
    if scope is not None:
        assert params.get("scope") == scope, describe(response)
    assert_error_body(response, UNAUTHORIZED)
    return params


async def sdk_session_calls(url: str, headers: dict[str, str]) -> dict[str, Any]:
    """The Python SDK's `streamable_http_client` with fixed `headers`: initialize, tools/list,
    echo, and the recording upstream's `recorded_headers`, of which `recorded` keeps this session's
    requests only (they carry a unique `X-Interop-Run` header, which the proxy passes on); the
    session ends with its DELETE."""
    run = uuid.uuid4().hex
    headers = {**headers, RUN_HEADER: run}
    client = httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(TIMEOUT_S), trust_env=False)
    async with client, streamable_http_client(url, http_client=client) as (read, write, _):
        async with ClientSession(read, write) as session:
            info = await session.initialize()
            tools = sorted(tool.name for tool in (await session.list_tools()).tools)
            echoed = (await session.call_tool("echo", {"message": "through auth"})).content[0].text
            recorded = json.loads((await session.call_tool("recorded_headers", {})).content[0].text)
    mine = [entry for entry in recorded if entry["headers"].get(RUN_HEADER.lower()) == run]
    return {"server": info.serverInfo.name, "tools": tools, "echo": echoed, "recorded": mine}


def credential_leaks(recorded: list[dict]) -> list[str]:
    """The recorded upstream requests that carried a credential header, described."""
    return [f"{entry['method']} {entry['path']}: {name}={entry['headers'][name]!r}"
            for entry in recorded for name in CREDENTIAL_HEADERS if name in entry["headers"]]


TS_SDK = harness.NODE_MODULES / "@modelcontextprotocol" / "sdk"
TS_BEARER_CLIENT = Path(__file__).resolve().parent / "fixtures" / "ts_bearer_client.mjs"


def ts_bearer_client(url: str, headers: dict[str, str]) -> dict[str, Any]:
    """fixtures/ts_bearer_client.mjs (the TypeScript SDK, `headers` on every request): its report."""
    spec = {"url": url, "sdk": str(TS_SDK), "headers": headers}
    done = subprocess.run([harness.node22(), TS_BEARER_CLIENT, json.dumps(spec)], capture_output=True, text=True,
                          timeout=60, env=harness.child_env())
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no report from the TS client (exit {done.returncode}):\n{done.stdout}\n{done.stderr}"
    return json.loads(lines[-1])
