"""A deliberately small HTTP/1.1 client over a plain socket, for tests that must control every byte
(wrong headers, smuggling attempts, keep-alive reuse) and see exactly what the proxy answers.

Plus raw MCP helpers on top of it: initialize a session, send a tools/call, pick the JSON-RPC
response with a given id out of a JSON or `text/event-stream` body.

Not here: process management (harness.py), SDK-level checks (mcp_checks.py).
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass, field
from typing import Any, Sequence

# Any single read in these tests completes in milliseconds; 15 s only bounds a hang.
IO_TIMEOUT_S = 15.0
# Protocol version sent by the raw initialize (what the Python SDK 1.30 sends too).
RAW_PROTOCOL_VERSION = "2025-11-25"
MCP_ACCEPT = "application/json, text/event-stream"

Headers = Sequence[tuple[str, str]]


class RawHttpError(RuntimeError):
    """The peer closed the connection or sent something that is not HTTP/1.1."""


@dataclass
class RawResponse:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((value for key, value in self.headers if key == name), None)

    def json(self) -> Any:
        return json.loads(self.body)

    def jsonrpc_messages(self) -> list[dict[str, Any]]:
        """The JSON-RPC messages of a JSON body or of the `data:` fields of an SSE body."""
        content_type = (self.header("content-type") or "").lower()
        if content_type.startswith("text/event-stream"):
            return [json.loads(data) for data in sse_data_fields(self.body) if data.strip()]
        if not self.body.strip():
            return []
        parsed = json.loads(self.body)
        return parsed if isinstance(parsed, list) else [parsed]

    def response_for(self, request_id: Any) -> dict[str, Any]:
        """The one JSON-RPC response (result or error) carrying `request_id`."""
        matches = [m for m in self.jsonrpc_messages()
                   if m.get("id") == request_id and ("result" in m or "error" in m)]
        if len(matches) != 1:
            raise AssertionError(f"expected one response with id {request_id!r}, got {self.describe()}")
        return matches[0]

    def describe(self) -> str:
        return f"HTTP {self.status} {self.reason} headers={self.headers} body={self.body[:600]!r}"


def sse_data_fields(body: bytes) -> list[str]:
    """Joined `data:` lines of each SSE event (WHATWG rules: LF/CRLF/CR, optional space after ':')."""
    events: list[str] = []
    data_lines: list[str] = []
    for line in body.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if line == "":
            if data_lines:
                events.append("\n".join(data_lines))
            data_lines = []
        elif line.startswith("data:"):
            value = line[5:]
            data_lines.append(value[1:] if value.startswith(" ") else value)
    if data_lines:
        events.append("\n".join(data_lines))
    return events


@dataclass
class RawConnection:
    """One TCP connection; requests on it are sent and answered one at a time (keep-alive)."""

    host: str
    port: int
    timeout_s: float = IO_TIMEOUT_S
    _sock: socket.socket = field(init=False)
    _buffer: bytes = field(init=False, default=b"")

    def __post_init__(self) -> None:
        self._sock = socket.create_connection((self.host, self.port), timeout=self.timeout_s)

    def __enter__(self) -> "RawConnection":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def host_header(self) -> str:
        return f"{self.host}:{self.port}"

    def close(self) -> None:
        self._sock.close()

    def send_raw(self, data: bytes) -> None:
        self._sock.sendall(data)

    def request(self, method: str, path: str, headers: Headers, body: bytes = b"", *,
                add_host: bool = True, add_length: bool = True) -> RawResponse:
        """Sends one request (adding Host and Content-Length unless told not to) and reads the answer."""
        names = {name.lower() for name, _ in headers}
        lines = [f"{method} {path} HTTP/1.1"]
        if add_host and "host" not in names:
            lines.append(f"Host: {self.host_header}")
        lines += [f"{name}: {value}" for name, value in headers]
        if add_length and "content-length" not in names and "transfer-encoding" not in names:
            lines.append(f"Content-Length: {len(body)}")
        self.send_raw(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        return self.read_response(head_only=method == "HEAD")

    def _fill(self) -> None:
        chunk = self._sock.recv(65536)
        if not chunk:
            raise RawHttpError(f"connection closed by peer; unread bytes: {self._buffer[:200]!r}")
        self._buffer += chunk

    def _take_until(self, marker: bytes) -> bytes:
        while (index := self._buffer.find(marker)) < 0:
            self._fill()
        taken, self._buffer = self._buffer[:index], self._buffer[index + len(marker):]
        return taken

    def _take(self, count: int) -> bytes:
        while len(self._buffer) < count:
            self._fill()
        taken, self._buffer = self._buffer[:count], self._buffer[count:]
        return taken

    def _take_rest(self) -> bytes:
        while True:
            try:
                self._fill()
            except RawHttpError:
                break
        taken, self._buffer = self._buffer, b""
        return taken

    def read_response(self, head_only: bool = False) -> RawResponse:
        head = self._take_until(b"\r\n\r\n").decode("latin-1")
        status_line, *header_lines = head.split("\r\n")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise RawHttpError(f"not an HTTP/1.x status line: {status_line!r}")
        status = int(parts[1])
        headers = []
        for line in header_lines:
            name, _, value = line.partition(":")
            headers.append((name.strip().lower(), value.strip()))
        response = RawResponse(status, parts[2] if len(parts) > 2 else "", headers, b"")
        if head_only or status in (204, 304) or 100 <= status < 200:
            return response
        if "chunked" in (response.header("transfer-encoding") or "").lower():
            response.body = self._read_chunked()
        elif (length := response.header("content-length")) is not None:
            response.body = self._take(int(length))
        else:
            response.body = self._take_rest()
        return response

    def _read_chunked(self) -> bytes:
        body = b""
        while True:
            size = int(self._take_until(b"\r\n").split(b";")[0].strip(), 16)
            if size == 0:
                while self._take_until(b"\r\n"):  # trailers end with an empty line
                    pass
                return body
            body += self._take(size)
            self._take_until(b"\r\n")

    def peer_closed(self, timeout_s: float = IO_TIMEOUT_S) -> bool:
        """True when the peer closes (EOF or reset) within `timeout_s` with nothing more to read."""
        if self._buffer:
            return False
        self._sock.settimeout(timeout_s)
        try:
            return self._sock.recv(1) == b""
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False
        finally:
            self._sock.settimeout(self.timeout_s)


def mcp_headers(session_id: str | None = None, protocol_version: str | None = None,
                extra: Headers = ()) -> list[tuple[str, str]]:
    """The headers a well-behaved Streamable HTTP client sends on a POST."""
    headers = [("Accept", MCP_ACCEPT), ("Content-Type", "application/json")]
    if session_id is not None:
        headers.append(("Mcp-Session-Id", session_id))
    if protocol_version is not None:
        headers.append(("MCP-Protocol-Version", protocol_version))
    return headers + list(extra)


def jsonrpc(method: str, params: dict[str, Any] | None = None, request_id: Any = None) -> bytes:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        message["params"] = params
    if request_id is not None:
        message["id"] = request_id
    return json.dumps(message).encode()


def initialize_body(request_id: Any, client_name: str = "shadowcat-interop-raw") -> bytes:
    return jsonrpc("initialize", {
        "protocolVersion": RAW_PROTOCOL_VERSION,
        "capabilities": {},
        "clientInfo": {"name": client_name, "version": "0.0.0"},
    }, request_id)


@dataclass
class RawSession:
    session_id: str
    protocol_version: str

    def headers(self, extra: Headers = ()) -> list[tuple[str, str]]:
        return mcp_headers(self.session_id, self.protocol_version, extra)


def open_session(conn: RawConnection, request_id: Any = "init-1") -> RawSession:
    """initialize + notifications/initialized over `conn`; asserts the happy-path statuses."""
    response = conn.request("POST", "/mcp", mcp_headers(), initialize_body(request_id))
    assert response.status == 200, f"initialize: {response.describe()}"
    session_id = response.header("mcp-session-id")
    assert session_id, f"initialize answered without Mcp-Session-Id: {response.describe()}"
    result = response.response_for(request_id).get("result")
    assert result, f"initialize failed: {response.describe()}"
    session = RawSession(session_id, result["protocolVersion"])
    initialized = conn.request("POST", "/mcp", session.headers(), jsonrpc("notifications/initialized"))
    assert initialized.status == 202, f"notifications/initialized: {initialized.describe()}"
    return session


def call_tool(conn: RawConnection, session: RawSession, request_id: Any, name: str,
              arguments: dict[str, Any]) -> dict[str, Any]:
    """tools/call over `conn`; returns the JSON-RPC response with `request_id` (asserts HTTP 200)."""
    body = jsonrpc("tools/call", {"name": name, "arguments": arguments}, request_id)
    response = conn.request("POST", "/mcp", session.headers(), body)
    assert response.status == 200, f"tools/call {name} id={request_id!r}: {response.describe()}"
    return response.response_for(request_id)


def tool_text(response: dict[str, Any]) -> str:
    """The text of the first content block of a tools/call result (AssertionError on an error)."""
    assert "result" in response, f"tool call failed: {response}"
    blocks = response["result"].get("content") or []
    texts = [block.get("text") for block in blocks if block.get("type") == "text"]
    assert texts, f"no text content in {response}"
    return texts[0]
