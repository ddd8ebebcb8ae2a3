#!/usr/bin/env python3
"""HTTP probes for scripts/deploy.sh and scripts/rollback.sh (standard library only).

  deploy_probe.py ready URL TIMEOUT_SECONDS PID
      Polls URL until it answers 200; exit 0 when it does, 1 when TIMEOUT_SECONDS pass or
      the process PID exits first (a release that crashes at start fails fast).
  deploy_probe.py watch METRICS_URL SECONDS MAX_ERROR_RATE MAX_P95_MS
      Reads the release's own /metrics every two seconds for SECONDS; exit 0 when error
      rate and p95 stayed within bounds, 1 on the first breach (printed on stderr).
  deploy_probe.py slack TEXT
      Posts TEXT to the incoming webhook in K12_SLACK_WEBHOOK_URL (read from the
      environment so the URL, a secret, never appears on a command line); without it,
      does nothing. A failed post is reported and ignored: a deploy never fails on Slack.
"""

import json
import os
import sys
import time
import urllib.error
import urllib.request


def get(url, timeout=2.0):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, ""
    except (OSError, ValueError):
        return None, ""


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def ready(url, timeout, pid):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if not alive(pid):
            print(f"the new process ({pid}) exited before it was ready", file=sys.stderr)
            return 1
        status, _ = get(url)
        if status == 200:
            return 0
        last = status
        time.sleep(0.25)
    print(f"not ready after {timeout:g} s (last answer: {last or 'no connection'})", file=sys.stderr)
    return 1


# The release's rolling-window gauges (crates/platform/src/monitoring/exposition.rs).
ERROR_RATIO = "k12_http_error_ratio_5m"
P95 = "k12_http_response_p95_seconds"


def gauges(text):
    values = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, _, rest = line.partition(" ")
        if name in (ERROR_RATIO, P95):
            try:
                values[name] = float(rest.split()[0])
            except (IndexError, ValueError):
                pass
    return values


def watch(url, seconds, max_error_rate, max_p95_ms):
    deadline = time.monotonic() + seconds
    readings = 0
    while True:
        status, body = get(url, timeout=5.0)
        if status == 200:
            values = gauges(body)
            readings += 1
            error_rate = values.get(ERROR_RATIO)
            p95_ms = values[P95] * 1000 if P95 in values else None
            if error_rate is not None and error_rate > max_error_rate:
                print(f"error rate {error_rate:.3f} > {max_error_rate:g}", file=sys.stderr)
                return 1
            if p95_ms is not None and p95_ms > max_p95_ms:
                print(f"p95 {p95_ms:.0f} ms > {max_p95_ms:g} ms", file=sys.stderr)
                return 1
        else:
            print(f"metrics unreadable ({status or 'no connection'})", file=sys.stderr)
            return 1
        if time.monotonic() >= deadline:
            break
        time.sleep(min(2.0, max(0.0, deadline - time.monotonic())))
    print(f"healthy over {seconds:g} s ({readings} readings)", file=sys.stderr)
    return 0


def slack(text):
    url = os.environ.get("K12_SLACK_WEBHOOK_URL", "")
    if not url:
        return 0
    body = json.dumps({"text": text}).encode()
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            answer = response.read().decode("utf-8", "replace")
            if response.status != 200 or answer != "ok":
                print(f"Slack answered {response.status}: {answer[:200]}", file=sys.stderr)
    except urllib.error.HTTPError as e:
        print(f"Slack answered {e.code}", file=sys.stderr)
    except (OSError, ValueError) as e:
        # The exception text names the host at most, never the webhook path.
        print(f"Slack unreachable: {type(e).__name__}", file=sys.stderr)
    return 0


def main(argv):
    if len(argv) >= 1 and argv[0] == "ready" and len(argv) == 4:
        return ready(argv[1], float(argv[2]), int(argv[3]))
    if len(argv) >= 1 and argv[0] == "watch" and len(argv) == 5:
        return watch(argv[1], float(argv[2]), float(argv[3]), float(argv[4]))
    if len(argv) == 2 and argv[0] == "slack":
        return slack(argv[1])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
