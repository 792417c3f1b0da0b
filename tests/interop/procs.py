"""Processes by pid, read from /proc: state and parent of a pid, a process's children, zombies, and
a last-resort SIGKILL for children a test left behind (stdio children live in their own process
groups, so the harness's killpg of the proxy does not reach them).

Not here: starting processes (harness.py).
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path


def proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, ppid) of `pid`, or None when it is gone (reaped)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text.rsplit(")", 1)[1].split()
    return fields[0], int(fields[1])


def children_of(ppid: int) -> dict[int, str]:
    """pid -> state of every process whose parent is `ppid`."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = proc_stat(int(entry.name))
            if stat is not None and stat[1] == ppid:
                found[int(entry.name)] = stat[0]
    return found


def zombies_of(ppid: int) -> list[int]:
    return [pid for pid, state in children_of(ppid).items() if state == "Z"]


def gone(pid: int) -> bool:
    return proc_stat(pid) is None


def dead(pid: int) -> bool:
    stat = proc_stat(pid)
    return stat is None or stat[0] == "Z"


def kill_leftovers(pids: list[int], command_tail: str) -> None:
    """SIGKILLs those of `pids` still running `command_tail` (children in their own process
    groups escape the harness's killpg of the proxy); a failing test must not leak them."""
    for pid in pids:
        with contextlib.suppress(OSError):
            if command_tail.encode() in Path(f"/proc/{pid}/cmdline").read_bytes() and not dead(pid):
                os.kill(pid, signal.SIGKILL)
