"""What Grafana sends to PostgreSQL for a panel's raw SQL, expanded the way Grafana 13 expands it. Pure code.

Three steps, in Grafana's order:

1. the browser (``SqlDatasource.interpolateVariable`` through the template service): ``$__interval`` /
   ``$__interval_ms`` of the panel (as ``rangeutil.secondsToHms`` writes it), and variables ``$name``,
   ``${name}``, ``[[name]]``: a multi-value or include-all variable becomes its values as quoted literals
   joined by commas (``'a','b'``, quotes doubled), a single-value one its value with quotes doubled and no
   quotes around it; *All* with a custom ``allValue`` becomes that text as it is;
2. the data source's global substitutions (``sqleng.Interpolate``): ``$__interval_ms``, ``$__interval``,
   ``$__unixEpochFrom()``, ``$__unixEpochTo()``;
3. the PostgreSQL macro engine (``grafana-postgresql-datasource``, ``macros.go``): ``$__timeFilter(col)`` →
   ``col BETWEEN '<from>' AND '<to>'`` (RFC 3339, UTC, Go's trailing-zero-free fraction),
   ``$__timeGroup(col, 1d)`` → ``floor(extract(epoch from col)/86400)*86400`` (``$__timeGroupAlias`` adds
   ``AS "time"``; a ``$__timeGroup(...)`` followed by a comma gets the alias too, as in Grafana),
   ``$__timeFrom()``, ``$__timeTo()``, ``$__time(col)``, ``$__timeEpoch(col)``, ``$__unixEpochFilter(col)``,
   ``$__unixEpochGroup(col, 1h)`` and its alias; an unknown ``$__name(...)`` is an error, as in Grafana.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal

from .macros import parse_interval

__all__ = ["SqlVariable", "expand_sql", "go_float", "macro_names", "rfc3339", "seconds_to_hms"]

_VAR = re.compile(r"\$(\w+)|\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]")
_MACRO = re.compile(r"\$([_a-zA-Z0-9]+)\(([^\)]*)\)")
ALL = "$__all"


@dataclass(frozen=True)
class SqlVariable:
    """A dashboard variable as selected: ``values`` (every option's value when *All* is selected)."""

    name: str
    values: tuple[str, ...]
    multi: bool = False  # multi-value or include-all
    all_selected: bool = False
    all_value: str | None = None  # the variable's custom allValue

    def render(self) -> str:
        if self.all_selected and self.all_value:
            return self.all_value  # Grafana leaves a custom all value unformatted
        if self.multi:
            return ",".join("'" + v.replace("'", "''") + "'" for v in self.values)
        return self.values[0].replace("'", "''") if self.values else ""


def seconds_to_hms(ms: int) -> str:
    """Grafana's ``rangeutil.secondsToHms`` (what ``$__interval`` reads in the browser): the largest unit, truncated."""
    seconds = ms / 1000
    parts = (
        ("y", seconds // 31536000),
        ("d", seconds % 31536000 // 86400),
        ("h", seconds % 86400 // 3600),
        ("m", seconds % 3600 // 60),
        ("s", seconds % 60 // 1),
        ("ms", ms // 1),
    )
    for unit, count in parts:
        if count:
            return f"{int(count)}{unit}"
    return "less than a millisecond"


def go_float(value: float) -> str:
    """Go's ``fmt`` ``%v`` of a float64 (``%g``, shortest digits): an exponent from 1e+06 on and below 1e-04."""
    if value == 0:
        return "0"
    digits = Decimal(repr(float(value)))  # the shortest digits that read back as the same float, like Go's
    exponent = digits.adjusted()
    if -4 <= exponent < 6:
        return format(digits.normalize(), "f")
    mantissa = format(digits.scaleb(-exponent).normalize(), "f")
    return f"{mantissa}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"


def rfc3339(ms: int) -> str:
    """Go's ``time.RFC3339Nano`` of a UTC instant given in milliseconds (no trailing zeros in the fraction)."""
    stamp = datetime.fromtimestamp(ms // 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f"{ms % 1000:03d}".rstrip("0")
    return f"{stamp}.{fraction}Z" if fraction else f"{stamp}Z"


def _interval_s(text: str) -> float:
    return parse_interval(text.strip().strip("'")) / 1000


def _macro(name: str, args: list[str], from_ms: int, to_ms: int) -> str:
    if name in ("__timeFrom", "__timeTo"):
        return f"'{rfc3339(from_ms if name == '__timeFrom' else to_ms)}'"
    if not args or not args[0]:
        raise ValueError(f"missing time column argument for macro {name}")
    col = args[0]
    if name == "__time":
        return f'{col} AS "time"'
    if name == "__timeEpoch":
        return f'extract(epoch from {col}) as "time"'
    if name == "__timeFilter":
        return f"{col} BETWEEN '{rfc3339(from_ms)}' AND '{rfc3339(to_ms)}'"
    if name == "__unixEpochFilter":
        return f"{col} >= {from_ms // 1000} AND {col} <= {to_ms // 1000}"
    if name in ("__timeGroup", "__timeGroupAlias", "__unixEpochGroup", "__unixEpochGroupAlias"):
        if len(args) < 2:
            raise ValueError(f"macro {name} needs time column and interval and optional fill value")
        if len(args) == 3:
            raise ValueError("fill modes are not used by our dashboards")
        s = go_float(_interval_s(args[1]))
        group = f"floor(extract(epoch from {col})/{s})*{s}" if "unix" not in name else f"floor(({col})/{s})*{s}"
        return group + (' AS "time"' if name.endswith("Alias") else "")
    raise ValueError(f"unknown macro {name!r}")


def macro_names(sql: str) -> list[str]:
    """The ``$__name(...)`` macros a query calls."""
    return [m.group(1) for m in _MACRO.finditer(sql)]


def expand_sql(sql: str, variables: Mapping[str, SqlVariable], from_ms: int, to_ms: int, interval_ms: int) -> str:
    """The SQL Grafana would run for a panel (or a variable's query) with these selections and this range."""
    interval = seconds_to_hms(interval_ms)

    def variable(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(3)
        if name == "__interval":
            return interval
        if name == "__interval_ms":
            return str(interval_ms)
        if name.startswith("__"):
            return match.group(0)  # a macro or a backend substitution, handled below
        if name not in variables:
            raise KeyError(f"unknown template variable ${name} in {sql!r}")
        return variables[name].render()

    text = _VAR.sub(variable, sql)
    text = text.replace("$__unixEpochFrom()", str(from_ms // 1000)).replace("$__unixEpochTo()", str(to_ms // 1000))

    def macro(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "__timeGroup" and text[match.end() : match.end() + 1] == ",":
            name = "__timeGroupAlias"  # Grafana's pre-5.3 compatibility
        return _macro(name, [a.strip(" ") for a in match.group(2).split(",")], from_ms, to_ms)

    return _MACRO.sub(macro, text)
