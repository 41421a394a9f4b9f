"""All three flows in one real Node-RED with real Mosquitto, ingest → InfluxDB 1.6, and vision → the fake model."""

from __future__ import annotations

import json
import time

import requests

from mathnotes.testing.fake_openai import FakeOpenAI, Reply
from mathnotes.testing.servers import InfluxDB1, Mosquitto, wait_until

from .conftest import Webhook, png_bytes
from .harness import Suite
from .mqtt import Collector, publish

MEASUREMENTS = ("temperature", "humidity", "co2", "battery", "counter")


def _series(influxdb: InfluxDB1, q: str, db: str) -> list[dict[str, object]]:
    result = influxdb.query(q, db=db)["results"][0]
    series: list[dict[str, object]] = result.get("series", [])
    return series


def test_simulator_data_reaches_influxdb_through_ingest(suite: Suite, influxdb: InfluxDB1) -> None:
    # 2 sites x 2 devices; the four devices use the four payload forms (envelope, JSON, bare, line protocol)
    def every_device_and_measurement() -> bool:
        for m in MEASUREMENTS:
            if len(_series(influxdb, f'SELECT count("value") FROM "{m}" GROUP BY "site", "device"', suite.db)) < 4:
                return False
        return True

    assert wait_until(every_device_and_measurement, 60, 0.5), suite.red.log()
    series = _series(influxdb, 'SELECT last("value") FROM "counter" GROUP BY "site", "device"', suite.db)
    assert {(s["tags"]["site"], s["tags"]["device"]) for s in series} == {  # type: ignore[index]
        (site, dev) for site in suite.sites for dev in ("env-01", "env-02")
    }
    temps = _series(influxdb, 'SELECT min("value"), max("value") FROM "temperature"', suite.db)[0]["values"]
    low, high = temps[0][1], temps[0][2]  # type: ignore[index]
    assert -20 <= low <= high <= 90


def test_threshold_crossing_raises_one_alert_and_hysteresis_holds(
    suite: Suite, mosquitto: Mosquitto, webhook: Webhook
) -> None:
    site = suite.sites[1]
    topic = f"telemetry/{site}/probe-1/temperature"
    watch = Collector(mosquitto, f"alerts/{site}/probe-1")
    try:
        # forms vary on purpose: bare, envelope, flat JSON, line protocol; hovering at 35 (high) with hysteresis 1
        values = [
            "30",
            "36.2",
            json.dumps({"ts": int(time.time() * 1000), "fields": {"value": 34.6}}),
            json.dumps({"value": 35.4}),
            "temperature value=34.1",
            "35.9",
            "34.5",
        ]
        publish(mosquitto, [(topic, v) for v in values])
        publish(mosquitto, [(topic, "33.5")])  # below high - hysteresis: resolves
        alerts = watch.wait_for(f"alerts/{site}/probe-1", 2)
        threshold = [a for a in alerts if a["kind"] == "threshold"]
        assert [(a["state"], a["value"]) for a in threshold] == [("firing", 36.2), ("resolved", 33.5)], alerts
        assert threshold[0]["threshold"] == 35 and threshold[0]["level"] == "high"
        # then the probe goes silent: ALERT_STALE_S=2 flags it once
        stale = [a for a in watch.wait_for(f"alerts/{site}/probe-1", 3) if a["kind"] == "stale"]
        assert stale and stale[0]["state"] == "firing", watch.messages
    finally:
        watch.close()
    assert wait_until(lambda: any(b.get("device") == "probe-1" for b in webhook.bodies), 20, 0.1)
    posted = [b for b in webhook.bodies if b.get("device") == "probe-1"]
    assert posted[0]["state"] == "firing" and posted[0]["measurement"] == "temperature"


def test_alerts_are_counted_in_influxdb(suite: Suite, influxdb: InfluxDB1, mosquitto: Mosquitto) -> None:
    site = suite.sites[0]
    publish(mosquitto, [(f"telemetry/{site}/probe-2/co2", "1800")])
    q = """SELECT sum("firing") FROM "alert" WHERE "device" = 'probe-2' AND "metric" = 'co2'"""
    assert wait_until(lambda: bool(_series(influxdb, q, suite.db)), 30, 0.3)


def test_uploaded_image_comes_back_analysed_through_the_fake_model(
    suite: Suite, fake_model: FakeOpenAI, mosquitto: Mosquitto
) -> None:
    fake_model.reset()
    fake_model.default = Reply(content="# Notes\n\n$$x^2 + 1$$")
    site = suite.sites[0]
    watch = Collector(mosquitto, f"notes/{site}/analyzed")
    try:
        resp = requests.post(
            suite.red.url + "/notes/upload", files={"file": ("page.png", png_bytes(), "image/png")}, timeout=60
        )
        assert resp.status_code == 200, resp.text
        assert resp.headers["content-type"].startswith("text/markdown")
        assert "x^2 + 1" in resp.text
        note = watch.wait_for(f"notes/{site}/analyzed")[0]
        assert note["source"] == {"kind": "upload", "name": "page.png"} and "x^2 + 1" in note["markdown"]
        assert "x^2 + 1" in note["latex"]
    finally:
        watch.close()
    sent = json.dumps(fake_model.requests[-1]["body"])
    assert "data:image/" in sent and ";base64," in sent  # the photo went to the model


def test_raw_image_body_and_watched_folder(suite: Suite, fake_model: FakeOpenAI, mosquitto: Mosquitto) -> None:
    fake_model.reset()
    fake_model.default = Reply(content="Folder page: $a+b$")
    site = suite.sites[0]
    watch = Collector(mosquitto, f"notes/{site}/analyzed")
    try:
        resp = requests.post(
            suite.red.url + "/notes/image?task=solve",
            data=png_bytes("a+b"),
            headers={"content-type": "application/octet-stream"},
            timeout=60,
        )
        assert resp.status_code == 200 and "a+b" in resp.text, resp.text
        tmp = suite.watch_dir / ".page.tmp"
        tmp.write_bytes(png_bytes("a+b"))
        tmp.rename(suite.watch_dir / "page2.png")
        md = suite.watch_dir / "page2.md"
        assert wait_until(lambda: md.exists() and "a+b" in md.read_text(), 60, 0.2), suite.red.log()
        notes = watch.wait_for(f"notes/{site}/analyzed", 2)
        assert {n["source"]["kind"] for n in notes} == {"upload", "folder"}
    finally:
        watch.close()


def test_failures_reach_the_catch_node_as_clear_messages(
    suite: Suite, fake_model: FakeOpenAI, mosquitto: Mosquitto
) -> None:
    fake_model.reset()
    site = suite.sites[0]
    watch = Collector(mosquitto, f"notes/{site}/errors")
    try:
        empty = requests.post(
            suite.red.url + "/notes/image", data=b"", headers={"content-type": "image/png"}, timeout=30
        )
        assert empty.status_code == 502
        assert "no image received" in empty.json()["error"]["message"]

        fake_model.default = Reply(status=500, body={"error": {"message": "model exploded"}})
        broken = requests.post(
            suite.red.url + "/notes/upload",
            files={"file": ("p.png", png_bytes("a page the model fails on"), "image/png")},
            timeout=60,
        )
        assert broken.status_code == 502
        message = broken.json()["error"]["message"]
        assert message.startswith("vision API answered 5") and "p.png" in message, message
        errors = watch.wait_for(f"notes/{site}/errors", 2)
        assert [e["error"] for e in errors] == [empty.json()["error"]["message"], message]
    finally:
        watch.close()
        fake_model.reset()
