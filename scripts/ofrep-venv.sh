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

# The marker is written only after a complete install, so an interrupted install or a
# change of the pinned versions rebuilds the venv.
ready="$venv/.k12-ofrep-$SDK_VERSION-$PROVIDER_VERSION"
if [ ! -f "$ready" ]; then
    mkdir -p "$(dirname "$venv")"
    exec 9>"$venv.lock"
    flock 9
    if [ ! -f "$ready" ]; then
        echo "creating the OpenFeature venv at $venv" >&2
        rm -rf "$venv"
        python3 -m venv "$venv" >&2
        "$venv/bin/pip" install --quiet --disable-pip-version-check \
            "openfeature-sdk==$SDK_VERSION" "openfeature-provider-ofrep==$PROVIDER_VERSION" >&2
        touch "$ready"
    fi
    flock -u 9
fi
echo "$venv/bin/python"
