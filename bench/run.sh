#!/usr/bin/env bash
# bench/run.sh: one benchmark run of shadowcat against its own demo MCP server, direct vs proxied.
# Not here: the wrk request/response logic (bench/echo.lua), the idle-session probe
# (bench/idle_sessions.py), interpretation (docs/benchmarks.md).
#
# Steps: build (release), start demo server + proxy, open one MCP session per wrk thread on each,
# warm up, saturating run direct then proxied, moderate-load run direct then proxied, table with
# ratios and added latency, then idle-session memory on a fresh proxy. Every wrk response body is
# checked; any error fails the run (exit 1). Everything started here is killed by PID on exit.
#
# Environment (defaults suit a 2-core box where wrk, proxy and upstream share the cores):
#   PROXY_SHARDS=1  UPSTREAM_SHARDS=1     --shards for the proxy / demo server
#   PROXY_CORES=    UPSTREAM_CORES=       if set, --cores LIST instead of --shards
#   WRK_CORES=<last core>                 taskset list for wrk ("" = unpinned)
#   WRK_THREADS=1  WRK_CONNS=64  DURATION=10s  WARMUP=3s
#   MODERATE_CONNS=4  MODERATE_DELAY_MS=1  (moderate load: each connection pauses between requests)
#   ECHO_PAD=0                            extra bytes per echoed message
#   SKIP_SESSIONS=0  IDLE_SESSIONS=10000  idle-session memory step
#   SHADOWCAT_BIN=                        use this binary instead of `cargo build --release`
#   READY_TIMEOUT=10                      seconds to wait for a `ready` line
#   NGINX=1                               also run nginx `proxy_pass` (the throughput anchor, DESIGN §5)
#                                         pinned like the proxy; installs Debian nginx-light if missing
set -euo pipefail
shopt -s inherit_errexit

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/bench"

NCPU=$(nproc)
PROXY_SHARDS=${PROXY_SHARDS:-1}
UPSTREAM_SHARDS=${UPSTREAM_SHARDS:-1}
PROXY_CORES=${PROXY_CORES:-}
UPSTREAM_CORES=${UPSTREAM_CORES:-}
WRK_CORES=${WRK_CORES-$((NCPU - 1))}
WRK_THREADS=${WRK_THREADS:-1}
WRK_CONNS=${WRK_CONNS:-64}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-3s}
MODERATE_CONNS=${MODERATE_CONNS:-4}
MODERATE_DELAY_MS=${MODERATE_DELAY_MS:-1}
ECHO_PAD=${ECHO_PAD:-0}
SKIP_SESSIONS=${SKIP_SESSIONS:-0}
IDLE_SESSIONS=${IDLE_SESSIONS:-10000}
SHADOWCAT_BIN=${SHADOWCAT_BIN:-}
READY_TIMEOUT=${READY_TIMEOUT:-10}
NGINX=${NGINX:-1}
PROTOCOL_VERSION=2025-06-18

CLK_TCK=$(getconf CLK_TCK)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/shadowcat-bench.XXXXXX")
RESULTS_DIR="$BENCH/results"
RESULTS="$RESULTS_DIR/$(date +%Y%m%d-%H%M%S).txt"
PIDS=()

# ------------------------------------------------------------------ process handling

stop_pid() {
    local pid=$1 waited=0
    kill -TERM "$pid" 2>/dev/null || return 0
    while kill -0 "$pid" 2>/dev/null && ((waited < 20)); do
        sleep 0.1
        waited=$((waited + 1))
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# forget_pid PID: drop an exited or stopped process from the cleanup list.
forget_pid() {
    local kept=() pid
    for pid in "${PIDS[@]}"; do
        [[ $pid == "$1" ]] || kept+=("$pid")
    done
    PIDS=("${kept[@]}")
}

# alive PID: running, i.e. neither gone nor a zombie waiting for us to reap it.
alive() {
    local state
    state=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d ' ' -f 1) || return 1
    [[ -n $state && $state != Z ]]
}

cleanup() {
    local status=$? pid
    for pid in "${PIDS[@]}"; do
        stop_pid "$pid"
    done
    if [[ -s $WORK/raw.txt && -d $RESULTS_DIR ]]; then
        ((status == 0)) || echo "# FAILED (exit $status)" >>"$RESULTS"
        { echo; echo "# raw wrk output"; cat "$WORK/raw.txt"; } >>"$RESULTS"
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

die() {
    echo "bench: $*" >&2
    exit 1
}

# say LINE...: to stdout and to the results file.
say() {
    printf '%s\n' "$*" | tee -a "$RESULTS"
}

# start_server NAME ARGS...: runs "$BIN" ARGS, waits for `ready`; sets STARTED_PID, STARTED_OUT.
start_server() {
    local name=$1
    shift
    local out="$WORK/$name.out" err="$WORK/$name.err" polls=0
    : >"$out" # exists before the child opens it, so the readiness poll never races it
    "$BIN" "$@" >"$out" 2>"$err" &
    STARTED_PID=$!
    STARTED_OUT=$out
    PIDS+=("$STARTED_PID")
    until grep -qx 'ready' "$out"; do
        if ! alive "$STARTED_PID"; then
            tail -n 20 "$err" >&2
            die "$name exited before ready: $BIN $*"
        fi
        if ((polls++ >= READY_TIMEOUT * 50)); then
            tail -n 20 "$err" >&2
            die "$name not ready after ${READY_TIMEOUT}s: $BIN $*"
        fi
        sleep 0.02
    done
}

# listen_url KIND: URL from the `listening KIND URL` line of the last started server.
listen_url() {
    local url
    url=$(sed -n "s/^listening $1 \\(http:[^ ]*\\)\$/\\1/p" "$STARTED_OUT" | head -n 1)
    [[ -n $url ]] || die "no 'listening $1 URL' line in: $(tr '\n' '|' <"$STARTED_OUT")"
    printf '%s' "$url"
}

# placement_flags SHARDS CORES: --cores when CORES is set, else --shards.
placement_flags() {
    if [[ -n $2 ]]; then printf -- '--cores %s' "$2"; else printf -- '--shards %s' "$1"; fi
}

# cpu_ticks PID: utime + stime of the whole process (all threads) in clock ticks.
cpu_ticks() {
    # Fields after "pid (comm) ": state=1 ... utime=12 stime=13 (comm may contain spaces).
    sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

# children_cpu_seconds: user + system CPU of all reaped children of the main shell. `times` must
# run in the main shell (in $(...) it would report the subshell's children), hence the file.
children_cpu_seconds() {
    times >"$WORK/times.txt"
    awk 'NR == 2 {
        total = 0
        for (i = 1; i <= 2; i++) { split($i, t, /[ms]/); total += t[1] * 60 + t[2] }
        printf "%.3f", total
    }' "$WORK/times.txt"
}

# affinity PID: "thread-name[cpus] ..." for every thread, to show where things actually run.
affinity() {
    local task name cpus
    for task in /proc/"$1"/task/*; do
        name=$(cat "$task/comm" 2>/dev/null) || continue
        cpus=$(awk '/^Cpus_allowed_list/ { print $2 }' "$task/status" 2>/dev/null) || continue
        printf ' %s[%s]' "$name" "$cpus"
    done
}

# ------------------------------------------------------------------ MCP sessions over curl

MCP_HEADERS=(-H 'Accept: application/json, text/event-stream' -H 'Content-Type: application/json')

# new_session URL: initialize + notifications/initialized; prints the Mcp-Session-Id.
new_session() {
    local url=$1 code sid
    code=$(curl -sS -o "$WORK/init.body" -D "$WORK/init.head" -w '%{http_code}' "${MCP_HEADERS[@]}" \
        -d '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"'"$PROTOCOL_VERSION"'","capabilities":{},"clientInfo":{"name":"shadowcat-bench","version":"0"}}}' \
        "$url") || die "initialize to $url failed"
    [[ $code == 200 ]] || die "initialize to $url: HTTP $code: $(head -c 300 "$WORK/init.body")"
    sid=$(tr -d '\r' <"$WORK/init.head" | sed -n 's/^[Mm][Cc][Pp]-[Ss][Ee][Ss][Ss][Ii][Oo][Nn]-[Ii][Dd]: *//p')
    [[ -n $sid ]] || die "initialize to $url: no Mcp-Session-Id header"
    code=$(curl -sS -o /dev/null -w '%{http_code}' "${MCP_HEADERS[@]}" \
        -H "Mcp-Session-Id: $sid" -H "MCP-Protocol-Version: $PROTOCOL_VERSION" \
        -d '{"jsonrpc":"2.0","method":"notifications/initialized"}' "$url") ||
        die "notifications/initialized to $url failed"
    [[ $code == 202 || $code == 200 || $code == 204 ]] || die "notifications/initialized to $url: HTTP $code"
    printf '%s' "$sid"
}

# new_sessions URL N: N session ids, comma-separated.
new_sessions() {
    local list="" i
    for ((i = 0; i < $2; i++)); do
        list+="${list:+,}$(new_session "$1")"
    done
    printf '%s' "$list"
}

# ------------------------------------------------------------------ wrk runs

declare -A RPS P50 P99 REQS PROXY_CPU UPSTREAM_CPU WRK_CPU

# run_wrk LABEL URL SESSIONS THREADS CONNS DURATION DELAY_MS: runs echo.lua, fails on any error,
# records RPS/P50/P99/REQS and proxy/upstream CPU-µs per request under LABEL.
run_wrk() {
    local label=$1 url=$2 sessions=$3 threads=$4 conns=$5 duration=$6 delay=$7
    local out="$WORK/wrk-$label.txt" pin=() proxy_before up_before wrk_before errors result wrk_pid
    [[ -n $WRK_CORES ]] && pin=(taskset -c "$WRK_CORES")
    proxy_before=$(cpu_ticks "$PROXY_PID")
    up_before=$(cpu_ticks "$UPSTREAM_PID")
    children_cpu_seconds >"$WORK/cpu.txt"
    wrk_before=$(<"$WORK/cpu.txt")
    # In the background + `wait`, so Ctrl-C / SIGTERM reach our trap at once (a foreground wrk
    # catches SIGINT itself, exits 0, and bash would then carry on with the next run).
    MCP_SESSIONS=$sessions MCP_PROTOCOL_VERSION=$PROTOCOL_VERSION ECHO_PAD=$ECHO_PAD DELAY_MS=$delay \
        "${pin[@]}" wrk -t "$threads" -c "$conns" -d "$duration" -s "$BENCH/echo.lua" "$url" >"$out" 2>&1 &
    wrk_pid=$!
    PIDS+=("$wrk_pid")
    wait "$wrk_pid" || { cat "$out" >&2; die "wrk $label failed"; }
    forget_pid "$wrk_pid"
    REQS[$label]=$(sed -n 's/^result requests=\([0-9]*\).*/\1/p' "$out")
    [[ ${REQS[$label]:-0} -gt 0 ]] || { cat "$out" >&2; die "wrk $label: no requests completed"; }
    # wrk's CPU as % of one core over the run: near 100 % per wrk thread = load-generator bound.
    children_cpu_seconds >"$WORK/cpu.txt"
    WRK_CPU[$label]=$(awk -v a="$wrk_before" -v b="$(<"$WORK/cpu.txt")" \
        -v d="$(sed -n 's/.* duration_us=\([0-9]*\).*/\1/p' "$out")" 'BEGIN { printf "%.0f", (b - a) * 1e8 / d }')
    PROXY_CPU[$label]=$(awk -v a="$proxy_before" -v b="$(cpu_ticks "$PROXY_PID")" -v n="${REQS[$label]}" \
        -v hz="$CLK_TCK" 'BEGIN { printf "%.1f", n ? (b - a) * 1e6 / hz / n : 0 }')
    UPSTREAM_CPU[$label]=$(awk -v a="$up_before" -v b="$(cpu_ticks "$UPSTREAM_PID")" -v n="${REQS[$label]}" \
        -v hz="$CLK_TCK" 'BEGIN { printf "%.1f", n ? (b - a) * 1e6 / hz / n : 0 }')
    { echo "== wrk $label: -t $threads -c $conns -d $duration delay=${delay}ms $url"; cat "$out"; } >>"$WORK/raw.txt"
    errors=$(grep '^errors ' "$out") || { cat "$out" >&2; die "wrk $label: no errors line (script not run?)"; }
    result=$(grep '^result ' "$out") || die "wrk $label: no result line"
    if grep -Eq '=[1-9]' <<<"$errors"; then
        grep '^first_bad ' "$out" >&2 || true
        die "wrk $label: $errors"
    fi
    RPS[$label]=$(sed -n 's/.* rps=\([0-9.]*\).*/\1/p' <<<"$result")
    P50[$label]=$(sed -n 's/.* p50_us=\([0-9]*\).*/\1/p' <<<"$result")
    P99[$label]=$(sed -n 's/.* p99_us=\([0-9]*\).*/\1/p' <<<"$result")
    echo "bench: $label: ${RPS[$label]} req/s, p50 ${P50[$label]} µs, p99 ${P99[$label]} µs" >&2
}

ROW_FORMAT='%-18s %12s %9s %9s %14s %14s %9s'
row() {
    # shellcheck disable=SC2059 # one format for header and rows
    printf "$ROW_FORMAT\n" "$1" "${RPS[$1]}" "${P50[$1]}" "${P99[$1]}" \
        "${PROXY_CPU[$1]}" "${UPSTREAM_CPU[$1]}" "${WRK_CPU[$1]}"
}

# added ARRAY BASE LABEL: signed difference ARRAY[LABEL] - ARRAY[BASE].
added() {
    local -n values=$1
    printf '%+d' $((values[$3] - values[$2]))
}

# ------------------------------------------------------------------ nginx anchor

# start_nginx UPSTREAM_URL: nginx (one process, master off) proxy_pass-ing to the demo server with
# upstream keep-alive and no buffering, pinned to the proxy's first core; sets NGINX_PID, NGINX_URL.
start_nginx() {
    local upstream=${1#http://} port core conf="$WORK/nginx.conf" polls=0
    upstream=${upstream%%/*}
    if ! command -v nginx >/dev/null; then
        echo "bench: installing nginx-light (Debian package)" >&2
        SUDO=$([[ $(id -u) == 0 ]] || echo sudo)
        $SUDO apt-get install -y nginx-light >&2 ||
            { $SUDO apt-get update >&2 && $SUDO apt-get install -y nginx-light >&2; } || die "cannot install nginx"
    fi
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    core=${PROXY_CORES:-$(cut -d, -f1 /sys/devices/system/cpu/online | cut -d- -f1)}
    core=${core%%[,-]*}
    mkdir -p "$WORK/nginx"
    cat >"$conf" <<CONF
worker_processes 1;
daemon off;
master_process off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $WORK/nginx;
    proxy_temp_path $WORK/nginx;
    keepalive_requests 100000000;
    upstream mcp { server $upstream; keepalive 128; keepalive_requests 100000000; }
    server {
        listen 127.0.0.1:$port;
        location / {
            proxy_pass http://mcp;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }
    }
}
CONF
    taskset -c "$core" nginx -c "$conf" -p "$WORK/nginx" >"$WORK/nginx/stdout" 2>&1 &
    NGINX_PID=$!
    PIDS+=("$NGINX_PID")
    until curl -s -o /dev/null "http://127.0.0.1:$port/"; do
        alive "$NGINX_PID" || { cat "$WORK/nginx/stdout" "$WORK/nginx/error.log" >&2; die "nginx exited"; }
        ((polls++ < READY_TIMEOUT * 50)) || die "nginx not answering on port $port"
        sleep 0.02
    done
    NGINX_URL="http://127.0.0.1:$port/${1#http://*/}"
}

# ------------------------------------------------------------------ main

command -v curl >/dev/null || die "curl is required"
command -v python3 >/dev/null || [[ $SKIP_SESSIONS == 1 ]] || die "python3 is required (or SKIP_SESSIONS=1)"
if ! command -v wrk >/dev/null; then
    echo "bench: installing wrk (Debian package)" >&2
    SUDO=$([[ $(id -u) == 0 ]] || echo sudo)
    $SUDO apt-get install -y wrk >&2 || { $SUDO apt-get update >&2 && $SUDO apt-get install -y wrk >&2; } ||
        die "cannot install wrk"
fi

if [[ -n $SHADOWCAT_BIN ]]; then
    BIN=$SHADOWCAT_BIN
else
    (cd "$ROOT" && cargo build --release --bin shadowcat) >&2
    BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/shadowcat"
fi
[[ -x $BIN ]] || die "no executable at $BIN"
mkdir -p "$RESULTS_DIR"

# shellcheck disable=SC2046 # placement_flags prints two words on purpose
start_server demo-server demo-server --http 127.0.0.1:0 $(placement_flags "$UPSTREAM_SHARDS" "$UPSTREAM_CORES")
UPSTREAM_PID=$STARTED_PID
UPSTREAM_URL=$(listen_url demo-server)
# shellcheck disable=SC2046
start_server proxy reverse --bind 127.0.0.1:0 --upstream "$UPSTREAM_URL" \
    $(placement_flags "$PROXY_SHARDS" "$PROXY_CORES")
PROXY_PID=$STARTED_PID
PROXY_URL=$(listen_url proxy)

say "# shadowcat bench $(date -u +%Y-%m-%dT%H:%M:%SZ) commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
say "# host: $(uname -r), $NCPU cpus, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
say "# demo server: $(placement_flags "$UPSTREAM_SHARDS" "$UPSTREAM_CORES") threads:$(affinity "$UPSTREAM_PID")"
say "# proxy:       $(placement_flags "$PROXY_SHARDS" "$PROXY_CORES") threads:$(affinity "$PROXY_PID")"
say "# wrk:         cores '${WRK_CORES:-any}', -t $WRK_THREADS -c $WRK_CONNS -d $DURATION (warm-up $WARMUP);" \
    "moderate -t 1 -c $MODERATE_CONNS with ${MODERATE_DELAY_MS} ms pause; echo pad $ECHO_PAD B"

DIRECT_SESSIONS=$(new_sessions "$UPSTREAM_URL" "$WRK_THREADS")
PROXIED_SESSIONS=$(new_sessions "$PROXY_URL" "$WRK_THREADS")

run_wrk warmup-direct "$UPSTREAM_URL" "$DIRECT_SESSIONS" "$WRK_THREADS" "$WRK_CONNS" "$WARMUP" 0
run_wrk direct "$UPSTREAM_URL" "$DIRECT_SESSIONS" "$WRK_THREADS" "$WRK_CONNS" "$DURATION" 0
run_wrk warmup-proxied "$PROXY_URL" "$PROXIED_SESSIONS" "$WRK_THREADS" "$WRK_CONNS" "$WARMUP" 0
run_wrk proxied "$PROXY_URL" "$PROXIED_SESSIONS" "$WRK_THREADS" "$WRK_CONNS" "$DURATION" 0
if [[ $NGINX == 1 ]]; then
    start_nginx "$UPSTREAM_URL"
    NGINX_SESSIONS=$(new_sessions "$NGINX_URL" "$WRK_THREADS")
    # run_wrk charges CPU to PROXY_PID: let it measure nginx for these runs.
    SHADOWCAT_PID=$PROXY_PID
    PROXY_PID=$NGINX_PID
    run_wrk warmup-nginx "$NGINX_URL" "$NGINX_SESSIONS" "$WRK_THREADS" "$WRK_CONNS" "$WARMUP" 0
    run_wrk nginx "$NGINX_URL" "$NGINX_SESSIONS" "$WRK_THREADS" "$WRK_CONNS" "$DURATION" 0
    PROXY_PID=$SHADOWCAT_PID
    stop_pid "$NGINX_PID"
    forget_pid "$NGINX_PID"
fi
run_wrk moderate-direct "$UPSTREAM_URL" "${DIRECT_SESSIONS%%,*}" 1 "$MODERATE_CONNS" "$DURATION" "$MODERATE_DELAY_MS"
run_wrk moderate-proxied "$PROXY_URL" "${PROXIED_SESSIONS%%,*}" 1 "$MODERATE_CONNS" "$DURATION" "$MODERATE_DELAY_MS"

say ""
# shellcheck disable=SC2059
say "$(printf "$ROW_FORMAT" run 'req/s' 'p50 µs' 'p99 µs' 'proxy CPU µs' 'upstr CPU µs' 'wrk CPU%')"
LABELS=(direct proxied)
[[ $NGINX == 1 ]] && LABELS+=(nginx)
for label in "${LABELS[@]}" moderate-direct moderate-proxied; do
    say "$(row "$label")"
done
say ""
say "$(awk -v p="${RPS[proxied]}" -v d="${RPS[direct]}" 'BEGIN { printf "throughput ratio proxied/direct: %.3f", p / d }')"
say "added latency, saturated:     p50 $(added P50 direct proxied) µs, p99 $(added P99 direct proxied) µs"
say "added latency, moderate load: p50 $(added P50 moderate-direct moderate-proxied) µs," \
    "p99 $(added P99 moderate-direct moderate-proxied) µs"
say "proxy CPU per proxied request: ${PROXY_CPU[proxied]} µs (CPU time / requests, all proxy threads)"
if [[ $NGINX == 1 ]]; then
    say "$(awk -v s="${RPS[proxied]}" -v n="${RPS[nginx]}" -v sc="${PROXY_CPU[proxied]}" -v nc="${PROXY_CPU[nginx]}" \
        'BEGIN { printf "shadowcat vs nginx proxy_pass: throughput %.3f, CPU per request %s µs vs %s µs", s / n, sc, nc }')"
fi

if [[ $SKIP_SESSIONS != 1 ]]; then
    # A fresh proxy, so memory freed by the load runs cannot hide what sessions cost.
    stop_pid "$PROXY_PID"
    forget_pid "$PROXY_PID"
    # shellcheck disable=SC2046
    start_server proxy-idle reverse --bind 127.0.0.1:0 --upstream "$UPSTREAM_URL" \
        $(placement_flags "$PROXY_SHARDS" "$PROXY_CORES")
    say ""
    IDLE_URL=$(listen_url proxy)
    python3 "$BENCH/idle_sessions.py" --url "$IDLE_URL" --pid "$STARTED_PID" \
        --upstream-pid "$UPSTREAM_PID" --count "$IDLE_SESSIONS" | tee -a "$RESULTS" ||
        die "idle_sessions.py failed"
fi

echo "bench: results in $RESULTS" >&2
