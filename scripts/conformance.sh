#!/usr/bin/env bash
# Conformance comparison (see scripts/conformance.py): @modelcontextprotocol/conformance against
# server-everything directly and through shadowcat (SHADOWCAT_BIN), gated per scenario.
# Needs scripts/setup.sh to have run. Pass --direct-only to run without the proxy.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${SHADOWCAT_CACHE_DIR:-$ROOT/.cache}"
[ -x "$CACHE/venv/bin/python" ] || { echo "conformance: run scripts/setup.sh first" >&2; exit 1; }
exec "$CACHE/venv/bin/python" "$ROOT/scripts/conformance.py" "$@"
