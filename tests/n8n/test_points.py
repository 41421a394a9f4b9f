"""The Telemetry node's pure item-to-point logic (compiled JavaScript, run with node)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .harness import call_export

SPEC = {"measurement": "env", "fieldMode": "auto", "fieldNames": [], "tagNames": ["site", "device"],
        "extraTags": {"source": "n8n"}, "timestampProperty": ""}  # fmt: skip


def run_points(call: str, *args: Any) -> Any:
    """Call an export of dist/nodes/MathNotesTelemetry/points.js; returns its result or {"error": message}."""
    return call_export("nodes/MathNotesTelemetry/points.js", call, *args)


@pytest.fixture(autouse=True)
def built(n8n_tarball: Path) -> None:
    """The package is built (the tarball fixture runs ``n8n-node build``)."""


def test_auto_mode_flattens_nested_numbers_like_telegraf() -> None:
    tasmota = {"site": "lab", "device": "plug-4", "Time": "2026-11-23T01:02:03",
               "ENERGY": {"Power": 12.5, "Voltage": 231, "Today": 0.4}, "POWER": "ON", "online": True}  # fmt: skip
    env = run_points("toEnvelope", tasmota, SPEC)
    assert env == {
        "measurement": "env",
        "fields": {"ENERGY_Power": 12.5, "ENERGY_Voltage": 231, "ENERGY_Today": 0.4, "online": True},
        "tags": {"source": "n8n", "site": "lab", "device": "plug-4"},
    }


def test_selected_fields_allow_strings_and_a_timestamp() -> None:
    spec = {**SPEC, "fieldMode": "selected", "fieldNames": ["state", "level"], "timestampProperty": "ts"}
    env = run_points("toEnvelope", {"device": "tank", "state": "filling", "level": 0.7, "ts": 1763860000}, spec)
    assert env["fields"] == {"state": "filling", "level": 0.7} and env["ts"] == 1763860000
    assert env["tags"] == {"source": "n8n", "device": "tank"}


@pytest.mark.parametrize(
    ("item", "spec", "message"),
    [
        ({"device": "x", "note": "text only"}, {}, "no numeric or boolean properties"),
        ({"device": "x", "t": 1}, {"fieldMode": "selected", "fieldNames": ["missing"]}, 'no property "missing"'),
        ({"t": 1}, {"measurement": "  "}, "measurement is empty"),
        ({"t": 1, "ts": True}, {"timestampProperty": "ts"}, 'timestamp "ts" is not a number or string'),
    ],
)
def test_items_that_make_no_point_say_why(item: dict[str, Any], spec: dict[str, Any], message: str) -> None:
    assert message in run_points("toEnvelope", item, {**SPEC, **spec})["error"]


def test_extra_tag_pairs() -> None:
    assert run_points("parseTagPairs", "site=lab, room = 2 ,") == {"site": "lab", "room": "2"}
    assert "not key=value" in run_points("parseTagPairs", "site")["error"]
