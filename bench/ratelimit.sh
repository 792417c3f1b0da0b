#!/usr/bin/env bash
# bench/ratelimit.sh: how closely the admitted rate of one principal matches its configured
# rate limit when its sessions are spread over several shards (issue 10: within ±10 %).
#
# Starts `shadowcat demo --shards SHARDS --api-keys FILE --rate-limit RATE/s --rate-limit-burst
# BURST` (the built-in demo server as upstream), opens SESSIONS sessions of one API key (their ids
# hash to every shard, so requests land on the shard owning each session and the principal's
# bucket lives on one of them), then has CLIENTS threads send tools/list as fast as they can for
# DURATION seconds. Prints admitted/s against the configured rate (expected: RATE + BURST /
# DURATION), the 429 count, and how many decisions were asked of another shard over the mesh.
#
# Environment: SHADOWCAT_BIN (default target/release/shadowcat, built if missing) SHARDS=2
#   RATE=200 BURST=20 SESSIONS=16 CLIENTS=8 DURATION=10
# Everything started here is killed by PID on exit. Exit 1 when a request fails otherwise than
# with 200 or 429.
set -euo pipefail
shopt -s inherit_errexit

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SHARDS=${SHARDS:-2}
RATE=${RATE:-200}
BURST=${BURST:-20}
SESSIONS=${SESSIONS:-16}
CLIENTS=${CLIENTS:-8}
DURATION=${DURATION:-10}
BIN=${SHADOWCAT_BIN:-$ROOT/target/release/shadowcat}
if [ ! -x "$BIN" ]; then
  (cd "$ROOT" && cargo build --release --quiet)
fi

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

KEY="bench-key-$RANDOM$RANDOM"
printf '[keys.bench]\nsha256 = "%s"\n' "$(printf %s "$KEY" | sha256sum | cut -d' ' -f1)" > "$WORK/keys.toml"

"$BIN" demo --bind 127.0.0.1:0 --admin 127.0.0.1:0 --shards "$SHARDS" --api-keys "$WORK/keys.toml" \
  --rate-limit "$RATE/s" --rate-limit-burst "$BURST" --log-level warn > "$WORK/out" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do
  grep -q "^listening admin " "$WORK/out" && break
  sleep 0.1
done
PROXY=$(sed -n 's/^listening proxy \(http[^ ]*\)$/\1/p' "$WORK/out" | head -1)
ADMIN=$(sed -n 's/^listening admin \(http[^ ]*\)$/\1/p' "$WORK/out" | head -1)
[ -n "$PROXY" ] && [ -n "$ADMIN" ] || { cat "$WORK/out"; echo "ratelimit: the proxy did not start" >&2; exit 1; }

python3 - "$PROXY" "$ADMIN" "$KEY" "$SESSIONS" "$CLIENTS" "$DURATION" "$RATE" "$BURST" <<'PY'
import http.client, json, sys, threading, time
from urllib.parse import urlsplit

proxy, admin, key, sessions, clients, duration, rate, burst = sys.argv[1:]
sessions, clients, duration, rate, burst = int(sessions), int(clients), float(duration), int(rate), int(burst)
url = urlsplit(proxy)
headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json",
           "X-API-Key": key}

def post(conn, body, extra=None):
    conn.request("POST", url.path, json.dumps(body), {**headers, **(extra or {})})
    answer = conn.getresponse()
    return answer.status, answer.getheader("mcp-session-id"), answer.read()

# Open the sessions slowly enough to stay inside the bucket.
ids = []
setup = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
for n in range(sessions):
    while True:
        status, sid, _ = post(setup, {"jsonrpc": "2.0", "id": n, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "ratelimit", "version": "0"}}})
        if status == 200:
            ids.append(sid)
            break
        if status != 429:
            sys.exit(f"initialize: HTTP {status}")
        time.sleep(0.05)
time.sleep(float(burst) / rate + 0.1)  # let the bucket fill again

counts = {"ok": 0, "limited": 0}
lock = threading.Lock()
stop_at = time.monotonic() + duration
failures = []

def client(index):
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    n = 0
    ok = limited = 0
    while time.monotonic() < stop_at:
        sid = ids[(index + n) % len(ids)]
        n += 1
        status, _, _ = post(conn, {"jsonrpc": "2.0", "id": n, "method": "tools/list", "params": {}},
                            {"Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-06-18"})
        if status == 200:
            ok += 1
        elif status == 429:
            limited += 1
        else:
            failures.append(status)
            return
    with lock:
        counts["ok"] += ok
        counts["limited"] += limited

threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
start = time.monotonic()
for t in threads: t.start()
for t in threads: t.join()
elapsed = time.monotonic() - start
if failures:
    sys.exit(f"unexpected statuses: {sorted(set(failures))}")
a = urlsplit(admin)
metrics = http.client.HTTPConnection(a.hostname, a.port, timeout=10)
metrics.request("GET", "/metrics")
text = metrics.getresponse().read().decode()
asked = next((l.split()[1] for l in text.splitlines() if l.startswith("shadowcat_rate_limit_asked_total ")), "0")
expected = rate + burst / elapsed
admitted = counts["ok"] / elapsed
print(f"configured {rate}/s burst {burst}; {clients} clients over {len(ids)} sessions for {elapsed:.1f}s")
print(f"admitted {admitted:.1f}/s (expected {expected:.1f}/s: ratio {admitted / expected:.3f}); "
      f"429s {counts['limited']}; decisions asked of another shard {asked}")
print(f"ratelimit admitted_per_s={admitted:.1f} expected_per_s={expected:.1f} ratio={admitted / expected:.3f} limited={counts['limited']} asked={asked}")
PY
