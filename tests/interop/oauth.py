"""The OAuth side of the auth interop tests: starts the real authorization server
(oauth_server.mjs, npm `oauth2-mock-server`) on 127.0.0.1, gets tokens from it (client credentials
grant against /token), and mints hostile tokens with pyjwt + cryptography, signed with the
server's own keys so that each one carries exactly one defect: expired, `nbf` in the future, wrong
`aud`, wrong `iss`, `alg: none`, HS256 with the public key PEM as the secret (key confusion),
a tampered signature or payload, a `kid` the server never published.

Not here: pytest fixtures (conftest.py), the proxy (harness.py), assertions (test_auth_*.py).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import ClassVar
from pathlib import Path

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

import harness

LAUNCHER = Path(__file__).resolve().with_name("oauth_server.mjs")
# A real server's clock skew allowance is 30 s (the contract's leeway): every time defect is far
# beyond it.
FAR_S = 3600


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_json(value: dict) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def unverified_claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


@dataclass
class OAuthServer:
    """A running oauth_server.mjs: its issuer URL and its private signing keys (kid -> PyJWK)."""

    issuer: str
    process: harness.ManagedProcess
    keys: dict[str, jwt.PyJWK]
    # The names of hostile_tokens(), each a token with one defect.
    HOSTILE: ClassVar[tuple[str, ...]] = (
        "expired", "expired_es256", "not_yet_valid", "wrong_audience", "wrong_issuer", "alg_none",
        "hs256_key_confusion", "tampered_signature", "tampered_payload", "unknown_kid")
    # A key the server never published (for the unknown-`kid` token).
    stranger_key: rsa.RSAPrivateKey = field(default_factory=lambda: rsa.generate_private_key(65537, 2048))

    @property
    def token_endpoint(self) -> str:
        return f"{self.issuer}/token"

    @property
    def jwks_uri(self) -> str:
        return f"{self.issuer}/jwks"

    def stop(self) -> int:
        return self.process.stop()

    # -- tokens from the server itself -------------------------------------------------------

    def token_response(self, resource: str | None, *, scope: str | None = None, sub: str | None = None,
                       client_id: str = "interop-client") -> dict:
        """The /token answer of a client credentials grant (RFC 8707 `resource`)."""
        form = {"grant_type": "client_credentials", "client_id": client_id}
        if resource is not None:
            form["resource"] = resource
        if scope is not None:
            form["scope"] = scope
        if sub is not None:
            form["sub"] = sub
        response = httpx.post(self.token_endpoint, data=form, timeout=10.0, trust_env=False)
        assert response.status_code == 200, f"/token answered {response.status_code}: {response.text}"
        return response.json()

    def token(self, resource: str | None, *, scope: str | None = None, sub: str | None = None,
              client_id: str = "interop-client") -> str:
        """An access token the server issued: aud = `resource`, scope, sub (default: client_id)."""
        return self.token_response(resource, scope=scope, sub=sub, client_id=client_id)["access_token"]

    def rotate(self, kid: str) -> None:
        """The server generates and publishes a new RS256 key `kid`; mint(kid=...) can use it."""
        response = httpx.post(f"{self.issuer}/_test/keys", json={"kid": kid}, timeout=10.0, trust_env=False)
        assert response.status_code == 200, f"/_test/keys answered {response.status_code}: {response.text}"
        self.keys[kid] = jwt.PyJWK(response.json())

    # -- tokens minted here with the server's keys -------------------------------------------

    def claims(self, resource: str, *, scope: str | None = "mcp:tools", sub: str = "minted-user",
               **overrides) -> dict:
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": sub, "aud": resource, "iat": now, "nbf": now - 10,
                  "exp": now + FAR_S, "client_id": "interop-minted"}
        if scope is not None:
            claims["scope"] = scope
        claims.update(overrides)
        return {name: value for name, value in claims.items() if value is not None}

    def mint(self, claims: dict, *, kid: str = "rs-1") -> str:
        """`claims` signed by the server's key `kid` (RS256 "rs-1" or ES256 "es-1"): as good as a
        token from /token when the claims are."""
        key = self.keys[kid]
        return jwt.encode(claims, key.key, algorithm=key.algorithm_name, headers={"kid": kid, "typ": "JWT"})

    def public_pem(self, kid: str = "rs-1") -> bytes:
        return self.keys[kid].key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def hostile_tokens(self, resource: str, *, scope: str | None = "mcp:tools") -> dict[str, str]:
        """name -> a token with exactly one defect, for a route whose audience is `resource`."""
        now = int(time.time())
        good = self.claims(resource, scope=scope)
        valid = self.mint(good)
        header, payload, signature = valid.split(".")
        flipped = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
        flipped[len(flipped) // 2] ^= 0x01
        forged_payload = b64url_json({**good, "sub": "admin"})
        confusion_header = b64url_json({"alg": "HS256", "typ": "JWT", "kid": "rs-1"})
        confusion_payload = b64url_json(good)
        confusion_input = f"{confusion_header}.{confusion_payload}".encode()
        confusion_mac = hmac.new(self.public_pem("rs-1"), confusion_input, hashlib.sha256).digest()
        return {
            "expired": self.mint({**good, "iat": now - 2 * FAR_S, "nbf": now - 2 * FAR_S, "exp": now - FAR_S}),
            "expired_es256": self.mint({**good, "iat": now - 2 * FAR_S, "nbf": now - 2 * FAR_S,
                                        "exp": now - FAR_S}, kid="es-1"),
            "not_yet_valid": self.mint({**good, "nbf": now + FAR_S}),
            "wrong_audience": self.mint({**good, "aud": "http://127.0.0.1:1/some-other-resource"}),
            "wrong_issuer": self.mint({**good, "iss": "http://127.0.0.1:1"}),
            "alg_none": f"{b64url_json({'alg': 'none', 'typ': 'JWT', 'kid': 'rs-1'})}.{b64url_json(good)}.",
            "hs256_key_confusion": f"{confusion_header}.{confusion_payload}.{b64url(confusion_mac)}",
            "tampered_signature": f"{header}.{payload}.{b64url(bytes(flipped))}",
            "tampered_payload": f"{header}.{forged_payload}.{signature}",
            "unknown_kid": jwt.encode(good, self.stranger_key, algorithm="RS256",
                                      headers={"kid": "rs-unpublished", "typ": "JWT"}),
        }


def start_oauth_server(*flags: str) -> OAuthServer:
    """oauth_server.mjs on 127.0.0.1:0 (flags: --no-rfc8414, --no-register); stop() it by handle."""
    process = harness.ManagedProcess("oauth2-mock-server", [harness.node22(), LAUNCHER, *flags],
                                     env=harness.child_env({"SHADOWCAT_CACHE_DIR": str(harness.CACHE_DIR)}))
    try:
        line = process.wait_for_line(lambda text: text.startswith("{"), "the issuer line",
                                     harness.READY_TIMEOUT_S, stream="stdout")
        ready = json.loads(line)
        keys = {jwk["kid"]: jwt.PyJWK(jwk) for jwk in ready["keys"]}
    except BaseException:
        process.stop()
        raise
    return OAuthServer(issuer=ready["issuer"], process=process, keys=keys)
