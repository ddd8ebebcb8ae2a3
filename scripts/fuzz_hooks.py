"""Schemathesis hooks for fuzz_api.py (loaded through SCHEMATHESIS_HOOKS).

Schemathesis has no serializer for `application/zip`, so without this it would never send
the OneRoster import routes a zip. Each generated value goes out as one of three bodies,
chosen by the value itself (so a failing case replays the same bytes): the raw bytes as
generated (garbage, empty, truncated), a zip whose `manifest.csv` is the value, or a zip
with a valid OneRoster 1.1 manifest whose `users.csv` is the value (so the fuzzer reaches
the header and row checks behind the archive checks).

It also works around a CPython 3.11 bug (gh-106905) that crashed whole fuzz runs: when
hypothesis describes a lambda (to optimise a filter or print a strategy) it parses the
lambda's source module, and on a deep stack `ast.parse` can raise `SystemError: AST
constructor recursion depth mismatch`. A description that cannot be made is now the same
"lambda ...: <unknown>" hypothesis gives when the source is missing; generation and the
checks are untouched.
"""

import io
import zipfile
import zlib

import schemathesis
from hypothesis.internal import lambda_sources

MANIFEST = (
    "propertyName,value\nmanifest.version,1.0\noneroster.version,1.1\n"
    "file.users,bulk\n"
)


def _bytes(value):
    data = getattr(value, "data", value)
    if isinstance(data, bytes):
        return data
    if isinstance(data, str):
        return data.encode("utf-8", errors="surrogatepass")
    return repr(data).encode()


def _zip(entries):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries:
            z.writestr(name, data)
    return out.getvalue()


def zip_body(ctx, value):
    raw = _bytes(value)
    choice = zlib.crc32(raw) % 3
    if choice == 0:
        return raw
    if choice == 1:
        return _zip([("manifest.csv", raw)])
    return _zip([("manifest.csv", MANIFEST), ("users.csv", raw)])


schemathesis.serializer("application/zip")(zip_body)


_describe = lambda_sources._lambda_description


def _lambda_description(f, *args, **kwargs):
    try:
        return _describe(f, *args, **kwargs)
    except (SystemError, RecursionError):
        return "lambda ...: <unknown>"


lambda_sources._lambda_description = _lambda_description
