"""A service README's tables checked against the code: its settings table and its metrics table.

The settings table is the one whose header starts with ``variable``: one row per setting,
``| `NAME` | `default` | meaning |``. A row may name several settings (``| `A` / `B` | `a` / `b` |``
or ``| `A`, `B` |``), each with its default in the same order. A default is the first word of its
cell, backticks dropped, as :func:`shown` writes it (``(empty)`` for none).

The metrics table is the one whose header starts with ``metric`` in the ``## Metrics`` section:
every backticked name in its first column (labels in ``{…}`` ignored) against what a prometheus
registry exports (counters with their ``_total``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from prometheus_client import CollectorRegistry

from mathnotes.common.settings import MqttTarget, describe

__all__ = ["exported_metrics", "listed_metrics", "metrics_problems", "settings_problems", "settings_table", "shown"]

_CELL_SPLIT = re.compile(r"(?<!\\)\|")  # ``\|`` inside a cell is text, not a border
_NAME = re.compile(r"`([A-Za-z_][A-Za-z0-9_]*)(?:\{[^`]*\})?`")


def shown(default: object) -> str:
    """A default as a README table writes it."""
    if isinstance(default, bool):
        return str(default).lower()
    if isinstance(default, MqttTarget):
        return f"{'mqtts' if default.tls else 'mqtt'}://{default.host}:{default.port}"
    if isinstance(default, tuple):
        return ",".join(default) if default else "(empty)"
    if isinstance(default, float) and default.is_integer():
        return str(int(default))
    if default == "" or default is None:
        return "(empty)"
    return str(default)


def tables(text: str) -> list[list[list[str]]]:
    """Every Markdown table of ``text``: its rows (header first, the ``---`` row dropped) as stripped cells."""
    found: list[list[list[str]]] = []
    current: list[list[str]] = []
    for line in [*text.splitlines(), ""]:
        if line.lstrip().startswith("|"):
            cells = [c.strip() for c in _CELL_SPLIT.split(line.strip().strip("|"))]
            if not all(set(c) <= set("-: ") for c in cells):
                current.append(cells)
        elif current:
            found.append(current)
            current = []
    return found


def section(text: str, title: str) -> str:
    """The ``## title`` section of ``text``, up to the next ``## `` heading."""
    parts = re.split(r"(?m)^## ", text)
    for part in parts[1:]:
        if part.split("\n", 1)[0].strip() == title:
            return part
    raise AssertionError(f"no '## {title}' section")


def settings_table(readme: Path) -> dict[str, str]:
    """``{variable: documented default}`` from the README's settings table."""
    rows: dict[str, str] = {}
    for table in tables(readme.read_text(encoding="utf-8")):
        if table[0][0].lower() != "variable":
            continue
        for cells in table[1:]:
            names = _NAME.findall(cells[0])
            defaults = [d.strip() for d in cells[1].split(" / ")] if len(names) > 1 else [cells[1]]
            if len(defaults) != len(names):
                defaults = [cells[1]] * len(names)  # one default cell for several names: checked as written
            for name, default in zip(names, defaults, strict=True):
                words = default.replace("`", "").split()
                rows[name] = words[0].rstrip(":") if words else ""
    assert rows, f"{readme} has no settings table (a header starting with 'variable')"
    return rows


def settings_problems(readme: Path, settings: type, unchecked: Iterable[str] = ()) -> list[str]:
    """Every setting of ``settings`` listed with its default, and every listed variable a setting of it.

    ``unchecked`` names settings whose default the table writes another way (listed all the same).
    """
    documented = settings_table(readme)
    defaults = {env: default for env, default, _doc in describe(settings)}
    problems = [f"{env} is not in the README" for env in defaults if env not in documented]
    problems += [f"{env} is in the README but not a setting" for env in documented if env not in defaults]
    problems += [
        f"{env}: the README says {documented[env]!r}, the code {shown(default)!r}"
        for env, default in defaults.items()
        if env in documented and env not in unchecked and documented[env] != shown(default)
    ]
    return problems


def listed_metrics(readme: Path) -> set[str]:
    """The metric names in the first column of the ``## Metrics`` section's table."""
    listed: set[str] = set()
    for table in tables(section(readme.read_text(encoding="utf-8"), "Metrics")):
        if table[0][0].lower() == "metric":
            for cells in table[1:]:
                listed |= set(_NAME.findall(cells[0]))
    assert listed, f"{readme}'s Metrics section has no metrics table (a header starting with 'metric')"
    return listed


def exported_metrics(registry: CollectorRegistry) -> set[str]:
    """The metric names ``registry`` exports (a counter's with its ``_total``)."""
    return {f.name + ("_total" if f.type == "counter" else "") for f in registry.collect()}


def metrics_problems(readme: Path, registry: CollectorRegistry) -> list[str]:
    listed, exported = listed_metrics(readme), exported_metrics(registry)
    return [f"{name} is exported but not in the README" for name in sorted(exported - listed)] + [
        f"{name} is in the README but not exported" for name in sorted(listed - exported)
    ]
