"""Timestamps as devices send them, to nanoseconds since the epoch. Pure code.

Numbers are epoch seconds, milliseconds, microseconds or nanoseconds, told
apart by magnitude (seconds up to the year 5138, then each unit in turn);
strings are RFC 3339 / ISO 8601 (a missing zone means UTC, as Tasmota sends
local time without one) or numbers in a string.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone

__all__ = ["TimestampError", "to_ns"]

_SECONDS_MAX = 1e11  # 5138-11-16 in seconds
_MILLIS_MAX = 1e14
_MICROS_MAX = 1e17
_NS_MAX = 2**63 - 1


class TimestampError(ValueError):
    """A time value that cannot be read."""


def _number_to_ns(value: float | int) -> int:
    if isinstance(value, float) and not math.isfinite(value):
        raise TimestampError("timestamp is not a finite number")
    if value < 0:
        raise TimestampError("timestamp before 1970")
    magnitude = abs(value)
    if magnitude < _SECONDS_MAX:
        ns = round(value * 1_000_000_000) if isinstance(value, float) else value * 1_000_000_000
    elif magnitude < _MILLIS_MAX:
        ns = round(value * 1_000_000) if isinstance(value, float) else value * 1_000_000
    elif magnitude < _MICROS_MAX:
        ns = round(value * 1_000) if isinstance(value, float) else value * 1_000
    else:
        ns = int(value)
    if ns > _NS_MAX:
        raise TimestampError("timestamp out of range")
    return int(ns)


def to_ns(value: object) -> int:
    """Nanoseconds since the epoch for a device's time value."""
    if isinstance(value, bool):
        raise TimestampError("timestamp is a boolean")
    if isinstance(value, (int, float)):
        return _number_to_ns(value)
    if not isinstance(value, str) or not value.strip():
        raise TimestampError("timestamp is neither a number nor a string")
    text = value.strip()
    try:
        return _number_to_ns(float(text) if any(c in text for c in ".eE") else int(text))
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise TimestampError(f"unreadable timestamp {text[:40]!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    delta = parsed - datetime(1970, 1, 1, tzinfo=timezone.utc)
    ns = (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000
    if not 0 <= ns <= _NS_MAX:
        raise TimestampError("timestamp out of range")
    return ns
