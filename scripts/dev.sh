#!/usr/bin/env bash
# Runs the whole product on the embedded default: `k12 dev` (see README).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
exec cargo run --release -p k12 -- dev "$@"
