#!/usr/bin/env bash
# bench/eras.sh: one benchmark run of the protocol-era paths (issue 5 numbers), in one run so the
# ratios compare like with like on a shared box:
#   modern upstream (the rmcp 2026-07-28 test server, tests/modern, `--modern-only`, release build):
#     modern-direct      2026-07-28 stateless client → upstream
#     modern-proxied     2026-07-28 client → shadowcat (stateless pass-through) → upstream
#     l2m-translated     2025-06-18 session client → shadowcat (era translation) → upstream
#   legacy upstream (shadowcat demo-server --http, 2025-06-18 sessions):
#     legacy-proxied     2025-06-18 session client → shadowcat → upstream
#     m2l-translated     2026-07-28 client → shadowcat (pooled upstream session) → upstream
# Not here: the wrk request/response logic (bench/echo.lua, 2026-07-28 mode when
# MCP_PROTOCOL_VERSION >= 2026-07-28), shared helpers (bench/lib.sh).
#
# Every wrk response body is checked; any error fails the run (exit 1). Everything started here is
# killed by PID on exit.
#
# Environment (defaults suit a 2-core box):
#   PROXY_SHARDS=1 UPSTREAM_SHARDS=1   --shards for the proxies / the demo server
#   WRK_CORES=<last core>  WRK_THREADS=1  WRK_CONNS=64  DURATION=10s  WARMUP=3s  ECHO_PAD=0
#   SHADOWCAT_BIN=  MODERN_SERVER_BIN= (default: cargo build --release)  READY_TIMEOUT=10
#   BASE_BIN=                          also run an older shadowcat as the proxy (same upstreams):
#                                      new/base ratios of every proxied row in the same run
set -euo pipefail
shopt -s inherit_errexit

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/bench"

NCPU=$(nproc)
PROXY_SHARDS=${PROXY_SHARDS:-1}
UPSTREAM_SHARDS=${UPSTREAM_SHARDS:-1}
WRK_CORES=${WRK_CORES-$((NCPU - 1))}
WRK_THREADS=${WRK_THREADS:-1}
WRK_CONNS=${WRK_CONNS:-64}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-3s}
ECHO_PAD=${ECHO_PAD:-0}
SHADOWCAT_BIN=${SHADOWCAT_BIN:-}
MODERN_SERVER_BIN=${MODERN_SERVER_BIN:-}
READY_TIMEOUT=${READY_TIMEOUT:-10}
MODERN=2026-07-28
LEGACY=2025-06-18
PROTOCOL_VERSION=$LEGACY

# shellcheck source=bench/lib.sh
source "$BENCH/lib.sh"

# start_modern_server: the rmcp test server; waits for its `LISTENING <url>` line, sets MODERN_URL.
start_modern_server() {
    local out="$WORK/modern-server.out" polls=0
    : >"$out"
    "$MODERN_SERVER_BIN" --port 0 --modern-only >"$out" 2>"$WORK/modern-server.err" &
    STARTED_PID=$!
    PIDS+=("$STARTED_PID")
    until MODERN_URL=$(sed -n 's/^LISTENING \(http:[^ ]*\)$/\1/p' "$out" | head -n 1) && [[ -n $MODERN_URL ]]; do
        alive "$STARTED_PID" || { tail -n 20 "$WORK/modern-server.err" >&2; die "modern_server exited"; }
        ((polls++ < READY_TIMEOUT * 50)) || die "modern_server not listening after ${READY_TIMEOUT}s"
        sleep 0.02
    done
}

# measure LABEL URL VERSION ECHO_ARG: warm-up + measured run; sessions only for legacy versions.
measure() {
    local sessions=""
    PROTOCOL_VERSION=$3
    export ECHO_ARG=$4
    [[ $3 == "$MODERN" ]] || sessions=$(new_sessions "$2" "$WRK_THREADS")
    run_wrk "warmup-$1" "$2" "$sessions" "$WRK_THREADS" "$WRK_CONNS" "$WARMUP" 0
    run_wrk "$1" "$2" "$sessions" "$WRK_THREADS" "$WRK_CONNS" "$DURATION" 0
}

ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.3f", a / b; else printf "n/a" }'
}

stop_started() {
    stop_pid "$1"
    forget_pid "$1"
}

# ------------------------------------------------------------------ main

command -v curl >/dev/null || die "curl is required"
command -v wrk >/dev/null || die "wrk is required (bash scripts/setup.sh installs it)"
resolve_bin
if [[ -z $MODERN_SERVER_BIN ]]; then
    (cd "$ROOT" && cargo build --release -p shadowcat-modern-tests --bin modern_server) >&2
    MODERN_SERVER_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/modern_server"
fi
[[ -x $BIN ]] || die "no executable at $BIN"
[[ -x $MODERN_SERVER_BIN ]] || die "no executable at $MODERN_SERVER_BIN"

say "# shadowcat eras bench $(date -u +%Y-%m-%dT%H:%M:%SZ) commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
say "# host: $(uname -r), $NCPU cpus, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
say "# proxies --shards $PROXY_SHARDS; modern upstream: rmcp $(basename "$MODERN_SERVER_BIN") --modern-only;" \
    "legacy upstream: demo-server --shards $UPSTREAM_SHARDS"
say "# wrk: cores '${WRK_CORES:-any}', -t $WRK_THREADS -c $WRK_CONNS -d $DURATION (warm-up $WARMUP)"

start_modern_server
UPSTREAM_PID=$STARTED_PID
start_server proxy-modern reverse --bind 127.0.0.1:0 --shards "$PROXY_SHARDS" --upstream "$MODERN_URL" \
    --upstream-era modern
PROXY_PID=$STARTED_PID
PROXY_URL=$(listen_url proxy)
measure modern-direct "$MODERN_URL" "$MODERN" text
measure modern-proxied "$PROXY_URL" "$MODERN" text
measure l2m-translated "$PROXY_URL" "$LEGACY" text
stop_started "$PROXY_PID"
BASE_LABELS=()
if [[ -n ${BASE_BIN:-} ]]; then
    start_server_with "$BASE_BIN" proxy-modern-base reverse --bind 127.0.0.1:0 --shards "$PROXY_SHARDS" \
        --upstream "$MODERN_URL" --upstream-era modern
    PROXY_PID=$STARTED_PID
    measure base-modern-proxied "$(listen_url proxy)" "$MODERN" text
    measure base-l2m-translated "$(listen_url proxy)" "$LEGACY" text
    stop_started "$PROXY_PID"
    BASE_LABELS+=(base-modern-proxied base-l2m-translated)
fi
stop_started "$UPSTREAM_PID"

start_server demo-server demo-server --http 127.0.0.1:0 --shards "$UPSTREAM_SHARDS"
UPSTREAM_PID=$STARTED_PID
DEMO_URL=$(listen_url demo-server)
start_server proxy-legacy reverse --bind 127.0.0.1:0 --shards "$PROXY_SHARDS" --upstream "$DEMO_URL" \
    --upstream-era legacy
PROXY_PID=$STARTED_PID
PROXY_URL=$(listen_url proxy)
measure legacy-proxied "$PROXY_URL" "$LEGACY" message
measure m2l-translated "$PROXY_URL" "$MODERN" message
if [[ -n ${BASE_BIN:-} ]]; then
    stop_started "$PROXY_PID"
    start_server_with "$BASE_BIN" proxy-legacy-base reverse --bind 127.0.0.1:0 --shards "$PROXY_SHARDS" \
        --upstream "$DEMO_URL" --upstream-era legacy
    PROXY_PID=$STARTED_PID
    measure base-legacy-proxied "$(listen_url proxy)" "$LEGACY" message
    measure base-m2l-translated "$(listen_url proxy)" "$MODERN" message
    BASE_LABELS+=(base-legacy-proxied base-m2l-translated)
fi

LABELS=(modern-direct modern-proxied l2m-translated legacy-proxied m2l-translated "${BASE_LABELS[@]}")
say ""
# shellcheck disable=SC2059
say "$(printf "$ROW_FORMAT" run 'req/s' 'p50 µs' 'p99 µs' 'proxy CPU µs' 'upstr CPU µs' 'wrk CPU%')"
for label in "${LABELS[@]}"; do
    say "$(row "$label")"
done
say ""
say "2026-07-28 stateless, proxied / direct:                 $(ratio "${RPS[modern-proxied]}" "${RPS[modern-direct]}")"
say "legacy client translated / modern client, same upstream: $(ratio "${RPS[l2m-translated]}" "${RPS[modern-proxied]}")" \
    "(proxy CPU ${PROXY_CPU[l2m-translated]} vs ${PROXY_CPU[modern-proxied]} µs/req)"
say "modern client translated / legacy client, same upstream: $(ratio "${RPS[m2l-translated]}" "${RPS[legacy-proxied]}")" \
    "(proxy CPU ${PROXY_CPU[m2l-translated]} vs ${PROXY_CPU[legacy-proxied]} µs/req)"
if [[ -n ${BASE_BIN:-} ]]; then
    for label in modern-proxied l2m-translated legacy-proxied m2l-translated; do
        say "$(base_ratio "$label")"
    done
fi
echo "bench: results in $RESULTS" >&2
