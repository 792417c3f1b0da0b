#!/usr/bin/env bash
# bench/soak.sh: hunts stalls of the proxy's socket path. Each iteration starts a fresh
# `reverse --shards 1` (on --io $IO), opens one session and runs short wrk bursts at several
# connection counts (bench/echo.lua, every body checked); a burst that completes no request or has
# a timeout is a stall: the proxy's /metrics I/O counters, a fresh request's status and its socket
# states are printed, and the run fails (exit 1) at the end. Not a speed benchmark (bench/run.sh).
# Not here: wrk's request logic (bench/echo.lua), process and session helpers (bench/lib.sh).
#
# Environment:
#   IO=uring            --io of the proxy (uring | glommio)
#   UPSTREAM=http       http: the HTTP demo server (one, shared by every iteration);
#                       stdio: `--upstream-cmd -- shadowcat demo-server --stdio` (children per session)
#   ITERATIONS=20  CONNS="2 8 16 64"  DURATION=1s  WRK_TIMEOUT=3s
#   STOP_ON_STALL=0     1: stop at the first stall, leaving the proxy and upstream running (PIDs
#                       printed) to inspect
#   SHADOWCAT_BIN=  READY_TIMEOUT=10
set -euo pipefail
shopt -s inherit_errexit

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/bench"
IO=${IO:-uring}
UPSTREAM=${UPSTREAM:-http}
ITERATIONS=${ITERATIONS:-20}
CONNS=${CONNS:-2 8 16 64}
DURATION=${DURATION:-1s}
WRK_TIMEOUT=${WRK_TIMEOUT:-3s}
STOP_ON_STALL=${STOP_ON_STALL:-0}
READY_TIMEOUT=${READY_TIMEOUT:-10}
PROTOCOL_VERSION=2025-06-18

# shellcheck source=bench/lib.sh
source "$BENCH/lib.sh"
resolve_bin
command -v wrk >/dev/null || die "wrk not found (scripts/setup.sh installs it)"

case $UPSTREAM in
http)
    start_server upstream demo-server --http 127.0.0.1:0 --shards 1
    UPSTREAM_ARGS=(--upstream "$(listen_url demo-server)")
    ;;
stdio) UPSTREAM_ARGS=(--upstream-cmd -- "$BIN" demo-server --stdio) ;;
*) die "UPSTREAM=$UPSTREAM: http or stdio" ;;
esac

# report_stall PID URL ADMIN SID: what the stalled proxy says about itself (metrics twice, a
# second apart, to see whether it moves; the shard threads' kernel stacks), then whether a new
# connection gets an answer (skipped with STOP_ON_STALL=1: that would wake a parked shard).
report_stall() {
    local round task fd
    # First, before anything talks to it: the rings' and eventfds' kernel state.
    for fd in /proc/"$1"/fd/*; do
        case $(readlink "$fd") in
        *eventfd* | *io_uring*)
            echo "fd ${fd##*/} $(readlink "$fd"): $(grep -E '^(eventfd-count|SqHead|SqTail|CqHead|CqTail|CachedCqTail|UserFiles|  op=)' \
                "/proc/$1/fdinfo/${fd##*/}" 2>/dev/null | tr -s ' \t\n' ' ')"
            ;;
        esac
    done
    for round in 1 2; do
        echo "metrics, look $round:"
        curl -sS -m 2 "$3/metrics" | grep -E '^shadowcat_(io_uring|connections|requests|upstream)' | head -60 || true
        if ((round == 1)); then sleep 1; fi
    done
    for task in /proc/"$1"/task/*; do
        echo "thread $(cat "$task/comm" 2>/dev/null): $(tr '\n' ' ' <"$task/stack" 2>/dev/null | cut -c1-300)"
    done
    echo "the proxy's sockets (state, Recv-Q, Send-Q, local, peer):"
    ss -tnp | grep "pid=$1," | awk '{ print $1, $2, $3, $4, $5 }' | head -80 || true
    [[ $STOP_ON_STALL == 1 ]] && return
    curl -sS -m 2 -o /dev/null -w 'a new connection gets HTTP %{http_code}\n' "${MCP_HEADERS[@]}" \
        -H "Mcp-Session-Id: $4" -H "MCP-Protocol-Version: $PROTOCOL_VERSION" \
        -d '{"jsonrpc":"2.0","id":9,"method":"tools/list"}' "$2" || true
}

# tcp_counters: the kernel's SYN retransmits and TCP retransmit timeouts so far (a SYN lost on
# loopback, e.g. to a TIME_WAIT collision, delays a connect by a second: not the proxy's doing).
tcp_counters() {
    awk '/^TcpExt:/ { if (!n) { for (i = 1; i <= NF; i++) name[i] = $i; n = 1 } else
        for (i = 1; i <= NF; i++) if (name[i] == "TCPSynRetrans" || name[i] == "TCPTimeouts") printf "%s=%s ", name[i], $i }' \
        /proc/net/netstat
}

stalls=0
runs=0
say "# soak: $BIN reverse --io $IO, $UPSTREAM upstream, $ITERATIONS iterations x -c {$CONNS} for $DURATION"
for ((it = 1; it <= ITERATIONS; it++)); do
    start_server proxy reverse --bind 127.0.0.1:0 --shards 1 --io "$IO" --admin 127.0.0.1:0 \
        "${UPSTREAM_ARGS[@]}"
    proxy=$STARTED_PID
    url=$(listen_url proxy)
    admin=$(listen_url admin)
    admin=${admin%/}
    sid=$(new_session "$url")
    for conns in $CONNS; do
        runs=$((runs + 1))
        out="$WORK/soak.txt"
        tcp_before=$(tcp_counters)
        MCP_SESSIONS=$sid MCP_PROTOCOL_VERSION=$PROTOCOL_VERSION ECHO_ARG=message \
            timeout 30 wrk -t 1 -c "$conns" -d "$DURATION" --timeout "$WRK_TIMEOUT" \
            -s "$BENCH/echo.lua" "$url" >"$out" 2>&1 || true
        reqs=$(sed -n 's/^result requests=\([0-9]*\).*/\1/p' "$out")
        errors=$(grep '^errors ' "$out" || true)
        if [[ -z $reqs || $reqs == 0 ]] || grep -Eq '=[1-9]' <<<"$errors"; then
            stalls=$((stalls + 1))
            say "STALL iteration $it -c $conns: requests=${reqs:-none} $errors"
            say "kernel TCP counters before: $tcp_before after: $(tcp_counters)"
            sed 's/^/wrk: /' "$out" | tee -a "$RESULTS"
            report_stall "$proxy" "$url" "$admin" "$sid" | tee -a "$RESULTS"
            if [[ $STOP_ON_STALL == 1 ]]; then
                say "left running for inspection (stop them by hand): PIDs ${PIDS[*]}"
                PIDS=()
                exit 1
            fi
            break
        fi
    done
    stop_pid "$proxy"
    forget_pid "$proxy"
done
say "stalls: $stalls in $runs bursts ($ITERATIONS iterations)"
((stalls == 0))
