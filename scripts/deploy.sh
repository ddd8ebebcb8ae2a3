#!/usr/bin/env bash
# Blue-green deploy of the API behind nginx (spec 10, "Deploy and rollback scripts").
#
# Usage: scripts/deploy.sh ENV [--binary PATH] [--release-env FILE] [--skip-tests] [--skip-lint]
#   ENV            production, staging, ...; production first checks the deploy window
#   --binary PATH  deploy this k12 binary instead of building one (`cargo build --release`)
#   --release-env FILE  environment overrides kept with this release (ID/release.env)
#   --skip-tests   do not run scripts/test.sh first (CI ran it on the same commit)
#   --skip-lint    do not lint the migrations first
#
# Steps: window check (production) -> migration lint -> tests -> build -> keep the binary
# in K12_RELEASES_DIR/ID -> migrate -> start it beside the serving version -> ready check
# -> switch nginx (the old version stays as backup) -> watch error rate and p95 from the
# new version's /metrics -> promote (drain and stop the old) or switch back.
# Exit: 0 deployed, 1 failed (the old version still serves), 2 usage, 3 blocked by the
# deploy window, 4 another deploy is running. Variables: scripts/deploy-lib.sh and README.
set -euo pipefail

usage() {
  sed -n '3,9p' "$0" >&2
  exit 2
}

[ $# -ge 1 ] || usage
deploy_env="$1"
shift
case "$deploy_env" in -*) usage ;; esac
binary=""
release_env=""
skip_tests=false
skip_lint=false
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) [ $# -ge 2 ] || usage; binary="$2"; shift 2 ;;
    --release-env) [ $# -ge 2 ] || usage; release_env="$2"; shift 2 ;;
    --skip-tests) skip_tests=true; shift ;;
    --skip-lint) skip_lint=true; shift ;;
    *) usage ;;
  esac
done

repo="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=scripts/deploy-lib.sh
. "$repo/scripts/deploy-lib.sh"
take_lock

fail() {
  notify "deploy FAILED: $1; $(active_color || true) keeps serving $(release_of "$(active_color)")"
  exit 1
}

notify "deploy started"

if [ -z "$binary" ]; then
  log "building the release binary"
  (cd "$repo" && cargo build --release --locked -p k12 --quiet) || fail "build"
  binary="${CARGO_TARGET_DIR:-$repo/target}/release/k12"
fi
[ -x "$binary" ] || fail "no executable binary at $binary"

if [ "$deploy_env" = production ]; then
  set +e
  window="$(with_env "" "$binary" deploy-window)"
  code=$?
  set -e
  case "$code" in
    0) log "$window" ;;
    3) notify "deploy BLOCKED by the deploy window: $window"; exit 3 ;;
    *) fail "the deploy-window check itself failed (exit $code)" ;;
  esac
fi

if ! $skip_lint; then
  "$binary" lint-migrations "$repo/migrations" >&2 || fail "migration lint"
fi
if ! $skip_tests; then
  "$repo/scripts/test.sh" || fail "tests"
fi

release="${K12_RELEASE_ID:-$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo local)-$(date -u +%Y%m%dT%H%M%SZ)}"
[ ! -e "$releases/$release" ] || fail "release $release already exists"
mkdir -p "$releases/$release"
cp "$binary" "$releases/$release/k12"
if [ -n "$release_env" ]; then
  install -m 600 "$release_env" "$releases/$release/release.env"
fi
log "release $release kept in $releases/$release"

with_env "$releases/$release/release.env" "$releases/$release/k12" migrate >&2 || fail "migrations"

old="$(active_color)"
if [ -n "$old" ]; then new="$(other_color "$old")"; else new=blue; fi
start_color "$new" "$release"
set +e
cut_over "$new" "$old"
code=$?
set -e
case "$code" in
  0) notify "deploy SUCCEEDED: $release serves on $new" ;;
  1) fail "$release did not become ready" ;;
  *) fail "$release breached the error-rate or p95 limit after the switch; switched back" ;;
esac
