#!/usr/bin/env bash
# bench/shards.sh: how shadowcat scales over shards, and what moving requests between shards costs.
# Not here: the nginx comparison (bench/run.sh), the scale runs (bench/scale.sh).
#
# Against one demo server, for 1 shard and SHARDS (2) shards, each on a fresh proxy:
#   pinned    every wrk connection keeps one session (thread i uses session i): no request should
#             change shard once its connection found the owner;
#   rotating  SESSIONS (32) sessions rotate over CONNS (64) keep-alive connections, every request
#             taking the next session (bench/echo.lua ROTATE=1), as a backend multiplexing many users
#             over one connection pool does: at N shards about (N-1)/N of requests land on a shard
#             that does not own their session.
# The rotating run at N shards is repeated for every hop policy in HOP_POLICIES (`--hops`:
# auto, the default, moves a connection once and then forwards; move moves it on every hop;
# forward never moves it), each on a fresh proxy.
# Reports req/s, CPU-µs per request, and hops per request (shadowcat_hops_total from /metrics,
# and the forwarded share of them); the ratios N shards / 1 shard, and rotating / pinned at N
# shards per policy (the cost of hops). With ROUNDS > 1 every run is repeated ROUNDS times and
# every figure is the median of its rounds (the 1- and N-shard `auto` proxies alternate pinned
# and rotating runs; the other policies' proxies run rotating only and are compared with the
# `auto` proxy's pinned runs): single runs on a shared 2-core box swing by ±20 %, medians less.
#
# On a 2-core box wrk, the upstream and the proxy share the cores: the N-shard proxy cannot get N
# cores to itself, so read the scaling ratio with the CPU columns, and pin things with
# PROXY_CORES / UPSTREAM_SHARDS / WRK_CORES on a bigger host.
#
# Environment: HOP_POLICIES="auto move forward" SHARDS=2 SESSIONS=32 CONNS=64 WRK_THREADS=2 DURATION=10s WARMUP=2s UPSTREAM_SHARDS=1 ROUNDS=1
#   WRK_CORES= (unpinned) PROXY_ARGS= SHADOWCAT_BIN= READY_TIMEOUT=10
set -euo pipefail
shopt -s inherit_errexit

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/bench"

NCPU=$(nproc)
SHARDS=${SHARDS:-2}
SESSIONS=${SESSIONS:-32}
CONNS=${CONNS:-64}
WRK_THREADS=${WRK_THREADS:-2}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
UPSTREAM_SHARDS=${UPSTREAM_SHARDS:-1}
WRK_CORES=${WRK_CORES:-}
PROXY_ARGS=${PROXY_ARGS:-}
SHADOWCAT_BIN=${SHADOWCAT_BIN:-}
READY_TIMEOUT=${READY_TIMEOUT:-10}
HOP_POLICIES=${HOP_POLICIES:-auto move forward}
ROUNDS=${ROUNDS:-1}
ECHO_PAD=0
PROTOCOL_VERSION=2025-06-18
case ${1:-} in
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    "") ;;
    *) echo "bench: unknown argument $1 (see --help)" >&2; exit 2 ;;
esac

# shellcheck source=bench/lib.sh
source "$BENCH/lib.sh"

[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer (got '$ROUNDS')"
[[ $SHARDS =~ ^[0-9]+$ ]] && ((SHARDS >= 2)) || die "SHARDS must be 2 or more (got '$SHARDS'): 1 shard is the baseline"

command -v wrk >/dev/null || die "wrk is required (apt-get install wrk, or run bench/run.sh once)"
resolve_bin

start_server demo-server demo-server --http 127.0.0.1:0 --shards "$UPSTREAM_SHARDS"
UPSTREAM_PID=$STARTED_PID
UPSTREAM_URL=$(listen_url demo-server)

say "# shadowcat shards bench $(date -u +%Y-%m-%dT%H:%M:%SZ) commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
say "# host: $(uname -r), $NCPU cpus; demo server --shards $UPSTREAM_SHARDS; wrk -t $WRK_THREADS -c $CONNS -d $DURATION" \
    "cores '${WRK_CORES:-any}'; $SESSIONS sessions; $ROUNDS round(s), medians; proxy flags: $PROXY_ARGS"

declare -A HOPS FORWARDED

# counter URL NAME: the proxy's shadowcat_NAME, summed over its label sets.
counter() {
    curl -sS "$1/metrics" | awk -v name="shadowcat_$2" '$1 ~ "^" name "({|$)" { total += $NF } END { printf "%d", total }'
}

median() { sort -g | awk '{ v[NR] = $1 } END { printf "%.1f\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# fold LABEL: LABEL's figures, the medians of its rounds LABEL.r1..LABEL.rROUNDS (requests and
# hops: the sums, so hops per request stays a ratio of counts).
fold() {
    local label=$1 field r
    for field in RPS P50 P99 PROXY_CPU UPSTREAM_CPU WRK_CPU REQS HOPS FORWARDED; do
        local -n figures=$field
        figures[$label]=$(for ((r = 1; r <= ROUNDS; r++)); do echo "${figures[$label.r$r]}"; done |
            if [[ $field == @(REQS|HOPS|FORWARDED) ]]; then awk '{ t += $1 } END { print t }'; else median; fi)
        unset -n figures
    done
}

# measure SHARDS HOPS RUNS: a fresh proxy with SHARDS shards and `--hops HOPS`; RUNS is "pinned
# rotating" or "rotating", ROUNDS times. A rotating run is labelled rotating-SHARDS (auto) or
# rotating-SHARDS-HOPS.
measure() {
    local shards=$1 hops=$2 runs=$3 admin port sessions before forwarded label run r
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    admin="http://127.0.0.1:$port"
    # shellcheck disable=SC2086 # PROXY_ARGS is a list of flags
    start_server "proxy-$shards-$hops" reverse --bind 127.0.0.1:0 --upstream "$UPSTREAM_URL" --shards "$shards" \
        --admin "127.0.0.1:$port" --hops "$hops" $PROXY_ARGS
    PROXY_PID=$STARTED_PID
    local url
    url=$(listen_url proxy)
    sessions=$(new_sessions "$url" "$SESSIONS")
    run_wrk "warmup-$shards-$hops" "$url" "$sessions" "$WRK_THREADS" "$CONNS" "$WARMUP" 0
    for ((r = 1; r <= ROUNDS; r++)); do
        for run in $runs; do
            label="$run-$shards"
            [[ $run == rotating && $hops != auto ]] && label="$label-$hops"
            before=$(counter "$admin" hops_total)
            forwarded=$(counter "$admin" hops_forwarded_total)
            ROTATE=$([[ $run == rotating ]] && echo 1 || echo 0) \
                run_wrk "$label.r$r" "$url" "$sessions" "$WRK_THREADS" "$CONNS" "$DURATION" 0
            HOPS[$label.r$r]=$(($(counter "$admin" hops_total) - before))
            FORWARDED[$label.r$r]=$(($(counter "$admin" hops_forwarded_total) - forwarded))
            ((r > 1)) || LABELS+=("$label")
        done
    done
    for label in "${LABELS[@]}"; do
        [[ -n ${RPS[$label]:-} ]] || fold "$label"
    done
    stop_pid "$PROXY_PID"
    forget_pid "$PROXY_PID"
}

export ROTATE=0
LABELS=()
measure 1 auto "pinned rotating"
measure "$SHARDS" auto "pinned rotating"
for hops in $HOP_POLICIES; do
    [[ $hops == auto ]] || measure "$SHARDS" "$hops" rotating
done

say ""
# shellcheck disable=SC2059
say "$(printf "$ROW_FORMAT %12s %12s" run 'req/s' 'p50 µs' 'p99 µs' 'proxy CPU µs' 'upstr CPU µs' 'wrk CPU%' 'hops/req' 'forwarded')"
for label in "${LABELS[@]}"; do
    say "$(row "$label") $(awk -v h="${HOPS[$label]}" -v f="${FORWARDED[$label]}" -v n="${REQS[$label]}" \
        'BEGIN { printf "%12.3f %12.3f", h / n, (h > 0 ? f / h : 0) }')"
done
say ""
say "$(awk -v a="${RPS[pinned-$SHARDS]}" -v b="${RPS[pinned-1]}" -v n="$SHARDS" \
    'BEGIN { printf "scaling, pinned sessions: %d shards / 1 shard throughput %.3f", n, a / b }')"
for label in "${LABELS[@]}"; do
    [[ $label == rotating-"$SHARDS"* ]] || continue
    policy=${label#rotating-"$SHARDS"}
    say "$(awk -v a="${RPS[$label]}" -v b="${RPS[pinned-$SHARDS]}" -v ca="${PROXY_CPU[$label]:-0}" \
        -v cb="${PROXY_CPU[pinned-$SHARDS]:-0}" -v n="$SHARDS" -v p="${policy#-}" \
        'BEGIN { printf "cost of hops at %d shards, --hops %s: rotating / pinned throughput %.3f, CPU per request %.1f vs %.1f µs", n, (p == "" ? "auto" : p), a / b, ca, cb }')"
done
say ""
say "# report: $RESULTS"
