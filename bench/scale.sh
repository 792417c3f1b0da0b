#!/usr/bin/env bash
# bench/scale.sh: the scale runs of issue 13, as a benchmark with numbers (not a timed test).
# Not here: the saturating/latency comparison with nginx (bench/run.sh), the stream client
# (bench/streams.py), interpretation (docs/benchmarks.md).
#
# Two steps, each on a fresh proxy in front of the demo server; everything started here is killed
# by PID on exit, any error fails the run (exit 1):
#   conns    wrk -c CONNS (1000) for CONNS_DURATION (60 s), direct then proxied (--pool-max-idle
#            CONNS), every body checked: zero errors required; req/s, p50/p99, CPU-µs per request.
#   streams  STREAMS (10000) concurrent long `tools/call slow` SSE streams (STEPS progress events
#            DELAY_MS apart, then the result). While every stream is open: the proxy's RSS per
#            stream (vs before they opened), and a moderate-load echo run compared with the same
#            run before the streams (p50/p99: "no slowdown of other requests"). At the end every
#            progress event of every stream must have arrived.
#
# Arguments: conns | streams | all (default all).
#
# Environment:
#   PROXY_SHARDS=1 UPSTREAM_SHARDS=1 WRK_CORES=<last core> SHADOWCAT_BIN= READY_TIMEOUT=10
#   PROXY_ARGS=                        extra `reverse` flags (e.g. "--io glommio")
#   CONNS=1000 CONNS_DURATION=60s
#   STREAMS=10000 STEPS=40 DELAY_MS=1000 STREAM_SESSIONS=100
#   STREAMS_UPSTREAM=stdio             stdio: one shared `demo-server --stdio` child multiplexes
#                                      every call (the proxy holds one fd per stream); http: the demo
#                                      server over HTTP (the proxy holds two fds per stream, so
#                                      `ulimit -n` must exceed 2 x STREAMS)
#   MODERATE_CONNS=4 MODERATE_DELAY_MS=1 MODERATE_DURATION=10s
set -euo pipefail
shopt -s inherit_errexit

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/bench"

NCPU=$(nproc)
PROXY_SHARDS=${PROXY_SHARDS:-1}
UPSTREAM_SHARDS=${UPSTREAM_SHARDS:-1}
WRK_CORES=${WRK_CORES-$((NCPU - 1))}
SHADOWCAT_BIN=${SHADOWCAT_BIN:-}
READY_TIMEOUT=${READY_TIMEOUT:-10}
PROXY_ARGS=${PROXY_ARGS:-}
CONNS=${CONNS:-1000}
CONNS_DURATION=${CONNS_DURATION:-60s}
STREAMS=${STREAMS:-10000}
STEPS=${STEPS:-40}
DELAY_MS=${DELAY_MS:-1000}
STREAM_SESSIONS=${STREAM_SESSIONS:-100}
STREAMS_UPSTREAM=${STREAMS_UPSTREAM:-stdio}
MODERATE_CONNS=${MODERATE_CONNS:-4}
MODERATE_DELAY_MS=${MODERATE_DELAY_MS:-1}
MODERATE_DURATION=${MODERATE_DURATION:-10s}
ECHO_PAD=0
PROTOCOL_VERSION=2025-06-18
STEP=${1:-all}
case $STEP in
    conns | streams | all) ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "bench: unknown step $STEP (conns | streams | all)" >&2; exit 2 ;;
esac

# shellcheck source=bench/lib.sh
source "$BENCH/lib.sh"

command -v wrk >/dev/null || die "wrk is required (apt-get install wrk, or run bench/run.sh once)"
command -v python3 >/dev/null || die "python3 is required"
resolve_bin

say "# shadowcat scale bench $(date -u +%Y-%m-%dT%H:%M:%SZ) commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
say "# host: $(uname -r), $NCPU cpus; proxy --shards $PROXY_SHARDS $PROXY_ARGS; wrk cores '${WRK_CORES:-any}'"

# rss_kib PID: resident set size of PID in KiB.
rss_kib() {
    awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

# start_demo_http: the demo server over HTTP; sets UPSTREAM_PID, UPSTREAM_URL.
start_demo_http() {
    start_server demo-server demo-server --http 127.0.0.1:0 --shards "$UPSTREAM_SHARDS"
    UPSTREAM_PID=$STARTED_PID
    UPSTREAM_URL=$(listen_url demo-server)
}

# start_proxy ARGS...: `reverse` on a free loopback port; sets PROXY_PID, PROXY_URL.
start_proxy() {
    # shellcheck disable=SC2086 # PROXY_ARGS is a list of flags
    start_server proxy reverse --bind 127.0.0.1:0 --shards "$PROXY_SHARDS" $PROXY_ARGS "$@"
    PROXY_PID=$STARTED_PID
    PROXY_URL=$(listen_url proxy)
}

step_conns() {
    local need=$((CONNS * 2 + 256))
    (($(ulimit -n) >= need)) || die "conns: ulimit -n is $(ulimit -n), need $need for $CONNS connections"
    start_demo_http
    # As many pooled upstream connections as client connections: with the default (64), every
    # answer beyond them closes its upstream connection and the next request opens one.
    start_proxy --upstream "$UPSTREAM_URL" --pool-max-idle "$CONNS"
    local direct proxied
    direct=$(new_session "$UPSTREAM_URL")
    proxied=$(new_session "$PROXY_URL")
    # Direct first: the demo server alone, so the proxied numbers have their anchor.
    PROXY_PID_SAVED=$PROXY_PID
    PROXY_PID=$UPSTREAM_PID
    run_wrk "direct-c$CONNS" "$UPSTREAM_URL" "$direct" 1 "$CONNS" "$CONNS_DURATION" 0
    PROXY_PID=$PROXY_PID_SAVED
    run_wrk "proxied-c$CONNS" "$PROXY_URL" "$proxied" 1 "$CONNS" "$CONNS_DURATION" 0
    say ""
    say "## $CONNS connections, $CONNS_DURATION each, zero errors (every body checked)"
    say "$(printf "$ROW_FORMAT" target req/s p50_us p99_us proxy_cpu_us up_cpu_us wrk_cpu%)"
    say "$(row "direct-c$CONNS")"
    say "$(row "proxied-c$CONNS")"
    say "proxied/direct throughput $(awk -v p="${RPS[proxied-c$CONNS]}" -v d="${RPS[direct-c$CONNS]}" 'BEGIN { printf "%.3f", p / d }');" \
        "proxy RSS after the run $(rss_kib "$PROXY_PID") KiB"
    stop_pid "$PROXY_PID"
    forget_pid "$PROXY_PID"
    stop_pid "$UPSTREAM_PID"
    forget_pid "$UPSTREAM_PID"
}

step_streams() {
    local per_stream_fds=1 upstream_desc
    if [[ $STREAMS_UPSTREAM == http ]]; then
        per_stream_fds=2
        start_demo_http
        start_proxy --upstream "$UPSTREAM_URL"
        upstream_desc="demo server over HTTP (one upstream connection per stream)"
    else
        UPSTREAM_PID=
        start_proxy --stdio-mode shared --upstream-cmd -- "$BIN" demo-server --stdio
        upstream_desc="one shared stdio demo-server child (every call multiplexed on its pipes)"
    fi
    local need=$((STREAMS * per_stream_fds + 256))
    (($(ulimit -n) >= need)) ||
        die "streams: ulimit -n is $(ulimit -n), need $need for $STREAMS streams on $STREAMS_UPSTREAM (raise it or lower STREAMS)"
    local sessions echo_session rss_before rss_open opened="$WORK/streams.opened" out="$WORK/streams.out"
    sessions=$(new_sessions "$PROXY_URL" "$STREAM_SESSIONS")
    echo_session=$(new_session "$PROXY_URL")
    run_wrk quiet "$PROXY_URL" "$echo_session" 1 "$MODERATE_CONNS" "$MODERATE_DURATION" "$MODERATE_DELAY_MS"
    rss_before=$(rss_kib "$PROXY_PID")
    python3 "$BENCH/streams.py" "$PROXY_URL" --sessions "$sessions" --streams "$STREAMS" --steps "$STEPS" \
        --delay-ms "$DELAY_MS" --opened-file "$opened" >"$out" 2>&1 &
    local client=$!
    PIDS+=("$client")
    local polls=0 budget=$((STEPS * DELAY_MS / 20))
    until [[ -e $opened ]]; do
        alive "$client" || { cat "$out" >&2; die "streams: the client exited before every stream was open"; }
        ((polls++ < budget)) || die "streams: not all $STREAMS streams open within the calls' duration"
        sleep 0.02
    done
    rss_open=$(rss_kib "$PROXY_PID")
    run_wrk loaded "$PROXY_URL" "$echo_session" 1 "$MODERATE_CONNS" "$MODERATE_DURATION" "$MODERATE_DELAY_MS"
    alive "$client" || { cat "$out" >&2; die "streams: the streams ended before the loaded run did (raise STEPS or DELAY_MS)"; }
    local status=0
    wait "$client" || status=$?
    forget_pid "$client"
    cat "$out" >>"$WORK/raw.txt"
    say ""
    say "## $STREAMS concurrent SSE streams ($STEPS progress events ${DELAY_MS} ms apart each) via $upstream_desc"
    say "$(grep -E '^(opened|result) ' "$out" | tr '\n' ';' | sed 's/;$//')"
    say "proxy RSS: $rss_before KiB before, $rss_open KiB with every stream open:" \
        "$(awk -v a="$rss_before" -v b="$rss_open" -v n="$STREAMS" 'BEGIN { printf "%.1f", (b - a) * 1024 / n / 1000 }') KB per stream"
    say "$(printf "$ROW_FORMAT" "echo, moderate" req/s p50_us p99_us proxy_cpu_us up_cpu_us wrk_cpu%)"
    say "$(row quiet)"
    say "$(row loaded)"
    say "p50 with streams open / without: $(awk -v l="${P50[loaded]}" -v q="${P50[quiet]}" 'BEGIN { printf "%.2f", l / q }')"
    ((status == 0)) || { grep '^failure' "$out" >&2 || true; die "streams: not every event arrived (see $RESULTS)"; }
    stop_pid "$PROXY_PID"
    forget_pid "$PROXY_PID"
    [[ -z $UPSTREAM_PID ]] || { stop_pid "$UPSTREAM_PID"; forget_pid "$UPSTREAM_PID"; }
}

[[ $STEP == streams ]] || step_conns
[[ $STEP == conns ]] || step_streams
say ""
say "# report: $RESULTS"
