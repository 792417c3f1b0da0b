"""Credentials towards upstreams (issue 10, `[upstreams.NAME.oauth]`, `--upstream-oauth-*`) with a
real authorization server (oauth_server.mjs: npm oauth2-mock-server, `--client` for the proxy's
confidential client and its RFC 8693 /exchange extension) and the official Python SDK as the
client, through `shadowcat reverse` to an upstream that records every request's headers
(fixtures/recording_http_server.py):

- client credentials: the upstream sees `Authorization: Bearer <token>` whose signature, issuer,
  audience (`resource`), scope and client verify against the server's own keys; the token is
  refreshed before it expires (short `--ttl`: the recorder sees a new token, awaited by polling
  with a deadline);
- the authorization server down at start: 503 with Retry-After and -32016, nothing reaches the
  upstream; once the server is up the same requests pass;
- token exchange: each caller's token is exchanged; the upstream sees a token with the caller's
  `sub` and the proxy as `act`, different callers get different tokens; two clients of one user
  with a narrow and a broad token, their sessions running at once, each reach the upstream with
  the exchange of their own token (its scope); a refused exchange is 403 on the request that
  would have gone upstream;
- the client secret never appears in the proxy's output (debug logs) nor in `config check`.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import httpx
import jwt
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

import auth_support as auth
import harness
import oauth

CLIENT_ID = "shadowcat-proxy"
# Characters that must be form-urlencoded in HTTP Basic (RFC 6749 §2.3.1).
SECRET = "s3cr3t:+/ value-%s" % uuid.uuid4().hex
SECRET_ENV = "SHADOWCAT_TEST_UPSTREAM_SECRET"
# Lifetime of the tokens issued to the proxy: short, so refreshes happen within a test.
TTL_S = 3
UPSTREAM_SCOPE = "mcp:upstream"
EXCHANGE_AUDIENCE = "https://upstream.example/mcp"
# -32016: the proxy has no valid token for the upstream (src/mcp/jsonrpc.rs).
TOKEN_UNAVAILABLE = -32016
DEADLINE_S = 30.0


@pytest.fixture(scope="module")
def token_server() -> Iterator[oauth.OAuthServer]:
    """The authorization server with the proxy's confidential client and short-lived tokens."""
    yield from auth.serving(lambda: oauth.start_oauth_server("--client", f"{CLIENT_ID}:{SECRET}", "--ttl", str(TTL_S)))


def client_flags(token_url: str, *extra: str) -> list[str]:
    return ["--upstream-oauth-token-url", token_url, "--upstream-oauth-client-id", CLIENT_ID,
            "--upstream-oauth-client-secret-env", SECRET_ENV, *extra]


def start_proxy(shadowcat_bin: Path, upstream_url: str, flags: list[str], *,
                port: int | None = None) -> harness.Endpoint:
    """`shadowcat reverse` (debug logs) with the secret in its environment only; stop() it."""
    port = harness.reusable_port() if port is None else port
    argv = [str(shadowcat_bin), "reverse", "--bind", f"{harness.LOOPBACK_HOST}:{port}", "--upstream",
            upstream_url, "--shards", "1", "--log-level", "debug", *flags]
    process = harness.ManagedProcess("shadowcat-upstream-oauth", argv, env={**os.environ, SECRET_ENV: SECRET})
    try:
        urls = harness.wait_shadowcat_ready(process, ["proxy"])
    except BaseException:
        process.stop()
        raise
    return harness.Endpoint(url=urls["proxy"], process=process)


def output_of(endpoint: harness.Endpoint) -> str:
    return "\n".join(line for _, line in endpoint.process._lines)


def initialize_until(proxy_url: str, accept, headers: dict[str, str] | None = None) -> httpx.Response:
    """POSTs `initialize` until `accept(response)` holds (a condition the proxy reaches by itself,
    such as its first token arriving); fails at the deadline with the last answer."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        response = auth.initialize(proxy_url, headers)
        if accept(response):
            return response
        assert time.monotonic() < deadline, f"still {auth.describe(response)} after {DEADLINE_S}s"
        time.sleep(0.1)


def signing_keys(server: oauth.OAuthServer) -> jwt.PyJWKSet:
    document = httpx.get(server.jwks_uri, timeout=10.0, trust_env=False).json()
    return jwt.PyJWKSet.from_dict(document)


def verified(server: oauth.OAuthServer, token: str, audience: str | None, *, leeway_s: float = 0) -> dict[str, Any]:
    """The claims of `token` after checking its signature against the server's published keys,
    its issuer, audience and expiry (`leeway_s` for a token recorded a while ago)."""
    kid = jwt.get_unverified_header(token)["kid"]
    key = signing_keys(server)[kid]
    return jwt.decode(token, key.key, algorithms=[key.algorithm_name], audience=audience,
                      issuer=server.issuer, leeway=leeway_s)


def bearer_tokens(recorded: list[dict]) -> list[str]:
    """The bearer tokens of the recorded requests, in order, each request checked to carry one."""
    tokens = []
    for entry in recorded:
        value = entry["headers"].get("authorization", "")
        assert value.startswith("Bearer "), f"{entry['method']} {entry['path']} reached the upstream with {value!r}"
        tokens.append(value.removeprefix("Bearer "))
    return tokens


async def recorded_until(url: str, headers: dict[str, str], enough, *, everything: bool = False) -> list[dict]:
    """One SDK session that calls the recorder's `recorded_headers` until `enough(this session's
    requests)` holds (deadline); returns them (`everything`: every request the recorder saw)."""
    run = uuid.uuid4().hex
    client = httpx.AsyncClient(headers={**headers, auth.RUN_HEADER: run}, timeout=httpx.Timeout(auth.TIMEOUT_S),
                               trust_env=False)
    deadline = time.monotonic() + DEADLINE_S
    async with client, streamable_http_client(url, http_client=client) as (read, write, _):
        async with ClientSession(read, write) as session:
            await session.initialize()
            while True:
                recorded = json.loads((await session.call_tool("recorded_headers", {})).content[0].text)
                mine = [entry for entry in recorded if entry["headers"].get(auth.RUN_HEADER.lower()) == run]
                if enough(mine):
                    return recorded if everything else mine
                assert time.monotonic() < deadline, f"condition not met within {DEADLINE_S}s: {mine}"
                await asyncio.sleep(0.2)


# -- client credentials --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cc_proxy(shadowcat_bin: Path, recording_upstream: harness.Endpoint,
             token_server: oauth.OAuthServer) -> Iterator[harness.Endpoint]:
    flags = client_flags(token_server.token_endpoint, "--upstream-oauth-scope", UPSTREAM_SCOPE,
                         "--upstream-oauth-resource", recording_upstream.url)
    yield from auth.serving(lambda: start_proxy(shadowcat_bin, recording_upstream.url, flags))


def test_the_upstream_sees_a_token_of_the_authorization_server(
        cc_proxy: harness.Endpoint, recording_upstream: harness.Endpoint, token_server: oauth.OAuthServer) -> None:
    initialize_until(cc_proxy.url, lambda r: r.status_code == 200)
    seen = asyncio.run(auth.sdk_session_calls(cc_proxy.url, {}))
    assert seen["echo"] == "through auth", seen
    tokens = bearer_tokens(seen["recorded"])
    assert tokens, "the upstream recorded no request"
    for token in set(tokens):
        claims = verified(token_server, token, recording_upstream.url, leeway_s=TTL_S)
        assert claims["client_id"] == CLIENT_ID and claims["sub"] == CLIENT_ID, claims
        assert claims["scope"] == UPSTREAM_SCOPE, claims
        assert claims["exp"] - claims["iat"] == TTL_S, claims


def test_the_token_is_refreshed_before_it_expires(
        cc_proxy: harness.Endpoint, recording_upstream: harness.Endpoint, token_server: oauth.OAuthServer) -> None:
    initialize_until(cc_proxy.url, lambda r: r.status_code == 200)
    started = time.time()
    recorded = asyncio.run(recorded_until(cc_proxy.url, {}, lambda mine: len(set(bearer_tokens(mine))) >= 3))
    tokens = list(dict.fromkeys(bearer_tokens(recorded)))
    claims = [verified(token_server, token, recording_upstream.url, leeway_s=DEADLINE_S) for token in tokens]
    assert len({c["jti"] for c in claims}) == len(tokens), claims
    # Every request carried a token that was still valid when it was sent (refresh at 80 %).
    assert all(c["exp"] >= started - 1 for c in claims), claims
    assert "refuses" not in output_of(cc_proxy), output_of(cc_proxy)


def test_the_secret_and_tokens_stay_out_of_the_logs(cc_proxy: harness.Endpoint) -> None:
    initialize_until(cc_proxy.url, lambda r: r.status_code == 200)
    output = output_of(cc_proxy)
    assert "access token for the upstream fetched" in output, output
    assert SECRET not in output and SECRET.split(":")[1] not in output, "the client secret was logged"
    assert "Bearer " not in output and "Basic " not in output, "a credential header was logged"


def test_config_check_names_the_variable_never_the_secret(shadowcat_bin: Path, tmp_path: Path,
                                                          token_server: oauth.OAuthServer) -> None:
    path = tmp_path / "upstream-oauth.toml"
    path.write_text(
        "[upstreams.up]\nurl = \"http://127.0.0.1:9/mcp\"\n"
        f"[upstreams.up.oauth]\ntoken_url = \"{token_server.token_endpoint}\"\nclient_id = \"{CLIENT_ID}\"\n"
        f"client_secret_env = \"{SECRET_ENV}\"\nscopes = [\"{UPSTREAM_SCOPE}\"]\n")
    printed = config_check(shadowcat_bin, path, {**os.environ, SECRET_ENV: SECRET}, 0)
    assert f'client_secret_env = "{SECRET_ENV}"' in printed, printed
    assert SECRET not in printed and "Basic" not in printed, printed
    unset = {key: value for key, value in os.environ.items() if key != SECRET_ENV}
    refused = config_check(shadowcat_bin, path, unset, 2)
    assert SECRET_ENV in refused and "client_secret_env" in refused, refused


def config_check(shadowcat_bin: Path, path: Path, env: dict[str, str], code: int) -> str:
    """`shadowcat config check path`'s whole output, once it exited with `code`."""
    process = harness.ManagedProcess("shadowcat-config-check", [shadowcat_bin, "config", "check", path], env=env)
    try:
        assert process.popen.wait(timeout=DEADLINE_S) == code, process.output_tail()
        for reader in process._readers:
            reader.join(timeout=DEADLINE_S)
        return "\n".join(line for _, line in process._lines)
    finally:
        process.stop()


def test_an_authorization_server_down_at_start_gives_503_then_recovers(
        shadowcat_bin: Path, recording_upstream: harness.Endpoint) -> None:
    port = harness.reusable_port()
    proxy = start_proxy(shadowcat_bin, recording_upstream.url,
                        client_flags(f"http://{harness.LOOPBACK_HOST}:{port}/token"))
    server = None
    try:
        run = uuid.uuid4().hex
        refused = auth.initialize(proxy.url, {auth.RUN_HEADER: run})
        assert refused.status_code == 503, auth.describe(refused)
        assert refused.headers.get("retry-after"), auth.describe(refused)
        auth.assert_error_body(refused, TOKEN_UNAVAILABLE, "init-1")
        server = oauth.start_oauth_server("--client", f"{CLIENT_ID}:{SECRET}", "--ttl", "60", "--port", str(port))
        passed = initialize_until(proxy.url, lambda r: r.status_code == 200)
        assert auth.rpc_message(passed, "init-1").get("result"), auth.describe(passed)
        recorded = asyncio.run(recorded_until(proxy.url, {}, bool))
        for token in bearer_tokens(recorded):
            assert verified(server, token, None)["client_id"] == CLIENT_ID
        # The refused request never reached the upstream.
        everything = asyncio.run(recorded_until(proxy.url, {}, bool, everything=True))
        assert all(e["headers"].get(auth.RUN_HEADER.lower()) != run for e in everything)
        assert SECRET not in output_of(proxy)
    finally:
        proxy.stop()
        if server is not None:
            server.stop()


# -- token exchange ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def exchange_proxy(shadowcat_bin: Path, recording_upstream: harness.Endpoint,
                   token_server: oauth.OAuthServer) -> Iterator[harness.Endpoint]:
    flags = ["--auth-issuer", token_server.issuer,
             *client_flags(f"{token_server.issuer}/exchange", "--upstream-token-exchange",
                           "--upstream-oauth-audience", EXCHANGE_AUDIENCE)]
    yield from auth.serving(lambda: start_proxy(shadowcat_bin, recording_upstream.url, flags))


def test_each_callers_token_is_exchanged_for_the_upstream(
        exchange_proxy: harness.Endpoint, token_server: oauth.OAuthServer) -> None:
    subjects = {}
    for user in ("alice", "bob"):
        caller_token = token_server.token(exchange_proxy.url, sub=user)
        seen = asyncio.run(auth.sdk_session_calls(exchange_proxy.url, auth.bearer(caller_token)))
        assert seen["echo"] == "through auth", seen
        tokens = set(bearer_tokens(seen["recorded"]))
        assert caller_token not in tokens, "the caller's own token reached the upstream"
        for token in tokens:
            claims = verified(token_server, token, EXCHANGE_AUDIENCE)
            assert claims["sub"] == user and claims["act"] == {"sub": CLIENT_ID}, claims
        subjects[user] = tokens
    assert not subjects["alice"] & subjects["bob"], subjects
    output = output_of(exchange_proxy)
    assert SECRET not in output and "Bearer " not in output, output


def test_a_refused_exchange_is_403_and_nothing_reaches_the_upstream(
        exchange_proxy: harness.Endpoint, token_server: oauth.OAuthServer) -> None:
    # The launcher refuses to exchange a subject `no-exchange` (invalid_grant).
    run = uuid.uuid4().hex
    caller_token = token_server.token(exchange_proxy.url, sub="no-exchange")
    response = auth.initialize(exchange_proxy.url, {**auth.bearer(caller_token), auth.RUN_HEADER: run})
    assert response.status_code == 403, auth.describe(response)
    # Refused when the request was about to go upstream: its body was read, its id is echoed.
    auth.assert_error_body(response, auth.FORBIDDEN, "init-1")
    allowed = token_server.token(exchange_proxy.url, sub="dave")
    everything = asyncio.run(recorded_until(exchange_proxy.url, auth.bearer(allowed), bool, everything=True))
    assert all(e["headers"].get(auth.RUN_HEADER.lower()) != run for e in everything)


def test_two_tokens_of_one_user_each_go_upstream_as_their_own_exchange(
        exchange_proxy: harness.Endpoint, token_server: oauth.OAuthServer) -> None:
    # One user, two clients at once: a narrow token and a broad one. The server's exchange keeps
    # the subject token's scope, so each upstream request shows whose token it was exchanged for.
    scopes = {"narrow": "mcp:tools", "broad": "mcp:tools mcp:admin"}
    tokens = {name: token_server.token(exchange_proxy.url, sub="carol", scope=scope)
              for name, scope in scopes.items()}

    async def both() -> list[dict[str, Any]]:
        return await asyncio.gather(*(auth.sdk_session_calls(exchange_proxy.url, auth.bearer(tokens[name]))
                                      for name in scopes))

    for name, seen in zip(scopes, asyncio.run(both())):
        upstream_tokens = bearer_tokens(seen["recorded"])
        assert upstream_tokens, seen
        for token in upstream_tokens:
            claims = verified(token_server, token, EXCHANGE_AUDIENCE)
            assert claims["sub"] == "carol" and claims["scope"] == scopes[name], (name, claims)
