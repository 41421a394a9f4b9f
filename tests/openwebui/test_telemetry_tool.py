"""The telemetry tool against a real InfluxDB (points written with v1 writes, read back with InfluxQL)."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

from tests.support.servers import InfluxDB1

from .tools import Events, load_tool


@pytest.fixture(scope="module")
def db(influxdb: InfluxDB1) -> str:
    name = f"owui_{uuid.uuid4().hex[:8]}"
    influxdb.create_database(name)
    now_s = int(time.time())

    def line(measurement: str, device: str, fields: str, ago_s: int) -> str:
        return f"{measurement},site=lab,device={device} {fields} {(now_s - ago_s) * 10**9}"

    influxdb.write(name, [
        line("environment", "probe-1", "temperature=20.5,humidity=41", 1800),
        line("environment", "probe-1", "temperature=22.5,humidity=43", 600),
        line("environment", "probe-1", "temperature=21.0,humidity=42", 60),
        line("environment", "probe-2", "temperature=18.0,humidity=60", 7200),
        line("power", "meter-7", "watts=1200i,on=true", 120),
        line("environment", "probe-1", "temperature=35.0", 3 * 86400),  # outside a 24h window
    ])  # fmt: skip
    return name


def tool(influxdb: InfluxDB1, db: str, **valves: Any) -> Any:
    tools, _ = load_tool("telemetry")
    tools.valves = tools.Valves(**{"INFLUX_URL": influxdb.url, "INFLUX_DB": db, **valves})
    return tools


def test_latest_values_table(influxdb: InfluxDB1, db: str) -> None:
    events = Events()
    out = asyncio.run(tool(influxdb, db).latest_values(device="probe-1", __event_emitter__=events))
    lines = out.splitlines()
    assert lines[0] == "| device | measurement | field | value | time (UTC) |"
    assert any(line.startswith("| probe-1 | environment | temperature | 21 |") for line in lines)
    assert any(line.startswith("| probe-1 | environment | humidity | 42 |") for line in lines)
    assert "probe-2" not in out and "meter-7" not in out
    assert events.statuses() == [("Querying InfluxDB: latest values…", False), ("1 series read", True)]


def test_latest_values_of_every_device(influxdb: InfluxDB1, db: str) -> None:
    out = asyncio.run(tool(influxdb, db).latest_values())
    assert "| meter-7 | power | on | true |" in out and "| meter-7 | power | watts | 1200 |" in out
    assert "| probe-2 | environment | temperature | 18 |" in out


def test_window_stats_per_device(influxdb: InfluxDB1, db: str) -> None:
    out = asyncio.run(tool(influxdb, db).window_stats(window="24h", measurement="environment"))
    assert out.startswith("Over the last 24h:")
    assert "| probe-1 | environment | temperature | 20.5 | 21.33 | 22.5 |" in out
    assert "| probe-1 | environment | humidity | 41 | 42 | 43 |" in out
    assert "| probe-2 | environment | temperature | 18 | 18 | 18 |" in out
    assert "35" not in out


def test_window_stats_of_one_field_and_device(influxdb: InfluxDB1, db: str) -> None:
    out = asyncio.run(tool(influxdb, db).window_stats(window="45m", device="probe-1", field="temperature"))
    assert "| probe-1 | environment | temperature | 20.5 | 21.33 | 22.5 |" in out
    assert "humidity" not in out and "probe-2" not in out


def test_window_stats_rejects_a_bad_window(influxdb: InfluxDB1, db: str) -> None:
    out = asyncio.run(tool(influxdb, db).window_stats(window="1d; DROP DATABASE x"))
    assert out.startswith("window must look like 30m, 6h, 7d or 2w")


def test_stale_devices(influxdb: InfluxDB1, db: str) -> None:
    out = asyncio.run(tool(influxdb, db).stale_devices(minutes=30))
    assert out.splitlines()[0] == "| device | last seen (UTC) | silent for |"
    [row] = [line for line in out.splitlines() if line.startswith("| probe-2 |")]
    assert 120 <= int(row.split("|")[3].split()[0]) <= 125  # written 2 h before the module's first test
    assert "probe-1" not in out and "meter-7" not in out
    fresh = asyncio.run(tool(influxdb, db, STALE_AFTER_MINUTES=600).stale_devices())
    assert fresh == "All 3 devices reported within the last 600 minutes."


def test_stale_devices_takes_the_number_as_a_string(influxdb: InfluxDB1, db: str) -> None:
    """Open WebUI converts only int parameters, so a model's "30" reaches the tool as a string."""
    as_number = asyncio.run(tool(influxdb, db).stale_devices(minutes=30))
    assert asyncio.run(tool(influxdb, db).stale_devices(minutes=" 30 ")) == as_number
    assert "| probe-2 |" in asyncio.run(tool(influxdb, db).stale_devices(minutes="30.5"))
    default = asyncio.run(tool(influxdb, db, STALE_AFTER_MINUTES=600).stale_devices(minutes="0"))
    assert default == "All 3 devices reported within the last 600 minutes."
    for bad in ("soon", "30 minutes", "nan", "", True):
        out = asyncio.run(tool(influxdb, db).stale_devices(minutes=bad))
        assert out == f"minutes must be a number, not {bad!r}"


def test_quoting_keeps_odd_names_literal(influxdb: InfluxDB1, db: str) -> None:
    out = asyncio.run(tool(influxdb, db).latest_values(device="x' OR device =~ /.*/ --", measurement='env"ironment'))
    assert out == "_No data._"


def test_query_errors_are_reported(influxdb: InfluxDB1) -> None:
    events = Events()
    out = asyncio.run(tool(influxdb, "no_such_db").latest_values(__event_emitter__=events))
    assert out.startswith("The InfluxDB query failed: database not found")
    assert events.statuses()[-1] == ("InfluxDB query failed", True)
    unreachable = asyncio.run(tool(influxdb, "x", INFLUX_URL="http://127.0.0.1:9").stale_devices())
    assert unreachable.startswith("The InfluxDB query failed:")
