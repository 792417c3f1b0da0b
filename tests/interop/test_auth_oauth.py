"""OAuth 2.1 resource-server checks of `shadowcat reverse --auth-issuer` (issue 10) with a real
authorization server (oauth_server.mjs, npm oauth2-mock-server) and real clients, in front of an
upstream that records every request's headers (fixtures/recording_http_server.py):

- the Python SDK with a bearer token; its OAuth client provider doing the whole discovery from the
  proxy's 401 (protected resource metadata -> authorization server metadata -> dynamic client
  registration or pre-registered client -> authorization code + PKCE -> token with `resource`);
  the TypeScript SDK with a bearer token;
- every hostile token (oauth.py) -> 401 `error="invalid_token"`; no token -> 401 with
  `resource_metadata`; a missing scope -> 403 `insufficient_scope`; a token in the query -> 400;
  JWKS unreachable -> 503; protected resource metadata at both well-known paths;
- neither `Authorization` nor `X-API-Key` ever reaches the upstream; a session used with another
  principal's token -> 404 (-32001);
- the legacy HTTP+SSE transport (`--legacy-sse`: GET /sse, POST /messages) under the same rules.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Iterator
from urllib.parse import parse_qs, urlencode, urlparse

import httpx
import pytest
from mcp import ClientSession
from mcp.client.auth import OAuthClientProvider
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken
from pydantic import AnyUrl

import auth_support as auth
import harness
import oauth
import rawhttp

SCOPE = "mcp:tools"
# The proxy refetches the JWKS for an unknown `kid` at most this often (src/auth/keys.rs MIN_REFRESH).
ROTATION_REFRESH_S = 10.0
CALLBACK = "http://127.0.0.1:1/callback"


@pytest.fixture(scope="module")
def proxy(shadowcat_bin: Path, recording_upstream: harness.Endpoint,
          oauth_server: oauth.OAuthServer) -> Iterator[harness.Endpoint]:
    """OAuth on the route, no scope required; JWKS discovered from the issuer."""
    yield from auth.serving(lambda: auth.start_auth_proxy(
        shadowcat_bin, recording_upstream.url, ["--auth-issuer", oauth_server.issuer]))


@pytest.fixture(scope="module")
def scoped_proxy(shadowcat_bin: Path, recording_upstream: harness.Endpoint,
                 oauth_server: oauth.OAuthServer) -> Iterator[harness.Endpoint]:
    """OAuth on the route and every token must carry scope `mcp:tools`."""
    yield from auth.serving(lambda: auth.start_auth_proxy(
        shadowcat_bin, recording_upstream.url, ["--auth-issuer", oauth_server.issuer, "--auth-scope", SCOPE]))


# -- real clients ------------------------------------------------------------------------------


def test_python_sdk_with_a_bearer_token(proxy: harness.Endpoint, oauth_server: oauth.OAuthServer) -> None:
    token = oauth_server.token(proxy.url, scope=SCOPE, sub="alice")
    seen = asyncio.run(auth.sdk_session_calls(proxy.url, auth.bearer(token)))
    assert seen["server"] == "shadowcat-recording-upstream", seen
    assert {"echo", "recorded_headers"} <= set(seen["tools"]), seen
    assert seen["echo"] == "through auth", seen
    assert seen["recorded"], "the upstream recorded no request"
    assert auth.credential_leaks(seen["recorded"]) == []


def test_python_sdk_with_an_es256_token(proxy: harness.Endpoint, oauth_server: oauth.OAuthServer) -> None:
    token = oauth_server.mint(oauth_server.claims(proxy.url, sub="es-user"), kid="es-1")
    seen = asyncio.run(auth.sdk_session_calls(proxy.url, auth.bearer(token)))
    assert seen["echo"] == "through auth", seen


def test_typescript_sdk_with_a_bearer_token(proxy: harness.Endpoint, oauth_server: oauth.OAuthServer) -> None:
    if not auth.TS_SDK.is_dir():
        pytest.fail(f"TypeScript SDK missing at {auth.TS_SDK}: run `bash scripts/setup.sh`", pytrace=False)
    token = oauth_server.token(proxy.url, scope=SCOPE, sub="ts-user")
    report = auth.ts_bearer_client(proxy.url, auth.bearer(token))
    assert report.get("echo") == "typescript through auth", report
    assert "echo" in report["tools"], report
    refused = auth.ts_bearer_client(proxy.url, auth.bearer(oauth_server.hostile_tokens(proxy.url)["expired"]))
    assert refused.get("code") == 401 and str(auth.UNAUTHORIZED) in refused.get("error", ""), refused


class MemoryStorage:
    """The SDK's TokenStorage in memory; `client_info` given up front skips registration."""

    def __init__(self, client_info: OAuthClientInformationFull | None = None) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info = client_info

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


class BrowserlessLogin:
    """The provider's redirect and callback handlers without a browser: the authorize URL is
    fetched (no redirects followed; the mock server logs in `login_hint` at once) and the code
    and state of its redirect are handed to the callback."""

    def __init__(self, login_hint: str) -> None:
        self.login_hint = login_hint
        self.authorize_urls: list[str] = []
        self._answer: tuple[str, str | None] | None = None

    async def redirect(self, url: str) -> None:
        self.authorize_urls.append(url)
        async with httpx.AsyncClient(trust_env=False, follow_redirects=False, timeout=auth.TIMEOUT_S) as client:
            response = await client.get(f"{url}&{urlencode({'login_hint': self.login_hint})}")
        if response.status_code != 302:
            raise RuntimeError(f"authorize answered {response.status_code}: {response.text}")
        query = parse_qs(urlparse(response.headers["location"]).query)
        self._answer = (query["code"][0], query.get("state", [None])[0])

    async def callback(self) -> tuple[str, str | None]:
        if self._answer is None:
            raise RuntimeError("callback before the authorization redirect")
        return self._answer


async def _sdk_with_oauth_provider(url: str, storage: MemoryStorage, login: BrowserlessLogin) -> list[str]:
    provider = OAuthClientProvider(
        server_url=url,
        client_metadata=OAuthClientMetadata(redirect_uris=[AnyUrl(CALLBACK)], client_name="shadowcat-interop",
                                            grant_types=["authorization_code", "refresh_token"],
                                            response_types=["code"], token_endpoint_auth_method="none"),
        storage=storage, redirect_handler=login.redirect, callback_handler=login.callback, timeout=auth.TIMEOUT_S)
    client = httpx.AsyncClient(auth=provider, timeout=httpx.Timeout(auth.TIMEOUT_S), trust_env=False)
    async with client, streamable_http_client(url, http_client=client) as (read, write, _):
        async with ClientSession(read, write) as session:
            await session.initialize()
            tools = sorted(tool.name for tool in (await session.list_tools()).tools)
            echoed = (await session.call_tool("echo", {"message": "oauth provider"})).content[0].text
            assert echoed == "oauth provider"
    return tools


def _assert_flow_went_through_discovery(proxy_url: str, storage: MemoryStorage, login: BrowserlessLogin,
                                        oauth_server: oauth.OAuthServer, sub: str) -> None:
    assert len(login.authorize_urls) == 1, login.authorize_urls
    authorize = urlparse(login.authorize_urls[0])
    query = parse_qs(authorize.query)
    assert f"{authorize.scheme}://{authorize.netloc}" == oauth_server.issuer, login.authorize_urls
    assert query["resource"] == [proxy_url] and query["code_challenge_method"] == ["S256"], query
    assert query["scope"] == [SCOPE], f"the scope of the proxy's challenge was not used: {query}"
    assert storage.tokens is not None
    claims = oauth.unverified_claims(storage.tokens.access_token)
    assert (claims["aud"], claims["sub"], claims["scope"]) == (proxy_url, sub, SCOPE), claims


def test_python_sdk_oauth_provider_discovers_registers_and_calls(scoped_proxy: harness.Endpoint,
                                                                 oauth_server: oauth.OAuthServer) -> None:
    """401 -> PRM (from resource_metadata) -> RFC 8414 metadata -> /register -> code + PKCE -> token."""
    storage, login = MemoryStorage(), BrowserlessLogin("provider-user")
    tools = asyncio.run(_sdk_with_oauth_provider(scoped_proxy.url, storage, login))
    assert "echo" in tools, tools
    assert storage.client_info is not None and storage.client_info.client_id.startswith("registered-"), \
        storage.client_info
    _assert_flow_went_through_discovery(scoped_proxy.url, storage, login, oauth_server, "provider-user")


def test_python_sdk_oauth_provider_with_a_preregistered_client_and_openid_discovery(
        shadowcat_bin: Path, recording_upstream: harness.Endpoint) -> None:
    """An authorization server with only OpenID discovery and no registration: the SDK gets its
    client from storage, and the proxy finds the JWKS through /.well-known/openid-configuration."""
    server = oauth.start_oauth_server("--no-rfc8414", "--no-register")
    try:
        proxy = auth.start_auth_proxy(shadowcat_bin, recording_upstream.url,
                                      ["--auth-issuer", server.issuer, "--auth-scope", SCOPE])
        try:
            client = OAuthClientInformationFull(client_id="preregistered", redirect_uris=[AnyUrl(CALLBACK)],
                                                token_endpoint_auth_method="none")
            storage, login = MemoryStorage(client), BrowserlessLogin("preregistered-user")
            tools = asyncio.run(_sdk_with_oauth_provider(proxy.url, storage, login))
            assert "echo" in tools, tools
            assert parse_qs(urlparse(login.authorize_urls[0]).query)["client_id"] == ["preregistered"]
            _assert_flow_went_through_discovery(proxy.url, storage, login, server, "preregistered-user")
        finally:
            proxy.stop()
    finally:
        server.stop()


# -- refusals ------------------------------------------------------------------------------------


def test_no_token_is_a_401_pointing_at_the_metadata(proxy: harness.Endpoint) -> None:
    auth.assert_unauthorized(auth.initialize(proxy.url), proxy.url, invalid_token=False)
    for method in ("GET", "DELETE"):
        response = httpx.request(method, proxy.url, headers={"Accept": "text/event-stream",
                                                             "Mcp-Session-Id": "no-such-session"},
                                 timeout=auth.TIMEOUT_S, trust_env=False)
        auth.assert_unauthorized(response, proxy.url, invalid_token=False)


@pytest.mark.parametrize("name", sorted(oauth.OAuthServer.HOSTILE))
def test_hostile_token_is_a_401_invalid_token(name: str, proxy: harness.Endpoint,
                                              oauth_server: oauth.OAuthServer) -> None:
    tokens = oauth_server.hostile_tokens(proxy.url)
    response = auth.initialize(proxy.url, auth.bearer(tokens[name]))
    auth.assert_unauthorized(response, proxy.url, invalid_token=True)
    control = auth.initialize(proxy.url, auth.bearer(oauth_server.mint(oauth_server.claims(proxy.url))))
    assert control.status_code == 200, f"the same token without the defect: {auth.describe(control)}"


def test_hostile_tokens_on_an_open_session_are_refused(proxy: harness.Endpoint,
                                                       oauth_server: oauth.OAuthServer) -> None:
    """A session opened with a good token: each hostile token on it is a 401 too (not only on initialize)."""
    claims = oauth_server.claims(proxy.url, sub="session-owner")
    good = auth.bearer(oauth_server.mint(claims))
    session_id, version = auth.open_session(proxy.url, good)
    for name, token in oauth_server.hostile_tokens(proxy.url).items():
        response = auth.list_tools(proxy.url, auth.bearer(token), session_id, version, request_id=name)
        assert response.status_code == 401, f"{name}: {auth.describe(response)}"
        assert auth.challenge(response).get("error") == "invalid_token", f"{name}: {auth.describe(response)}"
    response = auth.list_tools(proxy.url, good, session_id, version)
    assert response.status_code == 200, auth.describe(response)


def test_a_rotated_in_signing_key_is_found_by_refreshing_the_jwks(shadowcat_bin: Path,
                                                                   recording_upstream: harness.Endpoint) -> None:
    """The proxy has the JWKS cached; the server publishes a new key: a token signed with it is
    accepted (the unknown `kid` makes the proxy fetch the JWKS again, at most once per
    ROTATION_REFRESH_S, so polled until then), one by an unpublished key still is not. Own
    authorization server: the rotation must not leak into other tests."""
    server = oauth.start_oauth_server()
    try:
        proxy = auth.start_auth_proxy(shadowcat_bin, recording_upstream.url, ["--auth-issuer", server.issuer])
        try:
            warm = auth.initialize(proxy.url, auth.bearer(server.mint(server.claims(proxy.url))))
            assert warm.status_code == 200, auth.describe(warm)
            server.rotate("rs-rotated")
            token = server.mint(server.claims(proxy.url), kid="rs-rotated")
            deadline = time.monotonic() + ROTATION_REFRESH_S + 10.0
            while (rotated := auth.initialize(proxy.url, auth.bearer(token))).status_code != 200:
                assert rotated.status_code == 401, auth.describe(rotated)
                if time.monotonic() > deadline:
                    pytest.fail(f"token by the rotated-in key still refused: {auth.describe(rotated)}", pytrace=False)
                time.sleep(0.2)
            stranger = auth.initialize(proxy.url, auth.bearer(server.hostile_tokens(proxy.url)["unknown_kid"]))
            auth.assert_unauthorized(stranger, proxy.url, invalid_token=True)
        finally:
            proxy.stop()
    finally:
        server.stop()


def test_clock_leeway_and_audience_forms(proxy: harness.Endpoint, oauth_server: oauth.OAuthServer) -> None:
    now = int(time.time())
    accepted = {
        "expired 5 s ago (within the 30 s leeway)": oauth_server.claims(proxy.url, exp=now - 5),
        "nbf 5 s ahead (within the leeway)": oauth_server.claims(proxy.url, nbf=now + 5),
        "aud as an array holding the resource": oauth_server.claims(proxy.url, aud=["other", proxy.url]),
        "issued by /token": None,
    }
    for what, claims in accepted.items():
        token = oauth_server.token(proxy.url) if claims is None else oauth_server.mint(claims)
        response = auth.initialize(proxy.url, auth.bearer(token))
        assert response.status_code == 200, f"{what}: {auth.describe(response)}"
    refused = {
        "expired 120 s ago": oauth_server.claims(proxy.url, exp=now - 120),
        "no exp": oauth_server.claims(proxy.url, exp=None),
        "aud is the proxy's origin only": oauth_server.claims(proxy.url, aud=auth.origin(proxy.url)),
        "aud of another route": oauth_server.claims(proxy.url, aud=proxy.url + "-other"),
        "token for no resource (from /token)": None,
    }
    for what, claims in refused.items():
        token = oauth_server.token(None) if claims is None else oauth_server.mint(claims)
        response = auth.initialize(proxy.url, auth.bearer(token))
        assert response.status_code == 401, f"{what}: {auth.describe(response)}"


def test_malformed_authorization_headers_are_401(proxy: harness.Endpoint, oauth_server: oauth.OAuthServer) -> None:
    token = oauth_server.token(proxy.url)
    for value in (f"Basic {token}", "Bearer", f"Bearer {token}x", "Bearer a.b.c", f"Token {token}",
                  f"Bearer {token} {token}"):
        response = auth.initialize(proxy.url, {"Authorization": value})
        assert response.status_code == 401, f"{value[:20]!r}: {auth.describe(response)}"
        auth.assert_error_body(response, auth.UNAUTHORIZED)


def test_missing_scope_is_a_403_insufficient_scope(scoped_proxy: harness.Endpoint,
                                                   oauth_server: oauth.OAuthServer) -> None:
    url = scoped_proxy.url
    auth.assert_unauthorized(auth.initialize(url), url, invalid_token=False, scope=SCOPE)
    for what, token in (("scope of others", oauth_server.token(url, scope="mcp:admin other")),
                        ("no scope claim", oauth_server.token(url)),
                        ("a scope sharing a prefix", oauth_server.token(url, scope="mcp:tools-extra"))):
        response = auth.initialize(url, auth.bearer(token))
        assert response.status_code == 403, f"{what}: {auth.describe(response)}"
        params = auth.challenge(response)
        assert params.get("error") == "insufficient_scope" and params.get("scope") == SCOPE, auth.describe(response)
        assert params.get("resource_metadata") == auth.prm_url(url), auth.describe(response)
        auth.assert_error_body(response, auth.FORBIDDEN)
    for what, token in (("scope among others", oauth_server.token(url, scope=f"other {SCOPE}")),
                        ("scp array", oauth_server.mint(oauth_server.claims(url, scope=None, scp=["x", SCOPE])))):
        response = auth.initialize(url, auth.bearer(token))
        assert response.status_code == 200, f"{what}: {auth.describe(response)}"
    # A bad token is a 401, not a 403, even without the scope.
    response = auth.initialize(url, auth.bearer(oauth_server.hostile_tokens(url, scope=None)["expired"]))
    auth.assert_unauthorized(response, url, invalid_token=True)


def test_invalid_token_challenge_on_a_scoped_route_names_the_scope(scoped_proxy: harness.Endpoint,
                                                                   oauth_server: oauth.OAuthServer) -> None:
    """The contract: a bad token's challenge is the no-credential one (with `scope` when the route
    needs some) plus `error`; RFC 6750 §3 allows `scope` beside `error="invalid_token"`."""
    url = scoped_proxy.url
    response = auth.initialize(url, auth.bearer(oauth_server.hostile_tokens(url)["expired"]))
    auth.assert_unauthorized(response, url, invalid_token=True, scope=SCOPE)


def test_token_in_the_query_is_a_400(proxy: harness.Endpoint, oauth_server: oauth.OAuthServer) -> None:
    token = oauth_server.token(proxy.url)
    for headers in ({}, auth.bearer(token)):
        response = auth.post(f"{proxy.url}?{urlencode({'access_token': token})}",
                             rawhttp.initialize_body("q-1"), headers)
        assert response.status_code == 400, auth.describe(response)
        body = response.json()
        assert body.get("error", {}).get("code") == auth.INVALID_REQUEST, auth.describe(response)


def test_protected_resource_metadata_at_both_well_known_paths(proxy: harness.Endpoint,
                                                              scoped_proxy: harness.Endpoint,
                                                              oauth_server: oauth.OAuthServer) -> None:
    for endpoint, scopes in ((proxy, None), (scoped_proxy, [SCOPE])):
        for url in (f"{auth.origin(endpoint.url)}/.well-known/oauth-protected-resource", auth.prm_url(endpoint.url)):
            response = httpx.get(url, timeout=auth.TIMEOUT_S, trust_env=False)
            assert response.status_code == 200, auth.describe(response)
            assert response.headers["content-type"].startswith("application/json"), auth.describe(response)
            document = response.json()
            assert document["resource"] == endpoint.url, document
            assert document["authorization_servers"] == [oauth_server.issuer], document
            assert document["bearer_methods_supported"] == ["header"], document
            if scopes is not None:
                assert document["scopes_supported"] == scopes, document


def test_jwks_unreachable_is_a_503(shadowcat_bin: Path, recording_upstream: harness.Endpoint,
                                   oauth_server: oauth.OAuthServer) -> None:
    dead_jwks = f"http://{harness.LOOPBACK_HOST}:{harness.dead_port()}/jwks"
    proxy = auth.start_auth_proxy(shadowcat_bin, recording_upstream.url,
                                  ["--auth-issuer", oauth_server.issuer, "--auth-jwks", dead_jwks])
    try:
        response = auth.initialize(proxy.url, auth.bearer(oauth_server.token(proxy.url)))
        assert response.status_code == 503, auth.describe(response)
        auth.assert_error_body(response, auth.AUTH_UNAVAILABLE)
    finally:
        proxy.stop()


def test_explicit_audience(shadowcat_bin: Path, recording_upstream: harness.Endpoint,
                           oauth_server: oauth.OAuthServer) -> None:
    audience = "https://mcp.example.test/api"
    proxy = auth.start_auth_proxy(shadowcat_bin, recording_upstream.url,
                                  ["--auth-issuer", oauth_server.issuer, "--auth-audience", audience])
    try:
        accepted = auth.initialize(proxy.url, auth.bearer(oauth_server.token(audience)))
        assert accepted.status_code == 200, auth.describe(accepted)
        refused = auth.initialize(proxy.url, auth.bearer(oauth_server.token(proxy.url)))
        assert refused.status_code == 401, auth.describe(refused)
    finally:
        proxy.stop()


def test_default_audience_on_an_ephemeral_port_is_the_bound_url(shadowcat_bin: Path,
                                                                 recording_upstream: harness.Endpoint,
                                                                 oauth_server: oauth.OAuthServer) -> None:
    """`--bind 127.0.0.1:0`: the resource URL (PRM, default audience) names the port actually bound."""
    proxy = auth.start_auth_proxy(shadowcat_bin, recording_upstream.url, ["--auth-issuer", oauth_server.issuer],
                                  port=0)
    try:
        document = httpx.get(auth.prm_url(proxy.url), timeout=auth.TIMEOUT_S, trust_env=False).json()
        assert document["resource"] == proxy.url, document
        response = auth.initialize(proxy.url, auth.bearer(oauth_server.token(proxy.url)))
        assert response.status_code == 200, auth.describe(response)
    finally:
        proxy.stop()


# -- what the upstream sees, whose session it is ------------------------------------------------


def test_credentials_never_reach_the_upstream(proxy: harness.Endpoint, oauth_server: oauth.OAuthServer) -> None:
    """A whole SDK session with a bearer token: the recording upstream's log of every request it got
    (in this module) has neither credential header. (X-API-Key: test_auth_api_keys.py.)"""
    headers = auth.bearer(oauth_server.token(proxy.url, sub="leak-check"))
    seen = asyncio.run(auth.sdk_session_calls(proxy.url, headers))
    assert any(entry["method"] == "POST" for entry in seen["recorded"]), seen["recorded"]
    assert auth.credential_leaks(seen["recorded"]) == []


def test_session_of_another_principal_is_a_404(proxy: harness.Endpoint, oauth_server: oauth.OAuthServer) -> None:
    alice = auth.bearer(oauth_server.token(proxy.url, sub="alice"))
    bob = auth.bearer(oauth_server.token(proxy.url, sub="bob"))
    alice_again = auth.bearer(oauth_server.token(proxy.url, sub="alice", client_id="alice-other-client"))
    session_id, version = auth.open_session(proxy.url, alice)
    hijack = auth.list_tools(proxy.url, bob, session_id, version, request_id="hijack-1")
    assert hijack.status_code == 404, auth.describe(hijack)
    body = hijack.json()
    assert body.get("error", {}).get("code") == auth.SESSION_NOT_FOUND, auth.describe(hijack)
    for method in ("GET", "DELETE"):
        response = httpx.request(method, proxy.url, headers={**bob, "Accept": "text/event-stream",
                                                             "Mcp-Session-Id": session_id,
                                                             "MCP-Protocol-Version": version},
                                 timeout=auth.TIMEOUT_S, trust_env=False)
        assert response.status_code == 404, f"{method} by bob: {auth.describe(response)}"
    # Still alice's, with a fresh token for the same subject.
    owned = auth.list_tools(proxy.url, alice_again, session_id, version, request_id="owner-1")
    assert owned.status_code == 200, auth.describe(owned)
    assert "tools" in auth.rpc_message(owned, "owner-1")["result"]
    # Without any token the session is not reachable either.
    anonymous = auth.list_tools(proxy.url, {}, session_id, version, request_id="anon-1")
    assert anonymous.status_code == 401, auth.describe(anonymous)


# -- the legacy HTTP+SSE transport (2024-11-05) on the same route ---------------------------------


async def _legacy_sdk_calls(sse_url: str, headers: dict[str, str]) -> tuple[str, list[dict]]:
    async with sse_client(sse_url, headers=headers, timeout=auth.TIMEOUT_S) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            echoed = (await session.call_tool("echo", {"message": "legacy through auth"})).content[0].text
            recorded = json.loads((await session.call_tool("recorded_headers", {})).content[0].text)
    return echoed, recorded


def test_legacy_sse_transport_needs_the_token_too(shadowcat_bin: Path, recording_upstream: harness.Endpoint,
                                                  oauth_server: oauth.OAuthServer) -> None:
    proxy = auth.start_auth_proxy(shadowcat_bin, recording_upstream.url, ["--auth-issuer", oauth_server.issuer],
                                  extra=["--legacy-sse"])
    try:
        sse_url = f"{auth.origin(proxy.url)}/sse"
        with httpx.Client(trust_env=False, timeout=auth.TIMEOUT_S) as client:
            for headers, invalid in (({}, False), (auth.bearer(oauth_server.hostile_tokens(proxy.url)["expired"]), True)):
                with client.stream("GET", sse_url, headers={**headers, "Accept": "text/event-stream"}) as stream:
                    assert stream.status_code == 401, f"GET /sse with {list(headers)}: {stream.status_code}"
                    stream.read()
                    auth.assert_unauthorized(stream, proxy.url, invalid_token=invalid)
                posted = client.post(f"{auth.origin(proxy.url)}/messages?sessionId=0123456789abcdef",
                                     content=rawhttp.initialize_body("legacy-1"),
                                     headers={**headers, "Content-Type": "application/json"})
                auth.assert_unauthorized(posted, proxy.url, invalid_token=invalid)

        alice = auth.bearer(oauth_server.token(proxy.url, sub="alice"))
        echoed, recorded = asyncio.run(_legacy_sdk_calls(sse_url, alice))
        assert echoed == "legacy through auth"
        assert auth.credential_leaks(recorded) == []

        # Another principal's POST to alice's stream: 404, like an unknown session.
        bob = auth.bearer(oauth_server.token(proxy.url, sub="bob"))
        with httpx.Client(trust_env=False, timeout=auth.TIMEOUT_S) as client:
            with client.stream("GET", sse_url, headers={**alice, "Accept": "text/event-stream"}) as stream:
                assert stream.status_code == 200, stream.status_code
                endpoint = None
                event = None
                # Held in a name: a generator dropped by `break` is closed, and closing it closes
                # the stream, which ends the legacy session.
                lines = stream.iter_lines()
                for line in lines:
                    if line.startswith("event:"):
                        event = line.split(":", 1)[1].strip()
                    elif line.startswith("data:") and event == "endpoint":
                        endpoint = line.split(":", 1)[1].strip()
                        break
                assert endpoint, "no endpoint event"
                target = endpoint if endpoint.startswith("http") else auth.origin(proxy.url) + endpoint
                hijack = client.post(target, content=rawhttp.initialize_body("hijack-1"),
                                     headers={**bob, "Content-Type": "application/json"})
                assert hijack.status_code == 404, auth.describe(hijack)
                owned = client.post(target, content=rawhttp.initialize_body("owner-1"),
                                    headers={**alice, "Content-Type": "application/json"})
                assert owned.status_code == 202, auth.describe(owned)
    finally:
        proxy.stop()


# -- configuration: a TOML route with an `auth` table, `shadowcat demo` ---------------------------

ROUTES_TOML = """\
[listeners.main]
bind = "{bind}"
public_url = "{public_url}"

[[listeners.main.routes]]
path = "/mcp"
upstream = "up"

[listeners.main.routes.auth]
issuer = "{issuer}"
scopes = ["{scope}"]

[[listeners.main.routes]]
path = "/open"
upstream = "up"

[upstreams.up]
url = "{url}"
"""


def test_toml_route_auth_table_and_public_url(shadowcat_bin: Path, recording_upstream: harness.Endpoint,
                                             oauth_server: oauth.OAuthServer, tmp_path: Path) -> None:
    """The audience and the metadata URLs come from the listener's public_url; the other route is open."""
    public = "https://mcp.example.test"
    config = tmp_path / "shadowcat.toml"
    config.write_text(ROUTES_TOML.format(bind=f"{harness.LOOPBACK_HOST}:0", public_url=public,
                                         issuer=oauth_server.issuer, scope=SCOPE, url=recording_upstream.url))
    process = harness.ManagedProcess("shadowcat-run", [shadowcat_bin, "run", "--config", config])
    try:
        urls = harness.wait_shadowcat_ready(process, ["proxy"])
        base = urls["proxy"].rsplit("/", 1)[0]
        refused = auth.initialize(f"{base}/mcp")
        assert refused.status_code == 401, auth.describe(refused)
        params = auth.challenge(refused)
        assert params.get("resource_metadata") == f"{public}/.well-known/oauth-protected-resource/mcp", params
        assert params.get("scope") == SCOPE, params
        document = httpx.get(f"{base}/.well-known/oauth-protected-resource/mcp", timeout=auth.TIMEOUT_S,
                             trust_env=False).json()
        assert document["resource"] == f"{public}/mcp", document
        assert document["authorization_servers"] == [oauth_server.issuer], document
        token = oauth_server.token(f"{public}/mcp", scope=SCOPE)
        seen = asyncio.run(auth.sdk_session_calls(f"{base}/mcp", auth.bearer(token)))
        assert seen["echo"] == "through auth", seen
        wrong_audience = auth.initialize(f"{base}/mcp", auth.bearer(oauth_server.token(f"{base}/mcp", scope=SCOPE)))
        assert wrong_audience.status_code == 401, auth.describe(wrong_audience)
        open_route = auth.initialize(f"{base}/open")
        assert open_route.status_code == 200, auth.describe(open_route)
    finally:
        process.stop()


def test_demo_command_takes_the_auth_flags(shadowcat_bin: Path, oauth_server: oauth.OAuthServer) -> None:
    port = harness.reusable_port()
    process = harness.ManagedProcess("shadowcat-demo", [
        shadowcat_bin, "demo", "--bind", f"{harness.LOOPBACK_HOST}:{port}", "--shards", "1",
        "--auth-issuer", oauth_server.issuer])
    try:
        url = harness.wait_shadowcat_ready(process, ["proxy"])["proxy"]
        auth.assert_unauthorized(auth.initialize(url), url, invalid_token=False)
        response = auth.initialize(url, auth.bearer(oauth_server.token(url)))
        assert response.status_code == 200, auth.describe(response)
    finally:
        process.stop()
