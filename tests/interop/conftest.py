"""pytest fixtures for the interop suite: the shadowcat binary, upstream servers, proxies and the
target matrix (`demo-direct`, `demo-proxied`, `everything-direct`, `everything-proxied`), the
stdio upstream cells (`stdio_target`, see stdio_clients.py), and for the auth tests the OAuth
authorization server (`oauth_server`, see oauth.py) and a header-recording upstream.

Servers are session-scoped (started once, on first use) and always stopped by process group in
teardown; `pytest_unconfigure` kills anything a teardown could not. A missing shadowcat binary
FAILS every test that needs it, unless SHADOWCAT_ALLOW_MISSING_BIN=1 (local development only).
SHADOWCAT_IO=glommio|uring runs every proxy the suite starts on that socket I/O path
(harness.IO_PATH); unset, the proxy's default.

Not here: process mechanics (harness.py), checks (mcp_checks.py, test_*.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import pytest

import harness
import oauth
import stdio_clients
from mcp_checks import DEMO, EVERYTHING, ServerProfile

ALL_TARGETS = ["demo-direct", "demo-proxied", "everything-direct", "everything-proxied"]
PROXIED_TARGETS = ["demo-proxied", "everything-proxied"]


@dataclass
class Target:
    """One cell of the matrix: where the client connects and what it should find there."""

    name: str
    endpoint: harness.Endpoint  # what the client talks to (the proxy when proxied)
    upstream: harness.Endpoint
    profile: ServerProfile
    proxied: bool

    @property
    def url(self) -> str:
        return self.endpoint.url


def pytest_report_header(config: pytest.Config) -> str:
    return f"shadowcat I/O path: {harness.IO_PATH or 'default (glommio; --io uring is opt-in)'}"


def pytest_unconfigure(config: pytest.Config) -> None:
    harness.stop_all()


@pytest.fixture(scope="session")
def shadowcat_bin() -> Path:
    configured = os.environ.get("SHADOWCAT_BIN", "")
    path = Path(configured) if configured else None
    if path is not None and path.is_file() and os.access(path, os.X_OK):
        return path.resolve()
    why = f"SHADOWCAT_BIN={configured!r} is not an executable file" if configured else "SHADOWCAT_BIN is not set"
    if os.environ.get("SHADOWCAT_ALLOW_MISSING_BIN") == "1":
        pytest.skip(f"{why} (allowed by SHADOWCAT_ALLOW_MISSING_BIN=1)")
    pytest.fail(f"{why}: build it (cargo build --release) and set SHADOWCAT_BIN=target/release/shadowcat",
                pytrace=False)


def _started(start: Callable[[], harness.Endpoint]) -> harness.Endpoint:
    """`start()`, turning a HarnessError into a plain pytest failure carrying the child's output."""
    try:
        return start()
    except harness.HarnessError as error:
        message = str(error)
    pytest.fail(message, pytrace=False)


def _serve(start: Callable[[], harness.Endpoint]) -> Iterator[harness.Endpoint]:
    endpoint = _started(start)
    try:
        yield endpoint
    finally:
        endpoint.stop()


@pytest.fixture(scope="session")
def demo_upstream(shadowcat_bin: Path) -> Iterator[harness.Endpoint]:
    yield from _serve(lambda: harness.start_demo_server(shadowcat_bin))


@pytest.fixture(scope="session")
def everything_upstream() -> Iterator[harness.Endpoint]:
    yield from _serve(harness.start_everything_server)


@pytest.fixture(scope="session")
def everythingsse_upstream() -> Iterator[harness.Endpoint]:
    """server-everything speaking the legacy HTTP+SSE transport (2024-11-05)."""
    yield from _serve(lambda: harness.start_everything_server("sse"))


@pytest.fixture(scope="session")
def demo_proxy(shadowcat_bin: Path, demo_upstream: harness.Endpoint) -> Iterator[harness.Endpoint]:
    yield from _serve(lambda: harness.start_proxy(shadowcat_bin, demo_upstream.url))


@pytest.fixture(scope="session")
def everything_proxy(shadowcat_bin: Path, everything_upstream: harness.Endpoint) -> Iterator[harness.Endpoint]:
    yield from _serve(lambda: harness.start_proxy(shadowcat_bin, everything_upstream.url))


@pytest.fixture(scope="session")
def everythingsse_proxy(shadowcat_bin: Path, everythingsse_upstream: harness.Endpoint) -> Iterator[harness.Endpoint]:
    """The proxy (Streamable HTTP to clients) in front of the legacy HTTP+SSE server-everything."""
    yield from _serve(lambda: harness.start_proxy(
        shadowcat_bin, everythingsse_upstream.url, extra=["--upstream-transport", "sse"]))


@pytest.fixture(scope="module")
def oauth_server() -> Iterator[oauth.OAuthServer]:
    """The real authorization server (oauth_server.mjs: oauth2-mock-server, RS256 + ES256 keys) for
    one test module; see oauth.py for its tokens and the hostile ones."""
    server = _started_oauth(oauth.start_oauth_server)
    try:
        yield server
    finally:
        server.stop()


def _started_oauth(start: Callable[[], oauth.OAuthServer]) -> oauth.OAuthServer:
    try:
        return start()
    except harness.HarnessError as error:
        message = str(error)
    pytest.fail(message, pytrace=False)


@pytest.fixture(scope="module")
def recording_upstream() -> Iterator[harness.Endpoint]:
    """fixtures/recording_http_server.py: a FastMCP Streamable HTTP server whose `recorded_headers`
    tool returns the headers of every HTTP request it received (one server per test module)."""
    yield from _serve(harness.start_recording_server)


@pytest.fixture
def target(request: pytest.FixtureRequest) -> Target:
    """Parametrize with `indirect=True` over ALL_TARGETS or PROXIED_TARGETS."""
    name: str = request.param
    kind, mode = name.split("-")
    upstream = request.getfixturevalue(f"{kind}_upstream")
    proxied = mode == "proxied"
    endpoint = request.getfixturevalue(f"{kind}_proxy") if proxied else upstream
    return Target(name, endpoint, upstream, DEMO if kind == "demo" else EVERYTHING, proxied)


# Proxied targets whose upstream a Streamable HTTP client cannot reach directly.
TRANSLATED_TARGETS = ["everythingsse-proxied"]


@pytest.fixture
def start_proxy(shadowcat_bin: Path) -> Iterator:
    """Factory for test-owned proxies (extra flags, dead upstreams); all stopped at test end."""
    started: list[harness.Endpoint] = []

    def start(upstream_url: str, **options) -> harness.Endpoint:
        endpoint = _started(lambda: harness.start_proxy(shadowcat_bin, upstream_url, **options))
        started.append(endpoint)
        return endpoint

    try:
        yield start
    finally:
        for endpoint in started:
            endpoint.stop()


@pytest.fixture
def stdio_target(request: pytest.FixtureRequest) -> Iterator[stdio_clients.StdioTarget]:
    """Parametrize indirectly with "UPSTREAM/MODE" cells (stdio_clients.cells); see
    stdio_clients.serve_stdio_target."""
    yield from stdio_clients.serve_stdio_target(request.param, lambda: request.getfixturevalue("shadowcat_bin"))
