#!/usr/bin/env python3
"""Fuzzes the API with schemathesis against `k12 dev`'s own OpenAPI document, once as a
tenant administrator and once as an operator, with the `not_a_server_error` and
`content_type_conformance` checks. Exit status: 0 when both runs find nothing.

Usage: fuzz_api.py DEV_JSON ST_BINARY SECONDS REPORT_DIR

Tokens travel in the environment of the schemathesis process and a config file that
names the variable, never on a command line.
"""

import json
import os
import subprocess
import sys
import urllib.request


def post(url, body):
    req = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=30) as res:
        return json.load(res)


def main():
    dev_json, st, seconds, report_dir = sys.argv[1:5]
    with open(dev_json) as f:
        dev = json.load(f)
    api = dev["api_url"].rstrip("/")
    tenant = dev["tenants"][0]
    admin = next(l for l in tenant["logins"] if l["role"] == "admin")
    actors = {
        "tenant_admin": post(
            f"{api}/api/v1/auth/login",
            {"tenant": tenant["slug"], "email": admin["email"], "password": admin["password"]},
        )["token"],
        "operator": post(
            f"{api}/api/v1/operator/login",
            {"email": dev["operator"]["email"], "password": dev["operator"]["password"]},
        )["token"],
    }
    config = os.path.join(report_dir, "schemathesis.toml")
    with open(config, "w") as f:
        f.write('headers = { Authorization = "Bearer ${K12_FUZZ_TOKEN}" }\n')
    failed = []
    for actor, token in actors.items():
        print(f"== schemathesis as {actor} ({seconds} s)", flush=True)
        env = dict(os.environ, K12_FUZZ_TOKEN=token)
        code = subprocess.call(
            [
                st,
                "--config-file",
                config,
                "run",
                f"{api}/api/v1/openapi.json",
                "--checks",
                "not_a_server_error,content_type_conformance",
                "--max-time",
                seconds,
                "--workers",
                "2",
                # Logging out would revoke the token the run signs in with.
                "--exclude-path",
                "/api/v1/auth/logout",
                "--report",
                "junit",
                "--report-dir",
                os.path.join(report_dir, actor),
            ],
            env=env,
        )
        if code != 0:
            failed.append(actor)
    if failed:
        print(f"schemathesis found failures as: {', '.join(failed)}", flush=True)
        return 1
    print("schemathesis: 0 failures as tenant_admin and operator", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
