"""Dashboards checked with Grafana's own published types: npm ``@grafana/schema`` and ``tsc``.

Each dashboard file becomes a ``.ts`` file holding ``export const dashboard: DashboardJson = <the file>;``,
the JSON verbatim (a JSON import would be widened, and lose TypeScript's excess property check), so each
error maps back to a line of the JSON file. ``DashboardJson`` (types/dashboard.ts) is
Grafana's ``Dashboard`` with each panel's options typed by its panel type. One ``tsc --noEmit`` run checks
every file; each error is reported as ``<json file>:<line>:<column>: TSxxxx: <message>``.

The packages are pinned in types/package-lock.json and installed by types/install.sh (``./stack test`` runs
it too) into types/node_modules, which git ignores.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Mapping
from functools import cache
from pathlib import Path

__all__ = ["TYPES", "check", "grafana_schema_version", "install", "pinned"]

TYPES = Path(__file__).resolve().parent / "types"
_ERROR = re.compile(r"^(?P<file>.+?\.ts)\((?P<line>\d+),(?P<col>\d+)\): error (?P<message>TS\d+: .*)$")
_HEAD = 2  # lines of .ts before the JSON text
_TIMEOUT = 300  # seconds: tsc takes a few; this only proves "not forever"


@cache
def install() -> Path:
    """tsc, with @grafana/schema beside it (types/install.sh: a no-op once installed)."""
    out = subprocess.run([str(TYPES / "install.sh")], check=True, capture_output=True, text=True, timeout=600)
    tsc = Path(out.stdout.strip().splitlines()[-1])
    assert tsc.exists(), f"types/install.sh printed {tsc}, which does not exist"
    return tsc


def pinned(package: str) -> str:
    """The version of ``package`` that types/package-lock.json pins."""
    lock = json.loads((TYPES / "package-lock.json").read_text())
    return str(lock["packages"][f"node_modules/{package}"]["version"])


def _source(dashboard: Path) -> str:
    head = f'import type {{ DashboardJson }} from "{TYPES / "dashboard"}";\nexport const dashboard: DashboardJson =\n'
    return head + dashboard.read_text().rstrip() + ";\n"  # line n of the file is line n + _HEAD of this


def check(dashboards: Mapping[str, Path], workdir: Path) -> dict[str, list[str]]:
    """Type-check every dashboard file in one tsc run: name -> its errors (empty when it passes).

    ``workdir`` receives the generated ``.ts`` files and their tsconfig.json.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    names = {f"dashboard{i}": name for i, name in enumerate(dashboards)}  # any name, a safe file name
    for stem, name in names.items():
        (workdir / f"{stem}.ts").write_text(_source(dashboards[name]))
    config = {"extends": str(TYPES / "tsconfig.json"), "include": [f"{stem}.ts" for stem in names]}
    (workdir / "tsconfig.json").write_text(json.dumps(config))
    argv = [str(install()), "-p", str(workdir / "tsconfig.json"), "--pretty", "false"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=_TIMEOUT, cwd=workdir)
    errors: dict[str, list[str]] = {name: [] for name in dashboards}
    current: list[str] | None = None
    for line in done.stdout.splitlines():
        match = _ERROR.match(line)
        if match:
            name = names.get(Path(match["file"]).stem, "")
            assert name, f"tsc reports an error outside the dashboards: {line}"
            line_no, col = int(match["line"]) - _HEAD, int(match["col"])
            where = f"{dashboards[name]}:{line_no}:{col}" if line_no > 0 else f"{dashboards[name]}:1:1"
            current = errors[name]
            current.append(f"{where}: {match['message']}")
        elif current is not None and line.startswith(" "):
            current[-1] += "\n" + line  # tsc's continuation lines (the elaboration of the error above)
    found = any(errors.values())
    assert (done.returncode == 0) == (not found), f"tsc exited {done.returncode}:\n{done.stdout}{done.stderr}"
    return errors


@cache
def grafana_schema_version() -> int:
    """The ``schemaVersion`` Grafana writes: ``defaultDashboard.schemaVersion`` of the pinned @grafana/schema."""
    script = "import('@grafana/schema').then((m) => console.log(m.defaultDashboard.schemaVersion))"
    install()
    out = subprocess.run(["node", "-e", script], cwd=TYPES, check=True, capture_output=True, text=True, timeout=60)
    return int(out.stdout.strip())
