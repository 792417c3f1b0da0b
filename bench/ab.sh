#!/usr/bin/env bash
# bench/ab.sh: an interleaved A/B of two shadowcat builds as the proxy in front of one demo server:
# new, base, new, base... (ROUNDS pairs), so that a noisy shared machine hits both alike; prints
# every round and the medians (req/s, proxy CPU µs per request) with their new/base ratio.
# Not here: the full report (bench/run.sh, which takes BASE_BIN for one run of each).
#
# Environment: NEW_BIN= (default: cargo build --release)  BASE_BIN= (required)  ROUNDS=5
#   DURATION=6s  WRK_CONNS=64  WRK_CORES=<last core>  PROXY_ARGS= (extra `reverse` flags for both)
#   NEW_ARGS= (extra flags for the new build only, e.g. "--deny-tool add" to price a stage, or
#   "--record /tmp/tapes" with BASE_BIN = the same binary to price recording: issue 11 asks
#   for ≥ 0.9× the throughput without it)  BASE_ARGS= (extra flags for the base build only)
#   SHARDS=1  SESSIONS=1 (sessions per proxy; with ROTATE=1 every request takes the next one,
#   bench/echo.lua: with SHARDS=2 SESSIONS=32 ROTATE=1 NEW_ARGS="--hops forward"
#   BASE_ARGS="--hops move" and the same binary twice it compares the two ways of hopping)
#   INSTRUCTIONS=auto|0 (count the proxy's instructions per request with `perf stat`, user and
#   kernel apart: far less noisy than time on a shared machine; auto = when perf can)
set -euo pipefail
shopt -s inherit_errexit

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/bench"
NCPU=$(nproc)
WRK_CORES=${WRK_CORES-$((NCPU - 1))}
WRK_CONNS=${WRK_CONNS:-64}
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-6s}
ECHO_PAD=0
READY_TIMEOUT=${READY_TIMEOUT:-10}
PROTOCOL_VERSION=2025-06-18
PROXY_ARGS=${PROXY_ARGS:-}
NEW_ARGS=${NEW_ARGS:-}
BASE_ARGS=${BASE_ARGS:-}
SHARDS=${SHARDS:-1}
SESSIONS=${SESSIONS:-1}
BASE_BIN=${BASE_BIN:?BASE_BIN=path to the older shadowcat build}

# shellcheck source=bench/lib.sh
source "$BENCH/lib.sh"

INSTRUCTIONS=${INSTRUCTIONS:-auto}
if [[ $INSTRUCTIONS == auto ]]; then
    INSTRUCTIONS=0
    # A VM without hardware counters prints "<not supported>" and exits 0.
    perf stat -x, -e instructions:u -- true 2>&1 | grep -Eq '^[0-9]+,' && INSTRUCTIONS=1
fi
declare -A INS_USER INS_KERNEL
# measured LABEL URL SESSIONS: one wrk run against PROXY_PID, counted by perf when asked.
measured() {
    local label=$1 out="$WORK/perf-$1.csv" perf_pid
    if ((INSTRUCTIONS == 0)); then
        run_wrk "$label" "$2" "$3" 1 "$WRK_CONNS" "$DURATION" 0
        return
    fi
    perf stat -x, -e instructions:u,instructions:k -p "$PROXY_PID" -o "$out" &
    perf_pid=$!
    PIDS+=("$perf_pid")
    run_wrk "$label" "$2" "$3" 1 "$WRK_CONNS" "$DURATION" 0
    kill -INT "$perf_pid"
    wait "$perf_pid" || true
    forget_pid "$perf_pid"
    INS_USER[$label]=$(awk -F, -v n="${REQS[$label]}" '$3 ~ /instructions:u/ { printf "%.0f", $1 / n }' "$out")
    INS_KERNEL[$label]=$(awk -F, -v n="${REQS[$label]}" '$3 ~ /instructions:k/ { printf "%.0f", $1 / n }' "$out")
}

if [[ -n ${NEW_BIN:-} ]]; then
    BIN=$NEW_BIN
else
    (cd "$ROOT" && cargo build --release --bin shadowcat) >&2
    BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/shadowcat"
fi
[[ -x $BIN && -x $BASE_BIN ]] || die "need executables: $BIN and $BASE_BIN"

start_server demo-server demo-server --http 127.0.0.1:0 --shards 1
UPSTREAM_PID=$STARTED_PID
UPSTREAM_URL=$(listen_url demo-server)
# shellcheck disable=SC2086 # flag lists split on purpose
start_server proxy-new reverse --bind 127.0.0.1:0 --upstream "$UPSTREAM_URL" --shards "$SHARDS" $PROXY_ARGS $NEW_ARGS
NEW_PID=$STARTED_PID
NEW_URL=$(listen_url proxy)
# shellcheck disable=SC2086
start_server_with "$BASE_BIN" proxy-base reverse --bind 127.0.0.1:0 --upstream "$UPSTREAM_URL" --shards "$SHARDS" \
    $PROXY_ARGS $BASE_ARGS
BASE_PID=$STARTED_PID
BASE_URL=$(listen_url proxy)
NEW_SESSIONS=$(new_sessions "$NEW_URL" "$SESSIONS")
BASE_SESSIONS=$(new_sessions "$BASE_URL" "$SESSIONS")

say "# shadowcat A/B $(date -u +%Y-%m-%dT%H:%M:%SZ) commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
say "# new: $BIN $PROXY_ARGS $NEW_ARGS; base: $BASE_BIN $PROXY_ARGS $BASE_ARGS; $ROUNDS rounds of $DURATION," \
    "-c $WRK_CONNS, $SHARDS shard(s), $SESSIONS session(s), rotate ${ROTATE:-0}"
PROXY_PID=$NEW_PID
run_wrk warmup-new "$NEW_URL" "$NEW_SESSIONS" 1 "$WRK_CONNS" 3s 0
PROXY_PID=$BASE_PID
run_wrk warmup-base "$BASE_URL" "$BASE_SESSIONS" 1 "$WRK_CONNS" 3s 0
for ((r = 1; r <= ROUNDS; r++)); do
    PROXY_PID=$NEW_PID
    measured "new$r" "$NEW_URL" "$NEW_SESSIONS"
    PROXY_PID=$BASE_PID
    measured "base$r" "$BASE_URL" "$BASE_SESSIONS"
done
say ""
# shellcheck disable=SC2059
say "$(printf "$ROW_FORMAT" run 'req/s' 'p50 µs' 'p99 µs' 'proxy CPU µs' 'upstr CPU µs' 'wrk CPU%') instr/req user kernel"
for ((r = 1; r <= ROUNDS; r++)); do
    for side in new base; do
        say "$(row "$side$r") ${INS_USER[$side$r]:--} ${INS_KERNEL[$side$r]:--}"
    done
done
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
pick() { local side=$1 field=$2 r; for ((r = 1; r <= ROUNDS; r++)); do eval "echo \${${field}[$side$r]}"; done; }
NEW_RPS=$(pick new RPS | median)
BASE_RPS=$(pick base RPS | median)
NEW_CPU=$(pick new PROXY_CPU | median)
BASE_CPU=$(pick base PROXY_CPU | median)
say ""
say "$(awk -v n="$NEW_RPS" -v b="$BASE_RPS" -v nc="$NEW_CPU" -v bc="$BASE_CPU" \
    'BEGIN { printf "medians new vs base: throughput %.0f vs %.0f req/s = %.3f; proxy CPU per request %.1f vs %.1f µs = %.3f", n, b, n / b, nc, bc, nc / bc }')"
if ((INSTRUCTIONS)); then
    for space in USER KERNEL; do
        NEW_INS=$(pick new "INS_$space" | median)
        BASE_INS=$(pick base "INS_$space" | median)
        say "$(awk -v n="$NEW_INS" -v b="$BASE_INS" -v s="${space,,}" \
            'BEGIN { printf "medians new vs base: %s instructions per request %.0f vs %.0f = %.3f", s, n, b, n / b }')"
    done
fi
echo "bench: results in $RESULTS" >&2
