#!/usr/bin/env bash
# Audits Cargo.lock against the offline RustSec database (../shared/advisory-db, or
# K12_ADVISORY_DB). Accepted findings live in audit-exceptions.toml, each with the
# advisory id, a reason and an expiry date; an expired exception fails the audit.
set -euo pipefail
cd "$(dirname "$0")/.."
db="${K12_ADVISORY_DB:-../shared/advisory-db}"
if [ ! -d "$db/crates" ]; then
  echo "audit: no advisory database at $db" >&2
  exit 1
fi
if ! cargo audit --version >/dev/null 2>&1; then
  echo "installing cargo-audit"
  cargo install cargo-audit --locked --quiet
fi
newest="$(grep -rh '^date = ' "$db/crates" | sort | tail -n 1 | cut -d'"' -f2)"
echo "advisory database: $db, newest advisory dated $newest"
ignores="$(python3 - <<'PY'
import datetime, sys, tomllib
with open("audit-exceptions.toml", "rb") as f:
    entries = tomllib.load(f).get("exception", [])
today = datetime.date.today()
for e in entries:
    missing = [k for k in ("id", "reason", "expires") if not e.get(k)]
    if missing:
        sys.exit(f"audit-exceptions.toml: an exception lacks {missing}")
    if e["expires"] < today:
        sys.exit(f"audit-exceptions.toml: {e['id']} expired on {e['expires']}: fix it or renew the reason")
    print(f"--ignore {e['id']}")
PY
)"
# shellcheck disable=SC2086
cargo audit --db "$db" --no-fetch --deny warnings $ignores
