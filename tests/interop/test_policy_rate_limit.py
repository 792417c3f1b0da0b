"""Authorization rules and rate limits (issue 10) seen by real SDK clients.

Policy (`shadowcat run --config`, `[[listeners.main.routes.policy]]`): API keys alice and bob in
front of server-everything (a stdio child): alice is allowed everything, bob loses the `get-*` and
`trigger-*` tools (gone from his `tools/list` in the Python SDK over Streamable HTTP and legacy
HTTP+SSE and in the TypeScript SDK, a call gets -32602 `Unknown tool`) and the `prompts/*`
methods (-32601), while his `echo` and resources still work. With OAuth tokens from the real authorization server (oauth_server.mjs): a rule on
the `mcp:admin` scope and one on a `groups` claim (minted with the server's own key, as
oauth2-mock-server's /token sets no custom claims) let some callers keep a tool the others lose.

Rate limits (`reverse --rate-limit 1/h --rate-limit-burst N --api-keys FILE`; at 1/h nothing
refills during a test, so admitted requests are counted, never timed): the Python SDK's
Streamable HTTP client gets exactly N requests through (on 2 shards), then its transport fails
with the 429 (mcp 1.30 `raise_for_status()` in the POST task, which ends the client's task
group); raw httpx sees 429 + `Retry-After` + JSON-RPC -32015 with the request's id (a 2026-07-28
stateless request too), a notification is still accepted, and another key is not limited. A TOML `per_tool` bucket limits
`echo` calls only. A legacy HTTP+SSE client (`sse_client`, `--legacy-sse`) gets the 429 on its
POST: the SDK's post writer logs the HTTPStatusError and closes its write stream, so the
over-limit call is never answered and the next request fails at once.

Not here: the request-path details (tests/request_path/policy.rs, rate_limit.rs), keys and
tokens as such (test_auth_api_keys.py, test_auth_oauth.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any, Iterator

import anyio
import httpx
import pytest
from mcp import ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import McpError

import auth_support as auth
import harness
import oauth
import rawhttp
from test_modern import modern_body, modern_headers

UNKNOWN_TOOL = -32602
METHOD_NOT_FOUND = -32601
RATE_LIMITED = -32015
CLIENT_TIMEOUT_S = 60.0
# Tools of server-everything bob may not see (never called here: `get-env` would leak the
# child's environment into the report, `gzip-file-as-resource` fetches URLs).
BOB_DENIED_TOOLS = ("get-*", "trigger-*")
SUM_ARGS = {"a": 2, "b": 3}


def toml_string(text: str) -> str:
    """A TOML basic string (JSON string escapes are valid TOML ones for these paths)."""
    return json.dumps(text)


def start_config_proxy(shadowcat_bin: Path, config: Path, text: str) -> harness.Endpoint:
    """`shadowcat run --config FILE` with `text` written to `config`; stop() it by handle."""
    config.write_text(text)
    return harness.start_listening("shadowcat-run", [shadowcat_bin, "run", "--config", config], ["proxy"])


# -- outcomes as the Python SDK reports them -------------------------------------------------


async def _call(session: ClientSession, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    try:
        result = await session.call_tool(name, arguments)
    except McpError as error:
        return {"error": {"code": error.error.code, "message": error.error.message}}
    return {"text": [c.text for c in result.content if c.type == "text"], "is_error": result.isError}


async def _listing(list_call) -> Any:
    try:
        return sorted(item.name for item in await list_call())
    except McpError as error:
        return {"error": {"code": error.error.code, "message": error.error.message}}


async def _session_view(read, write, calls: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    async with ClientSession(read, write) as session:
        await session.initialize()
        tools = sorted(tool.name for tool in (await session.list_tools()).tools)
        outcomes = {name: await _call(session, name, arguments) for name, arguments in calls}
        prompts = await _listing(lambda: _items(session.list_prompts(), "prompts"))
        resources = await _listing(lambda: _items(session.list_resources(), "resources"))
    return {"tools": tools, "calls": outcomes, "prompts": prompts, "resources": resources}


async def sdk_view(url: str, headers: dict[str, str], calls: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """The Python SDK's Streamable HTTP session with fixed `headers`: its tools, each call's
    outcome, its prompts and resources (names) or the error listing them got."""
    client = httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(auth.TIMEOUT_S), trust_env=False)
    async with client, streamable_http_client(url, http_client=client) as (read, write, _):
        return await _session_view(read, write, calls)


async def sse_view(sse_url: str, headers: dict[str, str], calls: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """The same over the legacy HTTP+SSE transport (`sse_client`)."""
    async with sse_client(sse_url, headers=headers, timeout=auth.TIMEOUT_S) as (read, write):
        return await _session_view(read, write, calls)


async def _items(request, member: str) -> list:
    return getattr(await request, member)


def view(url: str, headers: dict[str, str], calls: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    return asyncio.run(asyncio.wait_for(sdk_view(url, headers, calls), CLIENT_TIMEOUT_S))


def unknown_tool(name: str) -> dict[str, Any]:
    return {"error": {"code": UNKNOWN_TOOL, "message": f"Unknown tool: {name}"}}


# -- policy by API key, server-everything upstream --------------------------------------------


POLICY_TOML = """\
[runtime]
shards = 1

[listeners.main]
bind = "127.0.0.1:0"

[[listeners.main.routes]]
path = "/mcp"
upstream = "everything"
legacy_sse = true
policy_default = "allow"

[listeners.main.routes.auth]
api_keys = {keys}

[[listeners.main.routes.policy]]
action = "allow"
principals = ["alice"]

[[listeners.main.routes.policy]]
action = "deny"
tools = {denied_tools}

[[listeners.main.routes.policy]]
action = "deny"
methods = ["prompts/*"]

[upstreams.everything]
command = {command}
"""


@pytest.fixture(scope="module")
def policy_keys() -> dict[str, str]:
    return {"alice": auth.new_key(), "bob": auth.new_key()}


@pytest.fixture(scope="module")
def policy_proxy(shadowcat_bin: Path, tmp_path_factory: pytest.TempPathFactory,
                 policy_keys: dict[str, str]) -> Iterator[harness.Endpoint]:
    folder = tmp_path_factory.mktemp("policy")
    keys_file = folder / "keys.toml"
    auth.write_keys(keys_file, {name: (key, None) for name, key in policy_keys.items()})
    try:
        command = harness.everything_stdio_command()
    except harness.HarnessError as error:
        pytest.fail(str(error), pytrace=False)
    text = POLICY_TOML.format(keys=toml_string(str(keys_file)), command=json.dumps(command),
                              denied_tools=json.dumps(list(BOB_DENIED_TOOLS)))
    yield from auth.serving(lambda: start_config_proxy(shadowcat_bin, folder / "shadowcat.toml", text))


POLICY_CALLS = [("echo", {"message": "policy"}), ("get-sum", SUM_ARGS)]


def test_python_sdk_sees_only_the_tools_and_methods_its_key_may_use(policy_proxy: harness.Endpoint,
                                                                   policy_keys: dict[str, str]) -> None:
    alice = view(policy_proxy.url, {"X-API-Key": policy_keys["alice"]}, POLICY_CALLS)
    bob = view(policy_proxy.url, auth.bearer(policy_keys["bob"]), POLICY_CALLS)

    denied = sorted(name for name in alice["tools"] if name.startswith(("get-", "trigger-")))
    assert "get-sum" in denied and "trigger-long-running-operation" in denied, alice
    assert bob["tools"] == sorted(set(alice["tools"]) - set(denied)), bob
    assert "echo" in bob["tools"], bob

    assert alice["calls"]["echo"] == {"text": ["Echo: policy"], "is_error": False}, alice
    assert alice["calls"]["get-sum"]["is_error"] is False and "5" in alice["calls"]["get-sum"]["text"][0], alice
    assert bob["calls"]["echo"] == {"text": ["Echo: policy"], "is_error": False}, bob
    assert bob["calls"]["get-sum"] == unknown_tool("get-sum"), bob

    assert isinstance(alice["prompts"], list) and "simple-prompt" in alice["prompts"], alice
    assert bob["prompts"]["error"]["code"] == METHOD_NOT_FOUND, bob
    # resources/* is not denied: bob lists what alice lists.
    assert isinstance(bob["resources"], list) and bob["resources"] == alice["resources"] != [], (alice, bob)


def test_legacy_sse_client_sees_the_same_policy(policy_proxy: harness.Endpoint,
                                                policy_keys: dict[str, str]) -> None:
    sse_url = f"http://{policy_proxy.host_header}/sse"
    alice, bob = (asyncio.run(asyncio.wait_for(sse_view(sse_url, headers, POLICY_CALLS), CLIENT_TIMEOUT_S))
                  for headers in ({"X-API-Key": policy_keys["alice"]}, auth.bearer(policy_keys["bob"])))
    assert "get-sum" in alice["tools"] and isinstance(alice["prompts"], list), alice
    assert alice["calls"]["get-sum"]["is_error"] is False, alice
    assert bob["tools"] == [name for name in alice["tools"] if not name.startswith(("get-", "trigger-"))], bob
    assert bob["calls"]["get-sum"] == unknown_tool("get-sum"), bob
    assert bob["calls"]["echo"] == {"text": ["Echo: policy"], "is_error": False}, bob
    assert bob["prompts"]["error"]["code"] == METHOD_NOT_FOUND, bob


def test_typescript_sdk_listing_follows_the_policy(policy_proxy: harness.Endpoint,
                                                  policy_keys: dict[str, str]) -> None:
    if not auth.TS_SDK.is_dir():
        pytest.fail(f"TypeScript SDK missing at {auth.TS_SDK}: run `bash scripts/setup.sh`", pytrace=False)
    alice = auth.ts_bearer_client(policy_proxy.url, {"X-API-Key": policy_keys["alice"]})
    bob = auth.ts_bearer_client(policy_proxy.url, auth.bearer(policy_keys["bob"]))
    assert "get-sum" in alice.get("tools", []), alice
    assert bob.get("tools") and not [name for name in bob["tools"] if name.startswith(("get-", "trigger-"))], bob
    assert bob["tools"] == [name for name in alice["tools"] if not name.startswith(("get-", "trigger-"))], bob
    assert alice.get("echo") == bob.get("echo") == "Echo: typescript through auth", (alice, bob)


# -- policy by token scopes and claims, demo server upstream ----------------------------------


OAUTH_POLICY_TOML = """\
[runtime]
shards = 1

[listeners.main]
bind = "127.0.0.1:{port}"

[[listeners.main.routes]]
path = "/mcp"
upstream = "demo"

[listeners.main.routes.auth]
issuer = {issuer}

[[listeners.main.routes.policy]]
action = "allow"
scopes = ["mcp:admin"]

[[listeners.main.routes.policy]]
action = "allow"
claims = {{ groups = ["ops"] }}

[[listeners.main.routes.policy]]
action = "deny"
tools = ["add"]

[upstreams.demo]
url = {upstream}
"""


def test_rules_on_token_scopes_and_claims(shadowcat_bin: Path, demo_upstream: harness.Endpoint,
                                          oauth_server: oauth.OAuthServer, tmp_path: Path) -> None:
    port = harness.reusable_port()
    text = OAUTH_POLICY_TOML.format(port=port, issuer=toml_string(oauth_server.issuer),
                                    upstream=toml_string(demo_upstream.url))
    proxy = start_config_proxy(shadowcat_bin, tmp_path / "shadowcat.toml", text)
    try:
        resource = proxy.url
        assert resource == f"http://127.0.0.1:{port}/mcp", resource
        tokens = {
            "admin": oauth_server.token(resource, scope="mcp:tools mcp:admin", sub="admin-user"),
            "plain": oauth_server.token(resource, scope="mcp:tools", sub="plain-user"),
            "ops": oauth_server.mint(oauth_server.claims(resource, sub="ops-user", groups=["dev", "ops"])),
            "dev": oauth_server.mint(oauth_server.claims(resource, sub="dev-user", groups=["dev"])),
        }
        calls = [("add", {"a": 2, "b": 3}), ("echo", {"message": "scoped"})]
        seen = {who: view(proxy.url, auth.bearer(token), calls) for who, token in tokens.items()}
        typescript = auth.ts_bearer_client(proxy.url, auth.bearer(tokens["plain"])) if auth.TS_SDK.is_dir() else None
    finally:
        proxy.stop()
    for who in ("admin", "ops"):
        assert "add" in seen[who]["tools"], (who, seen[who])
        assert seen[who]["calls"]["add"]["is_error"] is False and seen[who]["calls"]["add"]["text"] != [], seen[who]
    for who in ("plain", "dev"):
        assert seen[who]["tools"] == sorted(set(seen["admin"]["tools"]) - {"add"}), (who, seen[who])
        assert seen[who]["calls"]["add"] == unknown_tool("add"), (who, seen[who])
    assert all(seen[who]["calls"]["echo"]["is_error"] is False for who in tokens), seen
    assert typescript is not None, f"TypeScript SDK missing at {auth.TS_SDK}: run `bash scripts/setup.sh`"
    assert typescript.get("tools") == seen["plain"]["tools"], typescript
    assert typescript.get("echo") == "typescript through auth", typescript


# -- rate limits -------------------------------------------------------------------------------


def leaves(error: BaseException) -> list[BaseException]:
    """The exceptions inside (nested) exception groups."""
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in leaves(inner)]
    return [error]


def status_errors(error: BaseException) -> list[httpx.HTTPStatusError]:
    return [leaf for leaf in leaves(error) if isinstance(leaf, httpx.HTTPStatusError)]


async def count_admitted(url: str, headers: dict[str, str], tools: list[str], most: int) -> tuple[list[str], BaseException | None]:
    """A Python SDK session that calls `tools` in turn, at most `most` calls: the requests it got
    answers to (initialize, tools/list, then the calls), and how the session ended."""
    answered: list[str] = []
    client = httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(auth.TIMEOUT_S), trust_env=False)
    try:
        async with client, streamable_http_client(url, http_client=client) as (read, write, _):
            async with ClientSession(read, write) as session:
                await session.initialize()
                answered.append("initialize")
                await session.list_tools()
                answered.append("tools/list")
                for index in range(most):
                    name = tools[index % len(tools)]
                    result = await session.call_tool(name, {"message": f"n{index}"} if name == "echo" else
                                                      {"a": index, "b": 1})
                    assert result.isError is False, result
                    answered.append(name)
    except BaseException as error:  # the transport's task group ends in an exception group
        if not status_errors(error):
            raise
        return answered, error
    return answered, None


def assert_sdk_saw_429(ended: BaseException | None, answered: list[str]) -> None:
    assert ended is not None, f"no request refused; answered: {answered}"
    refused = status_errors(ended)
    assert [error.response.status_code for error in refused] == [429], (answered, leaves(ended))


def admitted(url: str, headers: dict[str, str], tools: list[str], most: int) -> tuple[list[str], BaseException | None]:
    return asyncio.run(asyncio.wait_for(count_admitted(url, headers, tools, most), CLIENT_TIMEOUT_S))


def assert_rate_limited(response: httpx.Response, request_id: Any) -> int:
    """429, `Retry-After` in whole seconds, the JSON-RPC -32015 with `request_id`; the wait."""
    assert response.status_code == 429, auth.describe(response)
    retry_after = response.headers.get("retry-after", "")
    assert retry_after.isdigit() and 1 <= int(retry_after) <= 3600, auth.describe(response)
    auth.assert_error_body(response, RATE_LIMITED, request_id)
    return int(retry_after)


BURST = 5


@pytest.fixture
def limit_keys(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    keys = {"alice": auth.new_key(), "bob": auth.new_key()}
    path = tmp_path / "keys.toml"
    auth.write_keys(path, {name: (key, None) for name, key in keys.items()})
    return path, keys


@pytest.fixture
def limited_proxy(shadowcat_bin: Path, demo_upstream: harness.Endpoint,
                  limit_keys: tuple[Path, dict[str, str]]) -> Iterator[harness.Endpoint]:
    """`reverse --rate-limit 1/h --rate-limit-burst BURST --api-keys` on 2 shards (a principal's
    sessions may land on either; its bucket lives on one)."""
    yield from auth.serving(lambda: auth.start_auth_proxy(
        shadowcat_bin, demo_upstream.url,
        ["--api-keys", str(limit_keys[0]), "--rate-limit", "1/h", "--rate-limit-burst", str(BURST)], shards=2))


def test_python_sdk_gets_burst_requests_then_the_429(limited_proxy: harness.Endpoint,
                                                    limit_keys: tuple[Path, dict[str, str]]) -> None:
    _, keys = limit_keys
    answered, ended = admitted(limited_proxy.url, {"X-API-Key": keys["alice"]}, ["echo"], BURST + 3)
    assert answered == ["initialize", "tools/list"] + ["echo"] * (BURST - 2), answered
    assert_sdk_saw_429(ended, answered)
    # A new session of the same key: its initialize is over the limit too.
    refused = auth.initialize(limited_proxy.url, {"X-API-Key": keys["alice"]}, request_id="again-1")
    assert_rate_limited(refused, "again-1")
    # bob has his own bucket.
    answered, ended = admitted(limited_proxy.url, auth.bearer(keys["bob"]), ["echo", "add"], BURST - 2)
    assert ended is None and answered == ["initialize", "tools/list", "echo", "add", "echo"], (answered, ended)


def test_raw_429_has_retry_after_and_the_request_id(limited_proxy: harness.Endpoint,
                                                    limit_keys: tuple[Path, dict[str, str]]) -> None:
    _, keys = limit_keys
    alice = {"X-API-Key": keys["alice"]}
    session_id, version = auth.open_session(limited_proxy.url, alice)  # initialize: 1
    for index in range(BURST - 1):
        listed = auth.list_tools(limited_proxy.url, alice, session_id, version, request_id=f"list-{index}")
        assert listed.status_code == 200, auth.describe(listed)
    for request_id in ("over-1", 77):
        call = auth.post(limited_proxy.url, rawhttp.jsonrpc("tools/call", {"name": "echo", "arguments": {
            "message": "over"}}, request_id), alice, session_id=session_id, protocol_version=version)
        assert_rate_limited(call, request_id)
    # A 2026-07-28 stateless request of the same key: the same answer.
    modern = {**dict(modern_headers("tools/call", "echo")), **alice}
    over = httpx.post(limited_proxy.url, content=modern_body("modern-1", "tools/call", {
        "name": "echo", "arguments": {"message": "over"}}), headers=modern, timeout=auth.TIMEOUT_S, trust_env=False)
    assert_rate_limited(over, "modern-1")
    # Notifications draw no token.
    note = auth.post(limited_proxy.url, rawhttp.jsonrpc("notifications/roots/list_changed"), alice,
                     session_id=session_id, protocol_version=version)
    assert note.status_code == 202, auth.describe(note)
    # Another key is not limited.
    bob = auth.bearer(keys["bob"])
    bob_session, bob_version = auth.open_session(limited_proxy.url, bob)
    listed = auth.list_tools(limited_proxy.url, bob, bob_session, bob_version, request_id="bob-list")
    assert listed.status_code == 200 and auth.rpc_message(listed, "bob-list")["result"]["tools"], auth.describe(listed)
    modern = {**dict(modern_headers("tools/call", "echo")), **bob}
    served = httpx.post(limited_proxy.url, content=modern_body("modern-2", "tools/call", {
        "name": "echo", "arguments": {"message": "modern"}}), headers=modern, timeout=auth.TIMEOUT_S, trust_env=False)
    assert served.status_code == 200, auth.describe(served)
    assert auth.rpc_message(served, "modern-2")["result"]["content"][0]["text"] == "modern", auth.describe(served)


PER_TOOL_TOML = """\
[runtime]
shards = 1

[listeners.main]
bind = "127.0.0.1:0"

[[listeners.main.routes]]
path = "/mcp"
upstream = "demo"

[listeners.main.routes.auth]
api_keys = {keys}

[listeners.main.routes.rate_limit]
per_tool = {{ "echo" = "1/h" }}

[upstreams.demo]
url = {upstream}
"""


def test_per_tool_bucket_limits_that_tool_only(shadowcat_bin: Path, demo_upstream: harness.Endpoint,
                                               limit_keys: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    keys_file, keys = limit_keys
    text = PER_TOOL_TOML.format(keys=toml_string(str(keys_file)), upstream=toml_string(demo_upstream.url))
    proxy = start_config_proxy(shadowcat_bin, tmp_path / "shadowcat.toml", text)
    try:
        alice = {"X-API-Key": keys["alice"]}
        # echo, add, add, add, echo: the second echo is refused, the adds are not.
        answered, ended = admitted(proxy.url, alice, ["echo", "add", "add", "add"], 6)
        session_id, version = auth.open_session(proxy.url, alice)
        added = auth.post(proxy.url, rawhttp.jsonrpc("tools/call", {"name": "add", "arguments": {"a": 1, "b": 2}},
                                                     "add-1"), alice, session_id=session_id, protocol_version=version)
        echoed = auth.post(proxy.url, rawhttp.jsonrpc("tools/call", {"name": "echo", "arguments": {"message": "x"}},
                                                      "echo-1"), alice, session_id=session_id, protocol_version=version)
        bob = admitted(proxy.url, auth.bearer(keys["bob"]), ["echo", "add"], 2)
    finally:
        proxy.stop()
    assert answered == ["initialize", "tools/list", "echo", "add", "add", "add"], answered
    assert_sdk_saw_429(ended, answered)
    assert added.status_code == 200 and "result" in auth.rpc_message(added, "add-1"), auth.describe(added)
    assert_rate_limited(echoed, "echo-1")
    assert bob == (["initialize", "tools/list", "echo", "add"], None), bob


# -- a legacy HTTP+SSE client over the limit ---------------------------------------------------


class _PostWriterErrors(logging.Handler):
    """Catches the SDK's `Error in post_writer` log record (mcp.client.sse) and its exception."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.errors: list[BaseException] = []
        self.seen = anyio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage() == "Error in post_writer" and record.exc_info and record.exc_info[1]:
            self.errors.append(record.exc_info[1])
            self.seen.set()


async def call_or_post_error(group: anyio.abc.TaskGroup, session: ClientSession, handler: _PostWriterErrors,
                             call: tuple[str, dict[str, Any]]) -> bool:
    """Starts the tool call `call` in `group` and waits (deadline) until it is answered or the SDK's
    post writer raised (a refused POST: the call is then never answered); whether it was answered."""
    answered = {"done": False}

    async def run() -> None:
        await session.call_tool(*call)
        answered["done"] = True
        handler.seen.set()  # answered after all: no need to wait for an error

    group.start_soon(run)
    with anyio.fail_after(CLIENT_TIMEOUT_S):
        await handler.seen.wait()
    return answered["done"]


async def legacy_session(sse_url: str, headers: dict[str, str], calls: int) -> dict[str, Any]:
    """`sse_client` with `headers`: initialize, tools/list, `calls` echo calls."""
    async with sse_client(sse_url, headers=headers, timeout=auth.TIMEOUT_S) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            tools = sorted(tool.name for tool in (await session.list_tools()).tools)
            echoes = [(await session.call_tool("echo", {"message": f"legacy {index}"})).content[0].text
                      for index in range(calls)]
    return {"tools": tools, "echo": echoes}


async def legacy_over_the_limit(sse_url: str, headers: dict[str, str], calls: int) -> dict[str, Any]:
    """`sse_client` with `headers`: initialize, tools/list, then `calls` echo calls each awaited;
    the one after them is started and its answer or the SDK's post writer error awaited
    (deadline), then a ping. What happened to each."""
    handler = _PostWriterErrors()
    logger = logging.getLogger("mcp.client.sse")
    logger.addHandler(handler)
    report: dict[str, Any] = {"echo": []}
    try:
        async with sse_client(sse_url, headers=headers, timeout=auth.TIMEOUT_S) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                report["tools"] = sorted(tool.name for tool in (await session.list_tools()).tools)
                for index in range(calls):
                    result = await session.call_tool("echo", {"message": f"legacy {index}"})
                    report["echo"].append(result.content[0].text)
                async with anyio.create_task_group() as group:
                    report["over_limit_answered"] = await call_or_post_error(
                        group, session, handler, ("echo", {"message": "over"}))
                    try:
                        with anyio.fail_after(CLIENT_TIMEOUT_S):
                            await session.send_ping()
                        report["ping"] = "answered"
                    except Exception as error:  # what the SDK does with a dead write stream
                        report["ping"] = type(error).__name__
                    group.cancel_scope.cancel()
    finally:
        logger.removeHandler(handler)
    report["post_errors"] = handler.errors
    return report


def test_legacy_sse_client_gets_the_429_on_its_post(shadowcat_bin: Path, demo_upstream: harness.Endpoint,
                                                    limit_keys: tuple[Path, dict[str, str]]) -> None:
    _, keys = limit_keys
    proxy = auth.start_auth_proxy(shadowcat_bin, demo_upstream.url, [
        "--legacy-sse", "--api-keys", str(limit_keys[0]), "--rate-limit", "1/h", "--rate-limit-burst", "4"])
    try:
        sse_url = f"http://{proxy.host_header}/sse"
        report = asyncio.run(asyncio.wait_for(
            legacy_over_the_limit(sse_url, {"X-API-Key": keys["alice"]}, 2), 2 * CLIENT_TIMEOUT_S))
        # bob's legacy session is not limited.
        bob = asyncio.run(asyncio.wait_for(legacy_session(sse_url, auth.bearer(keys["bob"]), 2), CLIENT_TIMEOUT_S))
    finally:
        proxy.stop()
    # initialize, tools/list, two calls: 4 tokens; the fifth request's POST is refused.
    assert report["echo"] == ["legacy 0", "legacy 1"], report
    errors = report["post_errors"]
    assert len(errors) == 1 and isinstance(errors[0], httpx.HTTPStatusError), report
    refused = errors[0].response
    assert_rate_limited(refused, json.loads(refused.request.content)["id"])
    # The SDK never answers the refused call and its write stream is closed for good.
    assert report["over_limit_answered"] is False, report
    assert report["ping"] in ("ClosedResourceError", "BrokenResourceError"), report
    assert "echo" in bob["tools"] and bob["echo"] == ["legacy 0", "legacy 1"], bob
