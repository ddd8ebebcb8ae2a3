"""aiosmtpd on 127.0.0.1:PORT delivering into MAILDIR (see smtp-sink.sh)."""

import os
import signal
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult, LoginPassword

port = int(sys.argv[1])
maildir = sys.argv[2]
user = os.environ.get("K12_SMTP_SINK_USER", "")
password = os.environ.get("K12_SMTP_SINK_PASSWORD", "")


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == user.encode()
        and auth_data.password == password.encode()
    )
    return AuthResult(success=ok, handled=False)


controller = Controller(
    Mailbox(maildir),
    hostname="127.0.0.1",
    port=port,
    authenticator=authenticator,
    auth_required=bool(user),
    # Loopback only: AUTH without TLS is what the tests exercise.
    auth_require_tls=False,
)
controller.start()
print("ready", flush=True)
signal.signal(signal.SIGTERM, lambda *_: (controller.stop(), sys.exit(0)))
signal.pause()
