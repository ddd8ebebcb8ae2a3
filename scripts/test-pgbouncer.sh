#!/usr/bin/env bash
# Runs the API tests through a real PgBouncer in transaction mode (spec 05): the service's
# pool goes through PgBouncer (K12_DB_PGBOUNCER=transaction), migrations, the owner and
# the tests' own inspection connections stay direct.
#
# Usage: scripts/test-pgbouncer.sh [nextest arguments...]  (default: the API tests below)
#   K12_TEST_PG_DIR must name the harness's cluster directory (scripts/test.sh sets it);
#   the cluster is started here if no test has started it yet.
# PgBouncer refuses to run as root: as root it runs as the `postgres` system user.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${K12_TEST_PG_DIR:?set K12_TEST_PG_DIR to the test cluster directory}"

bouncer="$(command -v pgbouncer || echo /usr/sbin/pgbouncer)"
[ -x "$bouncer" ] || { echo "pgbouncer is not installed (scripts/install-deps.sh)" >&2; exit 1; }

nextest() {
  if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --locked "$@"
  else
    cargo test --locked "$@"
  fi
}

# The test cluster: started by the first test that needs it; start it now if need be.
if [ ! -f "$K12_TEST_PG_DIR/port" ] || [ ! -f "$K12_TEST_PG_DIR/data/postmaster.pid" ]; then
  nextest -p platform --test rls service_role_is_unprivileged_and_owns_nothing >/dev/null
fi
pg_port="$(cat "$K12_TEST_PG_DIR/port")"

dir="$(mktemp -d /tmp/k12-pgbouncer.XXXXXX)"
chmod 755 "$dir"
run_as=()
if [ "$(id -u)" -eq 0 ]; then
  run_as=(runuser -u postgres --)
fi
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"

# The test credentials of crates/testkit (k12_app / APP_PASSWORD); PgBouncer answers
# SCRAM to the client and logs in to PostgreSQL with the same password.
printf '"k12_app" "k12-test-app"\n' >"$dir/userlist.txt"
cat >"$dir/pgbouncer.ini" <<INI
[databases]
* = host=127.0.0.1 port=$pg_port

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $dir/userlist.txt
pool_mode = transaction
max_client_conn = 2000
default_pool_size = 10
server_idle_timeout = 10
ignore_startup_parameters = extra_float_digits
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
INI
chmod 600 "$dir/userlist.txt" "$dir/pgbouncer.ini"
if [ ${#run_as[@]} -gt 0 ]; then
  chown postgres "$dir" "$dir/userlist.txt" "$dir/pgbouncer.ini"
fi

# shellcheck disable=SC2317 # called by the EXIT trap
stop_bouncer() {
  if [ -f "$dir/pgbouncer.pid" ]; then
    kill "$(cat "$dir/pgbouncer.pid")" 2>/dev/null || true
    sleep 0.5
  fi
  rm -rf "$dir"
}
trap stop_bouncer EXIT

"${run_as[@]}" "$bouncer" -d -q "$dir/pgbouncer.ini"
for _ in $(seq 50); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done
echo "PgBouncer $("$bouncer" --version | head -n 1 | awk '{print $2}') (transaction mode) on 127.0.0.1:$port in front of PostgreSQL on $pg_port"

export K12_TEST_PGBOUNCER_URL="postgres://127.0.0.1:$port"
# The API tests unless the arguments name a package or test binary themselves.
if [[ " $* " != *" -p "* && " $* " != *" --package "* && " $* " != *" --test "* ]]; then
  set -- -p platform --test route_walk --test lms --test jobs --test analytics --test db_insight "$@"
fi
status=0
nextest "$@" || status=$?
# Proof that the pools really went through PgBouncer: it logged their logins.
logins="$(grep -c 'login attempt: db=k12_test_' "$dir/pgbouncer.log" || true)"
echo "PgBouncer served $logins client logins"
if [ "$status" -eq 0 ] && [ "$logins" -eq 0 ]; then
  echo "no test connection went through PgBouncer" >&2
  status=1
fi
if [ $status -ne 0 ]; then
  echo "== PgBouncer log (last 40 lines)"
  tail -n 40 "$dir/pgbouncer.log" || true
fi
exit $status
