#!/usr/bin/env bash
# bench/memory.sh: does the proxy's memory come back after hostile load? Starts the demo server and
# `shadowcat reverse --shards 1` in front of it (127.0.0.1 only, stopped by PID on exit), then
# bench/memory_load.py: the proxy's VmRSS at start, after each of ROUNDS bursts of CONCURRENCY
# concurrent tools/call echo requests with BODY_BYTES messages (after SETTLE s idle), and along a
# churn of CHURN sessions (initialize, echo, DELETE). Prints a table; exits 1 when a settled RSS
# after a burst is more than the pool cap + SLACK_MIB over the starting RSS, or on a wrong answer.
# Not here: the load and the check (bench/memory_load.py), process helpers (bench/lib.sh),
# interpretation (docs/benchmarks.md).
#
# Environment:
#   ROUNDS=3 CONCURRENCY=256 BODY_BYTES=1048576 SETTLE=3 CHURN=20000 CHURN_CONNECTIONS=8
#   BUFFER_POOL_MEMORY=      --buffer-pool-memory of the proxy (e.g. 8MiB); empty: the flag is not
#                            passed (a build without it) and the check assumes the 8 MiB default
#   SLACK_MIB=8              RSS allowed above start + cap
#   IO=                      --io of the proxy (uring | glommio); empty: the binary's default
#   SHADOWCAT_BIN=  READY_TIMEOUT=10
set -euo pipefail
shopt -s inherit_errexit

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/bench"
ROUNDS=${ROUNDS:-3}
CONCURRENCY=${CONCURRENCY:-256}
BODY_BYTES=${BODY_BYTES:-1048576}
SETTLE=${SETTLE:-3}
CHURN=${CHURN:-20000}
CHURN_CONNECTIONS=${CHURN_CONNECTIONS:-8}
BUFFER_POOL_MEMORY=${BUFFER_POOL_MEMORY:-}
SLACK_MIB=${SLACK_MIB:-8}
IO=${IO:-}
READY_TIMEOUT=${READY_TIMEOUT:-10}
PROTOCOL_VERSION=2025-06-18

# shellcheck source=bench/lib.sh
source "$BENCH/lib.sh"
resolve_bin
command -v python3 >/dev/null || die "python3 not found"

# cap_bytes SIZE: SIZE ("8MiB", "512KiB", "0B", bytes) in bytes.
cap_bytes() {
    local size=${1:-8MiB} digits unit
    digits=${size%%[!0-9]*}
    unit=${size#"$digits"}
    case ${unit,,} in
    "" | b) echo "$digits" ;;
    kib) echo $((digits * 1024)) ;;
    mib) echo $((digits * 1024 * 1024)) ;;
    gib) echo $((digits * 1024 * 1024 * 1024)) ;;
    *) die "BUFFER_POOL_MEMORY=$size: bytes or KiB/MiB/GiB" ;;
    esac
}
CAP_BYTES=$(cap_bytes "$BUFFER_POOL_MEMORY")

# The body must fit the proxy's request limit, with room for the JSON-RPC around the message.
MAX_BODY=$(((BODY_BYTES + 1024 * 1024) / (1024 * 1024) * 1024 * 1024 + 1024 * 1024))
PROXY_ARGS=(--bind 127.0.0.1:0 --shards 1 --admin 127.0.0.1:0 --max-body "$MAX_BODY"
    --pool-max-idle "$CONCURRENCY")
[[ -n $BUFFER_POOL_MEMORY ]] && PROXY_ARGS+=(--buffer-pool-memory "$BUFFER_POOL_MEMORY")
[[ -n $IO ]] && PROXY_ARGS+=(--io "$IO")

start_server upstream demo-server --http 127.0.0.1:0 --shards 1
start_server proxy reverse "${PROXY_ARGS[@]}" --upstream "$(listen_url demo-server)"
proxy=$STARTED_PID
url=$(listen_url proxy)
admin=$(listen_url admin)

say "# memory: $BIN reverse ${PROXY_ARGS[*]}; $ROUNDS bursts x $CONCURRENCY x $BODY_BYTES B," \
    "settle ${SETTLE}s, churn $CHURN sessions; cap $CAP_BYTES B + slack $SLACK_MIB MiB"
status=0
python3 "$BENCH/memory_load.py" --url "$url" --pid "$proxy" --admin "$admin" \
    --rounds "$ROUNDS" --concurrency "$CONCURRENCY" --body-bytes "$BODY_BYTES" \
    --settle "$SETTLE" --churn "$CHURN" --churn-connections "$CHURN_CONNECTIONS" \
    --cap-bytes "$CAP_BYTES" --slack-bytes $((SLACK_MIB * 1024 * 1024)) |
    tee -a "$RESULTS" || status=$?
alive "$proxy" || die "the proxy exited during the run"
exit "$status"
