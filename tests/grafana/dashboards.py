"""Reading the shipped dashboards and provisioning files."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

__all__ = ["DASHBOARDS", "GRAFANA", "NAMES", "datasource", "load", "panels", "schema"]

GRAFANA = Path(__file__).resolve().parents[2] / "grafana"
DASHBOARDS = GRAFANA / "dashboards"
NAMES = ("telemetry-overview", "ingest-pipeline", "vision-api")


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DASHBOARDS / f"{name}.json").read_text())
    return data


def schema() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((Path(__file__).parent / "dashboard.schema.json").read_text())
    return data


def datasource() -> dict[str, Any]:
    """The one provisioned datasource."""
    doc = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "influxdb.yaml").read_text())
    (ds,) = doc["datasources"]
    return dict(ds)


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, rows' collapsed children included."""
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])
