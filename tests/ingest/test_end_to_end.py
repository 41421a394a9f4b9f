"""Every payload form through real Mosquitto and our real service into real InfluxDB 1.6 (v1)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
import requests

from tests.support.servers import Mosquitto, wait_until

from .helpers import Collector, Ingest, StartIngest, metric, publish

READERS = pytest.mark.parametrize("reader", ["fast", "stock"])  # INGEST_MQTT_READER: both deliver the same


@READERS
def test_each_payload_form_lands_with_topic_tags(start_ingest: StartIngest, mosquitto: Mosquitto, reader: str) -> None:
    ing = start_ingest({"INGEST_MQTT_READER": reader})
    assert f"MQTT reader: {reader}" in ing.proc.log_text()
    t = f"telemetry/{ing.db}"
    publish(
        mosquitto,
        [
            (
                f"{t}/env1/climate",
                json.dumps({"ts": 1_700_000_000_000, "fields": {"temp": 21, "hum": 40.5}, "tags": {"room": "lab"}}),
            ),
            (
                f"{t}/zb1/zigbee",
                json.dumps({"temperature": 19.5, "battery": 97, "state": "ON", "update": {"state": "idle"}}),
            ),
            (f"{t}/tas1/SENSOR", '{"Time":"2023-11-14T22:13:21","AM2301":{"Temperature":22.5,"Humidity":41}}'),
            (f"{t}/shelly1/power", "12.5"),
            (f"{t}/shelly1/relay", "ON"),
            (f"{t}/lp1/cpu", "cpu,core=0 usage=0.25 1700000002000000000"),
        ],
    )
    assert ing.wait_count("climate", 1) == 1
    assert ing.influx.values('SELECT "temp","hum","room","site","device" FROM "climate"', ing.db) == [
        ["2023-11-14T22:13:20Z", 21, 40.5, "lab", ing.db, "env1"]
    ]
    ing.wait_count("zigbee", 1)
    assert ing.influx.values('SELECT "temperature","state","update_state" FROM "zigbee"', ing.db)[0][1:] == [
        19.5,
        True,
        "idle",
    ]
    ing.wait_count("SENSOR", 1)
    assert ing.influx.values('SELECT "AM2301_Temperature" FROM "SENSOR"', ing.db) == [["2023-11-14T22:13:21Z", 22.5]]
    ing.wait_count("power", 1)
    ing.wait_count("relay", 1)
    assert ing.influx.values('SELECT "value" FROM "relay"', ing.db)[0][1] is True
    ing.wait_count("cpu", 1)
    assert ing.influx.values('SELECT "usage","core","device" FROM "cpu"', ing.db) == [
        ["2023-11-14T22:13:22Z", 0.25, "0", "lp1"]
    ]


def test_integer_then_float_never_conflicts(start_ingest: StartIngest, mosquitto: Mosquitto) -> None:
    ing = start_ingest()
    t = f"telemetry/{ing.db}/dev/temp"
    publish(mosquitto, [(t, "21"), (t, json.dumps({"ts": 1_700_000_000, "fields": {"value": 21.5}})), (t, "22")])
    assert ing.wait_count("temp", 3) == 3


def test_custom_topic_template(start_ingest: StartIngest, mosquitto: Mosquitto) -> None:
    ing = start_ingest({"INGEST_TOPIC_TEMPLATE": "plant/{line}/{machine}/+/{measurement}", "INGEST_TOPICS": "plant/#"})
    publish(mosquitto, [("plant/l2/press7/sensors/vibration", "0.75")])
    ing.wait_count("vibration", 1)
    assert ing.influx.values('SELECT "value","line","machine" FROM "vibration"', ing.db)[0][1:] == [
        0.75,
        "l2",
        "press7",
    ]


@READERS
def test_each_rejection_reaches_the_dlq_and_intake_goes_on(
    start_ingest: StartIngest, mosquitto: Mosquitto, collect: Callable[[str], Collector], reader: str
) -> None:
    ing = start_ingest({"INGEST_MQTT_READER": reader})
    dlq = collect(f"telemetry-dlq/telemetry/{ing.db}/#")
    t = f"telemetry/{ing.db}/bad"
    bad = [
        (f"{t}/a", b"\xff\xfe binary"),
        (f"{t}/b", b"{not json"),
        (f"{t}/c", b"{}"),
        (f"{t}/d", b'{"fields": {"x": [1]}}'),
        (f"{t}/e", b'{"ts": "noon", "fields": {"x": 1}}'),
        (f"{t}/f", b"hello there"),
        (f"telemetry/{ing.db}/short", b"1"),
    ]
    good = [(f"telemetry/{ing.db}/ok/m", str(i).encode()) for i in range(50)]
    publish(mosquitto, bad[:4] + good[:25] + bad[4:] + good[25:])
    assert ing.wait_count("m", 50) == 50
    assert wait_until(lambda: len(dlq.messages) >= len(bad), 20)
    letters = {topic: body for topic, body in dlq.json()}
    reasons = {topic.split("/")[-1]: body["reason"] for topic, body in letters.items()}
    assert reasons == {
        "a": "not_utf8",
        "b": "invalid_json",
        "c": "no_fields",
        "d": "schema",
        "e": "invalid_timestamp",
        "f": "invalid_line_protocol",
        "short": "topic_mismatch",
    }
    binary = letters[f"telemetry-dlq/{t}/a"]
    assert binary["payload_encoding"] == "base64" and binary["topic"] == f"{t}/a" and binary["received_at"]
    assert letters[f"telemetry-dlq/{t}/b"]["payload"] == "{not json"
    metrics = requests.get(f"{ing.url}/metrics", timeout=5).text
    assert 'ingest_rejected_total{reason="invalid_json"} 1.0' in metrics
    assert "ingest_points_written_total 50.0" in metrics


def test_a_field_type_conflict_sends_only_that_line_to_the_dlq(
    start_ingest: StartIngest, mosquitto: Mosquitto, collect: Callable[[str], Collector]
) -> None:
    ing = start_ingest()
    dlq = collect(f"telemetry-dlq/telemetry/{ing.db}/#")
    topic = f"telemetry/{ing.db}/d1/state"
    publish(mosquitto, [(topic, json.dumps({"fields": {"mode": "auto"}}))])
    ing.wait_count("state", 1)
    batch = [
        (topic, json.dumps({"ts": 1_700_000_000 + i, "fields": {"mode": 1.0 if i == 5 else "manual"}}))
        for i in range(10)
    ]
    publish(mosquitto, batch)
    assert ing.wait_count("state", 10) == 10
    assert wait_until(lambda: len(dlq.messages) == 1, 20)
    ((letter_topic, letter),) = dlq.json()
    assert letter["reason"] == "influx_rejected" and "conflict" in str(letter["detail"])
    assert letter_topic == f"telemetry-dlq/{topic}" and "mode=1.0" in str(letter["payload"])


def test_health_reports_broker_influx_and_spool(start_ingest: StartIngest) -> None:
    ing = start_ingest()
    health = requests.get(f"{ing.url}/health", timeout=5)
    assert health.status_code == 200
    body = health.json()
    assert body["mqtt"]["connected"] is True and body["influx"]["reachable"] is True
    assert body["mqtt"]["reader"] == "fast"  # auto, on the paho-mqtt the fast reader was written for
    assert body["spool"] == {"batches": 0, "bytes": 0}


def test_own_counters_are_published_as_telemetry(start_ingest: StartIngest, mosquitto: Mosquitto) -> None:
    ing = start_ingest({"INGEST_STATS_INTERVAL_S": "1"})
    publish(mosquitto, [(f"telemetry/{ing.db}/d/m", "1"), (f"telemetry/{ing.db}/d/m", "oops not a value")])
    ing.wait_count("pipeline", 2, where="\"device\" = 'ingest'")
    rows = ing.influx.values('SELECT sum("received"), sum("rejected"), max("spool_batches") FROM "pipeline"', ing.db)
    assert rows[0][1] >= 2 and rows[0][2] >= 1 and rows[0][3] == 0


def test_shared_subscription_splits_one_stream_between_two_instances(
    start_ingest: StartIngest, mosquitto: Mosquitto
) -> None:
    # one MQTT 5 and one MQTT 3.1.1 member: Mosquitto shares a group across both protocols
    first = start_ingest({"INGEST_SHARED_GROUP": "pool", "INGEST_CLIENT_ID": "pool-a", "INGEST_MQTT_PROTOCOL": "5"})
    second = start_ingest(
        {"INGEST_SHARED_GROUP": "pool", "INGEST_CLIENT_ID": "pool-b", "INGEST_MQTT_PROTOCOL": "3.1.1"}, db=first.db
    )
    topic = f"telemetry/{first.db}/dev/seq"
    publish(mosquitto, [(topic, json.dumps({"ts": 1_700_000_000 + i, "fields": {"seq": i}})) for i in range(1000)])
    assert first.wait_count("seq", 1000) == 1000

    def received(ing: Ingest) -> float:
        text = requests.get(f"{ing.url}/metrics", timeout=5).text
        return float(text.split('ingest_messages_received_total{source="mqtt"} ')[1].split()[0])

    a, b = received(first), received(second)
    assert a > 0 and b > 0 and a + b == 1000


def test_devices_cannot_write_as_other_devices_or_into_other_measurements(
    start_ingest: StartIngest, mosquitto: Mosquitto, collect: Callable[[str], Collector]
) -> None:
    ing = start_ingest()
    dlq = collect(f"telemetry-dlq/telemetry/{ing.db}/#")
    t = f"telemetry/{ing.db}/dev1"
    forged = {"device": "victim", "site": "elsewhere"}
    publish(
        mosquitto,
        [
            (f"{t}/climate", json.dumps({"ts": 1_700_000_000, "fields": {"temp": 1}, "tags": {**forged, "room": "a"}})),
            (f"{t}/climate", json.dumps({"ts": 1_700_000_001, "temp": 2, **forged})),
            (f"{t}/climate", "climate,device=victim,site=elsewhere temp=3 1700000002000000000"),
            (f"{t}/climate", json.dumps({"measurement": "vision_requests", "fields": {"count": 1}})),
            (f"{t}/lp", "vision_requests,device=victim count=1"),
        ],
    )
    assert ing.wait_count("climate", 3) == 3
    assert wait_until(lambda: len(dlq.messages) == 2, 20)
    assert {body["reason"] for _topic, body in dlq.json()} == {"measurement_not_allowed"}
    rows = ing.influx.values('SELECT "temp", "device"::tag, "site"::tag FROM "climate"', ing.db)
    assert [row[1:] for row in rows] == [[1.0, "dev1", ing.db], [2.0, "dev1", ing.db], [3.0, "dev1", ing.db]]
    fields = ing.influx.values('SHOW FIELD KEYS FROM "climate"', ing.db)
    assert [row[0] for row in fields] == ["temp"]  # no "device" field to shadow the tag in InfluxQL
    assert ing.influx.values("SHOW MEASUREMENTS", ing.db) == [["climate"]]

    gateway = start_ingest({"INGEST_MQTT_PAYLOAD_MEASUREMENT": "true"})
    publish(mosquitto, [(f"telemetry/{gateway.db}/gw/lp", "cpu,core=0,device=forged usage=0.25\nmem used=512i")])
    assert gateway.wait_count("mem", 1) == 1
    assert gateway.influx.values('SELECT "usage", "core", "device" FROM "cpu"', gateway.db)[0][1:] == [0.25, "0", "gw"]


def test_retained_copies_are_not_written_again_on_resubscribe(start_ingest: StartIngest, mosquitto: Mosquitto) -> None:
    ing = start_ingest()
    t = f"telemetry/{ing.db}/dev"
    retained = [(f"{t}/state", "21.5"), (f"{t}/stamped", json.dumps({"ts": 1_700_000_000, "fields": {"v": 1}}))]
    try:
        publish(mosquitto, retained, retain=True)  # live: reaches the subscription with the retain flag clear
        assert ing.wait_count("state", 1) == 1 and ing.wait_count("stamped", 1) == 1
        for _ in range(2):  # each run resubscribes to its persistent session; the broker resends both copies
            ing.proc.restart()
            assert wait_until(lambda: metric(ing.url, "ingest_retained_skipped_total") == 1, 20)
            assert wait_until(lambda: metric(ing.url, 'ingest_messages_received_total{source="mqtt"}') == 2, 20)
            assert wait_until(lambda: metric(ing.url, "ingest_points_written_total") == 1, 20)  # the stamped one
        assert ing.count("state") == 1  # not a second point under a new receive time
        assert ing.influx.values('SELECT "v" FROM "stamped"', ing.db) == [["2023-11-14T22:13:20Z", 1.0]]
    finally:
        publish(mosquitto, [(topic, b"") for topic, _ in retained], retain=True)  # clears the broker's copies


def test_backslashes_are_stored_as_written(start_ingest: StartIngest, mosquitto: Mosquitto) -> None:
    """Read back from InfluxDB 1.6: a backslash in a tag, tag key, measurement or field key is kept as sent."""
    ing = start_ingest()
    texts = ["a\\b", "a\\\\b", "\\x", "a\\,b", "a\\ b", "a\\=b", 'a\\"b', "c:\\dir\\file"]
    items = [
        {
            "measurement": "m\\1",
            "ts": 1_700_000_000 + i,
            "fields": {"f\\1": 1.0},
            "tags": {"t": text, "k\\" + str(i): "v"},
        }
        for i, text in enumerate(texts)
    ]
    assert requests.post(f"{ing.url}/api/ingest", json=items, timeout=30).status_code == 202
    publish(mosquitto, [(f"telemetry/{ing.db}/dev\\1/m\\2", "1")])  # topic levels become tags as they are
    assert ing.wait_count("m\\\\2", 1) == 1  # InfluxQL's own escaping of the identifier

    def column(query: str, index: int) -> set[str]:
        return {row[index] for row in ing.influx.values(query, ing.db)}

    assert column('SHOW TAG VALUES FROM "m\\\\1" WITH KEY = "t"', 1) == set(texts)
    assert {f"k\\{i}" for i in range(len(texts))} <= column('SHOW TAG KEYS FROM "m\\\\1"', 0)
    assert column("SHOW MEASUREMENTS", 0) == {"m\\1", "m\\2"}
    assert column('SHOW FIELD KEYS FROM "m\\\\1"', 0) == {"f\\1"}
    assert column('SHOW TAG VALUES FROM "m\\\\2" WITH KEY = "device"', 1) == {"dev\\1"}

    # what InfluxDB would read as an escape is refused, not stored changed
    refused = [{"measurement": "m\\,x", "fields": {"v": 1}}, {"measurement": "m", "fields": {"f\\=": 1}}]
    resp = requests.post(f"{ing.url}/api/ingest", json=refused, timeout=30)
    assert resp.status_code == 400
    assert [d["reason"] for d in resp.json()["error"]["details"]] == ["invalid_point", "invalid_point"]
