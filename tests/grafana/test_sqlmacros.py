"""``sqlmacros`` gives what Grafana gives: the cases of the PostgreSQL plugin's own ``macros_test.go`` (Grafana 13's
``grafana-postgresql-datasource``), Go's formats, and the SQL data sources' variable quoting."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from .sqlmacros import SqlVariable, expand_sql, go_float, rfc3339, seconds_to_hms


def ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=timezone.utc).timestamp() * 1000)  # type: ignore[misc]


FROM, TO = ms(2018, 4, 12, 18, 0), ms(2018, 4, 12, 18, 5)
G = "floor(extract(epoch from time_column)/300)*300"
GRAFANAS_OWN = [  # (query, what the plugin's tests expect) for 2018-04-12 18:00 .. 18:05 UTC
    ("select $__time(time_column)", 'select time_column AS "time"'),
    ("select min($__time(time_column))", 'select min(time_column AS "time")'),
    ("WHERE $__timeFilter(time_column)", "WHERE time_column BETWEEN '2018-04-12T18:00:00Z' AND '2018-04-12T18:05:00Z'"),
    ("select $__timeFrom()", "select '2018-04-12T18:00:00Z'"),
    ("select $__timeTo()", "select '2018-04-12T18:05:00Z'"),
    ("SELECT $__timeGroup(time_column,'5m'), value", f'SELECT {G} AS "time", value'),
    ("SELECT $__timeGroup(time_column,'5m') as time, value", f"SELECT {G} as time, value"),
    ("SELECT $__timeGroup(time_column,'5m')", f"SELECT {G}"),
    ("SELECT $__timeGroupAlias(time_column,'5m')", f'SELECT {G} AS "time"'),
    ("$__timeGroup(time_column , '5m')", G),
    ("select $__unixEpochFilter(time)", f"select time >= {FROM // 1000} AND time <= {TO // 1000}"),
    ("SELECT $__unixEpochGroup(time_column+time_adjustment,'5m')",
     "SELECT floor((time_column+time_adjustment)/300)*300"),
]  # fmt: skip


@pytest.mark.parametrize(("query", "expected"), GRAFANAS_OWN)
def test_the_plugins_own_cases(query: str, expected: str) -> None:
    assert expand_sql(query, {}, FROM, TO, 1000) == expected


def test_go_formats() -> None:
    assert rfc3339(ms(1960, 2, 1, 7, 0) + 500) == "1960-02-01T07:00:00.5Z"  # the plugin's test of RFC3339Nano
    assert rfc3339(ms(2026, 12, 2) + 120) == "2026-12-02T00:00:00.12Z"
    assert [go_float(x) for x in (86400.0, 300.0, 0.02, 604800.0, 1e6, 1036800.0)] == [
        "86400",
        "300",
        "0.02",
        "604800",
        "1e+06",
        "1.0368e+06",
    ]
    assert [seconds_to_hms(x) for x in (60_000, 3_600_000, 86_400_000, 604_800_000, 500)] == [
        "1m",
        "1h",
        "1d",
        "7d",
        "500ms",
    ]


def test_variables_as_the_sql_data_sources_write_them() -> None:
    multi = SqlVariable("task", ("solve", "it's"), multi=True)
    single = SqlVariable("lang", ("zh's",))
    every = SqlVariable("task", ("a", "b"), multi=True, all_selected=True, all_value="'__all__'")
    sql = "SELECT 1 WHERE task IN ($task) AND lang = '$lang' AND [[lang]] = ${lang}"
    assert expand_sql(sql, {"task": multi, "lang": single}, FROM, TO, 1000) == (
        "SELECT 1 WHERE task IN ('solve','it''s') AND lang = 'zh''s' AND zh''s = zh''s"
    )
    assert expand_sql("x IN ($task)", {"task": every}, FROM, TO, 1000) == "x IN ('__all__')"
    assert expand_sql("x IN ($task)", {"task": SqlVariable("task", ("a", "b"), True, True)}, FROM, TO, 1000) == (
        "x IN ('a','b')"
    )
    assert expand_sql("$__timeGroupAlias(at, $__interval) $__interval_ms", {}, FROM, TO, 3_600_000) == (
        'floor(extract(epoch from at)/3600)*3600 AS "time" 3600000'
    )


def test_an_unknown_variable_or_macro_is_an_error() -> None:
    with pytest.raises(KeyError, match="tsak"):
        expand_sql("SELECT $tsak", {}, FROM, TO, 1000)
    with pytest.raises(ValueError, match="unknown macro"):
        expand_sql("SELECT $__timeFliter(at)", {}, FROM, TO, 1000)
