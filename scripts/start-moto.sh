#!/usr/bin/env bash
# Start a moto S3 server (in-process S3 protocol fake) on loopback for the storage tests.
#
# Usage: scripts/start-moto.sh PORT [PIDFILE]
# Creates the venv at ${K12_MOTO_VENV:-/tmp/k12-moto-venv} if missing (pinned moto),
# starts `moto_server` in the background on 127.0.0.1:PORT, waits until it answers and
# prints the endpoint (http://127.0.0.1:PORT) on stdout. The server's pid goes to PIDFILE
# (default: $VENV/moto-PORT.pid); its log to $VENV/moto-PORT.log.
# With K12_MOTO_CLIENTS=FILE set, the server serves the processes whose pids are listed
# in FILE (one a line, appended by them under `flock FILE.lock`; the harness keeps the
# endpoint in FILE.endpoint, which is removed with the server) and stops once none of
# them has been alive for 10 s: the Rust test harness shares one server between the test
# processes of a run (nextest runs every test in its own process) this way.
set -euo pipefail

MOTO_VERSION="5.2.5"
port="${1:?usage: start-moto.sh PORT [PIDFILE]}"
venv="${K12_MOTO_VENV:-/tmp/k12-moto-venv}"
pidfile="${2:-$venv/moto-$port.pid}"

# shellcheck source=scripts/pyvenv.sh
source "$(dirname "$0")/pyvenv.sh"
k12_venv "$venv" "moto-$MOTO_VERSION" "moto[server]==$MOTO_VERSION"

log="$venv/moto-$port.log"
"$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
pid=$!
echo "$pid" >"$pidfile"

if [ -n "${K12_MOTO_CLIENTS:-}" ]; then
    clients="$K12_MOTO_CLIENTS"
    (
        exec 8>>"$clients.lock"
        idle=0
        while kill -0 "$pid" 2>/dev/null; do
            sleep 1
            flock 8
            alive=0
            while read -r client; do
                if [ -n "$client" ] && kill -0 "$client" 2>/dev/null; then
                    alive=1
                    break
                fi
            done < <(cat "$clients" 2>/dev/null)
            if [ "$alive" = 1 ]; then idle=0; else idle=$((idle + 1)); fi
            if [ "$idle" -ge 10 ]; then
                # Stopped under the lock, so no client registers with a dying server.
                kill "$pid" 2>/dev/null || true
                : >"$clients"
                if [ "$(cat "$clients.endpoint" 2>/dev/null)" = "http://127.0.0.1:$port" ]; then
                    rm -f "$clients.endpoint"
                fi
                flock -u 8
                break
            fi
            flock -u 8
        done
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
