"""Reading the shipped dashboards and provisioning files."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "DASHBOARDS",
    "GRAFANA",
    "INFLUX_NAMES",
    "NAMES",
    "SQL_NAMES",
    "datasource",
    "datasource_of",
    "load",
    "panels",
    "schema",
]

GRAFANA = Path(__file__).resolve().parents[2] / "grafana"
DASHBOARDS = GRAFANA / "dashboards"
INFLUX_NAMES = ("telemetry-overview", "ingest-pipeline", "vision-api")  # InfluxQL on the InfluxDB datasource
SQL_NAMES = ("notes",)  # SQL on the notes library's PostgreSQL datasource
NAMES = INFLUX_NAMES + SQL_NAMES


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DASHBOARDS / f"{name}.json").read_text())
    return data


def schema() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((Path(__file__).parent / "dashboard.schema.json").read_text())
    return data


def datasource(file: str = "influxdb") -> dict[str, Any]:
    """The datasource provisioned by ``provisioning/datasources/<file>.yaml`` (one per file)."""
    doc = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / f"{file}.yaml").read_text())
    (ds,) = doc["datasources"]
    return dict(ds)


def datasource_of(name: str) -> dict[str, Any]:
    """The datasource dashboard ``name`` reads."""
    return datasource("postgres" if name in SQL_NAMES else "influxdb")


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, rows' collapsed children included."""
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])
