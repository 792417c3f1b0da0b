"""A deliberately small HTTP/1.1 client over a plain socket, for tests that must control every byte
(wrong headers, smuggling attempts, keep-alive reuse) and see exactly what the proxy answers.

Plus raw MCP helpers on top of it: initialize a session, send a tools/call, pick the JSON-RPC
response with a given id out of a JSON or `text/event-stream` body. Long-lived SSE answers can
be read event by event while still open (`open_stream`, `SseStream`).

Not here: process management (harness.py), SDK-level checks (mcp_checks.py).
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

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
class SseEvent:
    """One dispatched SSE block: its `id`, `event` and joined `data` (None when it had no data line)."""

    id: str | None = None
    event: str | None = None
    data: str | None = None
    retry: str | None = None

    def message(self) -> dict[str, Any] | None:
        """The JSON-RPC message in `data`, or None for a block without data (e.g. a priming event)."""
        return json.loads(self.data) if self.data and self.data.strip() else None


class SseStream:
    """A `text/event-stream` response read event by event while it is still open.

    Unlike WHATWG dispatch, a block with an `id` but no data (a priming event) is returned too:
    the tests need every event id the server handed out.
    """

    def __init__(self, conn: "RawConnection", response: RawResponse) -> None:
        self.conn = conn
        self.response = response
        content_type = (response.header("content-type") or "").lower()
        self.is_sse = response.status == 200 and content_type.startswith("text/event-stream")
        self._pieces = conn.body_pieces(response) if self.is_sse else iter(())
        self._text = ""
        self._ended = not self.is_sse
        self._block = SseEvent()
        self._data_lines: list[str] = []

    def _next_line(self) -> str | None:
        """One complete line (without its terminator), or None at the end of the body."""
        while True:
            for index, char in enumerate(self._text):
                if char == "\n" or (char == "\r" and (index + 1 < len(self._text) or self._ended)):
                    end = index + 2 if self._text[index:index + 2] == "\r\n" else index + 1
                    line, self._text = self._text[:index], self._text[end:]
                    return line
            if self._ended:
                return None
            piece = next(self._pieces, None)
            if piece is None:
                self._ended = True
            else:
                self._text += piece.decode("utf-8")

    def next_event(self) -> SseEvent | None:
        """The next event, or None once the server ended the body (a half block is dropped)."""
        while (line := self._next_line()) is not None:
            if line == "":
                block, self._block = self._block, SseEvent()
                if self._data_lines:
                    block.data = "\n".join(self._data_lines)
                self._data_lines = []
                if block != SseEvent():
                    return block
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "data":
                self._data_lines.append(value)
            elif name in ("id", "event", "retry"):
                setattr(self._block, name, value)
        return None

    def events_until(self, done: Callable[[SseEvent], bool], what: str) -> list[SseEvent]:
        """Events up to and including the first one `done` accepts; AssertionError if the body ends first."""
        events: list[SseEvent] = []
        while (event := self.next_event()) is not None:
            events.append(event)
            if done(event):
                return events
        raise AssertionError(f"stream ended before {what}; got {events}")

    def rest(self) -> list[SseEvent]:
        """Every remaining event, reading until the server ends the body."""
        events: list[SseEvent] = []
        while (event := self.next_event()) is not None:
            events.append(event)
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
        self.send_request(method, path, headers, body, add_host=add_host, add_length=add_length)
        return self.read_response(head_only=method == "HEAD")

    def send_request(self, method: str, path: str, headers: Headers, body: bytes = b"", *,
                     add_host: bool = True, add_length: bool = True) -> None:
        """Sends one request (adding Host and Content-Length unless told not to), reads nothing."""
        names = {name.lower() for name, _ in headers}
        lines = [f"{method} {path} HTTP/1.1"]
        if add_host and "host" not in names:
            lines.append(f"Host: {self.host_header}")
        lines += [f"{name}: {value}" for name, value in headers]
        if add_length and "content-length" not in names and "transfer-encoding" not in names:
            lines.append(f"Content-Length: {len(body)}")
        self.send_raw(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)

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

    def open_stream(self, method: str, path: str, headers: Headers, body: bytes = b"") -> "SseStream":
        """Sends a request and reads only the response head; the body is then read event by event.

        For long-lived `text/event-stream` answers (GET streams, progress streams) whose end the
        test decides. A non-SSE answer is read whole and kept in `SseStream.response.body`.
        """
        self.send_request(method, path, headers, body)
        return self.read_stream()

    def read_stream(self) -> "SseStream":
        """Reads the next response's head; an SSE body is left to be read event by event."""
        response = self.read_response_head()
        stream = SseStream(self, response)
        if not stream.is_sse:
            response.body = b"".join(self.body_pieces(response))
        return stream

    def read_response_head(self) -> RawResponse:
        """The status line and headers of the next response; the body is left unread."""
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
        return RawResponse(status, parts[2] if len(parts) > 2 else "", headers, b"")

    def read_response(self, head_only: bool = False) -> RawResponse:
        response = self.read_response_head()
        status = response.status
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
        return b"".join(self._chunks())

    def _chunks(self) -> Iterator[bytes]:
        """The chunks of a chunked body, each as soon as it has arrived whole."""
        while True:
            size = int(self._take_until(b"\r\n").split(b";")[0].strip(), 16)
            if size == 0:
                while self._take_until(b"\r\n"):  # trailers end with an empty line
                    pass
                return
            yield self._take(size)
            self._take_until(b"\r\n")

    def _until_close(self) -> Iterator[bytes]:
        """A body delimited by the peer closing: whatever arrives, as it arrives."""
        while True:
            if self._buffer:
                taken, self._buffer = self._buffer, b""
                yield taken
            try:
                self._fill()
            except RawHttpError:
                return

    def body_pieces(self, response: RawResponse) -> Iterator[bytes]:
        """The body of `response` (whose head was just read) piece by piece, as it arrives."""
        if response.status in (204, 304) or 100 <= response.status < 200:
            return iter(())
        if "chunked" in (response.header("transfer-encoding") or "").lower():
            return self._chunks()
        if (length := response.header("content-length")) is not None:
            return iter((self._take(int(length)),))
        return self._until_close()

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
