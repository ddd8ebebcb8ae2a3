#!/usr/bin/env bash
# Sourced by the scripts that run a pinned Python tool from PyPI in its own venv
# (smtp-sink.sh, start-moto.sh, ofrep-venv.sh).
#
# k12_venv VENV LABEL PACKAGE... creates VENV with exactly those pinned packages unless it
# is already complete. The marker file (named after LABEL, which carries the versions) is
# written only after a complete install, so an interrupted install or a change of a pinned
# version rebuilds the venv; a lock lets test processes starting at once share one install.
k12_venv() {
    local venv="$1" label="$2"
    shift 2
    local ready="$venv/.k12-$label"
    [ -f "$ready" ] && return 0
    mkdir -p "$(dirname "$venv")"
    (
        exec 9>"$venv.lock"
        flock 9
        if [ ! -f "$ready" ]; then
            echo "creating the $label venv at $venv" >&2
            rm -rf "$venv"
            python3 -m venv "$venv" >&2
            "$venv/bin/pip" install --quiet --disable-pip-version-check "$@" >&2
            touch "$ready"
        fi
    )
}
