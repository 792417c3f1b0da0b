"""Conformance comparison: runs @modelcontextprotocol/conformance (server mode) against each real
upstream (server-everything, and shadowcat's own demo server) directly and through
`shadowcat reverse`, then compares per scenario.

The suite is written for its own reference server, so many scenarios fail against
server-everything by fixture names alone; the gate is therefore relative, never "all pass":
  * every scenario that passes directly must pass through the proxy, and
  * `dns-rebinding-protection` must pass through the proxy (server-everything itself fails it).
The demo server is a second, different upstream for the same relative gate.

stdio upstreams: the suite needs an HTTP URL, so server-everything on stdio behind
`shadowcat reverse --upstream-cmd [--stdio-mode shared] -- node .../index.js stdio` is compared with
server-everything over Streamable HTTP directly (the run above), and likewise
`shadowcat demo-server --stdio` with the demo server over HTTP: the stdio-proxied run must fail no
scenario that the direct HTTP run passes, except those in STDIO_TRANSPORT_INHERENT (each with the
reason it cannot hold over stdio). Both stdio modes are run (per-session and shared).
Legacy HTTP+SSE upstreams: server-everything in its `sse` mode behind `--upstream-transport sse`
is gated the same way against server-everything over Streamable HTTP directly.
Era translation: the suite (a legacy client) through two proxies, the first translating for a
2026-07-28 upstream (`--upstream-era modern`), the second serving that modern client from
server-everything's legacy sessions (`--upstream-era legacy`): both translators on one path (the
suite speaks no 2026-07-28 itself, and no modern server implements its scenarios), same gate.
Expected difference that is not a failure: `server-sse-multiple-streams` runs 1 check instead of 2
through a stdio upstream, since the proxy answers a call whose first child message is the result
as plain JSON (the suite then reports its SSE check as INFO "SSE streams optional").
Exit status 1 when the gate fails or a run produced no results.

Usage: conformance.py [--direct-only] [--out DIR]   (the proxied run needs SHADOWCAT_BIN)
Not here: installing the suite (scripts/setup.sh), process mechanics (tests/interop/harness.py).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "interop"))

import harness  # noqa: E402

REQUIRED_THROUGH_PROXY = ("dns-rebinding-protection",)
# Scenarios passing against server-everything over HTTP that a stdio upstream cannot pass whatever
# the proxy does, with the reason. Empty: none was needed so far (keep it that way if possible).
STDIO_TRANSPORT_INHERENT: dict[str, str] = {}
STDIO_MODES = ("per-session", "shared")
# The whole active suite takes ~3 s here; 10 minutes bounds a hang on a loaded CI machine.
SUITE_TIMEOUT_S = 600
_RESULT_DIR = re.compile(r"^server-(?P<scenario>.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z$")


@dataclass
class ScenarioResult:
    passed: int
    failed: int

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.passed > 0

    def cell(self) -> str:
        return f"{'PASS' if self.ok else 'FAIL'} {self.passed}/{self.passed + self.failed}"


def run_suite(url: str, out_dir: Path) -> dict[str, ScenarioResult]:
    """Runs the active server suite against `url`; results per scenario from its checks.json files."""
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    log = out_dir.with_suffix(".log")
    argv = [str(harness.node22()), str(harness.CONFORMANCE_ENTRY), "server", "--url", url, "-o", str(out_dir)]
    with log.open("w") as sink:
        # The suite exits 1 whenever any scenario fails, which it always does here: judge by results.
        subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT,
                       env=harness.child_env(), timeout=SUITE_TIMEOUT_S, check=False)
    results: dict[str, ScenarioResult] = {}
    for checks_file in sorted(out_dir.glob("*/checks.json")):
        match = _RESULT_DIR.match(checks_file.parent.name)
        if not match:
            continue
        statuses = [check.get("status") for check in json.loads(checks_file.read_text())]
        results[match["scenario"]] = ScenarioResult(
            passed=sum(status == "SUCCESS" for status in statuses),
            failed=sum(status == "FAILURE" for status in statuses),
        )
    if not results:
        sys.exit(f"conformance: no results from {url}; see {log}")
    return results


def gate(direct: dict[str, ScenarioResult], proxied: dict[str, ScenarioResult],
         exempt: dict[str, str] | None = None) -> dict[str, str]:
    """Scenario -> verdict for every gated scenario ('ok', 'exempt: why', or why it fails)."""
    verdicts = {}
    for scenario in sorted(set(direct) | set(REQUIRED_THROUGH_PROXY)):
        through = proxied.get(scenario)
        if scenario in REQUIRED_THROUGH_PROXY:
            verdicts[scenario] = "ok" if through and through.ok else "must pass through the proxy"
        elif direct[scenario].ok:
            if through and through.ok:
                verdicts[scenario] = "ok"
            elif exempt and scenario in exempt:
                verdicts[scenario] = f"ok (exempt: {exempt[scenario]})"
            else:
                verdicts[scenario] = "REGRESSION: passes direct only"
    return verdicts


def print_table(direct: dict[str, ScenarioResult], proxied: dict[str, ScenarioResult] | None,
                verdicts: dict[str, str]) -> None:
    scenarios = sorted(set(direct) | set(proxied or {}))
    width = max(len(name) for name in scenarios)
    print(f"{'scenario':<{width}}  {'direct':<9}  {'proxied':<9}  gate")
    for name in scenarios:
        left = direct[name].cell() if name in direct else "-"
        right = proxied[name].cell() if proxied and name in proxied else "-"
        print(f"{name:<{width}}  {left:<9}  {right:<9}  {verdicts.get(name, '')}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--direct-only", action="store_true", help="only run against server-everything")
    parser.add_argument("--out", type=Path, default=harness.CACHE_DIR / "conformance", help="results directory")
    args = parser.parse_args()

    shadowcat_bin = None
    if not args.direct_only:
        configured = os.environ.get("SHADOWCAT_BIN", "")
        if not configured or not os.access(configured, os.X_OK):
            print(f"conformance: SHADOWCAT_BIN={configured!r} is not an executable (use --direct-only "
                  "to run without the proxy)", file=sys.stderr)
            return 1
        shadowcat_bin = Path(configured)

    upstreams = [("server-everything", harness.start_everything_server)]
    if shadowcat_bin is not None:
        # Our own demo server too: the same relative gate, on a second real upstream.
        upstreams.append(("shadowcat demo-server", lambda: harness.start_demo_server(shadowcat_bin)))
    status = 0
    direct_results: dict[str, dict[str, ScenarioResult]] = {}
    for name, start in upstreams:
        slug = name.replace(" ", "-")
        result, direct = compare(name, start, shadowcat_bin, args.out / slug)
        status |= result
        direct_results[name] = direct
    if shadowcat_bin is not None:
        # The same servers on stdio behind --upstream-cmd, gated against their direct HTTP runs.
        stdio_commands = {
            "server-everything": harness.everything_stdio_command(),
            "shadowcat demo-server": [str(shadowcat_bin), "demo-server", "--stdio"],
        }
        for name, command in stdio_commands.items():
            for mode in STDIO_MODES:
                out_dir = args.out / f"{name.replace(' ', '-')}-stdio-{mode}"
                status |= compare_through(
                    f"{name} on stdio through shadowcat ({mode})", direct_results[name],
                    lambda command=command, mode=mode: harness.start_stdio_proxy(shadowcat_bin, command, mode=mode),
                    out_dir)
        # server-everything speaking the legacy HTTP+SSE transport behind --upstream-transport sse.
        status |= compare_sse_upstream(direct_results["server-everything"], shadowcat_bin,
                                       args.out / "server-everything-sse")
        status |= compare_two_translations(direct_results["server-everything"], shadowcat_bin,
                                           args.out / "server-everything-two-translations")
    return status


def compare_two_translations(direct: dict[str, ScenarioResult], shadowcat_bin: Path, out_dir: Path) -> int:
    """The suite (a legacy client) through two proxies and both era translations: the first
    translates for a 2026-07-28 upstream (`--upstream-era modern`), the second serves that modern
    client from server-everything's legacy sessions (`--upstream-era legacy`). Gated against
    server-everything over Streamable HTTP direct; 1 if the gate fails."""
    upstream = harness.start_everything_server()
    try:
        inner = harness.start_proxy(shadowcat_bin, upstream.url, extra=["--upstream-era", "legacy"])
        try:
            return compare_through(
                "server-everything through legacy→modern→legacy translation", direct,
                lambda: harness.start_proxy(shadowcat_bin, inner.url, extra=["--upstream-era", "modern"]),
                out_dir)
        finally:
            inner.stop()
    finally:
        upstream.stop()


def compare_sse_upstream(direct: dict[str, ScenarioResult], shadowcat_bin: Path, out_dir: Path) -> int:
    """The suite through shadowcat in front of server-everything's legacy HTTP+SSE mode, gated
    against server-everything over Streamable HTTP direct; 1 if the gate fails."""
    upstream = harness.start_everything_server("sse")
    try:
        return compare_through(
            "server-everything (HTTP+SSE) through shadowcat", direct,
            lambda: harness.start_proxy(shadowcat_bin, upstream.url, extra=["--upstream-transport", "sse"]),
            out_dir)
    finally:
        upstream.stop()


def compare_through(title: str, direct: dict[str, ScenarioResult], start_proxy, out_dir: Path) -> int:
    """The suite through a proxy started by `start_proxy` (the same server reached another way),
    gated against the server's direct Streamable HTTP results; 1 if the gate fails."""
    print(f"\n=== conformance: {title}, vs the same server over HTTP direct ===")
    try:
        proxy = start_proxy()
    except harness.HarnessError as error:
        print(f"conformance: the proxy did not start: {error}", file=sys.stderr)
        return 1
    try:
        proxied = run_suite(proxy.url, out_dir / "proxied")
    finally:
        proxy.stop()
    verdicts = gate(direct, proxied, STDIO_TRANSPORT_INHERENT)
    print_table(direct, proxied, verdicts)
    failed = [n for n, verdict in verdicts.items() if not verdict.startswith("ok")]
    print(f"conformance ({title}): {len(verdicts) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


def compare(name: str, start_upstream, shadowcat_bin: Path | None,
            out_dir: Path) -> tuple[int, dict[str, ScenarioResult]]:
    """Runs the suite against one upstream directly and through the proxy; (1 if the gate fails,
    the direct results)."""
    print(f"\n=== conformance against {name} ===")
    upstream = start_upstream()
    proxy = None
    proxy_error = None
    try:
        direct = run_suite(upstream.url, out_dir / "direct")
        proxied = None
        if shadowcat_bin is not None:
            try:
                proxy = harness.start_proxy(shadowcat_bin, upstream.url)
            except harness.HarnessError as error:
                proxy_error = error
            else:
                proxied = run_suite(proxy.url, out_dir / "proxied")
    finally:
        if proxy is not None:
            proxy.stop()
        upstream.stop()
    if proxy_error is not None:
        print_table(direct, None, {})
        print(f"\nconformance: the proxy did not start: {proxy_error}", file=sys.stderr)
        return 1, direct

    verdicts = gate(direct, proxied) if proxied is not None else {}
    print_table(direct, proxied, verdicts)
    direct_passing = sorted(n for n, result in direct.items() if result.ok)
    print(f"\npassing directly against {name} ({len(direct_passing)}/{len(direct)}): "
          f"{', '.join(direct_passing)}")
    if proxied is None:
        print("proxied run skipped (--direct-only): no gate applied")
        return 0, direct
    failed = [n for n, verdict in verdicts.items() if not verdict.startswith("ok")]
    print(f"conformance ({name}): {len(verdicts) - len(failed)} passed, {len(failed)} failed")
    return (1 if failed else 0), direct

if __name__ == "__main__":
    sys.exit(main())
