#!/usr/bin/env bash
# Start a moto S3 server (in-process S3 protocol fake) on loopback for the storage tests.
#
# Usage: scripts/start-moto.sh PORT [PIDFILE]
# Creates the venv at ${K12_MOTO_VENV:-/tmp/k12-moto-venv} if missing (pinned moto),
# starts `moto_server` in the background on 127.0.0.1:PORT, waits until it answers and
# prints the endpoint (http://127.0.0.1:PORT) on stdout. The server's pid goes to PIDFILE
# (default: $VENV/moto-PORT.pid); its log to $VENV/moto-PORT.log.
# With K12_MOTO_WATCH_PID set, the server is stopped once that process has exited (the
# Rust test harness passes its own pid, so each test binary's moto ends with it).
set -euo pipefail

MOTO_VERSION="5.2.5"
port="${1:?usage: start-moto.sh PORT [PIDFILE]}"
venv="${K12_MOTO_VENV:-/tmp/k12-moto-venv}"
pidfile="${2:-$venv/moto-$port.pid}"

# The marker is written only after a complete install, so an interrupted install or a
# change of the pinned version rebuilds the venv.
ready="$venv/.k12-moto-$MOTO_VERSION"
if [ ! -f "$ready" ]; then
    # A lock so that several test processes starting at once build the venv only once.
    mkdir -p "$(dirname "$venv")"
    exec 9>"$venv.lock"
    flock 9
    if [ ! -f "$ready" ]; then
        echo "creating moto venv at $venv" >&2
        rm -rf "$venv"
        python3 -m venv "$venv" >&2
        "$venv/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION" >&2
        touch "$ready"
    fi
    flock -u 9
fi

log="$venv/moto-$port.log"
"$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
pid=$!
echo "$pid" >"$pidfile"

if [ -n "${K12_MOTO_WATCH_PID:-}" ]; then
    watch_pid="$K12_MOTO_WATCH_PID"
    (
        while kill -0 "$watch_pid" 2>/dev/null && kill -0 "$pid" 2>/dev/null; do sleep 1; done
        kill "$pid" 2>/dev/null || true
        rm -f "$pidfile" "$log"
    ) </dev/null >/dev/null 2>&1 &
fi

endpoint="http://127.0.0.1:$port"
for _ in $(seq 1 150); do
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "moto_server exited; log:" >&2
        cat "$log" >&2
        exit 1
    fi
    if python3 - "$port" <<'PY' 2>/dev/null; then
import sys, urllib.request
urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/", timeout=1).read()
PY
        echo "$endpoint"
        exit 0
    fi
    sleep 0.2
done
echo "moto_server did not answer on $endpoint within 30 s; log:" >&2
cat "$log" >&2
kill "$pid" 2>/dev/null || true
exit 1
