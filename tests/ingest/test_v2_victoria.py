"""INFLUX_API=v2: the same service writes through influxdb-client's v2 write API into VictoriaMetrics."""

from __future__ import annotations

import json
import uuid

import requests

from tests.support.servers import Mosquitto, VictoriaMetrics, wait_until

from .helpers import StartIngest, publish


def test_v2_writes_every_payload_form_into_victoriametrics(
    start_ingest: StartIngest, mosquitto: Mosquitto, victoria: VictoriaMetrics
) -> None:
    site = f"v2{uuid.uuid4().hex[:6]}"
    ing = start_ingest(
        {
            "INFLUX_API": "v2",
            "INFLUX_URL": victoria.url,
            "INFLUX_BUCKET": "telemetry",
            "INFLUX_ORG": "mathnotes",
            "INFLUX_TOKEN": "unused",
            "INGEST_TOPICS": f"telemetry/{site}/#",
        }
    )
    t = f"telemetry/{site}"
    publish(
        mosquitto,
        [
            (
                f"{t}/env1/climate",
                json.dumps({"ts": 1_700_000_000_000, "fields": {"temp": 21}, "tags": {"room": "lab"}}),
            ),
            (f"{t}/zb1/zigbee", json.dumps({"temperature": 19.5, "update": {"installed_version": 268}})),
            (f"{t}/shelly1/power", "12.5"),
            (f"{t}/lp1/cpu", "cpu,core=0 usage=0.25 1700000002000000000"),
        ],
    )

    def series() -> dict[str, dict[str, object]]:
        found = victoria.export(f'{{site="{site}"}}')
        return {s["metric"]["__name__"]: {**s["metric"], "values": s["values"], "ts": s["timestamps"]} for s in found}

    names = {"climate_temp", "zigbee_temperature", "zigbee_update_installed_version", "power_value", "cpu_usage"}
    assert wait_until(lambda: names <= set(series()), 30, 0.5), series()
    got = series()
    assert got["climate_temp"]["values"] == [21] and got["climate_temp"]["ts"] == [1_700_000_000_000]
    assert got["climate_temp"]["room"] == "lab" and got["climate_temp"]["device"] == "env1"
    assert got["zigbee_update_installed_version"]["values"] == [268]
    assert got["cpu_usage"]["core"] == "0" and got["cpu_usage"]["ts"] == [1_700_000_002_000]
    assert got["power_value"]["values"] == [12.5]
    assert requests.get(f"{ing.url}/health", timeout=5).json()["influx"] == {
        "reachable": True,
        "url": victoria.url,
        "api": "v2",
    }
