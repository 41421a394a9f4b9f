"""Unit level: the flow files' function nodes, each run alone in node-red-node-test-helper.

The whole flows run in test_suite.py; here the logic that is easier to pin down one message at a time:
hysteresis on both sides, stale detection, the payload forms, and how errors read.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import pytest

from mathnotes.ingest.parse import ParseOptions, parse_message

from .unit import run_function, step

NOW_NS = 1_732_330_000_000_000_000


def _temps(*values: str, measurement: str = "temperature", device: str = "d1") -> list[dict[str, Any]]:
    return [step("alr.eval", {"topic": f"telemetry/s1/{device}/{measurement}", "payload": v}) for v in values]


def _states(alerts: list[dict[str, Any]]) -> list[tuple[str, str, float]]:
    return [(a["state"], a["level"], a["value"]) for a in alerts]


# --- alerts: thresholds with hysteresis ------------------------------------------------------------------------


def test_a_value_hovering_at_the_high_threshold_raises_one_alert_and_one_resolved() -> None:
    run = run_function("alerts", ["alr.eval"], _temps("30", "36.2", "34.6", "35.4", "34.1", "35.9", "34.5", "33.5"))
    alerts = run.payloads("alr.eval")
    assert _states(alerts) == [("firing", "high", 36.2), ("resolved", "high", 33.5)]
    assert {a["topic"] for a in run.of("alr.eval")} == {"alerts/s1/d1"}
    assert alerts[0]["threshold"] == 35 and alerts[0]["hysteresis"] == 1
    assert len(run.of("alr.eval", 1)) == 8  # every reading counts as "seen" for the stale check


def test_the_low_side_holds_its_band_too() -> None:
    # battery: low 15, hysteresis 3 -> fires below 15, resolves only above 18
    run = run_function("alerts", ["alr.eval"], _temps("20", "14", "16", "17.9", "14.5", "18.5", measurement="battery"))
    assert _states(run.payloads("alr.eval")) == [("firing", "low", 14), ("resolved", "low", 18.5)]


def test_a_jump_from_high_to_low_resolves_high_then_fires_low() -> None:
    run = run_function("alerts", ["alr.eval"], _temps("40", "-5"))
    assert _states(run.payloads("alr.eval")) == [
        ("firing", "high", 40),
        ("resolved", "high", -5),
        ("firing", "low", -5),
    ]


def test_every_accepted_payload_form_is_read() -> None:
    forms = [
        json.dumps({"ts": 1732330000000, "fields": {"value": 36}, "tags": {"sim": "true"}}),  # envelope
        json.dumps({"value": 20, "linkquality": 101}),  # flat JSON
        json.dumps({"time": "2024-11-23T03:00:00Z", "value": 37, "signal": {"rssi": -61}}),  # nested, time key
        "21",  # bare number
        "temperature,sim=true value=38 1732330000000000000",  # line protocol
        "22",
    ]
    run = run_function("alerts", ["alr.eval"], _temps(*forms))
    assert _states(run.payloads("alr.eval")) == [
        ("firing", "high", 36),
        ("resolved", "high", 20),
        ("firing", "high", 37),
        ("resolved", "high", 21),
        ("firing", "high", 38),
        ("resolved", "high", 22),
    ]


def test_unreadable_payloads_and_unchecked_measurements_are_only_seen() -> None:
    steps = [
        *_temps("{not json", "[1, 2]", "hello", ""),
        step("alr.eval", {"topic": "telemetry/s1/d1/relay", "payload": "ON"}),  # no thresholds for relay
        step("alr.eval", {"topic": "telemetry/s1/d1/counter", "payload": "999999"}),
    ]
    run = run_function("alerts", ["alr.eval"], steps)
    assert run.of("alr.eval") == [] and run.log == []
    assert len(run.of("alr.eval", 1)) == len(steps)


def test_thresholds_and_ignored_devices_come_from_the_environment() -> None:
    env = {"ALERT_THRESHOLDS": json.dumps({"co2": {"high": 1000, "hysteresis": 50}}), "ALERT_IGNORE_DEVICES": "probe"}
    steps = [
        *_temps("50"),  # temperature is no longer checked
        *_temps("1200", measurement="co2"),
        *_temps("5000", measurement="co2", device="probe"),
    ]
    run = run_function("alerts", ["alr.eval"], steps, env)
    assert [(a["measurement"], a["device"], a["threshold"]) for a in run.payloads("alr.eval")] == [("co2", "d1", 1000)]
    assert [m["payload"]["device"] for m in run.of("alr.eval", 1)] == ["d1", "d1"]  # probe: not even seen


def test_the_services_own_telemetry_is_ignored_by_default_and_bad_thresholds_say_so() -> None:
    steps = [step("alr.eval", {"topic": "telemetry/s1/ingest/pipeline", "payload": '{"fields":{"received":1}}'})]
    steps += [step("alr.eval", {"topic": "telemetry/s1/vision/requests", "payload": "99999"})]
    run = run_function("alerts", ["alr.eval"], [*steps, *_temps("36")], {"ALERT_THRESHOLDS": "[1, 2]"})
    assert [o.step for o in run.outputs] == [2, 2]  # only the device reading; the defaults still apply
    assert run.payloads("alr.eval")[0]["threshold"] == 35
    assert run.lines("error") == ["ALERT_THRESHOLDS is not a JSON object (expected an object); using the defaults"]


# --- alerts: stale devices, fan-out, webhook answers ------------------------------------------------------------


def test_a_silent_device_is_flagged_stale_once_and_resolved_when_it_speaks() -> None:
    tick = {"payload": 0}
    steps = [
        *_temps("21"),
        step("alr.stale", tick, pause_ms=20),  # silent for > ALERT_STALE_S=0 s
        step("alr.stale", tick),  # already flagged: nothing new
        *_temps("22"),
    ]
    run = run_function("alerts", ["alr.eval", "alr.stale"], steps, {"ALERT_STALE_S": "0"})
    stale = run.of("alr.stale")
    assert [(o.step, o.msg["payload"]["state"]) for o in run.outputs if o.node == "alr.stale"] == [
        (1, "firing"),
        (3, "resolved"),
    ]
    assert stale[0]["topic"] == "alerts/s1/d1" and stale[0]["payload"]["kind"] == "stale"
    assert stale[0]["payload"]["last_seen"] < stale[0]["payload"]["at"]


def test_a_device_inside_the_stale_window_is_not_flagged() -> None:
    run = run_function("alerts", ["alr.eval", "alr.stale"], [*_temps("21"), step("alr.stale", {"payload": 0})])
    assert run.of("alr.stale") == []  # default ALERT_STALE_S=60


@pytest.mark.parametrize(
    ("webhook", "token"),
    [("", ""), ("http://n8n.example:5678/webhook/math-notes/alert", ""), ("http://n8n:5678/webhook/a", "tok-1")],
)
def test_each_alert_goes_to_mqtt_to_telemetry_and_optionally_to_n8n(webhook: str, token: str) -> None:
    alert: dict[str, Any] = {"kind": "threshold", "state": "firing", "level": "high", "site": "s1", "device": "d1"}
    alert |= {"measurement": "co2", "value": 1800, "threshold": 1500, "hysteresis": 100, "at": "2024-11-23T03:00:00Z"}
    env = {"N8N_ALERT_WEBHOOK_URL": webhook} if webhook else {}
    env |= {"N8N_ALERT_WEBHOOK_TOKEN": token} if token else {}
    run = run_function("alerts", ["alr.fanout"], [step("alr.fanout", {"topic": "alerts/s1/d1", "payload": alert})], env)
    (mqtt,) = run.of("alr.fanout", 0)
    assert mqtt["topic"] == "alerts/s1/d1" and mqtt["qos"] == 1 and json.loads(mqtt["payload"]) == alert
    (point_msg,) = run.of("alr.fanout", 1)
    (point,) = parse_message(point_msg["topic"], point_msg["payload"].encode(), NOW_NS, ParseOptions())
    assert point.measurement == "alert" and point.fields == {"firing": 1.0, "value": 1800.0}
    assert point.tags == {"site": "s1", "device": "d1", "kind": "threshold", "state": "firing", "metric": "co2"}
    hooks = run.of("alr.fanout", 2)
    if webhook:
        assert [(h["url"], h["method"], h["payload"]) for h in hooks] == [(webhook, "POST", alert)]
        auth = {"authorization": f"Bearer {token}"} if token else {}
        assert hooks[0]["headers"] == {"content-type": "application/json", **auth}
    else:
        assert hooks == []


def test_a_webhook_answer_other_than_2xx_becomes_a_logged_error() -> None:
    url = "http://n8n:5678/webhook/math-notes/alert"
    steps = [
        step("alr.hookcheck", {"url": url, "statusCode": 200, "payload": "{}"}),
        step("alr.hookcheck", {"url": url, "statusCode": 404, "payload": '{"message":"not registered"}'}),
    ]
    run = run_function("alerts", ["alr.hookcheck"], steps)
    assert run.lines("error") == [f'404 from {url}: {{"message":"not registered"}}']


# --- device simulator ---------------------------------------------------------------------------------------------


def _ticks(count: int) -> list[dict[str, Any]]:
    return [step("sim.devices", {"payload": n}) for n in range(count)]


def _form(payload: str) -> str:
    if payload.startswith("{"):
        obj = json.loads(payload)
        return "envelope" if "fields" in obj else "nested" if "signal" in obj else "json"
    return "line" if " value=" in payload else "bare"


def test_the_simulator_publishes_five_measurements_in_every_payload_form_that_ingest_reads() -> None:
    env = {"SIM_SITES": "north, south", "SIM_DEVICES": "5", "SIM_INTERVAL_S": "0", "SIM_SILENT_S": "0"}
    run = run_function("device-simulator", ["sim.devices"], _ticks(3), env)
    messages = run.of("sim.devices")
    assert len(messages) == 3 * 2 * 5 * 5 and {m["qos"] for m in messages} == {1}
    forms: dict[str, set[str]] = defaultdict(set)
    counters: dict[str, list[float]] = defaultdict(list)
    for m in messages:
        _, site, device, measurement = m["topic"].split("/")
        (point,) = parse_message(m["topic"], m["payload"].encode(), NOW_NS, ParseOptions())  # the real parser
        assert point.measurement == measurement and point.tags["site"] == site and point.tags["device"] == device
        forms[_form(m["payload"])].add(f"{site}/{device}")
        if measurement == "counter":
            counters[f"{site}/{device}"].append(float(point.fields["value"]))
    assert set(forms) == {"envelope", "json", "nested", "bare", "line"}
    assert len(counters) == 10 and all(c == sorted(set(c)) for c in counters.values())  # counters only grow


def test_values_stay_in_range_and_spikes_cross_the_alert_threshold() -> None:
    base = {"SIM_SITES": "lab", "SIM_DEVICES": "4", "SIM_INTERVAL_S": "0", "SIM_SILENT_S": "0"}
    ranges = {"temperature": (-20, 60), "humidity": (0, 100), "co2": (380, 5000), "battery": (0, 100)}
    calm = run_function("device-simulator", ["sim.devices"], _ticks(20), {**base, "SIM_SPIKE_PROBABILITY": "0"})
    spiky = run_function("device-simulator", ["sim.devices"], _ticks(3), {**base, "SIM_SPIKE_PROBABILITY": "1"})

    def values(messages: list[dict[str, Any]], measurement: str) -> list[float]:
        found = [m for m in messages if m["topic"].endswith("/" + measurement)]
        points = [parse_message(m["topic"], m["payload"].encode(), NOW_NS, ParseOptions())[0] for m in found]
        return [float(p.fields["value"]) for p in points]

    for measurement, (low, high) in ranges.items():
        seen = values(calm.of("sim.devices"), measurement)
        assert len(seen) == 80 and all(low <= v <= high for v in seen), (measurement, seen)
        assert len(set(seen)) > 4, f"{measurement} does not drift"
    assert max(values(calm.of("sim.devices"), "temperature")) < 35
    assert min(values(spiky.of("sim.devices"), "temperature")) > 35


def test_the_last_device_of_the_first_site_goes_silent() -> None:
    env = {
        "SIM_SITES": "a,b",
        "SIM_DEVICES": "3",
        "SIM_INTERVAL_S": "0",
        "SIM_SILENT_S": "5",
        "SIM_SILENT_EVERY_S": "5",
    }
    run = run_function("device-simulator", ["sim.devices"], _ticks(2), env)
    devices = {"/".join(m["topic"].split("/")[1:3]) for m in run.of("sim.devices")}
    assert devices == {"a/env-01", "a/env-02", "b/env-01", "b/env-02", "b/env-03"}


# --- notes camera: failures read clearly --------------------------------------------------------------------------


def _failure(node: dict[str, str], message: str, **msg: Any) -> dict[str, Any]:
    return step("cam.fail", {"error": {"message": message, "source": node}, **msg})


def test_failures_become_one_clear_published_message() -> None:
    vision = {"id": "cam.vision", "type": "http request", "name": "POST /api/vision/analyze"}
    url = "http://vision:3001/api/vision/analyze"
    steps = [
        _failure(vision, "RequestError: connect ECONNREFUSED 10.0.0.5:3001", url=url, source={"kind": "upload"}),
        _failure({"id": "cam.watch", "type": "watch", "name": "NOTES_WATCH_DIR"}, "/srv/inbox does not exist."),
    ]
    run = run_function("notes-camera", ["cam.fail"], steps, {"SITE": "lab", "NOTES_WATCH_DIR": "/srv/inbox"})
    published = run.of("cam.fail")
    assert {m["topic"] for m in published} == {"notes/lab/errors"}
    errors = [json.loads(m["payload"])["error"] for m in published]
    assert errors == [
        f"vision API not reachable at {url}: connect ECONNREFUSED 10.0.0.5:3001",
        "cannot watch NOTES_WATCH_DIR=/srv/inbox: /srv/inbox does not exist.",
    ]
    assert run.lines("warn") == [f"notes-camera failed: {e}" for e in errors]


def test_without_a_watched_folder_the_watch_node_error_is_only_noted() -> None:
    steps = [_failure({"id": "cam.watch", "type": "watch"}, "${NOTES_WATCH_DIR} does not exist.")]
    run = run_function("notes-camera", ["cam.fail"], steps)
    assert run.outputs == [] and run.lines("warn") == []
    assert run.lines("info") == ["no watched folder (NOTES_WATCH_DIR is not set); uploads only"]
