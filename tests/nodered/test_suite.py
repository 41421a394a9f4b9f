"""All three flows in one real Node-RED with real Mosquitto, ingest → InfluxDB 1.6, and vision → the fake model."""

from __future__ import annotations

import json
import time
from typing import Any

import requests

from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.servers import InfluxDB1, Mosquitto, wait_until

from .harness import SIM_DEVICES, Suite
from .mqtt import Collector, publish
from .support import WEBHOOK_TOKEN, Webhook, png_bytes

MEASUREMENTS = ("temperature", "humidity", "co2", "battery", "counter")


def _series(influxdb: InfluxDB1, q: str, db: str) -> list[dict[str, Any]]:
    series: list[dict[str, Any]] = influxdb.query(q, db=db)["results"][0].get("series", [])
    return series


def _devices(influxdb: InfluxDB1, q: str, db: str) -> set[tuple[str, str]]:
    return {(s["tags"]["site"], s["tags"]["device"]) for s in _series(influxdb, q, db)}


def test_simulator_data_reaches_influxdb_through_ingest_in_every_payload_form(
    suite: Suite, influxdb: InfluxDB1
) -> None:
    a, b = suite.sites
    everyone = {(site, f"env-0{i}") for site in suite.sites for i in range(1, SIM_DEVICES + 1)}

    def every_device_and_measurement() -> bool:
        q = 'SELECT count("value") FROM "{}" GROUP BY "site", "device"'
        return all(_devices(influxdb, q.format(m), suite.db) == everyone for m in MEASUREMENTS)

    assert wait_until(every_device_and_measurement, 60, 0.5), suite.red.log()
    # the devices take the payload forms in turn (README-device-simulator.md); each leaves its own trace
    by_form = {
        "envelope and line protocol (tag sim)": ("""WHERE "sim" = 'true'""", "value"),
        "Zigbee2MQTT-like flat JSON": ("", "linkquality"),
        "nested JSON with a time key": ("", "signal_rssi"),
    }
    found = {
        form: _devices(
            influxdb, f'SELECT count("{field}") FROM "temperature" {where} GROUP BY "site", "device"', suite.db
        )
        for form, (where, field) in by_form.items()
    }
    assert found == {
        "envelope and line protocol (tag sim)": {(a, "env-01"), (b, "env-01"), (b, "env-03")},
        "Zigbee2MQTT-like flat JSON": {(a, "env-02")},
        "nested JSON with a time key": {(b, "env-02")},
    }  # and (a, env-03) sends bare numbers: only "value", no tag
    temps = _series(influxdb, 'SELECT min("value"), max("value") FROM "temperature"', suite.db)[0]["values"][0]
    assert -20 <= temps[1] <= temps[2] <= 90


def test_the_silent_simulated_device_is_flagged_stale_then_resolved(suite: Suite, mosquitto: Mosquitto) -> None:
    topic = f"alerts/{suite.sites[0]}/env-0{SIM_DEVICES}"  # the last device of the first site goes quiet
    watch = Collector(mosquitto, topic)
    try:

        def from_first_firing() -> list[str]:
            states = [a["state"] for a in watch.payloads(topic) if a["kind"] == "stale"]
            return states[states.index("firing") :] if "firing" in states else []

        wait_until(lambda: len(from_first_firing()) >= 2, 40, 0.2)  # SIM_SILENT_S=4 in every 8 s
        states = from_first_firing()
    finally:
        watch.close()
    assert states[:2] == ["firing", "resolved"], states  # once per silence, and back when it speaks again


def test_threshold_crossing_raises_one_alert_and_hysteresis_holds(
    suite: Suite, mosquitto: Mosquitto, webhook: Webhook
) -> None:
    site = suite.sites[1]
    topic, alerts = f"telemetry/{site}/probe-1/temperature", f"alerts/{site}/probe-1"
    watch = Collector(mosquitto, alerts)
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
            "33.5",  # below high - hysteresis: resolves
        ]
        publish(mosquitto, [(topic, v) for v in values])
        # then the probe is silent: ALERT_STALE_S=2 flags it; alerts leave in order, so by the time the stale
        # alert is here every threshold alert the readings caused is here too
        wait_until(lambda: any(a["kind"] == "stale" for a in watch.payloads(alerts)), 30, 0.1)
        received = watch.payloads(alerts)
    finally:
        watch.close()
    threshold = [a for a in received if a["kind"] == "threshold"]
    assert [(a["state"], a["value"]) for a in threshold] == [("firing", 36.2), ("resolved", 33.5)], received
    assert threshold[0]["threshold"] == 35 and threshold[0]["level"] == "high"
    assert [a["state"] for a in received if a["kind"] == "stale"] == ["firing"], received

    # the same alerts reached the n8n webhook (each its own POST, so they may arrive in any order)
    def posted() -> list[str]:
        return sorted(json.dumps(b, sort_keys=True) for b in webhook.received() if b.get("device") == "probe-1")

    wait_until(lambda: len(posted()) >= len(received), 20, 0.1)
    assert posted() == sorted(json.dumps(a, sort_keys=True) for a in received)
    # each POST carried the n8n webhook's token (N8N_ALERT_WEBHOOK_TOKEN), as n8n's header auth wants it
    assert set(webhook.received_authorizations()) == {f"Bearer {WEBHOOK_TOKEN}"}


def test_alerts_are_counted_in_influxdb(suite: Suite, influxdb: InfluxDB1, mosquitto: Mosquitto) -> None:
    site = suite.sites[0]
    publish(mosquitto, [(f"telemetry/{site}/probe-2/co2", "1800")])
    q = """SELECT sum("firing") FROM "alert" WHERE "device" = 'probe-2' AND "metric" = 'co2' AND "state" = 'firing'"""
    assert wait_until(lambda: bool(_series(influxdb, q, suite.db)), 30, 0.3)
    assert _series(influxdb, q, suite.db)[0]["values"][0][1] == 1


def test_uploaded_image_comes_back_analysed_through_the_fake_model(
    suite: Suite, fake_model: FakeOpenAI, mosquitto: Mosquitto
) -> None:
    fake_model.reset()
    fake_model.default = Reply(content="# Notes\n\n$$x^2 + 1$$")
    site = suite.sites[0]
    watch = Collector(mosquitto, f"notes/{site}/analyzed")
    try:
        resp = requests.post(
            suite.red.url + "/notes/upload",
            files={"file": ("page.png", png_bytes(), "image/png")},
            data={"task": "solve"},
            timeout=60,
        )
        assert resp.status_code == 200, resp.text
        assert resp.headers["content-type"].startswith("text/markdown")
        assert "x^2 + 1" in resp.text
        note = watch.wait_for(f"notes/{site}/analyzed")[0]
        assert note["source"] == {"kind": "upload", "name": "page.png"} and "x^2 + 1" in note["markdown"]
        assert note["task"] == "solve" and "x^2 + 1" in note["latex"] and note["site"] == site
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
        assert message.startswith("vision API answered 502 for p.png: upstream_unavailable"), message
        errors = watch.wait_for(f"notes/{site}/errors", 2)
        assert [e["error"] for e in errors] == [empty.json()["error"]["message"], message]
    finally:
        watch.close()
        fake_model.reset()
