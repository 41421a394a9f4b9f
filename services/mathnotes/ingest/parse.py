"""Telemetry payloads to points. Pure code: no I/O, no clocks (the caller passes the receive time).

Accepted forms (the ingest README's *Payload forms*), tried in this order:

1. the JSON envelope ``{"ts":…, "fields":{…}, "tags":{…}}`` (an object with a
   ``fields`` object), checked against ``envelope.schema.json``; a JSON array
   of envelopes or objects gives one point each;
2. any other JSON object as devices send it (Zigbee2MQTT, Tasmota ``SENSOR``
   and ``STATE``, Shelly Gen2, TTN uplinks): nested keys flattened with ``_``
   like Telegraf's json parser, arrays by index, nulls dropped, a time key
   (``ts``, ``time``, ``timestamp``, Tasmota's ``Time``, TTN's ``received_at``; else the one
   nested key ending in one, like Shelly's ``params_ts``) used as the timestamp;
3. a bare number, ``true``/``false`` or ``ON``/``OFF`` as field ``value`` (also JSON-quoted,
   as Home Assistant's statestream sends them; other quoted strings become a string ``value``);
4. InfluxDB line protocol (the topic's tags are added, replacing a line's own tag of the same name).

Numbers become floats so ``21`` then ``21.5`` never conflict, except fields
named in ``int_fields``. ``"ON"``/``"OFF"`` strings become booleans; other
strings pass through. A payload that fits no form raises :class:`~.errors.Rejected`
with a stable ``code`` (the dead letter's reason and the metrics label) and a ``message``; one that
is none of the forms fails as line protocol, the last tried (``invalid_line_protocol``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import jsonschema

from .errors import Rejected
from .lineproto import FieldValue, LineProtocolError, Point, parse_lines, validate
from .timestamps import TimestampError, to_ns
from .topics import TopicMismatch, TopicTemplate

__all__ = ["NO_TIME", "ParseOptions", "http_item", "parse_message"]

TIME_KEYS = ("ts", "time", "timestamp", "Time", "received_at")
MAX_FIELDS = 1000
MAX_DEPTH = 16
# Pass as ``now_ns`` to tell apart the points that carry no timestamp of their own: no timestamp
# InfluxDB accepts equals it (its smallest is -2**63 + 2).
NO_TIME = -(2**63)


@dataclass(frozen=True)
class ParseOptions:
    template: TopicTemplate = field(default_factory=lambda: TopicTemplate("telemetry/{site}/{device}/{measurement}"))
    int_fields: frozenset[str] = frozenset()
    payload_measurement: bool = False  # may an MQTT payload name a measurement other than its topic's


@cache
def _validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(resources.files(__package__).joinpath("envelope.schema.json").read_text())
    return jsonschema.Draft202012Validator(schema)


def _number(name: str, value: float | int, opts: ParseOptions) -> FieldValue:
    if name in opts.int_fields and float(value).is_integer():
        return int(value)
    if isinstance(value, int) and abs(value) > 2**53:
        raise Rejected("invalid_value", f"field {name!r}: integer too large for a float")
    return float(value)


def _value(name: str, value: Any, opts: ParseOptions) -> FieldValue:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise Rejected("invalid_value", f"field {name!r} is not a finite number")
        return _number(name, value, opts)
    if isinstance(value, str):
        upper = value.strip().upper()
        return upper == "ON" if upper in ("ON", "OFF") else value
    raise Rejected("invalid_value", f"field {name!r} has an unsupported value")


def _flatten(obj: Any, prefix: str, out: dict[str, Any], depth: int) -> None:
    if depth > MAX_DEPTH:
        raise Rejected("too_deep", f"nesting deeper than {MAX_DEPTH} levels")
    items = obj.items() if isinstance(obj, dict) else enumerate(obj)
    for key, value in items:
        name = f"{prefix}_{key}" if prefix else str(key)
        if isinstance(value, (dict, list)):
            _flatten(value, name, out, depth + 1)
        elif value is not None:
            out[name] = value
        if len(out) > MAX_FIELDS:
            raise Rejected("too_many_fields", f"more than {MAX_FIELDS} fields")


def _time_key(flat: dict[str, Any]) -> str | None:
    """A top-level time key, else the one nested key ending in one (Shelly's ``params_ts``)."""
    for key in TIME_KEYS:
        if key in flat and not isinstance(flat[key], bool):
            return key
    nested = [k for k in flat if k.rsplit("_", 1)[-1] in TIME_KEYS and "_" in k and not isinstance(flat[k], bool)]
    return nested[0] if len(nested) == 1 else None


def _time_of(value: Any) -> int:
    try:
        return to_ns(value)
    except TimestampError as err:
        raise Rejected("invalid_timestamp", str(err)) from None


def _checked(point: Point) -> Point:
    try:
        validate(point)
    except LineProtocolError as err:
        raise Rejected("invalid_point", str(err)) from None
    return point


_ENVELOPE_KEYS = frozenset({"ts", "measurement", "fields", "tags"})


def _plainly_valid(obj: dict[str, Any]) -> bool:
    """True only for envelopes that surely satisfy the schema (jsonschema is slow on the hot path).

    Anything else still goes through jsonschema, so its error messages stay precise.
    """
    fields, tags, name = obj["fields"], obj.get("tags", {}), obj.get("measurement", "m")
    return (
        obj.keys() <= _ENVELOPE_KEYS
        and bool(fields)
        and type(obj.get("ts", 0)) in (int, float, str)
        and type(name) is str
        and 0 < len(name) <= 256
        and type(tags) is dict
        and all(type(k) is str and 0 < len(k) <= 256 and type(v) in (int, float, bool, str) for k, v in fields.items())
        and all(0 < len(k) <= 256 and type(v) is str and 0 < len(v) <= 256 for k, v in tags.items())
    )


def _from_object(obj: dict[str, Any], measurement: str, now_ns: int, opts: ParseOptions) -> Point:
    """The point of one JSON object (not yet validated: the caller adds the topic's tags first)."""
    if isinstance(obj.get("fields"), dict):
        errors = (
            [] if _plainly_valid(obj) else sorted(_validator().iter_errors(obj), key=lambda e: list(e.absolute_path))
        )
        if errors:
            where = "/".join(str(p) for p in errors[0].absolute_path) or "envelope"
            raise Rejected("schema", f"{where}: {errors[0].message}")
        ts = _time_of(obj["ts"]) if "ts" in obj else now_ns
        fields = {k: _value(k, v, opts) for k, v in obj["fields"].items()}
        return Point(obj.get("measurement", measurement), fields, dict(obj.get("tags", {})), ts)
    flat: dict[str, Any] = {}
    _flatten(obj, "", flat, 0)
    ts = now_ns
    time_key = _time_key(flat)
    if time_key is not None:
        ts = _time_of(flat.pop(time_key))
    fields = {k: _value(k, v, opts) for k, v in flat.items()}
    if not fields:
        raise Rejected("no_fields", "the JSON object has no values")
    return Point(measurement, fields, {}, ts)


def _bare(text: str, measurement: str, now_ns: int, opts: ParseOptions) -> Point | None:
    upper = text.upper()
    if upper in ("ON", "OFF", "TRUE", "FALSE"):
        return Point(measurement, {"value": upper in ("ON", "TRUE")}, {}, now_ns)
    try:
        number = float(text)
    except ValueError:
        return None
    if not math.isfinite(number):
        raise Rejected("invalid_value", "the value is not a finite number")
    return Point(measurement, {"value": _number("value", number, opts)}, {}, now_ns)


def _from_json(data: Any, measurement: str, now_ns: int, opts: ParseOptions) -> list[Point]:
    if isinstance(data, dict):
        return [_from_object(data, measurement, now_ns, opts)]
    if isinstance(data, list):
        if not data or not all(isinstance(item, dict) for item in data):
            raise Rejected("schema", "a JSON array must hold one or more objects")
        return [_from_object(item, measurement, now_ns, opts) for item in data]
    if isinstance(data, (bool, int, float)):
        point = _bare(json.dumps(data), measurement, now_ns, opts)
        if point is not None:
            return [point]
    if isinstance(data, str) and data.strip():  # Home Assistant statestream sends "on", "21.5", "heat"
        point = _bare(data.strip(), measurement, now_ns, opts)
        return [point or Point(measurement, {"value": data}, {}, now_ns)]
    raise Rejected("unsupported_payload", "JSON must be an object, an array of objects, a number, string or boolean")


def parse_message(topic: str, payload: bytes, now_ns: int, opts: ParseOptions) -> list[Point]:
    """Points for one MQTT message; raises :class:`Rejected`.

    The topic says who and where: its tags replace any payload tag or field of the same name
    (a device cannot write as another), and its measurement is the only one allowed unless
    ``opts.payload_measurement`` (else a payload naming another is ``measurement_not_allowed``).
    """
    try:
        measurement, tags = opts.template.match(topic)
    except TopicMismatch as err:
        raise Rejected("topic_mismatch", str(err)) from None
    points = _payload_points(payload, measurement, now_ns, opts)
    return [_topic_wins(point, measurement, tags, opts) for point in points]


def _payload_points(payload: bytes, measurement: str, now_ns: int, opts: ParseOptions) -> list[Point]:
    """The payload's points in the first form that fits, before the topic's tags are added and checked."""
    try:
        text = payload.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise Rejected("not_utf8", "the payload is not UTF-8 text") from None
    if not text:
        raise Rejected("empty_payload", "the payload is empty")
    if text[0] in '{["' or text == "null":
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as err:
            raise Rejected("invalid_json", str(err) or "nested too deeply") from None
        return _from_json(data, measurement, now_ns, opts)
    bare = _bare(text, measurement, now_ns, opts)
    if bare is not None:
        return [bare]
    try:
        return parse_lines(text, now_ns)
    except LineProtocolError as err:
        raise Rejected("invalid_line_protocol", f"not JSON, a bare value or line protocol ({err})") from None


def _topic_wins(point: Point, measurement: str, tags: dict[str, str], opts: ParseOptions) -> Point:
    """``point`` with the topic's tags, and no field named like one of them (InfluxQL would let it shadow the
    tag), checked; a payload naming another measurement is refused unless ``opts.payload_measurement``."""
    if point.measurement != measurement and not opts.payload_measurement:
        raise Rejected(
            "measurement_not_allowed",
            f"the payload names measurement {point.measurement!r}, the topic {measurement!r} "
            "(INGEST_MQTT_PAYLOAD_MEASUREMENT is off)",
        )
    point.tags.update(tags)
    for key in tags:
        point.fields.pop(key, None)
    if not point.fields:
        raise Rejected("no_fields", f"no fields besides the topic's tags {sorted(tags)}")
    return _checked(point)


def http_item(item: Any, now_ns: int, opts: ParseOptions) -> Point:
    """The point for one item of an HTTP JSON body: an envelope with a string ``measurement``."""
    if not isinstance(item, dict) or not isinstance(item.get("measurement"), str):
        raise Rejected("schema", "an envelope object with a string 'measurement' is required")
    return _checked(_from_object(item, item["measurement"], now_ns, opts))
