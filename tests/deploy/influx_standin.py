"""A stand-in for InfluxDB 2.x's ``influx`` CLI (no InfluxDB 2 runs here), for the token init script's tests.

Understands the commands the script uses, with the output shape of influx CLI 2.7.5 (the CLI that the
``influxdb:2.8.0-alpine`` image ships): ``bucket list --hide-headers`` (tab-separated, ID first),
``auth list --json`` (a JSON list), ``auth list --id ID --json`` (one JSON object, or an error and exit 1
for an unknown ID) and ``auth create ... --json`` (one JSON object with ``id`` and ``token``), JSON indented
with tabs, one field per line, as the CLI prints it. Authorizations live in the JSON file
``INFLUX_STANDIN_STATE``, with every call recorded; ``INFLUX_STANDIN_FAIL_CREATE=1`` makes
``auth create`` print an error instead of a token, as the real CLI does on a refused request.
``INFLUX_STANDIN_HASHED=1`` is an InfluxDB with hashed tokens (2.8 with ``use-hashed-tokens``, 2.9 by
default): ``auth list`` shows every token as ``""`` (the server no longer has it), while ``auth create``
still answers with the new token once.
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


def _shown(auth: dict[str, Any]) -> dict[str, Any]:
    """An authorization as ``auth list`` prints it: with hashed tokens the server has no token to show."""
    return {**auth, "token": ""} if os.environ.get("INFLUX_STANDIN_HASHED") else auth


def _json(value: Any) -> str:
    return json.dumps(value, indent="\t") + "\n"


def main(args: list[str]) -> int:
    path = Path(os.environ["INFLUX_STANDIN_STATE"])
    state = _state(path)
    state["calls"].append(args)
    out, code = "", 0
    wanted = _flag(args, "--id")
    if args[:2] == ["bucket", "list"]:
        out = f"{os.environ['INFLUX_STANDIN_BUCKET_ID']}\t{_flag(args, '--name')}\t52w\t168h0m0s\torg-id\n"
    elif args[:2] == ["auth", "list"] and wanted is not None:
        found = [auth for auth in state["auths"] if auth["id"] == wanted]
        if found:
            out = _json(_shown(found[0]))
        else:
            out, code = f'Error: could not find authorization with ID "{wanted}": 404 Not Found\n', 1
    elif args[:2] == ["auth", "list"]:
        out = _json([_shown(auth) for auth in state["auths"]])
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
        out = _json(auth)
    else:
        out, code = f"Error: the stand-in does not know: {' '.join(args)}\n", 2
    path.write_text(json.dumps(state))
    (sys.stdout if code == 0 else sys.stderr).write(out)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
