#!/usr/bin/env bash
# A real SMTP server on loopback for the alert e-mail tests: aiosmtpd (PyPI) writing every
# message it accepts into a Maildir.
#
# Usage: scripts/smtp-sink.sh PORT MAILDIR
# With K12_SMTP_SINK_USER and K12_SMTP_SINK_PASSWORD in the environment (never in argv)
# the server requires AUTH PLAIN/LOGIN with exactly those credentials. No STARTTLS is
# offered, so a client that requires it must refuse to talk to this server.
# Creates the venv at ${K12_SMTP_VENV:-/tmp/k12-smtp-venv} if missing (pinned aiosmtpd),
# then runs the server in the foreground; it prints `ready` once it accepts connections.
set -euo pipefail

AIOSMTPD_VERSION="1.4.6"
port="${1:?usage: smtp-sink.sh PORT MAILDIR}"
maildir="${2:?usage: smtp-sink.sh PORT MAILDIR}"
venv="${K12_SMTP_VENV:-/tmp/k12-smtp-venv}"

# The marker is written only after a complete install, so an interrupted install or a
# change of the pinned version rebuilds the venv; the lock lets parallel tests share it.
ready="$venv/.k12-aiosmtpd-$AIOSMTPD_VERSION"
if [ ! -f "$ready" ]; then
    mkdir -p "$(dirname "$venv")"
    exec 9>"$venv.lock"
    flock 9
    if [ ! -f "$ready" ]; then
        echo "creating aiosmtpd venv at $venv" >&2
        rm -rf "$venv"
        python3 -m venv "$venv" >&2
        "$venv/bin/pip" install --quiet --disable-pip-version-check "aiosmtpd==$AIOSMTPD_VERSION" >&2
        touch "$ready"
    fi
    flock -u 9
    exec 9>&-
fi

exec "$venv/bin/python" "$(dirname "$0")/smtp-sink.py" "$port" "$maildir"
