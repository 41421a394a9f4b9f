"""Dashboards and provisioning files, checked against what Grafana needs (our schema) and each other."""

from __future__ import annotations

import re

import jsonschema
import pytest
import yaml

from .dashboards import DASHBOARDS, GRAFANA, NAMES, SQL_NAMES, datasource, datasource_of, load, panels, schema
from .macros import Variable, expand
from .sqlmacros import SqlVariable, expand_sql


def test_the_dashboard_folder_holds_exactly_the_shipped_dashboards() -> None:
    assert sorted(p.stem for p in DASHBOARDS.glob("*.json")) == sorted(NAMES)


def _sql_target(change: dict[str, object]) -> dict[str, object]:
    """notes.json with its first panel's target changed."""
    notes = load("notes")
    first = notes["panels"][0]
    return {**notes, "panels": [{**first, "targets": [{**first["targets"][0], **change}]}]}


def test_the_schema_is_a_valid_schema_and_rejects_what_grafana_cannot_load() -> None:
    jsonschema.Draft202012Validator.check_schema(schema())
    validator = jsonschema.Draft202012Validator(schema())
    good = load("vision-api")
    broken = [
        {k: v for k, v in good.items() if k != "uid"},
        {**good, "panels": [{**good["panels"][0], "gridPos": {"h": 5, "w": 30, "x": 0, "y": 0}}]},
        {**good, "panels": [{**good["panels"][0], "datasource": {"type": "influxdb", "uid": "other"}}]},
        {**good, "panels": [{**good["panels"][0], "targets": []}]},
        {
            **good,
            "panels": [{**good["panels"][0], "targets": [{**good["panels"][0]["targets"][0], "query": "SELECT 1"}]}],
        },
        _sql_target({"rawSql": "SELECT count(*) FROM notes"}),  # no $__timeFilter: every note ever
        _sql_target({"format": "timeseries"}),
        _sql_target({"datasource": {"type": "grafana-postgresql-datasource", "uid": "other"}}),
        _sql_target({"datasource": {"type": "postgres", "uid": "mathnotes-postgres"}}),
        {k: v for k, v in _sql_target({}).items() if k != "templating"},
        {**load("notes"), "templating": {"list": [{**load("notes")["templating"]["list"][0], "query": "SHOW TABLES"}]}},
    ]
    assert not list(validator.iter_errors(load("notes")))
    for doc in broken:
        assert list(validator.iter_errors(doc)), doc.get("uid")


@pytest.mark.parametrize("name", NAMES)
def test_dashboard_matches_the_schema(name: str) -> None:
    validator = jsonschema.Draft202012Validator(schema())
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(load(name))]
    assert not errors, "\n".join(errors)


def test_uids_are_fixed_and_distinct_and_use_the_provisioned_datasource() -> None:
    uids = {load(n)["uid"] for n in NAMES}
    assert uids == {"mathnotes-telemetry", "mathnotes-ingest", "mathnotes-vision", "mathnotes-notes"}
    for name in NAMES:
        dash, ds = load(name), datasource_of(name)
        for panel in panels(dash):
            refs = [panel.get("datasource"), *(t["datasource"] for t in panel.get("targets", []))]
            assert all(r == {"type": ds["type"], "uid": ds["uid"]} for r in refs if r), (name, panel["title"])
        for var in dash["templating"]["list"]:
            if var["type"] == "query":
                assert var["datasource"]["uid"] == ds["uid"]


@pytest.mark.parametrize("name", NAMES)
def test_panels_do_not_overlap_and_ids_are_unique(name: str) -> None:
    dash = load(name)
    cells: set[tuple[int, int]] = set()
    ids = [p["id"] for p in panels(dash)]
    assert len(ids) == len(set(ids))
    for panel in panels(dash):
        g = panel["gridPos"]
        mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert g["x"] + g["w"] <= 24 and not (cells & mine), panel["title"]
        cells |= mine


@pytest.mark.parametrize("name", NAMES)
def test_every_variable_a_query_uses_is_defined_before_use(name: str) -> None:
    dash = load(name)
    defined: dict[str, Variable] = {}
    if name in SQL_NAMES:
        sql: dict[str, SqlVariable] = {}
        for var in dash["templating"]["list"]:
            if var["type"] == "query":
                expand_sql(var["query"], sql, 0, 1, 1000)  # raises on an unknown variable or macro
            sql[var["name"]] = SqlVariable(var["name"], ("x",), bool(var.get("multi") or var.get("includeAll")))
        for panel in panels(dash):
            for t in panel.get("targets", []):
                expand_sql(t["rawSql"], sql, 0, 1, 1000)
        return
    for var in dash["templating"]["list"]:
        if var["type"] == "query":
            expand(var["query"], defined, 0, 1, 1000)  # raises on an unknown variable
        defined[var["name"]] = Variable(var["name"], ("x",), var.get("multi", False) or var.get("includeAll", False))
    for panel in panels(dash):
        for t in panel.get("targets", []):
            expand(t["query"], defined, 0, 1, 1000)


def test_provisioning_files() -> None:
    ds = datasource()
    assert ds["uid"] == "mathnotes-influxdb" and ds["type"] == "influxdb" and ds["access"] == "proxy"
    assert ds["jsonData"]["version"] == "InfluxQL"
    assert ds["jsonData"]["httpHeaderName1"] == "Authorization"
    assert ds["secureJsonData"]["httpHeaderValue1"] == "Token ${INFLUX_TOKEN}"
    assert ds["url"] == "${INFLUX_URL}" and ds["jsonData"]["dbName"] == "${INFLUX_BUCKET}"
    raw = (GRAFANA / "provisioning" / "datasources" / "influxdb.yaml").read_text()
    assert not re.search(r"(?i)token\s+[a-z0-9_-]{20,}", raw), "no literal token"
    pg = datasource("postgres")
    assert (pg["uid"], pg["type"], pg["access"]) == ("mathnotes-postgres", "grafana-postgresql-datasource", "proxy")
    assert (pg["url"], pg["user"], pg["jsonData"]["database"]) == ("${NOTES_DB_HOST}", "mathnotes_grafana", "mathnotes")
    assert pg["secureJsonData"] == {"password": "${MATHNOTES_GRAFANA_DB_PASSWORD}"}
    assert pg["jsonData"]["sslmode"] == "${NOTES_DB_SSLMODE}" and not pg.get("isDefault")
    init = (GRAFANA.parent / "docker" / "postgres" / "init" / "20-mathnotes.sh").read_text()
    limit = re.search(r"mathnotes_grafana WITH .*?CONNECTION LIMIT (\d+)", init, re.DOTALL)
    assert limit and pg["jsonData"]["maxOpenConns"] <= int(limit.group(1)), "Grafana's pool fits its role's limit"
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "provider.yaml").read_text())
    (prov,) = provider["providers"]
    assert prov["type"] == "file" and prov["options"]["path"].rstrip("/").endswith("dashboards")


@pytest.mark.parametrize("name", NAMES)
def test_refresh_is_sensible(name: str) -> None:
    dash = load(name)
    seconds = int(dash["refresh"][:-1]) * {"s": 1, "m": 60, "h": 3600}[dash["refresh"][-1]]
    assert 5 <= seconds <= 300


# what issue 5 asks each dashboard to show: (what, panel type, a regex some target query of that type matches)
WANTED = {
    "telemetry-overview": [
        ("latest value stats", "stat", r'SELECT last\("value"\) FROM "temperature"'),
        ("time series of the selected measurements", "timeseries", r"FROM /\^\$measurement\$/ .*GROUP BY time"),
        ("device last-seen table", "table", r'SELECT last\("value"\) .*GROUP BY "site", "device"'),
        ("stale devices in that table", "table", r"FROM \"alert\" .*\"kind\" = 'stale'"),
        ("alerts count", "stat", r'SELECT sum\("firing"\) FROM "alert"'),
    ],
    "ingest-pipeline": [
        ("received, written, rejected rates", "timeseries", r'derivative\(last\("received"\).*"written".*"rejected"'),
        ("rejections by reason", "timeseries", r"last\(/\^rejected_/\)"),
        ("spool depth", "stat", r'last\("spool_batches"\)'),
        ("write latency", "timeseries", r'difference\(last\("write_seconds_sum"\)\)'),
        ("batch size", "timeseries", r'difference\(last\("batch_lines_sum"\)\)'),
    ],
    "vision-api": [
        ("requests by status", "timeseries", r'sum\("count"\) .*GROUP BY time\(\$__interval\), "status"'),
        ("requests by task", "timeseries", r'sum\("count"\) .*GROUP BY time\(\$__interval\), "task"'),
        ("requests by model", "timeseries", r'sum\("count"\) .*GROUP BY time\(\$__interval\), "model"'),
        ("latency p50 and p95", "timeseries", r'percentile\("latency_ms", 50\).*percentile\("latency_ms", 95\)'),
        ("tokens per model", "timeseries", r'sum\("prompt_tokens"\).*sum\("completion_tokens"\).*"model"'),
        ("cost per model, priced by the constants", "table", r"\$price_input_per_1k.*\$price_output_per_1k.*\"model\""),
        ("cache hit ratio", "stat", r"sum\(\"hits\"\) / sum\(\"total\"\).*\"cached\" = 'true'"),
        ("upstream errors", "stat", r'"status" =~ /\^50\[234\]\$/'),
    ],
    "notes": [
        (
            "notes per day by task and language",
            "timeseries",
            r"^SELECT \$__timeGroupAlias\(created_at, 1d\), task \|\| ' · ' \|\| language AS metric, count\(\*\)",
        ),
        (
            "share of checked steps marked wrong",
            "stat",
            r"sum\(wrong_steps\)::float8 / NULLIF\(sum\(checked_steps\), 0\)",
        ),
        ("the same per day", "timeseries", r"\$__timeGroupAlias\(created_at, 1d\), sum\(wrong_steps\)::float8"),
        (
            "most frequent formulas",
            "table",
            r"f\.norm .* FROM note_formulas f .*GROUP BY f\.norm ORDER BY count\(\*\) DESC",
        ),
        (
            "search latency percentiles per mode",
            "timeseries",
            r"percentile_cont\(0\.95\) WITHIN GROUP \(ORDER BY s\.ms\) .*unnest\(string_to_array\(s\.modes",
        ),
    ],
}


@pytest.mark.parametrize("name", NAMES)
def test_each_dashboard_shows_what_the_issue_asks_for(name: str) -> None:
    dash = load(name)
    queries = [(p["type"], t.get("query") or t["rawSql"]) for p in panels(dash) for t in p.get("targets", [])]
    missing = [
        what for what, kind, pattern in WANTED[name] if not any(k == kind and re.search(pattern, q) for k, q in queries)
    ]
    assert not missing, missing


def test_vision_prices_are_constants_users_edit() -> None:
    constants = {v["name"]: v for v in load("vision-api")["templating"]["list"] if v["type"] == "constant"}
    assert set(constants) == {"price_input_per_1k", "price_output_per_1k"}
    for var in constants.values():
        assert float(var["query"]) > 0 and var["current"]["value"] == var["query"]
