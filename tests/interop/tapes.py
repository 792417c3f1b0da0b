"""Tapes written by the tests themselves, following docs/tapes.md (the recorder is not needed to
test the readers): a header line, then one line per message, `\n` after each.

`TapeWriter` builds a tape message by message with explicit times; `capture_http` records a real
server's answers by speaking raw Streamable HTTP to it (urllib), so a tape of what the demo server
really says can be written without a proxy.

Not here: the tests (test_replay.py, test_tape_cli.py).
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

START_US = 1_796_642_280_000_000  # 2026-12-07T11:18:00Z


class TapeWriter:
    """A tape in memory: `c2s`/`s2c` add messages `at_ms` after the start; `write` saves it."""

    def __init__(self, session: str = "sha256:00112233445566778899aabbccddeeff", part: int = 1,
                 start_us: int = START_US) -> None:
        self.start_us = start_us
        self.header = {
            "shadowcat_tape": 1, "session": session, "route": "default",
            "upstream": "http://127.0.0.1:9000/mcp", "transport": "streamable_http",
            "protocol_version": "2025-06-18", "started": "2026-12-07T11:18:00.000000Z",
            "started_us": start_us, "shard": 0, "part": part, "status": "complete",
        }
        self.lines: list[str] = []

    def add(self, direction: str, at_ms: float, msg: dict[str, Any]) -> "TapeWriter":
        line = {"t_us": self.start_us + int(at_ms * 1000), "dir": direction, "msg": msg}
        self.lines.append(json.dumps(line, separators=(",", ":")))
        return self

    def c2s(self, at_ms: float, msg: dict[str, Any]) -> "TapeWriter":
        return self.add("c2s", at_ms, msg)

    def s2c(self, at_ms: float, msg: dict[str, Any]) -> "TapeWriter":
        return self.add("s2c", at_ms, msg)

    def text(self) -> str:
        # The status padded with spaces, as the recorder writes it.
        header = json.dumps(self.header, separators=(",", ":"))[:-1] + "     }"
        return "\n".join([header, *self.lines]) + "\n"

    def write(self, path: Path, tail: str = "") -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.text() + tail)
        return path


def capture_http(url: str, messages: list[dict[str, Any]]) -> TapeWriter:
    """Sends `messages` in order to the Streamable HTTP server at `url` (JSON answers) and records
    them with the answers, 1 ms apart."""
    tape = TapeWriter()
    session: str | None = None
    version: str | None = None
    clock = 0.0
    for message in messages:
        headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
        if session:
            headers["Mcp-Session-Id"] = session
        if version:
            headers["MCP-Protocol-Version"] = version
        request = urllib.request.Request(url, data=json.dumps(message).encode(), headers=headers, method="POST")
        tape.c2s(clock, message)
        with urllib.request.urlopen(request, timeout=10) as response:
            session = response.headers.get("Mcp-Session-Id") or session
            body = response.read()
        clock += 1
        if "id" in message:
            answer = json.loads(body)
            assert "id" in answer, answer
            tape.s2c(clock, answer)
            if message["method"] == "initialize":
                version = answer["result"]["protocolVersion"]
            clock += 1
    return tape
