#!/usr/bin/env bash
# The Python venv with the official OpenFeature SDK and its OFREP provider, for the test
# that reads the feature flags the way a standard OpenFeature client does
# (crates/platform/tests/flags.rs).
#
# Usage: scripts/ofrep-venv.sh
# Creates the venv at ${K12_OFREP_VENV:-/tmp/k12-ofrep-venv} if missing (pinned
# versions) and prints its python interpreter's path on stdout.
set -euo pipefail

SDK_VERSION="0.10.0"
PROVIDER_VERSION="0.3.0"
venv="${K12_OFREP_VENV:-/tmp/k12-ofrep-venv}"

# shellcheck source=scripts/pyvenv.sh
source "$(dirname "$0")/pyvenv.sh"
k12_venv "$venv" "ofrep-$SDK_VERSION-$PROVIDER_VERSION" \
    "openfeature-sdk==$SDK_VERSION" "openfeature-provider-ofrep==$PROVIDER_VERSION"
echo "$venv/bin/python"
