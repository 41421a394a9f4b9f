"""InfluxDB line protocol: the :class:`Point` model, validation, encoding and parsing.

Pure code. ``encode(point)`` escapes measurement, tag and field keys and
values as the line-protocol reference asks (newlines inside string fields are
written as the two characters ``\\n``, since a newline ends a line); ``parse_lines(text)`` reads line
protocol (as devices or Telegraf send it) back into points, raising
:class:`LineProtocolError` with the line number on the first bad line.

Backslashes, as InfluxDB (1.x and 2.x) reads them: outside string field values a backslash is
an escape only before a character that needs one (``,`` and space everywhere, ``=`` in tags and
field keys, and InfluxDB also unescapes ``\\=`` and ``\\"`` in measurements and ``\\"`` in field
keys); anywhere else it is itself, and ``\\\\`` is two backslashes. So a backslash is written as is
(``a\\b`` is stored ``a\\b``, not ``a\\\\b``), and the few texts InfluxDB cannot store as written
are refused by :func:`validate`: a trailing backslash anywhere, and in a measurement or field key
a backslash before ``,``, space, ``=`` or ``"``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache

__all__ = ["FieldValue", "LineProtocolError", "Point", "encode", "iter_lines", "parse_lines", "validate"]

FieldValue = float | int | bool | str
MAX_KEY = 256
MAX_STRING = 64 * 1024
_RESERVED = {"time", "_field", "_measurement"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ESCAPE_LIKE = re.compile(r'\\[, ="]')
_SURROGATE = re.compile("[\ud800-\udfff]")  # JSON's "\\ud800" escapes give these; UTF-8 cannot hold them


class LineProtocolError(ValueError):
    """Line protocol that cannot be read, or a point that cannot be written."""


@dataclass
class Point:
    measurement: str
    fields: dict[str, FieldValue]
    tags: dict[str, str] = field(default_factory=dict)
    ts_ns: int = 0


def _check_key(kind: str, key: str) -> None:
    problem = _key_problem(kind, key)
    if problem:
        raise LineProtocolError(problem)


@lru_cache(maxsize=8192)  # telemetry repeats its keys and tag values: check each once
def _key_problem(kind: str, key: str) -> str:
    if not key:
        return f"empty {kind}"
    if len(key) > MAX_KEY:
        return f"{kind} longer than {MAX_KEY} characters: {key[:40]!r}…"
    if _CONTROL.search(key):
        return f"{kind} has a control character: {key[:60]!r}"
    if _SURROGATE.search(key):
        return f"{kind} is not valid Unicode (a lone surrogate): {key[:60]!r}"
    if key.endswith("\\"):
        return f"{kind} ends with a backslash: {key[:60]!r}"
    if kind in ("measurement", "field key") and _ESCAPE_LIKE.search(key):
        return f"{kind} has a backslash before ',', ' ', '=' or '\"', which InfluxDB reads as an escape: {key[:60]!r}"
    return ""


def validate(point: Point) -> None:
    """Raise :class:`LineProtocolError` if InfluxDB would refuse ``point``."""
    _check_key("measurement", point.measurement)
    if point.measurement.startswith("#"):
        raise LineProtocolError("a measurement may not start with '#' (a comment line)")
    for key, value in point.tags.items():
        _check_key("tag key", key)
        _check_key("tag value", value)
        if key in _RESERVED:
            raise LineProtocolError(f"reserved tag key {key!r}")
    if not point.fields:
        raise LineProtocolError("no fields")
    for key, val in point.fields.items():
        _check_key("field key", key)
        if key in _RESERVED:
            raise LineProtocolError(f"reserved field key {key!r}")
        if isinstance(val, float) and not math.isfinite(val):
            raise LineProtocolError(f"field {key!r} is not a finite number")
        if isinstance(val, str) and len(val) > MAX_STRING:
            raise LineProtocolError(f"string field {key!r} longer than {MAX_STRING} characters")
        if isinstance(val, str) and _SURROGATE.search(val):
            raise LineProtocolError(f"string field {key!r} is not valid Unicode (a lone surrogate)")
        if isinstance(val, int) and not isinstance(val, bool) and not -(2**63) <= val < 2**63:
            raise LineProtocolError(f"integer field {key!r} out of the 64-bit range")


@lru_cache(maxsize=8192)
def _esc_measurement(text: str) -> str:
    return text.replace(",", "\\,").replace(" ", "\\ ")  # a backslash stays as it is (module docstring)


@lru_cache(maxsize=8192)
def _esc_key(text: str) -> str:
    return _esc_measurement(text).replace("=", "\\=")


def _field_value(value: FieldValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        return repr(value)
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\r", "\\r").replace("\n", "\\n") + '"'


def encode(point: Point) -> str:
    """One line of line protocol, tags sorted (InfluxDB's preferred order), nanosecond timestamp."""
    head = _esc_measurement(point.measurement)
    for key in sorted(point.tags):
        head += f",{_esc_key(key)}={_esc_key(point.tags[key])}"
    fields = ",".join(f"{_esc_key(k)}={_field_value(v)}" for k, v in point.fields.items())
    return f"{head} {fields} {point.ts_ns}"


# --- parsing -----------------------------------------------------------------------


def _split(text: str, sep: str, strings: bool = False) -> list[str]:
    """Split at each ``sep`` not right after a backslash (InfluxDB's rule). With ``strings``, a ``"``
    right after an unescaped ``=`` opens a string field value (where ``sep`` does not count and
    ``\\`` escapes the next character) until its closing ``"``."""
    out: list[str] = []
    start = i = 0
    in_string = False
    while i < len(text):
        ch = text[i]
        if in_string:
            if ch == "\\":
                i += 2
                continue
            if ch == '"':
                in_string = False
        elif strings and ch == '"' and text[i - 1 : i] == "=" and text[i - 2 : i - 1] != "\\":
            in_string = True
        elif ch == sep and text[i - 1 : i] != "\\":
            out.append(text[start:i])
            start = i + 1
        i += 1
    if in_string:
        raise LineProtocolError("unterminated string field")
    out.append(text[start:])
    return out


_UNESCAPE_TAG = re.compile(r"\\([, =])")
_UNESCAPE_NAME = re.compile(r'\\([, ="])')  # measurements and field keys


def _unescape(text: str, pattern: re.Pattern[str] = _UNESCAPE_TAG) -> str:
    return pattern.sub(r"\1", text) if "\\" in text else text


def _parse_field_value(raw: str) -> FieldValue:
    if raw.startswith('"'):
        if len(raw) < 2 or not raw.endswith('"'):
            raise LineProtocolError(f"bad string field value {raw[:40]!r}")
        return re.sub(r'\\([\\"])', r"\1", raw[1:-1])
    low = raw.lower()
    if low in {"t", "true"}:
        return True
    if low in {"f", "false"}:
        return False
    try:
        if raw.endswith(("i", "u")):
            return int(raw[:-1])
        value = float(raw)
    except ValueError:
        raise LineProtocolError(f"bad field value {raw[:40]!r}") from None
    if not math.isfinite(value):
        raise LineProtocolError(f"bad field value {raw[:40]!r}")
    return value


def _parse_line(line: str, default_ts: int) -> Point:
    head, *tail = _split(line, " ")
    rest = line[len(head) + 1 :] if tail else ""
    key_parts = _split(head, ",")
    sections = _split(rest, " ", strings=True)
    if not head or len(sections) not in (1, 2) or not sections[0]:
        raise LineProtocolError("expected 'measurement[,tags] fields [timestamp]'")
    measurement = _unescape(key_parts[0], _UNESCAPE_NAME)
    tags: dict[str, str] = {}
    for raw_tag in key_parts[1:]:
        kv = _split(raw_tag, "=")
        if len(kv) != 2:
            raise LineProtocolError(f"bad tag {raw_tag[:40]!r}")
        tags[_unescape(kv[0])] = _unescape(kv[1])
    fields: dict[str, FieldValue] = {}
    for raw_field in _split(sections[0], ",", strings=True):
        key = _split(raw_field, "=")[0]
        if len(key) == len(raw_field):
            raise LineProtocolError(f"bad field {raw_field[:40]!r}")
        fields[_unescape(key, _UNESCAPE_NAME)] = _parse_field_value(raw_field[len(key) + 1 :])
    ts = default_ts
    if len(sections) == 2:
        try:
            ts = int(sections[1])
        except ValueError:
            raise LineProtocolError(f"bad timestamp {sections[1][:30]!r}") from None
    point = Point(measurement, fields, tags, ts)
    validate(point)
    return point


def iter_lines(text: str, default_ts: int) -> Iterator[tuple[int, Point]]:
    """``(line number, point)`` for each line of ``text``, one at a time (blank and ``#`` lines skipped).

    Raises :class:`LineProtocolError` naming the line at the first bad one.
    """
    for number, line in enumerate(text.split("\n"), 1):
        line = line.strip(" \t\r")
        if not line or line.startswith("#"):
            continue
        try:
            point = _parse_line(line, default_ts)
        except LineProtocolError as err:
            raise LineProtocolError(f"line {number}: {err}") from None
        yield number, point


def parse_lines(text: str, default_ts: int) -> list[Point]:
    """Points in ``text`` (timestamps in ns; ``default_ts`` where a line has none)."""
    points = [point for _number, point in iter_lines(text, default_ts)]
    if not points:
        raise LineProtocolError("no lines")
    return points
