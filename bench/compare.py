#!/usr/bin/env python3
"""Compares two bench/run.sh reports by their ratios and flags every one that got worse.

Usage: bench/compare.py REPORT BASELINE [--threshold PCT]   (exit 1 when any ratio regressed)

Ratios, not absolute numbers, because absolute numbers move between machines and runs:
  proxied/direct throughput       (higher is better)
  shadowcat/nginx throughput      (higher is better; only when both reports ran nginx)
  shadowcat/nginx CPU per request (lower is better; same)
  proxy CPU per proxied request / upstream CPU per direct request (lower is better: the proxy's
      cost in units of the upstream's, which tracks the machine's speed)
  bytes per idle session          (lower is better; memory does not depend on CPU speed)
A ratio missing from either report is listed as skipped, never as a pass.

Not here: running anything (bench/run.sh), the report format (written by run.sh).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

HIGHER, LOWER = "higher", "lower"


def _float(pattern: str, text: str) -> float | None:
    match = re.search(pattern, text, re.MULTILINE)
    return float(match.group(1)) if match else None


def _row(label: str, text: str) -> list[str] | None:
    """The summary table row for `label` (run, req/s, p50, p99, proxy CPU, upstream CPU, wrk %)."""
    match = re.search(rf"^{re.escape(label)}\s+(\S.*)$", text, re.MULTILINE)
    return match.group(1).split() if match else None


def ratios(text: str) -> dict[str, tuple[float, str]]:
    """Every comparable ratio a report holds, with the direction that is better."""
    found: dict[str, tuple[float, str]] = {}
    value = _float(r"^throughput ratio proxied/direct: ([0-9.]+)", text)
    if value is not None:
        found["proxied/direct throughput"] = (value, HIGHER)
    nginx = re.search(
        r"^shadowcat vs nginx proxy_pass: throughput ([0-9.]+), CPU per request ([0-9.]+) µs vs ([0-9.]+) µs",
        text,
        re.MULTILINE,
    )
    if nginx:
        found["shadowcat/nginx throughput"] = (float(nginx.group(1)), HIGHER)
        if float(nginx.group(3)) > 0:
            found["shadowcat/nginx CPU per request"] = (float(nginx.group(2)) / float(nginx.group(3)), LOWER)
    proxied, direct = _row("proxied", text), _row("direct", text)
    if proxied and direct and len(proxied) >= 5 and len(direct) >= 5 and float(direct[4]) > 0:
        found["proxy CPU / upstream CPU per request"] = (float(proxied[3]) / float(direct[4]), LOWER)
    value = _float(r"bytes_per_session=([0-9.]+)", text)
    if value is not None:
        found["bytes per idle session"] = (value, LOWER)
    ours = _float(r"^system calls, shadowcat: ([0-9.]+) per request", text)
    theirs = _float(r"^system calls, nginx: ([0-9.]+) per request", text)
    if ours is not None and theirs:
        found["shadowcat/nginx system calls per request"] = (ours / theirs, LOWER)
    value = _float(r"^proxy RSS: .*: ([0-9.]+) KB per stream", text)
    if value is not None:
        found["KB per open SSE stream (scale.sh)"] = (value, LOWER)
    return found


def compare(report: str, baseline: str, threshold_pct: float) -> tuple[list[str], bool]:
    """Lines to print and whether any ratio got worse by more than `threshold_pct`."""
    new, old = ratios(report), ratios(baseline)
    lines, worse = [], False
    for name in sorted(set(new) | set(old)):
        if name not in new or name not in old:
            lines.append(f"skipped  {name}: only in the {'report' if name in new else 'baseline'}")
            continue
        (value, better), (base, _) = new[name], old[name]
        if base == 0:
            lines.append(f"skipped  {name}: baseline is 0")
            continue
        change = (value - base) / base * 100
        regressed = change < -threshold_pct if better == HIGHER else change > threshold_pct
        worse |= regressed
        verdict = "WORSE  " if regressed else "ok     "
        lines.append(f"{verdict} {name}: {value:.3f} vs {base:.3f} ({change:+.1f} %, {better} is better)")
    return lines, worse


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("baseline", type=Path)
    parser.add_argument("--threshold", type=float, default=5.0, help="percent (default 5)")
    args = parser.parse_args()
    lines, worse = compare(args.report.read_text(), args.baseline.read_text(), args.threshold)
    print(f"compare against {args.baseline} (threshold {args.threshold:g} %):")
    for line in lines:
        print(f"  {line}")
    if worse:
        print("compare: at least one ratio got worse than the threshold", file=sys.stderr)
    return 1 if worse else 0


if __name__ == "__main__":
    sys.exit(main())
