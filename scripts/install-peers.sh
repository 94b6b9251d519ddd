#!/usr/bin/env bash
# Installs the WebSocket peers that the interop tests talk to, into `.deps/` at the repo
# root (gitignored), so nothing global is touched:
#   .deps/python  Python `websockets` (pip --target; run with PYTHONPATH=.deps/python)
#   .deps/node    Node `ws`, and `puppeteer-core` to drive Chromium over the DevTools
#                 protocol (npm --prefix;   run with NODE_PATH=.deps/node/node_modules)
# and headless Chromium from the distribution's packages (apt-get: `chromium` on Debian,
# `chromium-browser` on Ubuntu; as root, or through sudo), for the dashboard test.
# Idempotent: a stamp file per peer records the pinned version; a run whose stamps match
# does nothing. Needs python3 (with pip) and node/npm on PATH, and apt-get unless a
# Chromium is already on PATH.
set -euo pipefail

# Pinned versions. Bump here; the stamp check reinstalls on the next run.
WEBSOCKETS_VERSION="17.4"
WS_VERSION="8.23.0"
PUPPETEER_VERSION="25.16.0"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEPS="$ROOT/.deps"
mkdir -p "$DEPS"

need() {
    command -v "$1" >/dev/null 2>&1 || { echo "install-peers: '$1' is not on PATH" >&2; exit 1; }
}

install_python() {
    local dir="$DEPS/python" stamp="$DEPS/python.stamp" want="websockets==$WEBSOCKETS_VERSION"
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] \
        && PYTHONPATH="$dir" python3 -c "import websockets, sys; sys.exit(websockets.__version__ != '$WEBSOCKETS_VERSION')" 2>/dev/null; then
        echo "install-peers: python $want already in $dir, skipped"
        return
    fi
    need python3
    echo "install-peers: installing python $want into $dir"
    rm -rf "$dir" "$stamp"
    PIP_ROOT_USER_ACTION=ignore python3 -m pip install --disable-pip-version-check --no-input --quiet \
        --target "$dir" "$want"
    PYTHONPATH="$dir" python3 -c "import websockets; print('install-peers: python websockets', websockets.__version__, 'from', websockets.__file__)"
    echo "$want" >"$stamp"
}

install_node() {
    local dir="$DEPS/node" stamp="$DEPS/node.stamp"
    local want="ws@$WS_VERSION puppeteer-core@$PUPPETEER_VERSION"
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] \
        && [[ -f "$dir/node_modules/ws/package.json" ]] \
        && [[ -f "$dir/node_modules/puppeteer-core/package.json" ]] \
        && NODE_PATH="$dir/node_modules" node -e "process.exit(require('ws/package.json').version === '$WS_VERSION' && require('puppeteer-core/package.json').version === '$PUPPETEER_VERSION' ? 0 : 1)" 2>/dev/null; then
        echo "install-peers: node $want already in $dir, skipped"
        return
    fi
    need node
    need npm
    echo "install-peers: installing node $want into $dir"
    rm -rf "$dir" "$stamp"
    mkdir -p "$dir"
    # --no-save with no package.json keeps the folder to node_modules alone.
    # puppeteer-core downloads no browser: the dashboard test drives the system's Chromium.
    # shellcheck disable=SC2086 # two packages
    npm install --prefix "$dir" --no-save --no-audit --no-fund --loglevel=error $want
    NODE_PATH="$dir/node_modules" node -e "console.log('install-peers: node ws', require('ws/package.json').version, 'from', require.resolve('ws'))"
    NODE_PATH="$dir/node_modules" node -e "console.log('install-peers: node puppeteer-core', require('puppeteer-core/package.json').version)"
    echo "$want" >"$stamp"
}

# Headless Chromium for the dashboard test (raft/tests/dashboard.rs), from the
# distribution's packages: Debian calls it `chromium`, Ubuntu `chromium-browser`.
install_chromium() {
    local found
    for found in chromium chromium-browser; do
        if command -v "$found" >/dev/null 2>&1; then
            echo "install-peers: $found already at $(command -v "$found"), skipped"
            return
        fi
    done
    need apt-get
    local sudo=()
    if [[ "$(id -u)" != 0 ]]; then
        need sudo
        sudo=(sudo)
    fi
    echo "install-peers: installing chromium with apt-get"
    "${sudo[@]}" apt-get update -qq
    if apt-cache show chromium >/dev/null 2>&1; then
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium-browser >/dev/null
    fi
    chromium --version 2>/dev/null || chromium-browser --version
}

install_python
install_node
install_chromium
echo "install-peers: done (.deps at $DEPS)"
