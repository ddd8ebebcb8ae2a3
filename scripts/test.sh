#!/usr/bin/env bash
# The whole test suite: formatting, lints, and every test against real components.
# The harness starts a private PostgreSQL for this run; it is stopped and removed at exit.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh

export K12_TEST_PG_DIR
K12_TEST_PG_DIR="$(mktemp -d /tmp/k12-test-pg.XXXXXX)"
chmod 755 "$K12_TEST_PG_DIR"

stop_cluster() {
  local data="$K12_TEST_PG_DIR/data" pg_ctl
  if [ -f "$data/postmaster.pid" ]; then
    pg_ctl="$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)/pg_ctl"
    if [ "$(id -u)" -eq 0 ]; then
      runuser -u postgres -- "$pg_ctl" stop -D "$data" -m immediate >/dev/null 2>&1 || true
    else
      "$pg_ctl" stop -D "$data" -m immediate >/dev/null 2>&1 || true
    fi
  fi
  rm -rf "$K12_TEST_PG_DIR"
}
trap stop_cluster EXIT

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== dependency audit"
scripts/audit.sh
echo "== deploy lint (shellcheck, hadolint, Kubernetes schemas, workflow schema)"
scripts/lint-deploy.sh
echo "== tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast "$@"
else
  cargo test --workspace --locked --no-fail-fast "$@"
fi
echo "== API tests through PgBouncer (transaction mode)"
scripts/test-pgbouncer.sh
cargo build --locked -p k12 --quiet
echo "== migration lint (migrations/)"
cargo run --locked -p k12 --quiet -- lint-migrations migrations/
echo "== API fuzzing (schemathesis)"
scripts/fuzz-api.sh
