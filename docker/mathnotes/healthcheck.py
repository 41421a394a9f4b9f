#!/usr/bin/env python3
"""Container health probe for mathnotes-vision and mathnotes-ingest (stdlib only).

Asks ``/health`` on the port of whichever service runs in this container (PORT, default 3001, then
INGEST_PORT, default 3002). 200 is healthy. 503 is "alive" when the service reports a degraded
dependency in its body (the model endpoint, the broker or InfluxDB), which restarting the container
would not fix, and nginx should keep routing to it. 503 with ``"status": "stalled"`` (ingest: a
worker thread dead or stuck) is unhealthy: the process itself is broken. No answer at all is unhealthy.
The stalled ingest also exits by itself after ``INGEST_WORKER_EXIT_S`` so the restart policy acts.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request

ALIVE = {200, 503}
BROKEN = {"stalled"}


def probe(port: str, timeout: float = 4.0) -> tuple[int, str] | None:
    """``(HTTP status, body status)`` of ``/health`` on ``port``, or None when nothing answers."""
    url = f"http://127.0.0.1:{port}/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return int(resp.status), _status(resp.read())
    except urllib.error.HTTPError as err:
        return int(err.code), _status(err.read())
    except (urllib.error.URLError, OSError):
        return None


def _status(body: bytes) -> str:
    try:
        doc = json.loads(body[:65536])
    except ValueError:
        return ""
    return str(doc.get("status", "")) if isinstance(doc, dict) else ""


def main() -> int:
    ports = [os.environ.get("PORT") or "3001", os.environ.get("INGEST_PORT") or "3002"]
    for port in dict.fromkeys(ports):
        answer = probe(port)
        if answer is not None:
            code, status = answer
            print(f"port {port}: /health answered {code} {status}".rstrip())
            return 0 if code in ALIVE and status not in BROKEN else 1
    print(f"no service answered on ports {', '.join(ports)}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
