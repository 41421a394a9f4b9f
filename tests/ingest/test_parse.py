"""Pure parsing: every payload form, real devices' payloads, timestamps, topic templates, rejections."""

from __future__ import annotations

import json

import pytest

from mathnotes.ingest.errors import BodyError, Rejected
from mathnotes.ingest.httpbody import MAX_LISTED, json_body, json_items, line_body, listed
from mathnotes.ingest.lineproto import Point, encode, parse_lines
from mathnotes.ingest.parse import ParseOptions, parse_message
from mathnotes.ingest.timestamps import TimestampError, to_ns
from mathnotes.ingest.topics import TopicMismatch, TopicTemplate

NOW = 1_700_000_000_123_456_789
OPTS = ParseOptions()
T = "telemetry/lab/dev1"


def one(topic: str, payload: str | bytes, opts: ParseOptions = OPTS) -> Point:
    points = parse_message(topic, payload if isinstance(payload, bytes) else payload.encode(), NOW, opts)
    assert len(points) == 1
    return points[0]


def test_envelope_with_tags_and_timestamp() -> None:
    p = one(
        f"{T}/climate", '{"ts": 1700000000, "fields": {"temp": 21, "ok": true, "note": "hi"}, "tags": {"room": "a"}}'
    )
    assert p == Point(
        "climate",
        {"temp": 21.0, "ok": True, "note": "hi"},
        {"site": "lab", "device": "dev1", "room": "a"},
        1_700_000_000_000_000_000,
    )
    assert isinstance(p.fields["temp"], float)


def test_envelope_schema_errors_are_precise() -> None:
    with pytest.raises(Rejected) as err:
        one(f"{T}/x", '{"fields": {"t": [1, 2]}}')
    assert err.value.code == "schema" and err.value.message.startswith("fields/t:")
    with pytest.raises(Rejected) as err:
        one(f"{T}/x", '{"fields": {}, "ts": 1}')
    assert err.value.code == "schema"
    with pytest.raises(Rejected) as err:
        one(f"{T}/x", '{"fields": {"a": 1}, "extra": 1}')
    assert err.value.code == "schema"


def test_zigbee2mqtt_flat_state() -> None:
    payload = {
        "battery": 97,
        "humidity": 41.5,
        "linkquality": 120,
        "temperature": 21.3,
        "voltage": 2995,
        "state": "ON",
        "update": {"installed_version": 268, "state": "idle"},
        "last_seen": None,
    }
    p = one(f"{T}/sensor", json.dumps(payload))
    assert p.fields == {
        "battery": 97.0,
        "humidity": 41.5,
        "linkquality": 120.0,
        "temperature": 21.3,
        "voltage": 2995.0,
        "state": True,
        "update_installed_version": 268.0,
        "update_state": "idle",
    }
    assert p.ts_ns == NOW


def test_tasmota_sensor_uses_its_time() -> None:
    payload = (
        '{"Time":"2024-03-01T12:00:05","AM2301":{"Temperature":21.5,"Humidity":40.1,"DewPoint":7.4},"TempUnit":"C"}'
    )
    p = one(f"{T}/SENSOR", payload)
    assert p.ts_ns == 1_709_294_405_000_000_000
    assert p.fields == {"AM2301_Temperature": 21.5, "AM2301_Humidity": 40.1, "AM2301_DewPoint": 7.4, "TempUnit": "C"}


def test_tasmota_state_and_shelly_gen2_and_ttn() -> None:
    state = one(f"{T}/STATE", '{"Time":"2024-03-01T12:00:05","Uptime":"0T01:02:03","POWER":"OFF","Wifi":{"RSSI":76}}')
    assert state.fields["POWER"] is False and state.fields["Wifi_RSSI"] == 76.0
    shelly = one(
        f"{T}/events",
        json.dumps(
            {
                "src": "shellyplus1pm-a8032ab1",
                "dst": "shellies",
                "method": "NotifyStatus",
                "params": {"ts": 1709294405.52, "switch:0": {"id": 0, "apower": 12.5, "output": True}},
            }
        ),
    )
    assert shelly.ts_ns == 1_709_294_405_520_000_000
    assert shelly.fields["params_switch:0_apower"] == 12.5 and shelly.fields["params_switch:0_output"] is True
    ttn = one(
        f"{T}/uplink",
        json.dumps(
            {
                "end_device_ids": {"device_id": "eui-70b3", "application_ids": {"application_id": "app"}},
                "received_at": "2024-03-01T12:00:05.123456789Z",
                "uplink_message": {
                    "f_port": 1,
                    "decoded_payload": {"temperature": 19.5},
                    "rx_metadata": [{"gateway_ids": {"gateway_id": "gw1"}, "rssi": -71, "snr": 9.25}],
                },
            }
        ),
    )
    assert ttn.ts_ns == 1_709_294_405_123_456_000
    assert ttn.fields["uplink_message_decoded_payload_temperature"] == 19.5
    assert ttn.fields["uplink_message_rx_metadata_0_rssi"] == -71.0


@pytest.mark.parametrize(
    ("payload", "value"),
    [("21", 21.0), ("21.5", 21.5), ("-3e2", -300.0), ("ON", True), ("off", False), ("true", True), ("false", False)],
)
def test_bare_values_one_per_topic(payload: str, value: object) -> None:
    p = one("telemetry/home/shelly1/power", payload)
    assert (p.measurement, p.fields, p.tags) == ("power", {"value": value}, {"site": "home", "device": "shelly1"})


def test_field_types_stay_stable_and_int_fields_are_configurable() -> None:
    assert encode(one(f"{T}/t", "21")) == encode(one(f"{T}/t", "21.0"))
    assert encode(one(f"{T}/t", "21")).startswith("t,device=dev1,site=lab value=21.0 ")
    counted = one(f"{T}/t", '{"count": 5, "temp": 5}', ParseOptions(int_fields=frozenset({"count"})))
    assert counted.fields == {"count": 5, "temp": 5.0}


def test_home_assistant_statestream_quoted_states() -> None:
    assert one("telemetry/home/thermostat/state", '"heat"').fields == {"value": "heat"}
    assert one("telemetry/home/lamp/state", '"on"').fields == {"value": True}
    assert one("telemetry/home/sensor/state", '"21.5"').fields == {"value": 21.5}


def test_line_protocol_payload_gets_topic_tags() -> None:
    lines = b"cpu,host=a,device=forged usage=0.5 1700000000000000000\nmem free=3i"
    points = parse_message(f"{T}/ignored", lines, NOW, ParseOptions(payload_measurement=True))
    assert [(p.measurement, p.tags, p.fields, p.ts_ns) for p in points] == [
        ("cpu", {"host": "a", "site": "lab", "device": "dev1"}, {"usage": 0.5}, 1_700_000_000_000_000_000),
        ("mem", {"site": "lab", "device": "dev1"}, {"free": 3}, NOW),
    ]
    with pytest.raises(Rejected) as err:  # by default a payload cannot pick its measurement
        parse_message(f"{T}/ignored", lines, NOW, OPTS)
    assert err.value.code == "measurement_not_allowed" and "'cpu'" in err.value.message
    assert one(f"{T}/cpu", "cpu,core=0 usage=0.5").measurement == "cpu"  # the topic's own is fine


@pytest.mark.parametrize(
    "payload",
    [
        '{"fields": {"v": 1}, "tags": {"device": "forged", "site": "elsewhere", "room": "a"}}',
        '{"fields": {"v": 1, "device": "forged"}, "tags": {"room": "a"}}',
        '{"v": 1, "device": "forged", "site": "elsewhere", "room": "a"}',
        'm,device=forged,room=a v=1,site="elsewhere"',
    ],
)
def test_the_topic_says_who_and_where(payload: str) -> None:
    p = one(f"{T}/m", payload)
    assert p.tags["device"] == "dev1" and p.tags["site"] == "lab"
    assert "device" not in p.fields and "site" not in p.fields and p.fields["v"] == 1.0


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ('{"measurement": "vision_requests", "fields": {"v": 1}}', "measurement_not_allowed"),
        ('[{"fields": {"v": 1}}, {"measurement": "other", "fields": {"v": 1}}]', "measurement_not_allowed"),
        ('{"device": "forged"}', "no_fields"),
        ('m,room=a device="forged",site="elsewhere"', "no_fields"),  # line protocol: the same rule, once
    ],
)
def test_a_payload_cannot_pick_its_measurement_by_default(payload: str, reason: str) -> None:
    with pytest.raises(Rejected) as err:
        parse_message(f"{T}/m", payload.encode(), NOW, OPTS)
    assert err.value.code == reason
    allowed = ParseOptions(payload_measurement=True)
    if reason == "measurement_not_allowed":
        assert parse_message(f"{T}/m", payload.encode(), NOW, allowed)[-1].measurement in {"vision_requests", "other"}


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        (f"{T}/x", b"\xff\xfe\x00", "not_utf8"),
        (f"{T}/x", b"   ", "empty_payload"),
        (f"{T}/x", b'{"a": ', "invalid_json"),
        (f"{T}/x", b"{}", "no_fields"),
        (f"{T}/x", b'{"a": null}', "no_fields"),
        (f"{T}/x", b"null", "unsupported_payload"),
        (f"{T}/x", b'""', "unsupported_payload"),
        (f"{T}/x", b"[1, 2]", "schema"),
        (f"{T}/x", b"hello world", "invalid_line_protocol"),  # none of the forms: line protocol is the last tried
        (f"{T}/x", b"NaN", "invalid_value"),
        (f"{T}/x", b'{"ts": "yesterday", "fields": {"a": 1}}', "invalid_timestamp"),
        (f"{T}/x", b'{"ts": -5, "fields": {"a": 1}}', "invalid_timestamp"),
        ("telemetry/lab", b"1", "topic_mismatch"),
        ("other/lab/dev/x", b"1", "topic_mismatch"),
        (f"{T}/x", b'{"time": 1}', "no_fields"),
        (f"{T}/x", ('{"a":' * 20 + "1" + "}" * 20).encode(), "too_deep"),
    ],
)
def test_rejections_name_their_reason(topic: str, payload: bytes, reason: str) -> None:
    with pytest.raises(Rejected) as err:
        parse_message(topic, payload, NOW, OPTS)
    assert err.value.code == reason
    assert err.value.message


@pytest.mark.parametrize(
    ("value", "ns"),
    [
        (1_700_000_000, 1_700_000_000_000_000_000),
        (1_700_000_000.5, 1_700_000_000_500_000_000),
        (1_700_000_000_123, 1_700_000_000_123_000_000),
        (1_700_000_000_123_456, 1_700_000_000_123_456_000),
        (1_700_000_000_123_456_789, 1_700_000_000_123_456_789),
        ("1700000000123", 1_700_000_000_123_000_000),
        ("2023-11-14T22:13:20Z", 1_700_000_000_000_000_000),
        ("2023-11-15T06:13:20.25+08:00", 1_700_000_000_250_000_000),
        ("2023-11-14T22:13:20", 1_700_000_000_000_000_000),
    ],
)
def test_timestamps_by_magnitude_and_rfc3339(value: object, ns: int) -> None:
    assert to_ns(value) == ns


@pytest.mark.parametrize("value", [True, None, "soon", float("nan"), -1, 10**30, ""])
def test_bad_timestamps(value: object) -> None:
    with pytest.raises(TimestampError):
        to_ns(value)


def test_topic_templates() -> None:
    default = TopicTemplate("telemetry/{site}/{device}/{measurement}")
    assert default.match("telemetry/s/d/m") == ("m", {"site": "s", "device": "d"})
    assert default.match("telemetry/s/d/SENSOR/extra") == ("SENSOR_extra", {"site": "s", "device": "d"})
    z2m = TopicTemplate("zigbee2mqtt/{device}/+/{measurement}")
    assert z2m.match("zigbee2mqtt/kitchen/x/state") == ("state", {"device": "kitchen"})
    with pytest.raises(TopicMismatch):
        default.match("telemetry/s//m")
    with pytest.raises(ValueError, match="measurement"):
        TopicTemplate("telemetry/{site}")


def test_http_json_body_reports_each_bad_item() -> None:
    items = [
        {"measurement": "m", "fields": {"a": 1}},
        {"fields": {"a": 1}},
        {"measurement": "m", "fields": {"a": "x"}, "ts": "bad"},
    ]
    body = json_body(json.dumps(items).encode(), NOW, OPTS, 10)
    assert body.lines == [f"m a=1.0 {NOW}"] and body.origin == [0] and body.total == 3
    assert [(e["index"], e["reason"]) for e in body.rejected] == [(1, "schema"), (2, "invalid_timestamp")]


@pytest.mark.parametrize(
    ("text", "items"),
    [
        (' [ {"a": 1} , [2, 3] ,"x" ] \n', [{"a": 1}, [2, 3], "x"]),
        ("[]", []),
        ('{"a": [1]}', [{"a": [1]}]),
        ("5", [5]),
    ],
)
def test_json_items_reads_an_array_item_by_item(text: str, items: list[object]) -> None:
    assert list(json_items(text, 10)) == items == (json.loads(text) if text.strip()[0] == "[" else [json.loads(text)])


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("[1, 2] x", "invalid_json"),
        ("[1 2]", "invalid_json"),
        ("[1,", "invalid_json"),
        ("[" * 100_000, "invalid_json"),
        ("", "invalid_json"),
        ("[1, 2, 3, 4]", "too_many_items"),
    ],
)
def test_json_items_refuses_bad_json_and_too_many_items(text: str, code: str) -> None:
    with pytest.raises(BodyError) as err:
        list(json_items(text, 3))
    assert err.value.code == code


def test_a_long_list_of_rejections_is_capped_and_counted() -> None:
    body = json_body(json.dumps([{"fields": {}}] * 250).encode(), NOW, OPTS, 1000)
    assert body.rejected_count == 250 and len(body.rejected) == MAX_LISTED
    shown = listed(body.rejected, body.rejected_count)
    assert len(shown) == MAX_LISTED + 1 and shown[-1]["count"] == 150 and shown[-1]["index"] is None
    assert listed(body.rejected[:3], 3) == body.rejected[:3]


def test_line_bodies_keep_line_numbers_and_stop_at_the_first_bad_line() -> None:
    body = line_body(b"# comment\nm v=1 5\n\nm v=2 6\n", NOW, 10)
    assert body.lines == ["m v=1.0 5", "m v=2.0 6"] and body.origin == [2, 4]
    with pytest.raises(Rejected, match="line 3") as bad:
        line_body(b"m v=1\nm v=2\nnope\n", NOW, 10)
    assert bad.value.code == "invalid_line_protocol"
    with pytest.raises(BodyError) as err:
        line_body(b"m v=1\nm v=2\n", NOW, 1)
    assert err.value.code == "too_many_items"


def test_line_protocol_escaping_round_trip() -> None:
    p = Point("we ird,m", {'f "x"': 'say "hi"\\', "b=1": True, "n": 3}, {"t,a g": "v=1 2"}, 5)
    line = encode(p)
    assert line == 'we\\ ird\\,m,t\\,a\\ g=v\\=1\\ 2 f\\ "x"="say \\"hi\\"\\\\",b\\=1=true,n=3i 5'
    assert parse_lines(line, 0) == [p]
