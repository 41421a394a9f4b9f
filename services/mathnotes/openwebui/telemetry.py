"""
title: Math Notes Telemetry
author: Math Notes Suite
version: 0.1.0
license: MIT
description: Device telemetry from InfluxDB (InfluxQL): latest values, min/mean/max, stale devices.
requirements: requests
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any

import requests
from pydantic import BaseModel, Field

EventEmitter = Callable[[dict[str, Any]], Awaitable[None]]
WINDOW = re.compile(r"^[1-9][0-9]{0,5}(s|m|h|d|w)$")


# --- pure helpers: InfluxQL text, result shaping, tables --------------------------


def ident(name: str) -> str:
    """An InfluxQL identifier, double-quoted and escaped."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def literal(value: str) -> str:
    """An InfluxQL string literal, single-quoted and escaped."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def source(measurement: str) -> str:
    """FROM target: one measurement, or every measurement."""
    return ident(measurement) if measurement.strip() else "/.*/"


def where(conditions: list[str]) -> str:
    return f" WHERE {' AND '.join(conditions)}" if conditions else ""


def device_filter(tag: str, device: str) -> list[str]:
    return [f"{ident(tag)} = {literal(device.strip())}"] if device.strip() else []


def latest_query(tag: str, device: str = "", measurement: str = "") -> str:
    """The newest point of every series (one row per measurement and tag set)."""
    conds = device_filter(tag, device)
    return f"SELECT * FROM {source(measurement)}{where(conds)} GROUP BY * ORDER BY time DESC LIMIT 1"  # noqa: S608 (escaped)


def stats_query(tag: str, window: str, device: str = "", measurement: str = "", field: str = "") -> str:
    """min/mean/max of every numeric field (or one field) per device over the window ending now."""
    if not WINDOW.match(window):
        raise ValueError(f"window must look like 30m, 6h, 7d or 2w, not {window!r}")
    target = ident(field.strip()) if field.strip() else "*"
    conds = [f"time > now() - {window}", *device_filter(tag, device)]
    select = f"min({target}), mean({target}), max({target})"
    return f"SELECT {select} FROM {source(measurement)}{where(conds)} GROUP BY {ident(tag)}"  # noqa: S608 (escaped)


def series_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Flatten an InfluxDB /query answer into rows ``{"measurement", "tags", <column>: value}``; raises on errors."""
    rows: list[dict[str, Any]] = []
    for statement in result.get("results", []):
        if statement.get("error"):
            raise ValueError(str(statement["error"]))
        for series in statement.get("series", []) or []:
            columns = series.get("columns", [])
            for values in series.get("values", []) or []:
                row: dict[str, Any] = {"measurement": series.get("name", ""), "tags": series.get("tags") or {}}
                row.update(zip(columns, values, strict=False))
                rows.append(row)
    if "error" in result:
        raise ValueError(str(result["error"]))
    return rows


def fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        return f"{value:.4g}" if abs(value) < 1e6 else f"{value:.6g}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def when(ms: Any) -> str:
    if not isinstance(ms, (int, float)):
        return str(ms)
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def table(headers: list[str], rows: list[list[Any]], limit: int) -> str:
    """A Markdown table (at most ``limit`` rows, with a note on what was cut)."""
    if not rows:
        return "_No data._"
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(fmt(cell) for cell in row) + " |" for row in rows[:limit]]
    if len(rows) > limit:
        lines.append(f"\n_{len(rows) - limit} more rows not shown._")
    return "\n".join(lines)


def device_name(row: dict[str, Any], tag: str) -> str:
    return str(row["tags"].get(tag) or row.get(tag) or "—")


def latest_table(rows: list[dict[str, Any]], tag: str, limit: int) -> str:
    """device | measurement | field | value | time, one line per field of each newest point."""
    out: list[list[Any]] = []
    for row in rows:
        for key, value in row.items():
            if key in ("measurement", "tags", "time") or value is None or key in row["tags"]:
                continue
            if key == tag:
                continue
            out.append([device_name(row, tag), row["measurement"], key, value, when(row.get("time"))])
    out.sort(key=lambda r: (str(r[0]), str(r[1]), str(r[2])))
    return table(["device", "measurement", "field", "value", "time (UTC)"], out, limit)


def stats_table(rows: list[dict[str, Any]], tag: str, limit: int, field: str = "") -> str:
    """device | measurement | field | min | mean | max from ``min(*)``-style columns (or one ``field``'s)."""
    out: list[list[Any]] = []
    for row in rows:
        fields = sorted({key.split("_", 1)[1] for key in row if key.startswith(("min_", "mean_", "max_"))})
        if not fields and "min" in row:
            fields = [""]
        for name in fields:
            suffix = f"_{name}" if name else ""
            values = [row.get(f"min{suffix}"), row.get(f"mean{suffix}"), row.get(f"max{suffix}")]
            if all(v is None for v in values):
                continue
            out.append([device_name(row, tag), row["measurement"], name or field or "(field)", *values])
    out.sort(key=lambda r: (str(r[0]), str(r[1]), str(r[2])))
    return table(["device", "measurement", "field", "min", "mean", "max"], out, limit)


def minutes_value(value: object) -> float | None:
    """A threshold in minutes from what a model sends: a number, or a number in a string (``"30"``,
    ``" 7.5 "``) since Open WebUI converts only ``int`` parameters. 0 or less means the default (None);
    anything else is a ValueError naming it."""
    if isinstance(value, bool):
        raise ValueError(f"minutes must be a number, not {value!r}")
    if isinstance(value, str):
        text = value.strip()
        if not re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)", text):
            raise ValueError(f"minutes must be a number, not {value!r}")
        value = float(text)
    if not isinstance(value, (int, float)) or math.isnan(value) or math.isinf(value):
        raise ValueError(f"minutes must be a number, not {value!r}")
    return float(value) if value > 0 else None


def stale_table(rows: list[dict[str, Any]], tag: str, now_ms: float, minutes: float, limit: int) -> str:
    """Devices whose newest point (over all their series) is older than ``minutes``."""
    newest: dict[str, float] = {}
    for row in rows:
        ts = row.get("time")
        name = device_name(row, tag)
        if isinstance(ts, (int, float)) and name != "—":
            newest[name] = max(newest.get(name, ts), ts)
    stale = [
        [name, when(ts), f"{(now_ms - ts) / 60000:.0f} min"]
        for name, ts in sorted(newest.items(), key=lambda item: item[1])
        if now_ms - ts > minutes * 60000
    ]
    if not stale:
        return f"All {len(newest)} devices reported within the last {minutes:g} minutes."
    return table(["device", "last seen (UTC)", "silent for"], stale, limit)


# --- I/O: one InfluxQL query over HTTP (module functions: every method of Tools becomes a tool) ---


def influx_query(valves: Any, q: str) -> list[dict[str, Any]]:
    """Rows of one InfluxQL query against ``valves.INFLUX_URL``'s ``/query`` (InfluxDB 1.x, 2.x DBRP, 3.x)."""
    headers: dict[str, str] = {"Accept": "application/json"}
    auth: tuple[str, str] | None = None
    token = valves.INFLUX_TOKEN
    if ":" in token:
        user, _, password = token.partition(":")
        auth = (user, password)
    elif token:
        headers["Authorization"] = f"Token {token}"
    response = requests.post(
        f"{valves.INFLUX_URL.rstrip('/')}/query",
        data={"db": valves.INFLUX_DB, "q": q, "epoch": "ms"},
        headers=headers,
        auth=auth,
        timeout=valves.TIMEOUT_S,
    )
    try:
        body = response.json()
    except ValueError:
        body = {"error": f"HTTP {response.status_code}: {response.text[:200]}"}
    if response.status_code >= 400 and "error" not in body:
        body = {"error": f"HTTP {response.status_code}"}
    return series_rows(body)


async def run_query(valves: Any, q: str, emitter: EventEmitter | None, what: str) -> list[dict[str, Any]] | str:
    """The rows, or a sentence saying why the query failed; status events on the way."""
    if emitter is not None:
        await emitter({"type": "status", "data": {"description": f"Querying InfluxDB: {what}…", "done": False}})
    try:
        rows = await asyncio.to_thread(influx_query, valves, q)
    except (requests.RequestException, ValueError) as err:
        if emitter is not None:
            await emitter({"type": "status", "data": {"description": "InfluxDB query failed", "done": True}})
        return f"The InfluxDB query failed: {err}"
    if emitter is not None:
        await emitter({"type": "status", "data": {"description": f"{len(rows)} series read", "done": True}})
    return rows


# --- the tool ---------------------------------------------------------------------


class Tools:
    class Valves(BaseModel):
        INFLUX_URL: str = Field(default="http://influxdb:8086", description="InfluxDB base URL (answers /query)")
        INFLUX_DB: str = Field(default="telemetry", description="database (1.x) or bucket with a DBRP mapping (2.x)")
        INFLUX_TOKEN: str = Field(
            default="", description="2.x/3.x token, or user:password for InfluxDB 1.x; empty when auth is off"
        )
        DEVICE_TAG: str = Field(default="device", description="tag that names a device")
        STALE_AFTER_MINUTES: float = Field(default=15.0, description="a device silent this long counts as stale")
        MAX_ROWS: int = Field(default=40, description="rows shown per table")
        TIMEOUT_S: float = Field(default=20.0, description="seconds to wait for InfluxDB")

    def __init__(self) -> None:
        self.valves = self.Valves()
        self.citation = True  # as in math_notes_vision.py: a source, never text glued onto the user's message

    async def latest_values(
        self, device: str = "", measurement: str = "", __event_emitter__: EventEmitter | None = None
    ) -> str:
        """
        The most recent value of every field of the devices' telemetry, with its time, as a table.
        Use it for "what is the temperature in the lab now?", "what did sensor X last report?".
        :param device: device name (the device tag); empty for all devices
        :param measurement: measurement name, e.g. temperature or environment; empty for all
        """
        tag = self.valves.DEVICE_TAG
        rows = await run_query(self.valves, latest_query(tag, device, measurement), __event_emitter__, "latest values")
        if isinstance(rows, str):
            return rows
        return latest_table(rows, tag, self.valves.MAX_ROWS)

    async def window_stats(
        self,
        window: str = "24h",
        device: str = "",
        measurement: str = "",
        field: str = "",
        __event_emitter__: EventEmitter | None = None,
    ) -> str:
        """
        Minimum, mean and maximum of the devices' numeric fields over a recent window, per device, as a table.
        Use it for "how warm did it get today?", "average humidity this week per device".
        :param window: how far back from now: a number and unit s, m, h, d or w (e.g. 30m, 24h, 7d)
        :param device: device name (the device tag); empty for all devices
        :param measurement: measurement name; empty for all
        :param field: one field name; empty for every numeric field
        """
        tag = self.valves.DEVICE_TAG
        try:
            q = stats_query(tag, window.strip(), device, measurement, field)
        except ValueError as err:
            return str(err)
        rows = await run_query(self.valves, q, __event_emitter__, f"min/mean/max over {window}")
        if isinstance(rows, str):
            return rows
        return f"Over the last {window}:\n\n" + stats_table(rows, tag, self.valves.MAX_ROWS, field.strip())

    async def stale_devices(self, minutes: float = 0, __event_emitter__: EventEmitter | None = None) -> str:
        """
        Devices that have gone silent: their newest point is older than a threshold. Use it for
        "which sensors are offline?", "is anything not reporting?".
        :param minutes: silence threshold in minutes; 0 uses the configured default
        """
        tag = self.valves.DEVICE_TAG
        try:
            threshold = minutes_value(minutes) or self.valves.STALE_AFTER_MINUTES
        except ValueError as err:
            return str(err)
        rows = await run_query(self.valves, latest_query(tag), __event_emitter__, "last report per device")
        if isinstance(rows, str):
            return rows
        return stale_table(rows, tag, time.time() * 1000, threshold, self.valves.MAX_ROWS)
