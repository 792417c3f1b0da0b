#!/usr/bin/env bash
# The long fuzz run: every property of tests/fuzz (proptest) in release mode, one million
# generated inputs each unless told otherwise, then one line per property with its case count
# and time, and the peak memory of the run.
#
#   bash scripts/fuzz.sh                 # 1 000 000 cases per property
#   bash scripts/fuzz.sh 20000           # a quick sample
#   bash scripts/fuzz.sh 20000 sse::     # only the tests whose name contains "sse::"
#
# FUZZ_THREADS (default: nproc) properties run at once; each property is timed on its own
# thread. Exit status: that of the test run (non-zero if a property failed; its shrunk input is
# in the log). The log is kept at target/fuzz-<cases>.log.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
[ -d "$HOME/.cargo/bin" ] && export PATH="$HOME/.cargo/bin:$PATH"

CASES="${1:-1000000}"
shift || true
THREADS="${FUZZ_THREADS:-$(nproc)}"
LOG="target/fuzz-${CASES}.log"

case "$CASES" in
  ''|*[!0-9]*) echo "fuzz.sh: the case count must be a number, got '$CASES'" >&2; exit 2 ;;
esac

echo "fuzz.sh: building the suite (release)"
cargo test --release --test fuzz --no-run

echo "fuzz.sh: $CASES cases per property, $THREADS at a time; log: $LOG"
started=$SECONDS
TIME=()
if [ -x /usr/bin/time ]; then TIME=(/usr/bin/time -f 'fuzz.sh: peak RSS %M KiB'); fi
set +e
PROPTEST_CASES="$CASES" "${TIME[@]}" cargo test --release --test fuzz -- \
  --test-threads="$THREADS" --nocapture "$@" >"$LOG" 2>&1
status=$?
set -e

echo
printf '%-28s %12s %10s\n' property cases seconds
grep '^fuzz-property ' "$LOG" | sort | while read -r _ name cases secs; do
  printf '%-28s %12s %10s\n' "$name" "${cases#cases=}" "${secs#secs=}"
done
grep -E '^fuzz.sh: peak RSS|^test result' "$LOG" || true
if [ "$status" -ne 0 ]; then
  echo
  echo "fuzz.sh: FAILED (status $status); failing properties:"
  grep -E 'property .* failed|^minimal failing input' -A3 "$LOG" || tail -n 40 "$LOG"
fi
echo "fuzz.sh: $((SECONDS - started)) s in all"
exit "$status"
