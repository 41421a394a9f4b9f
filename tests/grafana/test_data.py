"""Every variable and panel query of every dashboard, expanded as Grafana expands it, returns data from an
InfluxDB 1.6 that the real pipeline filled (simulator → Mosquitto → ingest; vision telemetry; alerts flow)."""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests

from mathnotes.testing.servers import InfluxDB1, wait_until

from ..nodered.harness import Suite
from .conftest import now_ms
from .dashboards import NAMES, datasource, load, panels
from .macros import Variable, expand, interval_for

DEFAULT_MAX_DATA_POINTS = 1000  # Grafana uses about the panel's width in pixels


def _range_ms(text: str) -> int:
    match = re.fullmatch(r"now-(\d+)([smhd])", text)
    assert match, text
    return int(match.group(1)) * {"s": 1000, "m": 60000, "h": 3600000, "d": 86400000}[match.group(2)]


def _values_of(result: dict[str, Any]) -> list[str]:
    """Values of a variable query (SHOW TAG VALUES → column "value"; SHOW MEASUREMENTS → column "name")."""
    out: list[str] = []
    for series in result.get("series", []):
        col = series["columns"].index("value") if "value" in series["columns"] else 0
        out.extend(str(row[col]) for row in series["values"])
    return sorted(set(out))


def _run(influxdb: InfluxDB1, q: str, db: str) -> dict[str, Any]:
    """The first statement's result, as Grafana's proxy asks for it (POST /query, epoch=ms); errors included."""
    resp = requests.post(f"{influxdb.url}/query", data={"q": q, "db": db, "epoch": "ms"}, timeout=30)
    if resp.status_code != 200:
        return {"error": f"HTTP {resp.status_code}: {resp.text.strip()}"}
    result: dict[str, Any] = resp.json()["results"][0]
    return result


def _has_data(result: dict[str, Any]) -> bool:
    """What Grafana would draw: at least one series with a non-null value."""
    return any(any(v is not None for row in s.get("values", []) for v in row[1:]) for s in result.get("series", []))


def _evaluate(dashboard: dict[str, Any], influxdb: InfluxDB1, db: str) -> dict[str, str]:
    """Problems by query (empty when every query returns data): variables first, in order, then panels."""
    to_ms = now_ms()
    from_ms = to_ms - _range_ms(dashboard["time"]["from"])
    min_interval = datasource()["jsonData"].get("timeInterval")
    problems: dict[str, str] = {}
    variables: dict[str, Variable] = {}
    for var in dashboard["templating"]["list"]:
        multi = bool(var.get("multi") or var.get("includeAll"))
        if var["type"] == "constant":
            variables[var["name"]] = Variable(var["name"], (var["query"],))
            continue
        q = expand(var["query"], variables, from_ms, to_ms, 1000)
        result = _run(influxdb, q, db)
        values = _values_of(result)
        if var.get("regex"):  # Grafana filters the values with the variable's (JavaScript) regex
            pattern = re.compile(var["regex"].strip("/"))
            values = [v for v in values if pattern.search(v)]
        if "error" in result or not values:
            problems[f"variable {var['name']}: {q}"] = result.get("error", "no values")
        # the dashboard's default selection: All (every value) for include-all variables, else the first value
        variables[var["name"]] = Variable(var["name"], tuple(values if var.get("includeAll") else values[:1]), multi)
    for panel in panels(dashboard):
        interval = interval_for(
            to_ms - from_ms, panel.get("maxDataPoints", DEFAULT_MAX_DATA_POINTS), panel.get("interval") or min_interval
        )
        for target in panel.get("targets", []):
            q = expand(target["query"], variables, from_ms, to_ms, interval)
            result = _run(influxdb, q, db)
            if "error" in result or not _has_data(result):
                problems[f"panel {panel['title']!r} {target['refId']}: {q}"] = result.get("error", "No data")
    return problems


@pytest.mark.parametrize("name", NAMES)
def test_every_query_returns_data_from_the_real_pipeline(name: str, filled: Suite, influxdb: InfluxDB1) -> None:
    dashboard = load(name)
    problems: dict[str, str] = {}

    def all_answer() -> bool:
        problems.clear()
        problems.update(_evaluate(dashboard, influxdb, filled.db))
        return not problems

    wait_until(all_answer, 90, 2.0)
    assert not problems, "\n".join(f"{k}\n  -> {v}" for k, v in problems.items())


def test_an_unknown_selection_shows_no_data(filled: Suite, influxdb: InfluxDB1) -> None:
    """The check above can fail: a site that does not exist leaves the telemetry panels empty."""
    dashboard = load("telemetry-overview")
    first = next(p for p in panels(dashboard) if p["type"] == "stat")
    q = expand(
        first["targets"][0]["query"],
        {"site": Variable("site", ("nowhere",), True), "device": Variable("device", ("env-01",), True)},
        now_ms() - 3600000,
        now_ms(),
        10000,
    )
    assert not _has_data(_run(influxdb, q, filled.db))
