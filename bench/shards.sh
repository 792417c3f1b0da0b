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
# Reports req/s, CPU-µs per request, and hops per request (shadowcat_hops_total from /metrics);
# the ratios N shards / 1 shard, and rotating / pinned at N shards (the cost of hops).
#
# On a 2-core box wrk, the upstream and the proxy share the cores: the N-shard proxy cannot get N
# cores to itself, so read the scaling ratio with the CPU columns, and pin things with
# PROXY_CORES / UPSTREAM_SHARDS / WRK_CORES on a bigger host.
#
# Environment: SHARDS=2 SESSIONS=32 CONNS=64 WRK_THREADS=2 DURATION=10s WARMUP=2s UPSTREAM_SHARDS=1
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
ECHO_PAD=0
PROTOCOL_VERSION=2025-06-18
case ${1:-} in
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    "") ;;
    *) echo "bench: unknown argument $1 (see --help)" >&2; exit 2 ;;
esac

# shellcheck source=bench/lib.sh
source "$BENCH/lib.sh"

command -v wrk >/dev/null || die "wrk is required (apt-get install wrk, or run bench/run.sh once)"
resolve_bin

start_server demo-server demo-server --http 127.0.0.1:0 --shards "$UPSTREAM_SHARDS"
UPSTREAM_PID=$STARTED_PID
UPSTREAM_URL=$(listen_url demo-server)

say "# shadowcat shards bench $(date -u +%Y-%m-%dT%H:%M:%SZ) commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
say "# host: $(uname -r), $NCPU cpus; demo server --shards $UPSTREAM_SHARDS; wrk -t $WRK_THREADS -c $CONNS -d $DURATION" \
    "cores '${WRK_CORES:-any}'; $SESSIONS sessions; proxy flags: $PROXY_ARGS"

declare -A HOPS

# hops_total URL: the proxy's shadowcat_hops_total, summed over its label sets.
hops_total() {
    curl -sS "$1/metrics" | awk '/^shadowcat_hops_total/ { total += $NF } END { printf "%d", total }'
}

# measure SHARDS: a fresh proxy with SHARDS shards, a pinned run and a rotating run.
measure() {
    local shards=$1 admin port sessions before
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    admin="http://127.0.0.1:$port"
    # shellcheck disable=SC2086 # PROXY_ARGS is a list of flags
    start_server "proxy-$shards" reverse --bind 127.0.0.1:0 --upstream "$UPSTREAM_URL" --shards "$shards" \
        --admin "127.0.0.1:$port" $PROXY_ARGS
    PROXY_PID=$STARTED_PID
    local url
    url=$(listen_url proxy)
    sessions=$(new_sessions "$url" "$SESSIONS")
    run_wrk "warmup-$shards" "$url" "$sessions" "$WRK_THREADS" "$CONNS" "$WARMUP" 0
    before=$(hops_total "$admin")
    run_wrk "pinned-$shards" "$url" "$sessions" "$WRK_THREADS" "$CONNS" "$DURATION" 0
    HOPS[pinned-$shards]=$(($(hops_total "$admin") - before))
    before=$(hops_total "$admin")
    ROTATE=1 run_wrk "rotating-$shards" "$url" "$sessions" "$WRK_THREADS" "$CONNS" "$DURATION" 0
    HOPS[rotating-$shards]=$(($(hops_total "$admin") - before))
    stop_pid "$PROXY_PID"
    forget_pid "$PROXY_PID"
}

export ROTATE=0
measure 1
measure "$SHARDS"

say ""
# shellcheck disable=SC2059
say "$(printf "$ROW_FORMAT %12s" run 'req/s' 'p50 µs' 'p99 µs' 'proxy CPU µs' 'upstr CPU µs' 'wrk CPU%' 'hops/req')"
for label in pinned-1 rotating-1 "pinned-$SHARDS" "rotating-$SHARDS"; do
    say "$(row "$label") $(awk -v h="${HOPS[$label]}" -v n="${REQS[$label]}" 'BEGIN { printf "%12.3f", h / n }')"
done
say ""
say "$(awk -v a="${RPS[pinned-$SHARDS]}" -v b="${RPS[pinned-1]}" -v n="$SHARDS" \
    'BEGIN { printf "scaling, pinned sessions: %d shards / 1 shard throughput %.3f", n, a / b }')"
say "$(awk -v a="${RPS[rotating-$SHARDS]}" -v b="${RPS[pinned-$SHARDS]}" -v n="$SHARDS" \
    'BEGIN { printf "cost of hops at %d shards: rotating / pinned throughput %.3f", n, a / b }')"
say ""
say "# report: $RESULTS"
