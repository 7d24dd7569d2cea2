"""What the project's Python test drivers share (`tests/three-hosts/run.py`,
`tests/bench-scale/run.py`): a log line with the time since start, commands run with their
command line echoed, polling until a probe answers, JSON over HTTP, percentiles.

Standard library only: the drivers run with Debian's /usr/bin/python3.
"""

import json
import subprocess
import time
import urllib.error
import urllib.request

T0 = time.monotonic()
_prefix = "driver"


def set_prefix(prefix):
    """Names the driver in every log line."""
    global _prefix
    _prefix = prefix


def say(message):
    print(f"[{_prefix} {time.monotonic() - T0:7.1f}s] {message}", flush=True)


def run(cmd, check=True, capture=False, timeout=None, **kwargs):
    """Runs `cmd` (a list), echoing it; returns the CompletedProcess."""
    shown = " ".join(str(c) for c in cmd)
    say(f"$ {shown if len(shown) <= 240 else shown[:240] + ' ...'}")
    result = subprocess.run([str(c) for c in cmd], check=False, text=True, timeout=timeout,
                            capture_output=capture, **kwargs)
    if check and result.returncode != 0:
        detail = f"\n{result.stdout}\n{result.stderr}" if capture else ""
        raise RuntimeError(f"command failed ({result.returncode}): {shown}{detail}")
    return result


class Abort(RuntimeError):
    """A probe's verdict that waiting longer is pointless (the process it waits for died)."""


def wait_for(what, limit, probe, interval=0.2):
    """Polls `probe()` until it returns a truthy value; returns (value, seconds)."""
    start = time.monotonic()
    last_error = None
    while time.monotonic() - start < limit:
        try:
            value = probe()
            if value:
                return value, time.monotonic() - start
        except Abort:
            raise
        except Exception as error:  # noqa: BLE001 - any failure means "not yet"
            last_error = error
        time.sleep(interval)
    raise RuntimeError(f"{what}: not within {limit} s (last error: {last_error})")


def http_json(url, method="GET", body=None, token=None, timeout=30):
    """Sends `body` as JSON (with a bearer `token` if given); returns (status, parsed answer)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            text = response.read().decode()
            return response.status, (json.loads(text) if text else None)
    except urllib.error.HTTPError as error:
        text = error.read().decode()
        try:
            return error.code, json.loads(text)
        except ValueError:
            return error.code, text


def percentile(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else None
