"""docker-compose.prod.yml resolved the way ``docker compose config`` would, without an engine.

:func:`filled_env` writes ``docker/.env.production.example`` with some values set and runs
``scripts/init-env.sh`` on it (as DEPLOY.md tells the operator to); :func:`service_env` is then the
environment one service receives, after Compose-style interpolation (``interpolate.py``).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from .interpolate import interpolate_tree
from .rig import REPO

__all__ = ["COMPOSE_FILE", "ENV_EXAMPLE", "env_lines", "filled_env", "load_compose", "resolved_services", "service_env"]

COMPOSE_FILE = REPO / "docker-compose.prod.yml"
ENV_EXAMPLE = REPO / "docker" / ".env.production.example"


def load_compose() -> dict[str, Any]:
    doc = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(doc, dict)
    return doc


def env_lines(text: str) -> dict[str, str]:
    """NAME=value assignments of an env file (comments and blank lines skipped)."""
    pairs = (line.partition("=") for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#"))
    return {key.strip(): value.strip() for key, _, value in pairs}


def filled_env(folder: Path, **values: str) -> dict[str, str]:
    """The example env file with ``values`` set, after ``scripts/init-env.sh`` generated its secrets."""
    lines, listed = [], env_lines(ENV_EXAMPLE.read_text())
    assert set(values) <= set(listed), f"not in {ENV_EXAMPLE.name}: {sorted(set(values) - set(listed))}"
    for line in ENV_EXAMPLE.read_text().splitlines():
        key = line.partition("=")[0]
        lines.append(f"{key}={values[key]}" if key in values and not line.startswith("#") else line)
    path = folder / ".env"
    path.write_text("\n".join(lines) + "\n")
    done = subprocess.run(
        [str(REPO / "scripts" / "init-env.sh"), str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return env_lines(path.read_text())


def resolved_services(env: dict[str, str]) -> dict[str, Any]:
    services: dict[str, Any] = interpolate_tree(load_compose(), env)["services"]
    return services


def service_env(env: dict[str, str], name: str) -> dict[str, str]:
    return {key: str(value) for key, value in resolved_services(env)[name].get("environment", {}).items()}
