# shellcheck shell=bash
# bench/lib.sh: shared by bench/run.sh and bench/stdio.sh (sourced, never run): the scratch dir and
# results file, process start/stop by PID with cleanup on exit, CPU accounting from /proc, MCP
# sessions over curl, and run_wrk (bench/echo.lua, every body checked) with its result arrays.
# Not here: which processes a benchmark starts and what it reports (the scripts themselves).
#
# The sourcing script sets before sourcing: BENCH (this dir), ROOT; and before calling these:
# BIN, READY_TIMEOUT, WRK_CORES, ECHO_PAD, PROTOCOL_VERSION, and for run_wrk PROXY_PID (CPU charged
# to "proxy") plus UPSTREAM_PID (CPU charged to "upstream"; empty = every descendant of PROXY_PID,
# e.g. the stdio children of a proxy).

CLK_TCK=$(getconf CLK_TCK)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/shadowcat-bench.XXXXXX")
RESULTS_DIR="$BENCH/results"
mkdir -p "$RESULTS_DIR"
RESULTS="$RESULTS_DIR/$(date +%Y%m%d-%H%M%S).txt"
PIDS=()

# ------------------------------------------------------------------ the binary

# resolve_bin: BIN = $SHADOWCAT_BIN, or a fresh `cargo build --release` of this checkout.
resolve_bin() {
    if [[ -n ${SHADOWCAT_BIN:-} ]]; then
        BIN=$SHADOWCAT_BIN
    else
        (cd "$ROOT" && cargo build --release --bin shadowcat) >&2
        BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/shadowcat"
    fi
    [[ -x $BIN ]] || die "no executable at $BIN"
}

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

# start_server_with BINARY NAME ARGS...: start_server running BINARY instead of "$BIN" (the
# BASE_BIN runs of the bench scripts: an older build measured in the same run).
start_server_with() {
    local saved=$BIN
    BIN=$1
    shift
    start_server "$@"
    BIN=$saved
}

# base_ratio LABEL: "new/base" throughput and CPU per request of LABEL vs base-LABEL.
base_ratio() {
    awk -v n="${RPS[$1]}" -v b="${RPS[base-$1]}" -v nc="${PROXY_CPU[$1]}" -v bc="${PROXY_CPU[base-$1]}" -v l="$1" \
        'BEGIN { printf "new vs base, %s: throughput %.3f, proxy CPU per request %s µs vs %s µs", l, n / b, nc, bc }'
}

# listen_url KIND: URL from the `listening KIND URL` line of the last started server.
listen_url() {
    local url
    url=$(sed -n "s/^listening $1 \\(https\\{0,1\\}:[^ ]*\\)\$/\\1/p" "$STARTED_OUT" | head -n 1)
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

# descendants PID: every live descendant of PID (children, grandchildren, ...), one per line. Scans
# /proc/*/stat for parent pids (/proc/PID/task/TID/children is not on every kernel).
descendants() {
    local stat
    for stat in /proc/[0-9]*/stat; do
        sed 's/^\([0-9]*\) .*) [A-Za-z] \([0-9]*\) .*/\1 \2/' "$stat" 2>/dev/null
    done | awk -v root="$1" '
        { parent[$1] = $2 }
        END {
            wanted[root] = 1
            do {
                grown = 0
                for (pid in parent) if (!(pid in wanted) && (parent[pid] in wanted)) { wanted[pid] = 1; grown = 1 }
            } while (grown)
            for (pid in wanted) if (pid != root) print pid
        }'
}

# upstream_ticks: CPU ticks of the upstream: UPSTREAM_PID, or (empty) all descendants of PROXY_PID.
upstream_ticks() {
    local pid ticks total=0
    if [[ -n ${UPSTREAM_PID:-} ]]; then
        cpu_ticks "$UPSTREAM_PID"
        return
    fi
    for pid in $(descendants "$PROXY_PID"); do
        ticks=$(cpu_ticks "$pid" 2>/dev/null) || ticks=0
        total=$((total + ${ticks:-0}))
    done
    echo "$total"
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
    up_before=$(upstream_ticks)
    children_cpu_seconds >"$WORK/cpu.txt"
    wrk_before=$(<"$WORK/cpu.txt")
    # In the background + `wait`, so Ctrl-C / SIGTERM reach our trap at once (a foreground wrk
    # catches SIGINT itself, exits 0, and bash would then carry on with the next run).
    MCP_SESSIONS=$sessions MCP_PROTOCOL_VERSION=$PROTOCOL_VERSION ECHO_PAD=$ECHO_PAD DELAY_MS=$delay ECHO_ARG=${ECHO_ARG:-message} \
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
    UPSTREAM_CPU[$label]=$(awk -v a="$up_before" -v b="$(upstream_ticks)" -v n="${REQS[$label]}" \
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

