#!/usr/bin/env bash
# Fuzzes the running product's API with schemathesis (pinned, in its own venv): starts
# `k12 dev` on a throwaway data directory, signs in as a tenant administrator and as an
# operator, and fails on any 5xx or undeclared content type. K12_FUZZ_SECONDS per actor
# (default 75). Needs the k12 binary (K12_BIN, default $CARGO_TARGET_DIR/debug/k12, target/ when unset).
set -euo pipefail
cd "$(dirname "$0")/.."
st_version=4.32.5
venv="${K12_SCHEMATHESIS_VENV:-/tmp/k12-schemathesis-$st_version}"
if [ ! -x "$venv/bin/st" ]; then
  echo "installing schemathesis $st_version into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "schemathesis==$st_version"
fi
k12="${K12_BIN:-${CARGO_TARGET_DIR:-target}/debug/k12}"
dir="$(mktemp -d /tmp/k12-fuzz.XXXXXX)"
chmod 711 "$dir"
# The fuzzer judges answers, not throughput: lift the request limits so it is not
# answered 429 for most of its run (the login lockout still applies).
K12_RATE_LIMITS="${K12_FUZZ_RATE_LIMITS:-api=1000000/60,auth=1000000/60}" \
  "$k12" dev --listen 127.0.0.1:0 --gateway-listen 127.0.0.1:0 --data-dir "$dir/data" \
  >"$dir/dev.log" 2>&1 &
pid=$!
cleanup() {
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
for _ in $(seq 1 600); do
  [ -f "$dir/data/dev.json" ] && break
  if ! kill -0 "$pid" 2>/dev/null; then
    cat "$dir/dev.log"
    echo "k12 dev exited before it was ready" >&2
    exit 1
  fi
  sleep 0.2
done
[ -f "$dir/data/dev.json" ] || { cat "$dir/dev.log"; echo "k12 dev not ready" >&2; exit 1; }
python3 scripts/fuzz_api.py "$dir/data/dev.json" "$venv/bin/st" "${K12_FUZZ_SECONDS:-75}" "$dir"
