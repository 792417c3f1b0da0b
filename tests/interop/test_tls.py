"""TLS with the official Python SDK: the client over https:// to the proxy's TLS listener, and the
proxy over https:// to an upstream (shadowcat with a TLS listener in front of the demo server),
with certificates from a CA generated here; an upstream the proxy does not trust is a 502.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

import harness


@dataclass(frozen=True)
class Pki:
    """A CA and a server certificate it signed for 127.0.0.1 and localhost (PEM files)."""

    ca: Path
    cert: Path
    key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _make_pki(directory: Path, label: str) -> Pki:
    now = datetime.datetime.now(datetime.timezone.utc)
    valid = (now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=1))
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (x509.CertificateBuilder().subject_name(_name(f"{label} CA")).issuer_name(_name(f"{label} CA"))
               .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(valid[0]).not_valid_after(valid[1])
               .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                            content_commitment=False, key_encipherment=False,
                                            data_encipherment=False, key_agreement=False,
                                            encipher_only=False, decipher_only=False), critical=True)
               .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    sans = x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                        x509.IPAddress(ipaddress.ip_address(harness.LOOPBACK_HOST))])
    cert = (x509.CertificateBuilder().subject_name(_name("localhost")).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(valid[0]).not_valid_after(valid[1])
            .add_extension(sans, critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(ca_key, hashes.SHA256()))
    pki = Pki(directory / f"{label}-ca.pem", directory / f"{label}-cert.pem", directory / f"{label}-key.pem")
    pki.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    pki.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pki.key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return _make_pki(tmp_path_factory.mktemp("tls"), "shadowcat-test")


@pytest.fixture(scope="module")
def other_pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return _make_pki(tmp_path_factory.mktemp("tls-other"), "other")


def _tls_flags(pki: Pki) -> list[str]:
    return ["--tls-cert", str(pki.cert), "--tls-key", str(pki.key)]


async def _echo_over_sdk(url: str, verify: ssl.SSLContext | bool) -> tuple[list[str], str]:
    """initialize, tools/list and tools/call echo with the SDK client; the session ends with a DELETE."""
    client = httpx.AsyncClient(timeout=httpx.Timeout(30.0), trust_env=False, verify=verify)
    async with client, streamable_http_client(url, http_client=client) as (read, write, _):
        async with ClientSession(read, write) as session:
            await session.initialize()
            tools = [tool.name for tool in (await session.list_tools()).tools]
            result = await session.call_tool("echo", {"message": "over tls"})
            return tools, result.content[0].text


def _trusting(pki: Pki) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(pki.ca))


def test_python_sdk_over_https_to_the_proxy(pki: Pki, demo_upstream: harness.Endpoint, start_proxy) -> None:
    proxy = start_proxy(demo_upstream.url, shards=1, extra=_tls_flags(pki))
    assert proxy.url.startswith("https://"), proxy.url
    tools, echoed = asyncio.run(_echo_over_sdk(proxy.url, _trusting(pki)))
    assert "echo" in tools and echoed == "over tls"


def test_a_client_that_does_not_trust_the_certificate_fails(pki: Pki, other_pki: Pki,
                                                            demo_upstream: harness.Endpoint, start_proxy) -> None:
    proxy = start_proxy(demo_upstream.url, shards=1, extra=_tls_flags(pki))
    with pytest.raises(Exception) as failure:
        asyncio.run(_echo_over_sdk(proxy.url, _trusting(other_pki)))
    assert "CERTIFICATE_VERIFY_FAILED" in repr(failure.value) or "certificate verify failed" in str(
        failure.getrepr()), failure.getrepr()


def test_proxy_to_an_https_upstream_passes_the_sdk_through_both(pki: Pki, demo_upstream: harness.Endpoint,
                                                                start_proxy) -> None:
    tls_upstream = start_proxy(demo_upstream.url, shards=1, extra=_tls_flags(pki))
    front = start_proxy(tls_upstream.url, extra=["--upstream-ca", str(pki.ca)])
    tools, echoed = asyncio.run(_echo_over_sdk(front.url, True))
    assert "echo" in tools and echoed == "over tls"


def test_an_untrusted_upstream_certificate_is_a_502_naming_tls(pki: Pki, other_pki: Pki,
                                                               demo_upstream: harness.Endpoint, start_proxy) -> None:
    tls_upstream = start_proxy(demo_upstream.url, shards=1, extra=_tls_flags(pki))
    front = start_proxy(tls_upstream.url, extra=["--upstream-ca", str(other_pki.ca)])
    response = httpx.post(front.url, headers={"Accept": "application/json, text/event-stream",
                                              "Content-Type": "application/json"},
                          json={"jsonrpc": "2.0", "id": "tls-1", "method": "initialize",
                                "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                                           "clientInfo": {"name": "tls-test", "version": "0"}}},
                          timeout=30.0)
    assert response.status_code == 502, response.text
    body = response.json()
    assert body["id"] == "tls-1" and "TLS" in body["error"]["message"], body
