"""Schemathesis hooks for fuzz_api.py (loaded through SCHEMATHESIS_HOOKS).

Schemathesis has no serializer for `application/zip`, so without this it would never send
the OneRoster import routes a zip. Each generated value goes out as one of three bodies,
chosen by the value itself (so a failing case replays the same bytes): the raw bytes as
generated (garbage, empty, truncated), a zip whose `manifest.csv` is the value, or a zip
with a valid OneRoster 1.1 manifest whose `users.csv` is the value (so the fuzzer reaches
the header and row checks behind the archive checks).
"""

import io
import zipfile
import zlib

import schemathesis

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
