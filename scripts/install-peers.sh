#!/usr/bin/env bash
# Installs the WebSocket peers that the interop tests talk to, into `.deps/` at the repo
# root (gitignored), so nothing global is touched:
#   .deps/python  Python `websockets` (pip --target; run with PYTHONPATH=.deps/python)
#   .deps/node    Node `ws`           (npm --prefix;   run with NODE_PATH=.deps/node/node_modules)
# Idempotent: a stamp file per peer records the pinned version; a run whose stamps match
# does nothing. Needs only python3 (with pip) and node/npm on PATH.
set -euo pipefail

# Pinned versions. Bump here; the stamp check reinstalls on the next run.
WEBSOCKETS_VERSION="17.4"
WS_VERSION="8.23.0"

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
    local dir="$DEPS/node" stamp="$DEPS/node.stamp" want="ws@$WS_VERSION"
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] \
        && [[ -f "$dir/node_modules/ws/package.json" ]] \
        && NODE_PATH="$dir/node_modules" node -e "process.exit(require('ws/package.json').version === '$WS_VERSION' ? 0 : 1)" 2>/dev/null; then
        echo "install-peers: node $want already in $dir, skipped"
        return
    fi
    need node
    need npm
    echo "install-peers: installing node $want into $dir"
    rm -rf "$dir" "$stamp"
    mkdir -p "$dir"
    # --no-save with no package.json keeps the folder to node_modules alone.
    npm install --prefix "$dir" --no-save --no-audit --no-fund --loglevel=error "$want"
    NODE_PATH="$dir/node_modules" node -e "console.log('install-peers: node ws', require('ws/package.json').version, 'from', require.resolve('ws'))"
    echo "$want" >"$stamp"
}

install_python
install_node
echo "install-peers: done (.deps at $DEPS)"
