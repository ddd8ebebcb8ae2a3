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

# shellcheck source=scripts/pyvenv.sh
source "$(dirname "$0")/pyvenv.sh"
k12_venv "$venv" "aiosmtpd-$AIOSMTPD_VERSION" "aiosmtpd==$AIOSMTPD_VERSION"

exec "$venv/bin/python" "$(dirname "$0")/smtp-sink.py" "$port" "$maildir"
