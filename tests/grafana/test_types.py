"""Every dashboard passes Grafana's own published types (npm @grafana/schema of the Grafana we pin, via tsc)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from .dashboards import DASHBOARDS, GRAFANA, NAMES, load
from .typecheck import check, grafana_schema_version, pinned

Dashboard = dict[str, Any]


@pytest.fixture(scope="module")
def type_errors(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """One tsc run over the three shipped dashboards."""
    return check({name: DASHBOARDS / f"{name}.json" for name in NAMES}, tmp_path_factory.mktemp("grafana-types"))


@pytest.mark.parametrize("name", NAMES)
def test_dashboard_has_grafanas_own_types(name: str, type_errors: dict[str, list[str]]) -> None:
    assert not type_errors[name], f"{name}.json does not type-check as a Grafana dashboard:\n" + "\n".join(
        type_errors[name]
    )


def _panel(dash: Dashboard, kind: str) -> Dashboard:
    return next(p for p in dash["panels"] if p["type"] == kind and "thresholds" in p["fieldConfig"]["defaults"])


# (what is wrong, how to break vision-api.json, a text on the line the error must point at (None: the first
# line, the dashboard itself), a text of the error)
BROKEN: list[tuple[str, Callable[[Dashboard], None], str | None, str]] = [
    ("required key missing", lambda d: d.pop("schemaVersion"), None, "'schemaVersion' is missing"),
    ("unknown key", lambda d: d.update(refrsh="30s"), '"refrsh"', "'\"refrsh\"' does not exist"),
    ("wrong type", lambda d: d["panels"][0]["gridPos"].update(w="12"), '"w": "12"', "'string' is not assignable"),
    (
        "enum value Grafana does not know",
        lambda d: _panel(d, "stat")["fieldConfig"]["defaults"]["thresholds"].update(mode="absolut"),
        '"absolut"',
        "'\"absolut\"' is not assignable",
    ),
    (
        "misspelt option of the panel type",
        lambda d: _panel(d, "stat")["options"].update(colourMode="value"),
        '"colourMode"',
        "'\"colourMode\"' does not exist",
    ),
    (
        "panel type Grafana does not publish",
        lambda d: _panel(d, "stat").update(type="graph"),
        '"type": "graph"',
        "'\"graph\"' is not assignable",
    ),
]


def test_the_type_check_fails_naming_the_file_line_and_error(tmp_path: Path) -> None:
    files: dict[str, Path] = {}
    lines: dict[str, int] = {}
    for what, breaks, marker, _ in BROKEN:
        dash = copy.deepcopy(load("vision-api"))
        breaks(dash)
        text = json.dumps(dash, indent=2, ensure_ascii=False) + "\n"
        (at,) = [n for n, line in enumerate(text.splitlines(), 1) if marker in line] if marker else [1]
        files[what], lines[what] = tmp_path / f"broken-{len(files)}.json", at
        files[what].write_text(text)
    files["unbroken"] = DASHBOARDS / "vision-api.json"
    errors = check(files, tmp_path / "ts")
    assert errors["unbroken"] == []
    for what, _, _, message in BROKEN:
        assert errors[what], f"{what}: not caught"
        assert errors[what][0].startswith(f"{files[what]}:{lines[what]}:"), (what, errors[what])
        assert message in errors[what][0], (what, errors[what])


@pytest.mark.parametrize("name", NAMES)
def test_dashboard_declares_the_schema_version_grafana_writes(name: str) -> None:
    """Grafana migrates an older schemaVersion on load; ours is already the one it writes (none to run)."""
    assert load(name)["schemaVersion"] == grafana_schema_version()


def test_the_types_are_those_of_the_grafana_the_compose_stack_runs() -> None:
    compose = yaml.safe_load((GRAFANA.parent / "docker-compose.prod.yml").read_text())
    image, _, tag = compose["services"]["grafana"]["image"].partition(":")
    assert image == "grafana/grafana"  # grafana/grafana-oss ended with 12.4
    assert tag == pinned("@grafana/schema"), "pin @grafana/schema (tests/grafana/types) to the image's version"
