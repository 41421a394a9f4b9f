"""A stand-in for InfluxDB 2.x's ``influx`` CLI (no InfluxDB 2 runs here), for the token init script's tests.

Understands the three commands the script uses, with the output shape of influx CLI 2.7:
``bucket list --hide-headers`` (tab-separated, ID first), ``auth list --json`` (a JSON list) and
``auth create ... --json`` (one JSON object with ``token``). Authorizations live in the JSON file
``INFLUX_STANDIN_STATE``, with every call recorded; ``INFLUX_STANDIN_FAIL_CREATE=1`` makes
``auth create`` print an error instead of a token, as the real CLI does on a refused request.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from pathlib import Path
from typing import Any


def _state(path: Path) -> dict[str, Any]:
    if path.exists():
        state: dict[str, Any] = json.loads(path.read_text())
        return state
    return {"auths": [], "calls": []}


def _flag(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args else None


def main(args: list[str]) -> int:
    path = Path(os.environ["INFLUX_STANDIN_STATE"])
    state = _state(path)
    state["calls"].append(args)
    out, code = "", 0
    if args[:2] == ["bucket", "list"]:
        out = f"{os.environ['INFLUX_STANDIN_BUCKET_ID']}\t{_flag(args, '--name')}\t52w\t168h0m0s\torg-id\n"
    elif args[:2] == ["auth", "list"]:
        out = json.dumps(state["auths"], indent=2) + "\n"
    elif args[:2] == ["auth", "create"] and os.environ.get("INFLUX_STANDIN_FAIL_CREATE"):
        out, code = "Error: could not write auth with provided arguments: 401 Unauthorized\n", 1
    elif args[:2] == ["auth", "create"]:
        kinds = [kind for kind in ("read", "write") if f"--{kind}-bucket" in args]
        perms = [f"{kind}:buckets/{_flag(args, f'--{kind}-bucket')}" for kind in kinds]
        auth = {
            "id": secrets.token_hex(8),
            "description": _flag(args, "--description") or "",
            "token": secrets.token_urlsafe(64) + "==",
            "status": "active",
            "userName": _flag(args, "--user") or "",
            "userID": "user-id",
            "permissions": perms,
        }
        state["auths"].append(auth)
        out = json.dumps(auth, indent=2) + "\n"
    else:
        out, code = f"Error: the stand-in does not know: {' '.join(args)}\n", 2
    path.write_text(json.dumps(state))
    (sys.stdout if code == 0 else sys.stderr).write(out)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
