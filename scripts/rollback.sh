#!/usr/bin/env bash
# Returns to the previous release (or RELEASE), blue-green like a deploy. No migration runs
# and no data is dropped: migrations only ever add (the linter enforces it), so an older
# binary serves the newer schema.
#
# Usage: scripts/rollback.sh ENV [RELEASE]
# Exit: 0 rolled back, 1 failed (the current version still serves), 2 usage, 4 another
# deploy is running. Variables: scripts/deploy-lib.sh and README.
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  sed -n '6,8p' "$0" >&2
  exit 2
fi
deploy_env="$1"
repo="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=scripts/deploy-lib.sh
. "$repo/scripts/deploy-lib.sh"
take_lock

current="$(active_color)"
target="${2:-$(basename "$(readlink "$releases/previous" 2>/dev/null || true)")}"
fail() {
  notify "rollback FAILED: $1; ${current:-nothing} keeps serving $(release_of "$current")"
  exit 1
}
[ -n "$current" ] || fail "nothing is deployed"
if [ -z "$target" ] || [ "$target" = . ]; then fail "no previous release"; fi
[ -x "$releases/$target/k12" ] || fail "release $target is not in $releases"
[ "$target" != "$(release_of "$current")" ] || fail "$target already serves"

notify "rollback started: $(release_of "$current") -> $target"
new="$(other_color "$current")"
start_color "$new" "$target"
set +e
cut_over "$new" "$current"
code=$?
set -e
case "$code" in
  0) notify "rollback SUCCEEDED: $target serves on $new" ;;
  1) fail "$target did not become ready" ;;
  *) fail "$target breached the error-rate or p95 limit after the switch; switched back" ;;
esac
