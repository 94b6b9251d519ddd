# Sourced by the scripts that start one of our example servers.
# start_server CMD [ARG...]: runs CMD in the background, waits (10 s at most) for its
# `listening on ws://ADDR` line, and sets SERVER_PID and SERVER_URL. The server is killed
# when the calling script exits.
start_server() {
  SERVER_LOG=$(mktemp)
  "$@" >"$SERVER_LOG" &
  SERVER_PID=$!
  trap 'kill $SERVER_PID 2>/dev/null || true; rm -f "$SERVER_LOG"' EXIT
  for _ in $(seq 100); do
    grep -q '^listening on ' "$SERVER_LOG" && break
    sleep 0.1
  done
  SERVER_URL=$(sed -n 's/^listening on //p' "$SERVER_LOG" | head -n 1)
  if [ -z "$SERVER_URL" ]; then
    echo "$1 did not start:" >&2
    cat "$SERVER_LOG" >&2
    return 1
  fi
}
