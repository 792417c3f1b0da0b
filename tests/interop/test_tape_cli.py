"""`shadowcat tape …` on tapes written here (tapes.py, following docs/tapes.md): list groups a
session's parts and names client and server, show/export/stats read them, verify reports a cut
last line with its byte offset and a bad header (exit 1), repair cuts the line, delete refuses
what is not a tape and deletes old sessions. Missing and non-tape files exit 2, never a panic.

Not here: replaying (test_replay.py), reader details (src/tape/*_tests.rs).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

from tapes import START_US, TapeWriter


def tape_cmd(shadowcat_bin: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(shadowcat_bin), "tape", *map(str, args)], capture_output=True, text=True, timeout=60)


def small_session(session: str = "sha256:00112233445566778899aabbccddeeff", part: int = 1,
                  start_us: int = START_US) -> TapeWriter:
    tape = TapeWriter(session=session, part=part, start_us=start_us)
    tape.c2s(0, {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "py-client", "version": "2.0"}}})
    tape.s2c(2, {"jsonrpc": "2.0", "id": 0, "result": {"protocolVersion": "2025-06-18", "capabilities": {},
                                                        "serverInfo": {"name": "py-server", "version": "3.1"}}})
    tape.c2s(3, {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "echo", "arguments": {"m": "x"}}})
    tape.s2c(7, {"jsonrpc": "2.0", "id": 1, "error": {"code": -32602, "message": "Unknown tool: echo"}})
    return tape


def test_list_groups_parts_and_names_both_ends(shadowcat_bin: Path, tmp_path: Path) -> None:
    day = tmp_path / "2026-12-07"
    small_session().write(day / "a.tape.jsonl")
    second = TapeWriter(part=2).c2s(9, {"jsonrpc": "2.0", "id": 2, "method": "ping"})
    second.s2c(10, {"jsonrpc": "2.0", "id": 2, "result": {}}).write(day / "a.2.tape.jsonl")
    small_session(session="sha256:ffff").write(tmp_path / "2026-12-08" / "b.tape.jsonl")
    run = tape_cmd(shadowcat_bin, "list", tmp_path, "--json")
    assert run.returncode == 0, run.stderr
    rows = [json.loads(line) for line in run.stdout.splitlines()]
    assert [r["parts"] for r in rows] == [2, 1]
    assert rows[0]["messages"] == 6 and rows[0]["duration_us"] == 10_000
    assert rows[0]["client"] == "py-client 2.0" and rows[0]["server"] == "py-server 3.1"
    table = tape_cmd(shadowcat_bin, "list", tmp_path).stdout
    assert "py-client 2.0" in table and "(2 parts)" in table


def test_show_export_and_stats_read_the_tape(shadowcat_bin: Path, tmp_path: Path) -> None:
    tape = small_session().write(tmp_path / "t.tape.jsonl")
    show = tape_cmd(shadowcat_bin, "show", tape)
    assert "→ #1 tools/call echo" in show.stdout and "← #1 error  -32602 Unknown tool: echo" in show.stdout
    events = [json.loads(line) for line in tape_cmd(shadowcat_bin, "show", tape, "--json").stdout.splitlines()]
    assert [e["kind"] for e in events] == ["request", "answer", "request", "error"]
    har = json.loads(tape_cmd(shadowcat_bin, "export", tape, "--format", "har").stdout)
    assert har["log"]["version"] == "1.2" and len(har["log"]["entries"]) == 2
    assert json.loads(har["log"]["entries"][1]["request"]["postData"]["text"])["method"] == "tools/call"
    assert len(tape_cmd(shadowcat_bin, "export", tape, "--format", "jsonl").stdout.splitlines()) == 4
    assert "# Tape sha256:" in tape_cmd(shadowcat_bin, "export", tape, "--format", "markdown").stdout
    stats = json.loads(tape_cmd(shadowcat_bin, "stats", tape, "--json").stdout)
    assert stats["errors"] == 1 and stats["methods"]["tools/call"]["p50_us"] == 4000


def test_verify_and_repair_a_cut_last_line(shadowcat_bin: Path, tmp_path: Path) -> None:
    whole = small_session().text()
    tape = tmp_path / "cut.tape.jsonl"
    tape.write_text(whole + '{"t_us":1796642280009000,"dir":"s2c","msg":{"jsonrpc"')
    verify = tape_cmd(shadowcat_bin, "verify", tmp_path)
    assert verify.returncode == 1
    assert f"cut last line at byte {len(whole.encode())}" in verify.stdout
    repair = tape_cmd(shadowcat_bin, "repair", tape)
    assert repair.returncode == 0 and "dropped the cut last line" in repair.stdout
    assert tape.read_text() == whole
    assert tape_cmd(shadowcat_bin, "verify", tape).returncode == 0


def test_bad_header_bad_line_and_missing_files(shadowcat_bin: Path, tmp_path: Path) -> None:
    (tmp_path / "v2.tape.jsonl").write_text('{"shadowcat_tape":2}\n')
    lines = small_session().text().splitlines()
    lines[2] = "not json"
    (tmp_path / "bad.tape.jsonl").write_text("\n".join(lines) + "\n")
    verify = tape_cmd(shadowcat_bin, "verify", tmp_path)
    assert verify.returncode == 1
    assert "format version 2" in verify.stdout and "line 3" in verify.stdout
    for args in (["show", tmp_path / "missing.tape.jsonl"], ["stats", tmp_path / "v2.tape.jsonl"],
                 ["repair", tmp_path / "v2.tape.jsonl"], ["verify", tmp_path / "nothing-here"]):
        run = tape_cmd(shadowcat_bin, *args)
        assert run.returncode == 2 and run.stderr.startswith("shadowcat tape: "), (args, run.stderr)
        assert "panicked" not in run.stderr


def test_delete_one_tape_and_old_sessions(shadowcat_bin: Path, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("keep me\n")
    refused = tape_cmd(shadowcat_bin, "delete", notes)
    assert refused.returncode == 2 and notes.exists()
    one = small_session().write(tmp_path / "one.tape.jsonl")
    assert tape_cmd(shadowcat_bin, "delete", one).returncode == 0 and not one.exists()
    now_us = time.time_ns() // 1000
    old = small_session(start_us=now_us - 3 * 3600 * 10**6).write(tmp_path / "2026-12-07" / "old.tape.jsonl")
    new = small_session(session="sha256:ffff", start_us=now_us).write(tmp_path / "2026-12-08" / "new.tape.jsonl")
    run = tape_cmd(shadowcat_bin, "delete", "--older-than", "1h", tmp_path)
    assert run.returncode == 0 and "1 tape file(s) deleted" in run.stdout
    assert not old.exists() and not old.parent.exists() and new.exists() and notes.exists()


def test_every_command_ends_quietly_on_a_closed_stdout(shadowcat_bin: Path, tmp_path: Path) -> None:
    """`tape … | head -1`: the reader is gone before anything is written; a write error on the
    closed pipe is a normal end (exit 0), never a panic."""
    tape = small_session().write(tmp_path / "t.tape.jsonl")
    commands = [["list", tmp_path], ["show", tape], ["show", tape, "--json"], ["stats", tape],
                ["export", tape, "--format", "har"], ["export", tape, "--format", "markdown"],
                ["export", tape, "--format", "jsonl"], ["verify", tmp_path], ["repair", tape]]
    for args in commands:
        read_end, write_end = os.pipe()
        os.close(read_end)
        try:
            run = subprocess.run([str(shadowcat_bin), "tape", *map(str, args)], stdout=write_end,
                                 stderr=subprocess.PIPE, text=True, timeout=60)
        finally:
            os.close(write_end)
        assert run.returncode == 0 and "panicked" not in run.stderr, (args, run.returncode, run.stderr)
