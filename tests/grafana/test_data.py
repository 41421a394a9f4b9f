"""Every variable and panel query of every dashboard, expanded as Grafana expands it, returns data from an
InfluxDB 1.6 that the real pipeline filled (simulator → Mosquitto → ingest; vision telemetry; alerts flow);
and the vision panels' figures agree with the vision service's own Prometheus counters."""

from __future__ import annotations

import re
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.support.servers import InfluxDB1, wait_until

from ..nodered.harness import Suite
from .dashboards import INFLUX_NAMES, datasource, load, panels
from .macros import Variable, expand, interval_for

DEFAULT_MAX_DATA_POINTS = 1000  # Grafana uses about the panel's width in pixels


def now_ms() -> int:
    return int(time.time() * 1000)


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


@dataclass
class Expanded:
    """A dashboard's queries with the default selection, as Grafana would send them."""

    variables: dict[str, Variable] = field(default_factory=dict)
    queries: list[tuple[str, dict[str, Any], str]] = field(default_factory=list)  # (label, panel, InfluxQL)
    problems: dict[str, str] = field(default_factory=dict)

    def query(self, title: str) -> str:
        (q,) = [q for _, panel, q in self.queries if panel["title"] == title]
        return q


def _expand(dashboard: dict[str, Any], influxdb: InfluxDB1, db: str) -> Expanded:
    """Variables first, in order (each query sees the ones before it), then every panel target."""
    to_ms = now_ms()
    from_ms = to_ms - _range_ms(dashboard["time"]["from"])
    min_interval = datasource()["jsonData"].get("timeInterval")
    out = Expanded()
    for var in dashboard["templating"]["list"]:
        multi = bool(var.get("multi") or var.get("includeAll"))
        if var["type"] == "constant":
            out.variables[var["name"]] = Variable(var["name"], (var["query"],))
            continue
        q = expand(var["query"], out.variables, from_ms, to_ms, 1000)
        result = _run(influxdb, q, db)
        values = _values_of(result)
        if var.get("regex"):  # Grafana filters the values with the variable's (JavaScript) regex
            pattern = re.compile(var["regex"].strip("/"))
            values = [v for v in values if pattern.search(v)]
        if "error" in result or not values:
            out.problems[f"variable {var['name']}: {q}"] = result.get("error", "no values")
        # the default selection: All (every value) for include-all variables, else the first value
        selected = tuple(values if var.get("includeAll") else values[:1])
        out.variables[var["name"]] = Variable(var["name"], selected, multi)
    for panel in panels(dashboard):
        interval = interval_for(
            to_ms - from_ms, panel.get("maxDataPoints", DEFAULT_MAX_DATA_POINTS), panel.get("interval") or min_interval
        )
        # a repeated panel is cloned once per selected value, each clone seeing only its own value
        repeat = panel.get("repeat")
        scopes = [out.variables]
        if repeat:
            var = out.variables[repeat]
            scopes = [{**out.variables, repeat: Variable(repeat, (v,), var.multi)} for v in var.values]
        for scope in scopes:
            for target in panel.get("targets", []):
                label = f"panel {panel['title']!r} {target['refId']}" + (
                    f" ({repeat}={scope[repeat].render()})" if repeat else ""
                )
                out.queries.append((label, panel, expand(target["query"], scope, from_ms, to_ms, interval)))
    return out


def _evaluate(dashboard: dict[str, Any], influxdb: InfluxDB1, db: str) -> dict[str, str]:
    """Problems by query: empty when every variable has values and every panel query returns data."""
    expanded = _expand(dashboard, influxdb, db)
    problems = dict(expanded.problems)
    for label, _, q in expanded.queries:
        result = _run(influxdb, q, db)
        if "error" in result or not _has_data(result):
            problems[f"{label}: {q}"] = result.get("error", "No data")
    return problems


@pytest.mark.parametrize("name", INFLUX_NAMES)
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


def _by_series(result: dict[str, Any], tag: str | None = None) -> dict[str, float]:
    """Each series' values summed (a stat panel's "sum"), keyed by ``tag`` ("" without one)."""
    out: dict[str, float] = defaultdict(float)
    for series in result.get("series", []):
        key = series.get("tags", {}).get(tag, "") if tag else ""
        out[key] += sum(v for row in series["values"] for v in row[1:] if v is not None)
    return dict(out)


def _service_counters(url: str) -> dict[str, float]:
    """The vision service's own figures, from its Prometheus /metrics (counted in-process, not via MQTT)."""
    text = requests.get(url + "/metrics", timeout=10).text
    samples = [s for family in text_string_to_metric_families(text) for s in family.samples]

    def total(name: str, **labels: str) -> float:
        return sum(s.value for s in samples if s.name == name and labels.items() <= s.labels.items())

    figures = {"requests": total("vision_requests_total"), "hits": total("vision_cache_lookups_total", result="hit")}
    figures["upstream errors"] = sum(total("vision_requests_total", status=s) for s in ("502", "503", "504"))
    for kind in ("prompt", "completion"):
        figures[f"{kind} tokens"] = total("vision_tokens_total", kind=kind)
    for status in ("200", "502"):
        figures[f"status {status}"] = total("vision_requests_total", status=status)
    return figures


def test_vision_panels_agree_with_the_vision_services_own_counters(filled: Suite, influxdb: InfluxDB1) -> None:
    dashboard = load("vision-api")
    vision = filled.services[1]
    prices = {v["name"]: float(v["query"]) for v in dashboard["templating"]["list"] if v["type"] == "constant"}

    def from_panels() -> dict[str, float]:
        expanded = _expand(dashboard, influxdb, filled.db)

        def stat(title: str) -> float:
            return _by_series(_run(influxdb, expanded.query(title), filled.db)).get("", 0.0)

        by_status = _by_series(_run(influxdb, expanded.query("Requests by status"), filled.db), "status")
        return {
            "requests": stat("Requests"),
            "upstream errors": stat("Upstream errors"),
            "hit ratio": stat("Cache hit ratio"),
            "cost": stat("Estimated cost (CNY by default)"),
            **{f"status {s}": n for s, n in by_status.items()},
        }

    counted = _service_counters(vision.url)
    expected = {
        "requests": counted["requests"],
        "upstream errors": counted["upstream errors"],
        "hit ratio": counted["hits"] / counted["requests"],
        "cost": counted["prompt tokens"] / 1000 * prices["price_input_per_1k"]
        + counted["completion tokens"] / 1000 * prices["price_output_per_1k"],
        "status 200": counted["status 200"],
        "status 502": counted["status 502"],
    }
    # the fixture's four uploads: two pages, a repeat answered from the cache, one the model failed on
    assert (counted["requests"], counted["hits"], counted["upstream errors"], counted["status 200"]) == (4, 1, 1, 3)
    assert counted["prompt tokens"] > 0 and counted["completion tokens"] > 0
    wait_until(lambda: from_panels() == pytest.approx(expected), 60, 1.0)
    assert from_panels() == pytest.approx(expected)
