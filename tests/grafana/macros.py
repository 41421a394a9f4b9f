"""Grafana's InfluxQL template expansion, done the way Grafana's InfluxDB datasource does it. Pure code.

* ``$timeFilter`` → ``time >= <from>ms and time <= <to>ms``; ``$__interval`` / ``$__interval_ms`` from the
  time range, the panel's ``maxDataPoints`` (Grafana's default is about the panel width in pixels) and the
  minimum interval (panel ``interval``, else the datasource's ``timeInterval``), rounded like Grafana's
  ``rangeutil.roundInterval``;
* variables ``$name``, ``${name}``, ``[[name]]``: a multi-value or include-all variable becomes a regex
  alternation of escaped values ``(a|b)`` (one value: just the escaped value); constants and single-value
  variables are inserted as they are.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["Variable", "escape_regex", "expand", "format_interval", "interval_for", "round_interval"]

_REGEX_SPECIAL = re.compile(r"([\\/^$*+?.()|\[\]{}])")
_VAR = re.compile(r"\$(\w+)|\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]")


@dataclass(frozen=True)
class Variable:
    name: str
    values: tuple[str, ...]
    multi: bool = False  # multi-value or include-all: regex alternation

    def render(self) -> str:
        if not self.multi:
            return self.values[0] if self.values else ""
        escaped = [escape_regex(v) for v in self.values]
        return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def escape_regex(value: str) -> str:
    """Grafana's ``escapeRegex`` (lodash-style): backslash every regex metacharacter and ``/``."""
    return _REGEX_SPECIAL.sub(r"\\\1", value)


# Grafana's rangeutil.roundInterval: (upper bound of the calculated interval in ms, the rounded interval in ms)
_ROUNDING: Sequence[tuple[float, int]] = (
    (15, 10),
    (35, 20),
    (75, 50),
    (150, 100),
    (350, 200),
    (750, 500),
    (1500, 1000),
    (3500, 2000),
    (7500, 5000),
    (12500, 10000),
    (17500, 15000),
    (25000, 20000),
    (45000, 30000),
    (90000, 60000),
    (210000, 120000),
    (450000, 300000),
    (750000, 600000),
    (1050000, 900000),
    (1500000, 1200000),
    (2700000, 1800000),
    (5400000, 3600000),
    (9000000, 7200000),
    (16200000, 10800000),
    (32400000, 21600000),
    (86400000, 43200000),
    (604800000, 86400000),
    (1814400000, 604800000),
    (3628800000, 2592000000),
)


def round_interval(ms: float) -> int:
    for upper, rounded in _ROUNDING:
        if ms < upper:
            return rounded
    return 31536000000


_UNITS = (("y", 31536000000), ("w", 604800000), ("d", 86400000), ("h", 3600000), ("m", 60000), ("s", 1000))


def parse_interval(text: str) -> int:
    match = re.fullmatch(r"(\d+)(ms|s|m|h|d|w|y)", text.strip().lstrip(">"))
    if not match:
        raise ValueError(f"not an interval: {text!r}")
    factor = {"ms": 1, **dict(_UNITS)}[match.group(2)]
    return int(match.group(1)) * factor


def format_interval(ms: int) -> str:
    for unit, size in _UNITS:
        if ms >= size and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def interval_for(range_ms: int, max_data_points: int, min_interval: str | None) -> int:
    """``$__interval_ms`` for a panel: the rounded range / max points, never below the minimum interval."""
    interval = round_interval(range_ms / max(1, max_data_points))
    if min_interval:
        interval = max(interval, parse_interval(min_interval))
    return interval


def expand(query: str, variables: Mapping[str, Variable], from_ms: int, to_ms: int, interval_ms: int) -> str:
    """The query text Grafana would send to InfluxDB."""
    builtins = {
        "timeFilter": f"time >= {from_ms}ms and time <= {to_ms}ms",
        "__interval": format_interval(interval_ms),
        "__interval_ms": str(interval_ms),
    }

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(3)
        if name in builtins:
            return builtins[name]
        if name in variables:
            return variables[name].render()
        if name in ("col", "m", "measurement") or name.startswith("tag_"):
            return match.group(0)  # alias patterns, not template variables
        raise KeyError(f"unknown template variable ${name} in {query!r}")

    # longest names first so $__interval_ms is not read as $__interval + "_ms"
    return _VAR.sub(substitute, query)
