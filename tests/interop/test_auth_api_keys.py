"""API keys on a route (`shadowcat reverse --api-keys FILE`, issue 10): a TOML file of principals
and the SHA-256 of their keys; a key works as `Authorization: Bearer KEY` and as `X-API-Key: KEY`
(Python and TypeScript SDKs), a wrong key is a 401, a key without a required scope a 403, another
key's session a 404, neither header reaches the upstream (fixtures/recording_http_server.py), and
SIGHUP reloads the file: the new key is accepted and the removed one refused (awaited with a
deadline). With OAuth on the same route, a JWT-shaped bearer value is a token and anything else a key.
A stdio upstream (`--upstream-cmd`) route gets the same checks.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest

import auth_support as auth
import harness
import oauth

SCOPE = "mcp:tools"
RELOAD_DEADLINE_S = 15.0


@pytest.fixture(scope="module")
def keys() -> dict[str, str]:
    return {"alice": auth.new_key(), "bob": auth.new_key()}


@pytest.fixture(scope="module")
def keys_file(tmp_path_factory: pytest.TempPathFactory, keys: dict[str, str]) -> Path:
    path = tmp_path_factory.mktemp("api-keys") / "keys.toml"
    auth.write_keys(path, {"alice": (keys["alice"], [SCOPE]), "bob": (keys["bob"], None)})
    return path


@pytest.fixture(scope="module")
def proxy(shadowcat_bin: Path, recording_upstream: harness.Endpoint, keys_file: Path) -> Iterator[harness.Endpoint]:
    yield from auth.serving(lambda: auth.start_auth_proxy(
        shadowcat_bin, recording_upstream.url, ["--api-keys", str(keys_file)]))


def test_python_sdk_with_x_api_key_and_with_bearer(proxy: harness.Endpoint, keys: dict[str, str]) -> None:
    for headers in ({"X-API-Key": keys["alice"]}, auth.bearer(keys["bob"])):
        seen = asyncio.run(auth.sdk_session_calls(proxy.url, headers))
        assert seen["echo"] == "through auth" and "echo" in seen["tools"], seen
        assert seen["recorded"], "the upstream recorded no request"
        assert auth.credential_leaks(seen["recorded"]) == []


def test_typescript_sdk_with_an_api_key(proxy: harness.Endpoint, keys: dict[str, str]) -> None:
    if not auth.TS_SDK.is_dir():
        pytest.fail(f"TypeScript SDK missing at {auth.TS_SDK}: run `bash scripts/setup.sh`", pytrace=False)
    for headers in ({"X-API-Key": keys["alice"]}, auth.bearer(keys["alice"])):
        report = auth.ts_bearer_client(proxy.url, headers)
        assert report.get("echo") == "typescript through auth", report
    refused = auth.ts_bearer_client(proxy.url, {"X-API-Key": auth.new_key()})
    assert refused.get("code") == 401, refused


def test_wrong_or_missing_key_is_a_401(proxy: harness.Endpoint, keys: dict[str, str], keys_file: Path) -> None:
    # Keys only: no authorization server to point at, so no metadata document and no resource_metadata.
    auth.assert_unauthorized(auth.initialize(proxy.url), proxy.url, invalid_token=False, metadata=False)
    prm = httpx.get(auth.prm_url(proxy.url), timeout=auth.TIMEOUT_S, trust_env=False)
    assert prm.status_code == 404, auth.describe(prm)
    stored_hash = hashlib.sha256(keys["alice"].encode()).hexdigest()
    wrong = {
        "unknown key": auth.new_key(),
        "the stored hash itself": stored_hash,
        "a key with a character changed": keys["alice"][:-1] + ("A" if keys["alice"][-1] != "A" else "B"),
        "a key cut short": keys["alice"][:-1],
        "a key upper-cased": keys["alice"].upper(),
    }
    for what, key in wrong.items():
        for headers in ({"X-API-Key": key}, auth.bearer(key)):
            response = auth.initialize(proxy.url, headers)
            try:
                auth.assert_unauthorized(response, proxy.url, invalid_token=True, metadata=False)
            except AssertionError as error:
                raise AssertionError(f"{what} as {list(headers)[0]}: {error}") from error
    assert stored_hash in keys_file.read_text()


def test_session_of_another_key_is_a_404(proxy: harness.Endpoint, keys: dict[str, str]) -> None:
    alice, bob = {"X-API-Key": keys["alice"]}, auth.bearer(keys["bob"])
    session_id, version = auth.open_session(proxy.url, alice)
    hijack = auth.list_tools(proxy.url, bob, session_id, version, request_id="hijack-1")
    assert hijack.status_code == 404, auth.describe(hijack)
    assert hijack.json().get("error", {}).get("code") == auth.SESSION_NOT_FOUND, auth.describe(hijack)
    # The same key in the other header form is the same principal.
    owned = auth.list_tools(proxy.url, auth.bearer(keys["alice"]), session_id, version, request_id="owner-1")
    assert owned.status_code == 200, auth.describe(owned)


def test_key_without_the_required_scope_is_a_403(shadowcat_bin: Path, recording_upstream: harness.Endpoint,
                                                 keys: dict[str, str], keys_file: Path) -> None:
    proxy = auth.start_auth_proxy(shadowcat_bin, recording_upstream.url,
                                  ["--api-keys", str(keys_file), "--auth-scope", SCOPE])
    try:
        granted = auth.initialize(proxy.url, {"X-API-Key": keys["alice"]})
        assert granted.status_code == 200, auth.describe(granted)
        response = auth.initialize(proxy.url, {"X-API-Key": keys["bob"]})
        assert response.status_code == 403, auth.describe(response)
        params = auth.challenge(response)
        assert params.get("error") == "insufficient_scope" and params.get("scope") == SCOPE, auth.describe(response)
        auth.assert_error_body(response, auth.FORBIDDEN)
    finally:
        proxy.stop()


def _status_with(url: str, key: str) -> int:
    return auth.initialize(url, {"X-API-Key": key}).status_code


def _await_status(url: str, key: str, expected: int, what: str) -> None:
    """Polls until a request with `key` gets `expected`; fails after RELOAD_DEADLINE_S."""
    deadline = time.monotonic() + RELOAD_DEADLINE_S
    while (status := _status_with(url, key)) != expected:
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: still {status}, not {expected}, {RELOAD_DEADLINE_S}s after SIGHUP", pytrace=False)
        time.sleep(0.05)


def test_sighup_reloads_the_keys_file(shadowcat_bin: Path, recording_upstream: harness.Endpoint,
                                      tmp_path: Path) -> None:
    path = tmp_path / "keys.toml"
    alice, carol, dave = auth.new_key(), auth.new_key(), auth.new_key()
    auth.write_keys(path, {"alice": (alice, None)})
    proxy = auth.start_auth_proxy(shadowcat_bin, recording_upstream.url, ["--api-keys", str(path)])
    try:
        assert _status_with(proxy.url, alice) == 200
        assert _status_with(proxy.url, carol) == 401
        session_id, version = auth.open_session(proxy.url, {"X-API-Key": alice})

        auth.write_keys(path, {"carol": (carol, None)})
        os.kill(proxy.process.pid, signal.SIGHUP)
        _await_status(proxy.url, carol, 200, "the added key")
        assert _status_with(proxy.url, alice) == 401, "the removed key is still accepted"
        gone = auth.list_tools(proxy.url, {"X-API-Key": alice}, session_id, version)
        assert gone.status_code == 401, f"the removed key's session: {auth.describe(gone)}"
        assert proxy.process.popen.poll() is None, "the proxy exited on SIGHUP"

        # A file that does not parse: the proxy logs it, keeps the keys in use and stays up; a good
        # file after it is read.
        path.write_text("[keys.broken\nsha256 = 12\n")
        os.kill(proxy.process.pid, signal.SIGHUP)
        proxy.process.wait_for_line(lambda line: str(path) in line and "keys reloaded" not in line,
                                    "the log line refusing the broken file", RELOAD_DEADLINE_S, stream="stderr")
        assert _status_with(proxy.url, carol) == 200, "a broken file dropped the keys in use"
        auth.write_keys(path, {"dave": (dave, None)})
        os.kill(proxy.process.pid, signal.SIGHUP)
        _await_status(proxy.url, dave, 200, "the key of the file after a broken one")
        assert _status_with(proxy.url, carol) == 401
        assert proxy.process.popen.poll() is None, "the proxy exited on SIGHUP"
    finally:
        proxy.stop()


def test_oauth_and_api_keys_on_one_route(shadowcat_bin: Path, recording_upstream: harness.Endpoint,
                                         oauth_server: oauth.OAuthServer, keys: dict[str, str],
                                         keys_file: Path) -> None:
    proxy = auth.start_auth_proxy(shadowcat_bin, recording_upstream.url,
                                  ["--auth-issuer", oauth_server.issuer, "--api-keys", str(keys_file)])
    try:
        for what, headers in (("OAuth token", auth.bearer(oauth_server.token(proxy.url, sub="token-user"))),
                              ("key as Bearer", auth.bearer(keys["bob"])),
                              ("key as X-API-Key", {"X-API-Key": keys["alice"]})):
            response = auth.initialize(proxy.url, headers)
            assert response.status_code == 200, f"{what}: {auth.describe(response)}"
        for what, headers in (("expired token", auth.bearer(oauth_server.hostile_tokens(proxy.url)["expired"])),
                              ("unknown key", auth.bearer(auth.new_key())),
                              ("JWT-shaped garbage", auth.bearer("abc.def.ghi"))):
            auth.assert_unauthorized(auth.initialize(proxy.url, headers), proxy.url, invalid_token=True)
        for headers in (auth.bearer(oauth_server.token(proxy.url, sub="leak-check")), {"X-API-Key": keys["bob"]}):
            seen = asyncio.run(auth.sdk_session_calls(proxy.url, headers))
            assert seen["echo"] == "through auth", seen
            assert auth.credential_leaks(seen["recorded"]) == []
        # A token-holder's session is not a key-holder's, not even the key named like the token's sub.
        session_id, version = auth.open_session(proxy.url, auth.bearer(oauth_server.token(proxy.url, sub="bob")))
        for what, headers in (("key alice", {"X-API-Key": keys["alice"]}), ("key bob", {"X-API-Key": keys["bob"]})):
            response = auth.list_tools(proxy.url, headers, session_id, version)
            assert response.status_code == 404, f"{what} on token-bob's session: {auth.describe(response)}"
        session_id, version = auth.open_session(proxy.url, {"X-API-Key": keys["bob"]})
        response = auth.list_tools(proxy.url, auth.bearer(oauth_server.token(proxy.url, sub="bob")), session_id,
                                   version)
        assert response.status_code == 404, f"token sub=bob on key-bob's session: {auth.describe(response)}"
        with httpx.Client(trust_env=False, timeout=auth.TIMEOUT_S) as client:
            document = client.get(auth.prm_url(proxy.url)).json()
        assert document["authorization_servers"] == [oauth_server.issuer], document
    finally:
        proxy.stop()


def test_stdio_upstream_route_checks_keys_and_owners(shadowcat_bin: Path, keys: dict[str, str],
                                                     keys_file: Path) -> None:
    """`--upstream-cmd` (the FastMCP fixture, a child per session): the same checks before any child."""
    try:
        proxy = harness.start_stdio_proxy(shadowcat_bin, harness.fixture_stdio_command(),
                                          extra=["--api-keys", str(keys_file)])
    except harness.HarnessError as error:
        pytest.fail(str(error), pytrace=False)
    try:
        auth.assert_unauthorized(auth.initialize(proxy.url), proxy.url, invalid_token=False, metadata=False)
        auth.assert_unauthorized(auth.initialize(proxy.url, {"X-API-Key": auth.new_key()}), proxy.url,
                                 invalid_token=True, metadata=False)
        alice = {"X-API-Key": keys["alice"]}
        session_id, version = auth.open_session(proxy.url, alice)
        listed = auth.list_tools(proxy.url, alice, session_id, version)
        assert listed.status_code == 200, auth.describe(listed)
        assert "echo" in [tool["name"] for tool in auth.rpc_message(listed, "list-1")["result"]["tools"]]
        hijack = auth.list_tools(proxy.url, auth.bearer(keys["bob"]), session_id, version, request_id="hijack-1")
        assert hijack.status_code == 404, auth.describe(hijack)
        assert hijack.json().get("error", {}).get("code") == auth.SESSION_NOT_FOUND, auth.describe(hijack)
    finally:
        proxy.stop()
