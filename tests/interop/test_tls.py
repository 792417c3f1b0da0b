"""TLS with the official Python SDK: the client over https:// to the proxy's TLS listener, and the
proxy over https:// to an upstream (shadowcat with a TLS listener in front of the demo server),
with certificates from a CA generated here; an upstream the proxy does not trust is a 502.
mTLS (`tls_client_ca`, `shadowcat run --config`): the SDK's httpx client shows a client
certificate, whose subject is the caller's principal: a policy rule on `CN=alice,O=Example` keeps
`echo` for alice while bob's certificate loses it (gone from his listing, unknown to his call).
Two shards: SDK sessions over https:// whose requests land on either shard (a new connection
each), so the shard that did not mint a session forwards each such request to its owner (the
default `--hops auto`; nothing is relayed), or with `--hops move` relays the TLS connection to
the owner; the admin /metrics count the relays, and none outlives its connection (nor its socket
pair).
Legacy HTTP+SSE upstreams over https:// (`--upstream-transport sse --upstream-ca`): the SDK through
a proxy whose upstream is a TLS shadowcat serving the 2024-11-05 transport (`--legacy-sse`); an
upstream it does not trust is unavailable (502).
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import os
import signal
import ssl
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import McpError

import harness
from test_shards import metric_total, read_metrics

UNKNOWN_TOOL = -32602

@dataclass(frozen=True)
class Pki:
    """A CA and a server certificate it signed for 127.0.0.1 and localhost (PEM files), and client
    certificates (with their keys) for subjects `O=Example, CN=alice` and `CN=bob`."""

    ca: Path
    cert: Path
    key: Path
    clients: dict[str, tuple[Path, Path]]


CLIENT_NAMES = ("alice", "bob")


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    parts = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization)] if organization else []
    return x509.Name([*parts, x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_pair(cert: x509.Certificate, key: ec.EllipticCurvePrivateKey, cert_path: Path, key_path: Path) -> None:
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))


def _leaf(subject: x509.Name, ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey],
          valid: tuple[datetime.datetime, datetime.datetime],
          extension: x509.ExtensionType) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A certificate for `subject` that `ca` signs, with `extension` (SANs or key usage)."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca[0].subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(valid[0]).not_valid_after(valid[1])
            .add_extension(extension, critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(ca[1], hashes.SHA256()))
    return cert, key


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
    sans = x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                        x509.IPAddress(ipaddress.ip_address(harness.LOOPBACK_HOST))])
    clients = {name: (directory / f"{label}-{name}.pem", directory / f"{label}-{name}-key.pem")
               for name in CLIENT_NAMES}
    pki = Pki(directory / f"{label}-ca.pem", directory / f"{label}-cert.pem", directory / f"{label}-key.pem",
              clients)
    pki.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    _write_pair(*_leaf(_name("localhost"), (ca_cert, ca_key), valid, sans), pki.cert, pki.key)
    client_auth = x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH])
    for name, (cert_path, key_path) in clients.items():
        _write_pair(*_leaf(_name(name, "Example"), (ca_cert, ca_key), valid, client_auth), cert_path, key_path)
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


def _handshake_trusts(url: str, verify: ssl.SSLContext) -> bool:
    """Whether a new TLS connection to the proxy verifies against `verify`."""
    try:
        httpx.get(url.replace("/mcp", "/health-probe"), verify=verify, timeout=5.0, trust_env=False)
    except httpx.ConnectError:
        return False
    return True


async def _echo_across_a_reload(url: str, verify: ssl.SSLContext, reload) -> list[str]:
    """One SDK session (its connections opened before `reload` runs) that echoes, lets `reload`
    swap the certificate, and echoes again."""
    client = httpx.AsyncClient(timeout=httpx.Timeout(30.0), trust_env=False, verify=verify,
                               limits=httpx.Limits(keepalive_expiry=120.0))
    async with client, streamable_http_client(url, http_client=client) as (read, write, _):
        async with ClientSession(read, write) as session:
            await session.initialize()
            before = await session.call_tool("echo", {"message": "before"})
            await asyncio.to_thread(reload)
            after = await session.call_tool("echo", {"message": "after"})
            return [before.content[0].text, after.content[0].text]


def test_sighup_reloads_the_certificate_without_dropping_open_connections(
        pki: Pki, other_pki: Pki, demo_upstream: harness.Endpoint, start_proxy, tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_bytes(pki.cert.read_bytes())
    key.write_bytes(pki.key.read_bytes())
    proxy = start_proxy(demo_upstream.url, shards=2, extra=["--tls-cert", str(cert), "--tls-key", str(key)])

    def reload() -> None:
        cert.write_bytes(other_pki.cert.read_bytes())
        key.write_bytes(other_pki.key.read_bytes())
        os.kill(proxy.process.pid, signal.SIGHUP)
        # Every shard swaps its configuration: new connections (spread over both) all verify.
        _await(lambda: all(_handshake_trusts(proxy.url, _trusting(other_pki)) for _ in range(8)),
               "the new certificate is not served after SIGHUP")

    texts = asyncio.run(_echo_across_a_reload(proxy.url, _trusting(pki), reload))
    assert texts == ["before", "after"], texts
    assert not _handshake_trusts(proxy.url, _trusting(pki)), "the old certificate is still served"
    assert proxy.process.popen.poll() is None, "the proxy exited on SIGHUP"


async def _echo_over_forward(shadowcat_bin: Path, *args: str) -> str | McpError:
    """The Python SDK's stdio client through `shadowcat forward ARGS`: echo's text, or the error
    initialize got."""
    params = StdioServerParameters(command=str(shadowcat_bin), args=["forward", *args], env=dict(os.environ))
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        async with asyncio.timeout(30.0):
            try:
                await session.initialize()
            except McpError as error:
                return error
            result = await session.call_tool("echo", {"message": "forwarded over tls"})
            return result.content[0].text


def test_forward_mode_verifies_an_https_target(pki: Pki, other_pki: Pki, demo_upstream: harness.Endpoint,
                                               start_proxy, shadowcat_bin: Path) -> None:
    proxy = start_proxy(demo_upstream.url, shards=1, extra=_tls_flags(pki))
    trusted = asyncio.run(_echo_over_forward(shadowcat_bin, "--target", proxy.url, "--target-ca", str(pki.ca)))
    assert trusted == "forwarded over tls", trusted
    untrusted = asyncio.run(_echo_over_forward(shadowcat_bin, "--target", proxy.url,
                                               "--target-ca", str(other_pki.ca)))
    assert isinstance(untrusted, McpError) and untrusted.error.code == -32010, untrusted
    assert "TLS" in untrusted.error.message, untrusted.error


SESSIONS_ON_TWO_SHARDS = 6
ECHOES_PER_SESSION = 4


async def _sessions_on_fresh_connections(url: str, verify: ssl.SSLContext, count: int) -> list[str]:
    """`count` SDK sessions at once, each opening a new TLS connection per request (no keep-alive),
    so each request lands on either shard; every session lists tools and echoes a few times."""

    async def one(index: int) -> list[str]:
        limits = httpx.Limits(max_keepalive_connections=0)
        client = httpx.AsyncClient(timeout=httpx.Timeout(30.0), trust_env=False, verify=verify, limits=limits)
        async with client, streamable_http_client(url, http_client=client) as (read, write, _):
            async with ClientSession(read, write) as session:
                await session.initialize()
                assert "echo" in [tool.name for tool in (await session.list_tools()).tools]
                texts = []
                for n in range(ECHOES_PER_SESSION):
                    result = await session.call_tool("echo", {"message": f"s{index}e{n}"})
                    texts.append(result.content[0].text)
                return texts

    answers = await asyncio.gather(*(one(index) for index in range(count)))
    return [text for texts in answers for text in texts]


def _unix_sockets_of(pid: int) -> int:
    """How many of the process's descriptors are AF_UNIX sockets (the relays' socket pairs)."""
    unix = set()
    with open(f"/proc/{pid}/net/unix", encoding="ascii") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            if len(fields) >= 7:
                unix.add(fields[6])
    count = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink().as_posix()
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in unix:
            count += 1
    return count


def _await(condition, what: str, timeout_s: float = 10.0) -> None:
    """Polls `condition` (each check is a scrape or a /proc read) until it holds, or fails."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, what


def test_python_sdk_over_https_to_two_shards_relaying(pki: Pki, demo_upstream: harness.Endpoint,
                                                       start_proxy) -> None:
    """`--hops move`: a TLS connection that cannot move is relayed to the owner for its life."""
    proxy = start_proxy(demo_upstream.url, shards=2, admin=True, extra=[*_tls_flags(pki), "--hops", "move"])
    assert proxy.admin_url is not None
    pid = proxy.process.popen.pid
    unix_before = _unix_sockets_of(pid)
    for batch in range(2):
        texts = asyncio.run(_sessions_on_fresh_connections(proxy.url, _trusting(pki), SESSIONS_ON_TWO_SHARDS))
        assert texts == [f"s{i}e{n}" for i in range(SESSIONS_ON_TWO_SHARDS) for n in range(ECHOES_PER_SESSION)]
        metrics = read_metrics(proxy.admin_url)
        assert metric_total(metrics, "shadowcat_tls_tunnels_total") > 0, metrics
        assert metric_total(metrics, "shadowcat_hops_total") > 0, metrics

        def relays_ended() -> bool:
            scraped = read_metrics(proxy.admin_url)
            return (metric_total(scraped, "shadowcat_tls_tunnels_closed_total")
                    == metric_total(scraped, "shadowcat_tls_tunnels_total"))

        _await(relays_ended, f"batch {batch}: a relay outlived its connection")
        _await(lambda: _unix_sockets_of(pid) <= unix_before,
               f"batch {batch}: socket pairs left open ({_unix_sockets_of(pid)} > {unix_before})")


def test_python_sdk_over_https_to_two_shards_forwarding(pki: Pki, demo_upstream: harness.Endpoint,
                                                         start_proxy) -> None:
    """The default (`--hops auto`): the TLS connection stays on the shard that terminates it and
    each request of a session the other shard owns is forwarded there; nothing is relayed."""
    proxy = start_proxy(demo_upstream.url, shards=2, admin=True, extra=_tls_flags(pki))
    assert proxy.admin_url is not None
    texts = asyncio.run(_sessions_on_fresh_connections(proxy.url, _trusting(pki), SESSIONS_ON_TWO_SHARDS))
    assert texts == [f"s{i}e{n}" for i in range(SESSIONS_ON_TWO_SHARDS) for n in range(ECHOES_PER_SESSION)]
    metrics = read_metrics(proxy.admin_url)
    assert metric_total(metrics, "shadowcat_hops_forwarded_total") > 0, metrics
    assert metric_total(metrics, "shadowcat_hops_total") == metric_total(metrics, "shadowcat_hops_forwarded_total")
    assert metric_total(metrics, "shadowcat_tls_tunnels_total") == 0, metrics


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


def test_without_upstream_ca_the_system_ca_store_is_trusted(pki: Pki, demo_upstream: harness.Endpoint,
                                                             start_proxy, monkeypatch: pytest.MonkeyPatch) -> None:
    """No --upstream-ca: the proxy trusts the system's CA store, here the test CA through
    SSL_CERT_FILE (the variable rustls-native-certs reads, as OpenSSL does)."""
    tls_upstream = start_proxy(demo_upstream.url, shards=1, extra=_tls_flags(pki))
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.ca))
    front = start_proxy(tls_upstream.url)
    tools, echoed = asyncio.run(_echo_over_sdk(front.url, True))
    assert "echo" in tools and echoed == "over tls"
    # A store that does not hold the test CA: the same upstream is untrusted.
    monkeypatch.setenv("SSL_CERT_FILE", str(Path(pki.ca).with_name("no-such-bundle.pem")))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    other = start_proxy(tls_upstream.url)
    refused = _raw_initialize(other.url)
    assert refused.status_code == 502, refused.text


def _raw_initialize(url: str) -> httpx.Response:
    """One `initialize` (id "tls-1") POSTed to `url` without an SDK, to see the error answer."""
    return httpx.post(url, headers={"Accept": "application/json, text/event-stream",
                                    "Content-Type": "application/json"},
                      json={"jsonrpc": "2.0", "id": "tls-1", "method": "initialize",
                            "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                                       "clientInfo": {"name": "tls-test", "version": "0"}}},
                      timeout=30.0, trust_env=False)


def test_an_untrusted_upstream_certificate_is_a_502_naming_tls(pki: Pki, other_pki: Pki,
                                                               demo_upstream: harness.Endpoint, start_proxy) -> None:
    tls_upstream = start_proxy(demo_upstream.url, shards=1, extra=_tls_flags(pki))
    front = start_proxy(tls_upstream.url, extra=["--upstream-ca", str(other_pki.ca)])
    response = _raw_initialize(front.url)
    assert response.status_code == 502, response.text
    body = response.json()
    assert body["id"] == "tls-1" and "TLS" in body["error"]["message"], body


# -- legacy HTTP+SSE upstreams (2024-11-05) over https:// -------------------------------------


def _legacy_sse_over_tls(pki: Pki, demo_upstream: harness.Endpoint, start_proxy) -> tuple[harness.Endpoint, str]:
    """A TLS shadowcat serving the legacy transport (`--legacy-sse`: GET /sse, POST /messages)
    in front of the demo server: a real HTTP+SSE server over TLS; and its stream's https:// URL."""
    upstream = start_proxy(demo_upstream.url, shards=1, admin=True, extra=[*_tls_flags(pki), "--legacy-sse"])
    sse_url = upstream.url.removesuffix("/mcp") + "/sse"
    assert sse_url.startswith("https://"), sse_url
    return upstream, sse_url


def test_proxy_to_a_legacy_sse_upstream_over_https(pki: Pki, demo_upstream: harness.Endpoint,
                                                   start_proxy) -> None:
    upstream, sse_url = _legacy_sse_over_tls(pki, demo_upstream, start_proxy)
    front = start_proxy(sse_url, extra=["--upstream-transport", "sse", "--upstream-ca", str(pki.ca)])
    tools, echoed = asyncio.run(_echo_over_sdk(front.url, True))
    assert "echo" in tools and echoed == "over tls"
    # The front reached it through its legacy transport: one stream (and its POSTs) over TLS.
    assert upstream.admin_url is not None
    assert metric_total(read_metrics(upstream.admin_url), "shadowcat_legacy_sessions_total") == 1


def test_an_untrusted_legacy_sse_upstream_is_unavailable(pki: Pki, other_pki: Pki,
                                                          demo_upstream: harness.Endpoint, start_proxy) -> None:
    upstream, sse_url = _legacy_sse_over_tls(pki, demo_upstream, start_proxy)
    front = start_proxy(sse_url, extra=["--upstream-transport", "sse", "--upstream-ca", str(other_pki.ca)])
    response = _raw_initialize(front.url)
    # What an unreachable legacy SSE upstream gets; the front's log names TLS and rustls's reason.
    assert response.status_code == 502, response.text
    body = response.json()
    assert body["id"] == "tls-1" and body["error"]["code"] == -32010, body
    assert upstream.admin_url is not None
    assert metric_total(read_metrics(upstream.admin_url), "shadowcat_legacy_sessions_total") == 0


# -- mTLS: the client certificate's subject is the principal ---------------------------------

MTLS_TOML = """\
[runtime]
shards = 1

[listeners.main]
bind = "127.0.0.1:0"
tls_cert = {cert}
tls_key = {key}
tls_client_ca = {ca}

[[listeners.main.routes]]
path = "/mcp"
upstream = "demo"
# alice's certificate keeps `echo`; every other one loses it.
policy = [{{ action = "allow", principals = ["CN=alice,O=Example"] }}, {{ action = "deny", tools = ["echo"] }}]

[upstreams.demo]
url = {upstream}
"""


def _with_client_cert(pki: Pki, name: str) -> ssl.SSLContext:
    context = _trusting(pki)
    cert, key = pki.clients[name]
    context.load_cert_chain(str(cert), str(key))
    return context


async def _listing_and_echo(url: str, verify: ssl.SSLContext) -> tuple[list[str], object]:
    """tools/list, then tools/call echo: its text, or the JSON-RPC error code the SDK raised."""
    client = httpx.AsyncClient(timeout=httpx.Timeout(30.0), trust_env=False, verify=verify)
    async with client, streamable_http_client(url, http_client=client) as (read, write, _):
        async with ClientSession(read, write) as session:
            await session.initialize()
            tools = [tool.name for tool in (await session.list_tools()).tools]
            try:
                result = await session.call_tool("echo", {"message": "mine"})
            except McpError as error:
                return tools, error.error.code
            return tools, result.content[0].text


def test_client_certificate_subjects_are_principals_for_policy(pki: Pki, demo_upstream: harness.Endpoint,
                                                               shadowcat_bin: Path, tmp_path: Path) -> None:
    text = MTLS_TOML.format(cert=json.dumps(str(pki.cert)), key=json.dumps(str(pki.key)),
                            ca=json.dumps(str(pki.ca)), upstream=json.dumps(demo_upstream.url))
    config = tmp_path / "mtls.toml"
    config.write_text(text)
    proxy = harness.start_listening("shadowcat-run", [shadowcat_bin, "run", "--config", config], ["proxy"])
    try:
        alice_tools, alice_echo = asyncio.run(_listing_and_echo(proxy.url, _with_client_cert(pki, "alice")))
        bob_tools, bob_echo = asyncio.run(_listing_and_echo(proxy.url, _with_client_cert(pki, "bob")))
    finally:
        proxy.stop()
    assert "echo" in alice_tools and alice_echo == "mine", (alice_tools, alice_echo)
    assert bob_tools and "echo" not in bob_tools, bob_tools
    assert bob_echo == UNKNOWN_TOOL, bob_echo
