#!/usr/bin/env python3
"""Container health probe for mathnotes-vision and mathnotes-ingest (stdlib only).

Asks ``/health`` on the port of whichever service runs in this container (PORT, default 3001, then
INGEST_PORT, default 3002). 200 is healthy; 503 is also "alive": the service answers and reports a
degraded dependency in its body (the model endpoint, the broker or InfluxDB), which restarting the
container would not fix, and nginx should keep routing to it. No answer at all is unhealthy.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

ALIVE = {200, 503}


def probe(port: str, timeout: float = 4.0) -> int | None:
    url = f"http://127.0.0.1:{port}/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return int(err.code)
    except (urllib.error.URLError, OSError):
        return None


def main() -> int:
    ports = [os.environ.get("PORT") or "3001", os.environ.get("INGEST_PORT") or "3002"]
    for port in dict.fromkeys(ports):
        status = probe(port)
        if status is not None:
            print(f"port {port}: /health answered {status}")
            return 0 if status in ALIVE else 1
    print(f"no service answered on ports {', '.join(ports)}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
