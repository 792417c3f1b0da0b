#!/usr/bin/env bash
# bench/instructions.sh: user-space instructions per proxied request, counted by valgrind's
# callgrind, for one or more shadowcat builds in front of one demo server. Counting instructions
# is deterministic where time is not: on a shared VM throughput drifts by up to 20 % within a
# minute, and VMs rarely expose the hardware counters `perf stat` needs (bench/ab.sh uses them
# where they exist). System calls are not counted here (bench/run.sh reports them).
# Not here: time, latency, CPU seconds (bench/ab.sh, bench/run.sh).
#
# Steps per build: start `reverse --shards 1` under callgrind, open a session, warm up with wrk,
# zero the counters, run wrk for DURATION, dump the counters, stop; then instructions / requests.
# Valgrind runs the proxy ~50x slower, so the run is upstream- and wrk-light; per-request counts
# still include the event loop's work per wake-up, which shrinks a little as more requests share
# a wake-up: compare builds at similar request rates (the table shows them).
#
# Environment: BINS="old new ..." (default: a fresh `cargo build --release`), DURATION=10s,
#   WRK_CONNS=8, PROXY_ARGS= (extra `reverse` flags for every build), START_TIMEOUT=120 and
#   START_TRIES=3 (a start under valgrind can stall; see start_under_callgrind)
#   KEEP=0 (1: keep the callgrind files, printed at the end, for callgrind_annotate)
set -euo pipefail
shopt -s inherit_errexit

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/bench"
DURATION=${DURATION:-10s}
WRK_CONNS=${WRK_CONNS:-8}
WRK_CORES=
ECHO_PAD=0
READY_TIMEOUT=10
PROTOCOL_VERSION=2025-06-18
PROXY_ARGS=${PROXY_ARGS:-}

# shellcheck source=bench/lib.sh
source "$BENCH/lib.sh"

for tool in valgrind callgrind_control callgrind_annotate wrk curl ss; do
    command -v "$tool" >/dev/null || die "$tool not found (Debian: apt-get install valgrind wrk curl)"
done
if [[ -z ${BINS:-} ]]; then
    (cd "$ROOT" && cargo build --release --bin shadowcat) >&2
    BINS="${CARGO_TARGET_DIR:-$ROOT/target}/release/shadowcat"
fi
read -r -a BUILDS <<<"$BINS"
for bin in "${BUILDS[@]}"; do
    [[ -x $bin ]] || die "not an executable: $bin"
done
BIN=${BUILDS[0]}

# start_under_callgrind NAME OUT BIN: the proxy under callgrind, nudged until it is ready.
# Valgrind does not know that io_uring_enter may block: a shard thread asleep in it keeps
# valgrind's thread lock, and if that happens before the main thread is done starting, the
# process waits for good. A connection to the proxy's port ends the sleep, so while no `ready`
# is printed, the port (once bound) gets a connection every half second. A start still not
# ready within START_TIMEOUT is killed and tried again.
START_TIMEOUT=${START_TIMEOUT:-120}
START_TRIES=${START_TRIES:-3}
# nudge PID: one connection to the port PID listens on, if it listens yet.
nudge() {
    local port
    port=$(ss -ltnpH 2>/dev/null | grep "pid=$1," | grep -o '127\.0\.0\.1:[0-9]*' | head -n 1 | cut -d: -f2) || true
    [[ -n $port ]] && timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null
    return 0
}
start_under_callgrind() {
    local name=$1 out=$2 bin=$3 try polls
    for ((try = 1; try <= START_TRIES; try++)); do
        # shellcheck disable=SC2086 # flag list split on purpose
        valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" reverse --bind 127.0.0.1:0 \
            --upstream "$UPSTREAM_URL" --shards 1 $PROXY_ARGS >"$WORK/$name.out" 2>"$WORK/$name.err" &
        STARTED_PID=$!
        STARTED_OUT="$WORK/$name.out"
        PIDS+=("$STARTED_PID")
        for ((polls = 0; polls < START_TIMEOUT * 10; polls++)); do
            grep -qx ready "$STARTED_OUT" && return 0
            alive "$STARTED_PID" || die "$name exited under valgrind: $(tail -n 5 "$WORK/$name.err")"
            ((polls % 5 == 4)) && nudge "$STARTED_PID"
            sleep 0.1
        done
        echo "bench: $name not ready under valgrind after ${START_TIMEOUT}s (try $try of $START_TRIES); again" >&2
        kill -KILL "$STARTED_PID" 2>/dev/null || true
        wait "$STARTED_PID" 2>/dev/null || true
        forget_pid "$STARTED_PID"
    done
    die "$name did not start under valgrind in $START_TRIES tries"
}

start_server demo-server demo-server --http 127.0.0.1:0 --shards 1
UPSTREAM_PID=$STARTED_PID
UPSTREAM_URL=$(listen_url demo-server)

say "# shadowcat instructions per request $(date -u +%Y-%m-%dT%H:%M:%SZ) commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
say "# callgrind, reverse --shards 1 $PROXY_ARGS; wrk -c $WRK_CONNS -d $DURATION after a 3 s warm-up"
say ""
say "$(printf '%-48s %10s %10s %16s' build requests 'req/s' 'instr/request')"
for i in "${!BUILDS[@]}"; do
    bin=${BUILDS[$i]}
    out="$WORK/callgrind-$i.out"
    start_under_callgrind "proxy-$i" "$out" "$bin"
    PROXY_PID=$STARTED_PID
    url=$(listen_url proxy)
    sessions=$(new_sessions "$url" 1)
    run_wrk "warmup-$i" "$url" "$sessions" 1 "$WRK_CONNS" 3s 0
    callgrind_control -z "$PROXY_PID" >/dev/null 2>&1
    run_wrk "build-$i" "$url" "$sessions" 1 "$WRK_CONNS" "$DURATION" 0
    callgrind_control -d "$PROXY_PID" >/dev/null 2>&1
    stop_pid "$PROXY_PID"
    forget_pid "$PROXY_PID"
    dump="$out.1"
    [[ -s $dump ]] || die "no callgrind dump for $bin ($dump)"
    total=$(callgrind_annotate "$dump" 2>/dev/null | sed -n 's/^ *\([0-9,]*\) .*PROGRAM TOTALS.*/\1/p' | tr -d ,)
    [[ -n $total ]] || die "no totals in $dump"
    say "$(printf '%-48s %10s %10s %16.0f' "$bin" "${REQS[build-$i]}" "${RPS[build-$i]}" \
        "$(awk -v t="$total" -v n="${REQS[build-$i]}" 'BEGIN { print t / n }')")"
    if [[ ${KEEP:-0} == 1 ]]; then
        cp "$dump" "$RESULTS_DIR/callgrind-$(basename "$RESULTS" .txt)-$i.out"
    fi
done
stop_pid "$UPSTREAM_PID"
forget_pid "$UPSTREAM_PID"
[[ ${KEEP:-0} == 1 ]] && say "# callgrind files: $RESULTS_DIR/callgrind-$(basename "$RESULTS" .txt)-*.out"
echo "bench: results in $RESULTS" >&2
