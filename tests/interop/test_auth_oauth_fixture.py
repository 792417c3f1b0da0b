"""The auth tests' authorization server and hostile tokens, checked on their own (no proxy): the
server's discovery documents and JWKS, that its tokens carry aud = the requested resource, scope and
sub, the authorization code + PKCE flow, and that every hostile token from oauth.py fails a
standard verifier (pyjwt against the server's JWKS) for exactly the reason its name says, while a
token minted the same way without the defect verifies.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from urllib.parse import parse_qs, urlencode, urlparse

import httpx
import jwt
import pytest

import oauth

RESOURCE = "http://127.0.0.1:8080/mcp"
ALGORITHMS = ["RS256", "ES256"]


def _get(url: str) -> httpx.Response:
    return httpx.get(url, timeout=10.0, trust_env=False)


def _jwks(server: oauth.OAuthServer) -> jwt.PyJWKSet:
    response = _get(server.jwks_uri)
    assert response.status_code == 200, response.text
    return jwt.PyJWKSet.from_dict(response.json())


def _verify(server: oauth.OAuthServer, token: str, *, audience: str = RESOURCE) -> dict:
    """What a resource server does: key by `kid` from the published JWKS, asymmetric algorithms only."""
    kid = jwt.get_unverified_header(token).get("kid")
    published = {key.key_id: key for key in _jwks(server).keys}
    if kid not in published:
        raise LookupError(f"kid {kid!r} not published")
    return jwt.decode(token, published[kid].key, algorithms=ALGORITHMS, audience=audience, issuer=server.issuer,
                      options={"require": ["exp", "iss", "aud", "sub"]})


def test_discovery_documents_and_jwks(oauth_server: oauth.OAuthServer) -> None:
    for path in ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"):
        response = _get(oauth_server.issuer + path)
        assert response.status_code == 200, (path, response.text)
        document = response.json()
        assert document["issuer"] == oauth_server.issuer, document
        assert document["jwks_uri"] == oauth_server.jwks_uri, document
        assert document["registration_endpoint"] == f"{oauth_server.issuer}/register", document
        assert "S256" in document["code_challenge_methods_supported"], document
    keys = _get(oauth_server.jwks_uri).json()["keys"]
    assert sorted(key["kid"] for key in keys) == ["es-1", "rs-1"], keys
    leaked = [key["kid"] for key in keys if {"d", "p", "q", "dp", "dq", "qi"} & key.keys()]
    assert leaked == [], f"private key material published for {leaked}"


def test_issued_tokens_carry_resource_scope_and_subject(oauth_server: oauth.OAuthServer) -> None:
    signed_with = set()
    for _ in range(2):  # the server signs with its two keys in turn
        answer = oauth_server.token_response(RESOURCE, scope="mcp:tools mcp:admin", client_id="alice")
        assert answer["scope"] == "mcp:tools mcp:admin", answer
        claims = _verify(oauth_server, answer["access_token"])
        assert claims["aud"] == RESOURCE and claims["sub"] == "alice", claims
        assert claims["scope"] == "mcp:tools mcp:admin", claims
        signed_with.add(jwt.get_unverified_header(answer["access_token"])["alg"])
    assert signed_with == {"RS256", "ES256"}
    claims = _verify(oauth_server, oauth_server.token(RESOURCE, sub="bob", client_id="alice"))
    assert claims["sub"] == "bob" and "scope" not in claims, claims
    with pytest.raises(jwt.InvalidAudienceError):
        _verify(oauth_server, oauth_server.token("http://127.0.0.1:9/other"))


def test_authorization_code_with_pkce(oauth_server: oauth.OAuthServer) -> None:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    redirect_uri = "http://127.0.0.1:1/callback"
    query = {"response_type": "code", "client_id": "pkce-client", "redirect_uri": redirect_uri,
             "state": "st-1", "code_challenge": challenge, "code_challenge_method": "S256",
             "scope": "mcp:tools", "resource": RESOURCE, "login_hint": "carol"}
    authorize = _get(f"{oauth_server.issuer}/authorize?{urlencode(query)}")
    assert authorize.status_code == 302, authorize.text
    location = urlparse(authorize.headers["location"])
    params = parse_qs(location.query)
    assert location.path == "/callback" and params["state"] == ["st-1"], authorize.headers["location"]
    form = {"grant_type": "authorization_code", "code": params["code"][0], "redirect_uri": redirect_uri,
            "client_id": "pkce-client", "code_verifier": "x" * 43, "resource": RESOURCE}
    refused = httpx.post(oauth_server.token_endpoint, data=form, timeout=10.0, trust_env=False)
    assert refused.status_code >= 400, "a wrong code_verifier was accepted"
    authorize = _get(f"{oauth_server.issuer}/authorize?{urlencode(query)}")
    form["code"] = parse_qs(urlparse(authorize.headers["location"]).query)["code"][0]
    form["code_verifier"] = verifier
    answer = httpx.post(oauth_server.token_endpoint, data=form, timeout=10.0, trust_env=False)
    assert answer.status_code == 200, answer.text
    claims = _verify(oauth_server, answer.json()["access_token"])
    assert (claims["sub"], claims["scope"], claims["aud"]) == ("carol", "mcp:tools", RESOURCE), claims


def test_minted_control_tokens_verify(oauth_server: oauth.OAuthServer) -> None:
    for kid in ("rs-1", "es-1"):
        claims = _verify(oauth_server, oauth_server.mint(oauth_server.claims(RESOURCE), kid=kid))
        assert claims["sub"] == "minted-user" and claims["scope"] == "mcp:tools", claims


# Each hostile token and the error a standard verifier raises for it: its one defect.
EXPECTED_FAILURE = {
    "expired": jwt.ExpiredSignatureError,
    "expired_es256": jwt.ExpiredSignatureError,
    "not_yet_valid": jwt.ImmatureSignatureError,
    "wrong_audience": jwt.InvalidAudienceError,
    "wrong_issuer": jwt.InvalidIssuerError,
    "alg_none": jwt.InvalidAlgorithmError,
    "hs256_key_confusion": jwt.InvalidAlgorithmError,
    "tampered_signature": jwt.InvalidSignatureError,
    "tampered_payload": jwt.InvalidSignatureError,
    "unknown_kid": LookupError,
}


def test_hostile_tokens_fail_for_their_one_reason(oauth_server: oauth.OAuthServer) -> None:
    tokens = oauth_server.hostile_tokens(RESOURCE)
    assert sorted(tokens) == sorted(EXPECTED_FAILURE) == sorted(oauth.OAuthServer.HOSTILE)
    for name, token in tokens.items():
        with pytest.raises(EXPECTED_FAILURE[name]):
            _verify(oauth_server, token)
        assert oauth.unverified_claims(token)["iss"] in (oauth_server.issuer, "http://127.0.0.1:1"), name


def test_hostile_tokens_are_what_their_names_say(oauth_server: oauth.OAuthServer) -> None:
    tokens = oauth_server.hostile_tokens(RESOURCE)
    none_header = jwt.get_unverified_header(tokens["alg_none"])
    assert none_header["alg"] == "none" and tokens["alg_none"].endswith("."), none_header
    # Key confusion: a genuine HMAC-SHA256 whose secret is the published RSA public key (PEM).
    header, payload, mac = tokens["hs256_key_confusion"].split(".")
    assert jwt.get_unverified_header(tokens["hs256_key_confusion"])["alg"] == "HS256"
    expected = hmac.new(oauth_server.public_pem("rs-1"), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    assert oauth.b64url(expected) == mac
    # Unknown kid: a real RS256 signature, by a key the server never published.
    assert jwt.get_unverified_header(tokens["unknown_kid"])["kid"] == "rs-unpublished"
    claims = jwt.decode(tokens["unknown_kid"], oauth_server.stranger_key.public_key(), algorithms=["RS256"],
                        audience=RESOURCE, issuer=oauth_server.issuer)
    assert claims["aud"] == RESOURCE
    # Tampered payload: the server's signature over other claims.
    assert oauth.unverified_claims(tokens["tampered_payload"])["sub"] == "admin"
    # Wrong audience / issuer: otherwise valid, signed by the server's own key.
    for name, option in (("wrong_audience", "verify_aud"), ("wrong_issuer", "verify_iss")):
        claims = jwt.decode(tokens[name], oauth_server.keys["rs-1"].key.public_key(), algorithms=["RS256"],
                            audience=RESOURCE, issuer=oauth_server.issuer, options={option: False})
        assert claims["sub"] == "minted-user", name
