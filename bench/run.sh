#!/usr/bin/env bash
# bench/run.sh: one benchmark run of shadowcat against its own demo MCP server, direct vs proxied.
# Not here: the wrk request/response logic (bench/echo.lua), the idle-session probe
# (bench/idle_sessions.py), interpretation (docs/benchmarks.md).
#
# Steps: build (release), start demo server + proxy, open one MCP session per wrk thread on each,
# warm up, saturating run direct then proxied, moderate-load run and one-connection closed-loop run
# direct then proxied (and nginx for both), table with
# ratios and added latency, then idle-session memory on a fresh proxy. Every wrk response body is
# checked; any error fails the run (exit 1). Everything started here is killed by PID on exit.
#
# Arguments:
#   --compare FILE [--threshold PCT]      after the run, compare its ratios with an earlier report
#                                         (bench/compare.py; default threshold 5 %): exit 1 when any
#                                         ratio got worse by more than the threshold
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
#   TLS=1                                 also run shadowcat and nginx terminating TLS (one self-signed
#                                         certificate from openssl, P-256): rows tls, moderate-tls, single-tls,
#                                         tls-nginx (with PROXY_SHARDS > 1, requests for another shard's
#                                         sessions are relayed over a socket pair: proxy/tunnel.rs)
#   NGINX=1                               also run nginx `proxy_pass` (the throughput anchor, DESIGN §5)
#                                         pinned like the proxy; installs Debian nginx-light if missing
#   BASE_BIN=                             also run this (older) shadowcat binary as a proxy, same
#                                         upstream and placement: new/base ratios in the same run
#   PROXY_ARGS=                           extra `reverse` flags for the proxies (e.g. "--deny-tool x"
#                                         to measure a route with a stage configured, or
#                                         "--io glommio" / "--io uring" for one socket I/O path)
#   ALT_ARGS=                             also run the same binary with these flags added (e.g.
#                                         "--io glommio": the other I/O path), rows alt/moderate-alt/single-alt
#   RECORD=0                              1: the proxies record every session (--record into the run's
#                                         temporary directory, deleted with it); for a with/without
#                                         ratio in one run use ALT_ARGS="--record /tmp/tapes" instead
#   SYSCALLS=1  SYSCALL_DURATION=3s       count system calls per request (strace -c on every thread,
#                                         one extra short wrk run each) for shadowcat, alt and nginx
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
TLS=${TLS:-1}
BASE_BIN=${BASE_BIN:-}
PROXY_ARGS=${PROXY_ARGS:-}
ALT_ARGS=${ALT_ARGS:-}
SYSCALLS=${SYSCALLS:-1}
RECORD=${RECORD:-0}
SYSCALL_DURATION=${SYSCALL_DURATION:-3s}
COMPARE=
THRESHOLD=5
while [[ $# -gt 0 ]]; do
    case $1 in
        --compare) COMPARE=${2:?--compare needs a report file}; shift 2 ;;
        --threshold) THRESHOLD=${2:?--threshold needs a percentage}; shift 2 ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
        *) echo "bench: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
[[ -z $COMPARE || -r $COMPARE ]] || { echo "bench: cannot read $COMPARE" >&2; exit 2; }
PROTOCOL_VERSION=2025-06-18

# shellcheck source=bench/lib.sh
source "$BENCH/lib.sh"
if [[ $RECORD == 1 ]]; then
    PROXY_ARGS="$PROXY_ARGS --record $WORK/tapes"
fi

# ------------------------------------------------------------------ nginx anchor

# start_nginx UPSTREAM_URL [CERT KEY]: nginx (one process, master off) proxy_pass-ing to the demo
# server with upstream keep-alive and no buffering, pinned to the proxy's first core, terminating
# TLS with CERT and KEY when given; sets NGINX_PID, NGINX_URL.
start_nginx() {
    local upstream=${1#http://} port core conf="$WORK/nginx.conf" polls=0 listen scheme=http tls_conf=""
    if [[ -n ${2:-} ]]; then
        scheme=https
        tls_conf="ssl_certificate $2; ssl_certificate_key $3; ssl_protocols TLSv1.3;"
    fi
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
        listen 127.0.0.1:$port${2:+ ssl};
        $tls_conf
        location / {
            proxy_pass http://mcp;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            # The upstream block's name ("mcp") would be the Host; the demo server accepts only
            # loopback names (DNS-rebinding guard), like shadowcat forwards them.
            proxy_set_header Host 127.0.0.1;
            proxy_buffering off;
        }
    }
}
CONF
    taskset -c "$core" nginx -c "$conf" -p "$WORK/nginx" >"$WORK/nginx/stdout" 2>&1 &
    NGINX_PID=$!
    PIDS+=("$NGINX_PID")
    until curl -s -o /dev/null "${MCP_HEADERS[@]}" "$scheme://127.0.0.1:$port/"; do
        alive "$NGINX_PID" || { cat "$WORK/nginx/stdout" "$WORK/nginx/error.log" >&2; die "nginx exited"; }
        ((polls++ < READY_TIMEOUT * 50)) || die "nginx not answering on port $port"
        sleep 0.02
    done
    NGINX_URL="$scheme://127.0.0.1:$port/${1#http://*/}"
}

# make_certificate: a self-signed P-256 certificate for 127.0.0.1 and localhost (TLS rows); sets
# TLS_CERT and TLS_KEY, and curl (sessions) trusts it.
make_certificate() {
    command -v openssl >/dev/null || die "openssl not found (Debian: apt-get install openssl), or TLS=0"
    TLS_CERT="$WORK/tls-cert.pem"
    TLS_KEY="$WORK/tls-key.pem"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
        -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" -keyout "$TLS_KEY" -out "$TLS_CERT" \
        >/dev/null 2>&1 || die "openssl could not make a certificate"
    MCP_HEADERS+=(--cacert "$TLS_CERT")
}

# ------------------------------------------------------------------ system calls per request

declare -A SYSCALL_LINE

# count_syscalls LABEL PID URL SESSIONS: a short wrk run with strace -c on every thread of PID;
# sets SYSCALL_LINE[LABEL] to "N per request (name n, ...)" for the five most frequent calls.
count_syscalls() {
    local label=$1 pid=$2 url=$3 sessions=$4 out="$WORK/strace-$1.txt" tracer task targets=()
    [[ $SYSCALLS == 1 ]] || return 0
    command -v strace >/dev/null || { SYSCALL_LINE[$label]="(strace not installed)"; return 0; }
    for task in /proc/"$pid"/task/*; do targets+=(-p "${task##*/}"); done
    strace -c -o "$out" "${targets[@]}" 2>"$WORK/strace-$label.err" &
    tracer=$!
    PIDS+=("$tracer")
    sleep 0.5 # strace attaches asynchronously; a few untraced requests only lower the count
    run_wrk "syscalls-$label" "$url" "$sessions" "$WRK_THREADS" "$WRK_CONNS" "$SYSCALL_DURATION" 0
    kill -INT "$tracer" 2>/dev/null || true
    wait "$tracer" 2>/dev/null || true
    forget_pid "$tracer"
    [[ -s $out ]] || { SYSCALL_LINE[$label]="(strace failed: $(head -c 200 "$WORK/strace-$label.err"))"; return 0; }
    SYSCALL_LINE[$label]=$(awk -v n="${REQS[syscalls-$label]}" '
        $1 ~ /^[0-9.]+$/ && $4 ~ /^[0-9]+$/ {
            if ($NF == "total") { total = $4; next }
            calls[$NF] = $4
        }
        END {
            line = sprintf("%.2f per request (", total / n)
            for (k = 0; k < 5; k++) {
                best = ""; max = -1
                for (c in calls) if (calls[c] > max) { max = calls[c]; best = c }
                if (best == "") break
                line = line sprintf("%s%s %.2f", k ? ", " : "", best, max / n)
                delete calls[best]
            }
            print line ")"
        }' "$out")
    echo "bench: syscalls $label: ${SYSCALL_LINE[$label]}" >&2
    { echo "== strace -c $label"; cat "$out"; } >>"$WORK/raw.txt"
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

resolve_bin

# shellcheck disable=SC2046 # placement_flags prints two words on purpose
start_server demo-server demo-server --http 127.0.0.1:0 $(placement_flags "$UPSTREAM_SHARDS" "$UPSTREAM_CORES")
UPSTREAM_PID=$STARTED_PID
UPSTREAM_URL=$(listen_url demo-server)
# shellcheck disable=SC2046
start_server proxy reverse --bind 127.0.0.1:0 --upstream "$UPSTREAM_URL" \
    $(placement_flags "$PROXY_SHARDS" "$PROXY_CORES") $PROXY_ARGS
PROXY_PID=$STARTED_PID
PROXY_URL=$(listen_url proxy)

say "# shadowcat bench $(date -u +%Y-%m-%dT%H:%M:%SZ) commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
say "# host: $(uname -r), $NCPU cpus, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
say "# demo server: $(placement_flags "$UPSTREAM_SHARDS" "$UPSTREAM_CORES") threads:$(affinity "$UPSTREAM_PID")"
say "# proxy:       $(placement_flags "$PROXY_SHARDS" "$PROXY_CORES") $PROXY_ARGS threads:$(affinity "$PROXY_PID")"
[[ -n $BASE_BIN ]] && say "# base proxy:  $BASE_BIN (same flags)"
say "# wrk:         cores '${WRK_CORES:-any}', -t $WRK_THREADS -c $WRK_CONNS -d $DURATION (warm-up $WARMUP);" \
    "moderate -t 1 -c $MODERATE_CONNS with ${MODERATE_DELAY_MS} ms pause; echo pad $ECHO_PAD B"

DIRECT_SESSIONS=$(new_sessions "$UPSTREAM_URL" "$WRK_THREADS")
PROXIED_SESSIONS=$(new_sessions "$PROXY_URL" "$WRK_THREADS")

run_wrk warmup-direct "$UPSTREAM_URL" "$DIRECT_SESSIONS" "$WRK_THREADS" "$WRK_CONNS" "$WARMUP" 0
run_wrk direct "$UPSTREAM_URL" "$DIRECT_SESSIONS" "$WRK_THREADS" "$WRK_CONNS" "$DURATION" 0
run_wrk warmup-proxied "$PROXY_URL" "$PROXIED_SESSIONS" "$WRK_THREADS" "$WRK_CONNS" "$WARMUP" 0
run_wrk proxied "$PROXY_URL" "$PROXIED_SESSIONS" "$WRK_THREADS" "$WRK_CONNS" "$DURATION" 0
count_syscalls shadowcat "$PROXY_PID" "$PROXY_URL" "$PROXIED_SESSIONS"
if [[ $NGINX == 1 ]]; then
    start_nginx "$UPSTREAM_URL"
    NGINX_SESSIONS=$(new_sessions "$NGINX_URL" "$WRK_THREADS")
    # run_wrk charges CPU to PROXY_PID: let it measure nginx for these runs.
    SHADOWCAT_PID=$PROXY_PID
    PROXY_PID=$NGINX_PID
    run_wrk warmup-nginx "$NGINX_URL" "$NGINX_SESSIONS" "$WRK_THREADS" "$WRK_CONNS" "$WARMUP" 0
    run_wrk nginx "$NGINX_URL" "$NGINX_SESSIONS" "$WRK_THREADS" "$WRK_CONNS" "$DURATION" 0
    count_syscalls nginx "$NGINX_PID" "$NGINX_URL" "$NGINX_SESSIONS"
    run_wrk moderate-nginx "$NGINX_URL" "${NGINX_SESSIONS%%,*}" 1 "$MODERATE_CONNS" "$DURATION" "$MODERATE_DELAY_MS"
    run_wrk single-nginx "$NGINX_URL" "${NGINX_SESSIONS%%,*}" 1 1 "$DURATION" 0
    PROXY_PID=$SHADOWCAT_PID
    stop_pid "$NGINX_PID"
    forget_pid "$NGINX_PID"
fi
# measure_other LABEL BINARY FLAGS...: one more proxy (BINARY with the usual flags plus FLAGS) in
# front of the same upstream: rows LABEL and moderate-LABEL (and its system calls), then stopped.
measure_other() {
    local label=$1 binary=$2 pid url sessions saved_bin=$BIN saved_pid=$PROXY_PID
    shift 2
    BIN=$binary
    # shellcheck disable=SC2046,SC2086 # flag lists on purpose
    start_server "proxy-$label" reverse --bind 127.0.0.1:0 --upstream "$UPSTREAM_URL" \
        $(placement_flags "$PROXY_SHARDS" "$PROXY_CORES") $PROXY_ARGS "$@"
    BIN=$saved_bin
    pid=$STARTED_PID
    url=$(listen_url proxy)
    sessions=$(new_sessions "$url" "$WRK_THREADS")
    PROXY_PID=$pid
    run_wrk "warmup-$label" "$url" "$sessions" "$WRK_THREADS" "$WRK_CONNS" "$WARMUP" 0
    run_wrk "$label" "$url" "$sessions" "$WRK_THREADS" "$WRK_CONNS" "$DURATION" 0
    count_syscalls "$label" "$pid" "$url" "$sessions"
    run_wrk "moderate-$label" "$url" "${sessions%%,*}" 1 "$MODERATE_CONNS" "$DURATION" "$MODERATE_DELAY_MS"
    run_wrk "single-$label" "$url" "${sessions%%,*}" 1 1 "$DURATION" 0
    PROXY_PID=$saved_pid
    stop_pid "$pid"
    forget_pid "$pid"
}
if [[ -n $BASE_BIN ]]; then
    [[ -x $BASE_BIN ]] || die "BASE_BIN=$BASE_BIN is not executable"
    measure_other base "$BASE_BIN"
fi
# shellcheck disable=SC2086 # a flag list on purpose
[[ -z $ALT_ARGS ]] || measure_other alt "$BIN" $ALT_ARGS
if [[ $TLS == 1 ]]; then
    make_certificate
    measure_other tls "$BIN" --tls-cert "$TLS_CERT" --tls-key "$TLS_KEY"
    if [[ $NGINX == 1 ]]; then
        start_nginx "$UPSTREAM_URL" "$TLS_CERT" "$TLS_KEY"
        NGINX_SESSIONS=$(new_sessions "$NGINX_URL" "$WRK_THREADS")
        SHADOWCAT_PID=$PROXY_PID
        PROXY_PID=$NGINX_PID
        run_wrk warmup-tls-nginx "$NGINX_URL" "$NGINX_SESSIONS" "$WRK_THREADS" "$WRK_CONNS" "$WARMUP" 0
        run_wrk tls-nginx "$NGINX_URL" "$NGINX_SESSIONS" "$WRK_THREADS" "$WRK_CONNS" "$DURATION" 0
        PROXY_PID=$SHADOWCAT_PID
        stop_pid "$NGINX_PID"
        forget_pid "$NGINX_PID"
    fi
fi
run_wrk moderate-direct "$UPSTREAM_URL" "${DIRECT_SESSIONS%%,*}" 1 "$MODERATE_CONNS" "$DURATION" "$MODERATE_DELAY_MS"
run_wrk moderate-proxied "$PROXY_URL" "${PROXIED_SESSIONS%%,*}" 1 "$MODERATE_CONNS" "$DURATION" "$MODERATE_DELAY_MS"
# One connection, closed loop (the next request as soon as the answer is in): latency with no
# queuing at all, the "added latency on one connection" target.
run_wrk single-direct "$UPSTREAM_URL" "${DIRECT_SESSIONS%%,*}" 1 1 "$DURATION" 0
run_wrk single-proxied "$PROXY_URL" "${PROXIED_SESSIONS%%,*}" 1 1 "$DURATION" 0

say ""
# shellcheck disable=SC2059
say "$(printf "$ROW_FORMAT" run 'req/s' 'p50 µs' 'p99 µs' 'proxy CPU µs' 'upstr CPU µs' 'wrk CPU%')"
LABELS=(direct proxied)
[[ $NGINX == 1 ]] && LABELS+=(nginx moderate-nginx single-nginx)
[[ -n $BASE_BIN ]] && LABELS+=(base moderate-base single-base)
[[ -n $ALT_ARGS ]] && LABELS+=(alt moderate-alt single-alt)
[[ $TLS == 1 ]] && LABELS+=(tls moderate-tls single-tls)
[[ $TLS == 1 && $NGINX == 1 ]] && LABELS+=(tls-nginx)
for label in "${LABELS[@]}" moderate-direct moderate-proxied single-direct single-proxied; do
    say "$(row "$label")"
done
say ""
say "$(awk -v p="${RPS[proxied]}" -v d="${RPS[direct]}" 'BEGIN { printf "throughput ratio proxied/direct: %.3f", p / d }')"
say "added latency, saturated:     p50 $(added P50 direct proxied) µs, p99 $(added P99 direct proxied) µs"
say "added latency, moderate load: p50 $(added P50 moderate-direct moderate-proxied) µs," \
    "p99 $(added P99 moderate-direct moderate-proxied) µs"
say "added latency, one connection:  p50 $(added P50 single-direct single-proxied) µs," \
    "p99 $(added P99 single-direct single-proxied) µs (closed loop, -c 1)"
say "proxy CPU per proxied request: ${PROXY_CPU[proxied]} µs (CPU time / requests, all proxy threads)"
if [[ $NGINX == 1 ]]; then
    say "$(awk -v s="${RPS[proxied]}" -v n="${RPS[nginx]}" -v sc="${PROXY_CPU[proxied]}" -v nc="${PROXY_CPU[nginx]}" \
        'BEGIN { printf "shadowcat vs nginx proxy_pass: throughput %.3f, CPU per request %s µs vs %s µs", s / n, sc, nc }')"
    say "nginx added latency, moderate load: p50 $(added P50 moderate-direct moderate-nginx) µs," \
        "p99 $(added P99 moderate-direct moderate-nginx) µs; one connection: p50" \
        "$(added P50 single-direct single-nginx) µs, p99 $(added P99 single-direct single-nginx) µs"
fi

if [[ $TLS == 1 ]]; then
    say "$(awk -v t="${RPS[tls]}" -v p="${RPS[proxied]}" -v tc="${PROXY_CPU[tls]}" -v pc="${PROXY_CPU[proxied]}" \
        'BEGIN { printf "TLS-terminated vs plain (shadowcat): throughput %.3f, CPU per request %s µs vs %s µs", t / p, tc, pc }')"
    if [[ $NGINX == 1 ]]; then
        say "$(awk -v t="${RPS[tls]}" -v n="${RPS[tls-nginx]}" -v tc="${PROXY_CPU[tls]}" -v nc="${PROXY_CPU[tls-nginx]}" \
            'BEGIN { printf "shadowcat vs nginx, both terminating TLS: throughput %.3f, CPU per request %s µs vs %s µs", t / n, tc, nc }')"
    fi
fi
if [[ -n $ALT_ARGS ]]; then
    say "$(awk -v s="${RPS[proxied]}" -v a="${RPS[alt]}" -v sc="${PROXY_CPU[proxied]}" -v ac="${PROXY_CPU[alt]}" \
        -v args="$ALT_ARGS" 'BEGIN { printf "proxied vs alt (%s): throughput %.3f, CPU per request %s µs vs %s µs", args, s / a, sc, ac }')"
    say "proxied vs alt, moderate load: p50 ${P50[moderate-proxied]} µs vs ${P50[moderate-alt]} µs," \
        "p99 ${P99[moderate-proxied]} µs vs ${P99[moderate-alt]} µs"
    say "proxied vs alt, one connection: p50 ${P50[single-proxied]} µs vs ${P50[single-alt]} µs," \
        "p99 ${P99[single-proxied]} µs vs ${P99[single-alt]} µs (closed loop, -c 1)"
fi
if [[ $SYSCALLS == 1 ]]; then
    for label in shadowcat alt base nginx; do
        [[ -n ${SYSCALL_LINE[$label]:-} ]] && say "system calls, $label: ${SYSCALL_LINE[$label]}"
    done
fi

if [[ -n $BASE_BIN ]]; then
    say "$(awk -v s="${RPS[proxied]}" -v b="${RPS[base]}" -v sc="${PROXY_CPU[proxied]}" -v bc="${PROXY_CPU[base]}" \
        'BEGIN { printf "new vs base proxy: throughput %.3f, CPU per request %s µs vs %s µs", s / b, sc, bc }')"
    say "new vs base, moderate load: p50 ${P50[moderate-proxied]} µs vs ${P50[moderate-base]} µs," \
        "p99 ${P99[moderate-proxied]} µs vs ${P99[moderate-base]} µs"
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
if [[ -n $COMPARE ]]; then
    say ""
    python3 "$BENCH/compare.py" "$RESULTS" "$COMPARE" --threshold "$THRESHOLD" | tee -a "$RESULTS"
    exit "${PIPESTATUS[0]}"
fi
