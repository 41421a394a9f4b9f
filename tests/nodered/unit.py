"""Function nodes of the flow files run alone with node-red-node-test-helper (see js/run_function.js)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .harness import FLOWS, node_binary, node_red_home

__all__ = ["Output", "Run", "run_function", "step"]

RUNNER = Path(__file__).parent / "js" / "run_function.js"


@dataclass(frozen=True)
class Output:
    step: int
    node: str
    output: int
    msg: dict[str, Any]


@dataclass(frozen=True)
class Run:
    outputs: list[Output]
    log: list[dict[str, str]]

    def of(self, node: str, output: int = 0) -> list[dict[str, Any]]:
        """The messages ``node`` sent on ``output``, in order."""
        return [o.msg for o in self.outputs if o.node == node and o.output == output]

    def payloads(self, node: str, output: int = 0) -> list[Any]:
        return [m["payload"] for m in self.of(node, output)]

    def lines(self, level: str) -> list[str]:
        return [entry["msg"] for entry in self.log if entry["level"] == level]


def step(to: str, msg: Mapping[str, Any], pause_ms: int = 0) -> dict[str, Any]:
    return {"to": to, "msg": dict(msg), "pause_ms": pause_ms}


def run_function(
    flow: str, nodes: Sequence[str], steps: Sequence[Mapping[str, Any]], env: Mapping[str, str] | None = None
) -> Run:
    """Load ``nodes`` of ``node-red-flows/<flow>.json`` (wired among themselves) and feed them ``steps`` in order."""
    home = node_red_home()
    spec = {"flow": str(FLOWS / f"{flow}.json"), "nodes": list(nodes), "env": dict(env or {}), "steps": list(steps)}
    clean_env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TZ")}
    out = subprocess.run(
        [str(node_binary()), str(RUNNER)],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=home,  # the test helper finds Node-RED from the package.json of the folder it runs in
        env={**clean_env, "NODE_PATH": str(home / "node_modules")},
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout.strip().splitlines()[-1])
    return Run([Output(**o) for o in data["outputs"]], data["log"])
