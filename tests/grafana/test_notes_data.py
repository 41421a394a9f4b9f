"""The notes dashboard's SQL, expanded as Grafana 13 expands it, on a real PostgreSQL 16 + pgvector holding notes
that the library itself saved and searched.

The server is set up as the compose stack sets it up (``docker/postgres/init/20-mathnotes.sh``); the notes library
(:class:`~mathnotes.notes.library.Library`, its writer thread, its migrations, the fake model's embeddings) saves
pages and answers searches in every mode; the dashboard's variables and panels then run as ``mathnotes_grafana``,
the read-only role the provisioned datasource logs in as. Every query must return data, and the figures must be
the ones the saved answers and the searches imply.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest

from mathnotes.notes.db import NotesConfig
from mathnotes.notes.library import Library
from mathnotes.notes.model import SearchQuery
from tests.support.fake_openai import FakeOpenAI
from tests.support.servers import wait_until

from ..deploy.pgcluster import Cluster, run_init
from .dashboards import datasource, load, panels
from .macros import interval_for
from .sqlmacros import SqlVariable, expand_sql

OWNER_PASSWORD, GRAFANA_PASSWORD = "library-owner-test", "grafana-reader-test"
DEFAULT_MAX_DATA_POINTS = 1000  # Grafana uses about the panel's width in pixels
INTEGRAL = (r"\int_0^1 x^2 dx", r"\int_{0}^{1} x^{2}\,\mathrm{d}x", r"\int_0^1 t^2\,dt")  # one formula, three ways


def answer(task: str, language: str, markdown: str, latex: list[str], verdicts: list[str]) -> dict[str, Any]:
    steps = [{"text": f"step {i}", "verdict": v} for i, v in enumerate(verdicts)]
    return {
        "task": task,
        "language": language,
        "model": "qwen3-vl-plus",
        "markdown": markdown,
        "latex": latex,
        "structured": {"problems": [{"latex": latex[0] if latex else "", "steps": steps}]},
    }


PAGES = [
    answer("solve", "en", "# Area under a parabola", [INTEGRAL[0]], ["correct", "correct", "incorrect"]),
    answer("solve", "en", "# The same integral", [INTEGRAL[1], "x^3/3"], ["correct", "unchecked"]),
    answer("check", "zh", "# 积分检查", [INTEGRAL[2]], ["incorrect", "incorrect", "correct", "correct"]),
    answer("transcribe", "zh", "# 矩阵的特征值", [r"\det(A - \lambda I) = 0"], []),
    answer("explain", "en", "# Eigenvalues of a matrix", [r"A v = \lambda v"], ["correct"]),
]
SEARCHES = [
    SearchQuery(q="integral parabola"),
    SearchQuery(formula=r"\int_0^1 x^2\,dx"),
    SearchQuery(q="eigenvalues", mode="meaning"),
    SearchQuery(q="积分", formula=INTEGRAL[0]),
]


@dataclass
class NotesStack:
    cluster: Cluster
    searched_modes: list[list[str]] = field(default_factory=list)

    def grafana(self) -> psycopg.Connection[Any]:
        """A connection as the provisioned datasource makes it: the read-only role, database mathnotes."""
        ds = datasource("postgres")
        return psycopg.connect(
            host=self.cluster.host, port=self.cluster.port, dbname=ds["jsonData"]["database"], user=ds["user"],
            password=GRAFANA_PASSWORD, connect_timeout=5, autocommit=True,
        )  # fmt: skip


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, fake_model: FakeOpenAI) -> Iterator[NotesStack]:
    work = tmp_path_factory.mktemp("notes-dashboard")
    cluster = Cluster(work / "postgres")
    try:
        cluster.start()
        env = {"POSTGRES_USER": cluster.user, "POSTGRES_DB": cluster.database}
        env |= {"MATHNOTES_DB_PASSWORD": OWNER_PASSWORD, "MATHNOTES_GRAFANA_DB_PASSWORD": GRAFANA_PASSWORD}
        done = run_init(cluster, env)
        assert done.returncode == 0, done.stdout + done.stderr
        config = NotesConfig(
            notes_dir=str(work / "notes"),
            database_url=f"postgresql://mathnotes:{OWNER_PASSWORD}@{cluster.host}:{cluster.port}/mathnotes",
            embedding_base_url=fake_model.base_url,
            embedding_api_key="sk-test",
        )
        library = Library(config)
        library.start()
        try:
            stack = NotesStack(cluster)
            ids = [library.save(page, "key:0123456789abcdef", source="api") for page in PAGES]
            assert all(ids)
            with stack.grafana() as conn:
                arrived = lambda: conn.execute("SELECT count(*) FROM notes").fetchone() == (len(PAGES),)  # noqa: E731
                assert wait_until(arrived, 60), "the writer thread saved every page"
            for query in SEARCHES:
                stack.searched_modes.append(library.search(query, "key:0123456789abcdef").modes)
            yield stack
        finally:
            library.close()
    finally:
        cluster.stop()


def _variables(
    dashboard: dict[str, Any], conn: psycopg.Connection[Any], span: tuple[int, int]
) -> dict[str, SqlVariable]:
    """Each query variable's values (its own query, run as Grafana runs it), *All* selected as the dashboard has it."""
    out: dict[str, SqlVariable] = {}
    for var in dashboard["templating"]["list"]:
        rows = conn.execute(expand_sql(var["query"], out, *span, 1000)).fetchall()
        values = tuple(str(r[0]) for r in rows)
        all_selected = var["current"]["value"] == ["$__all"]
        out[var["name"]] = SqlVariable(var["name"], values, True, all_selected, var.get("allValue"))
    return out


def _queries(dashboard: dict[str, Any], variables: dict[str, SqlVariable], span: tuple[int, int]) -> dict[str, str]:
    """Every panel target's SQL as Grafana would send it: ``"<panel title> <refId>" -> SQL``."""
    min_interval = datasource("postgres")["jsonData"].get("timeInterval")
    out = {}
    for panel in panels(dashboard):
        interval = interval_for(
            span[1] - span[0],
            panel.get("maxDataPoints", DEFAULT_MAX_DATA_POINTS),
            panel.get("interval") or min_interval,
        )
        for target in panel.get("targets", []):
            out[f"{panel['title']} {target['refId']}"] = expand_sql(target["rawSql"], variables, *span, interval)
    return out


def _span(dashboard: dict[str, Any]) -> tuple[int, int]:
    match = re.fullmatch(r"now-(\d+)d", dashboard["time"]["from"])
    assert match, dashboard["time"]
    to_ms = int(time.time() * 1000)
    return to_ms - int(match.group(1)) * 86_400_000, to_ms


def _rows(conn: psycopg.Connection[Any], sql: str) -> list[dict[str, Any]]:
    cur = conn.execute(sql)
    names = [c.name for c in cur.description or []]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def test_every_variable_and_panel_query_returns_data_as_grafanas_role(stack: NotesStack) -> None:
    dashboard = load("notes")
    span = _span(dashboard)
    problems = {}
    with stack.grafana() as conn:
        variables = _variables(dashboard, conn, span)
        assert set(variables["task"].values) == {p["task"] for p in PAGES}
        assert set(variables["language"].values) == {"en", "zh"}
        for label, sql in _queries(dashboard, variables, span).items():
            try:
                rows = _rows(conn, sql)
            except psycopg.Error as err:
                problems[label] = f"{sql}\n  -> {err}"
                continue
            if not any(v is not None for row in rows for k, v in row.items() if k != "time"):
                problems[label] = f"{sql}\n  -> No data"
    assert not problems, "\n".join(f"{k}: {v}" for k, v in problems.items())


def _steps(verdicts: list[str]) -> tuple[int, int]:
    return sum(v != "unchecked" for v in verdicts), sum(v == "incorrect" for v in verdicts)


def test_the_figures_are_what_the_library_saved_and_searched(stack: NotesStack) -> None:
    dashboard = load("notes")
    span = _span(dashboard)
    with stack.grafana() as conn:
        queries = _queries(dashboard, _variables(dashboard, conn, span), span)

        def rows(title: str) -> list[dict[str, Any]]:
            return _rows(conn, queries[f"{title} A"])

        steps = [_steps([s["verdict"] for s in p["structured"]["problems"][0]["steps"]]) for p in PAGES]
        assert rows("Notes") == [{"notes": len(PAGES)}]
        assert rows("Steps checked") == [{"checked steps": sum(c for c, _ in steps)}]
        assert rows("Checked steps marked wrong")[0]["marked wrong"] == pytest.approx(
            sum(w for _, w in steps) / sum(c for c, _ in steps)
        )
        per_series = Counter[str]()
        for row in rows("Notes per day by task and language"):
            per_series[row["metric"]] += row["notes"]
        assert per_series == Counter(f"{p['task']} · {p['language']}" for p in PAGES)
        top = rows("Most frequent formulas")[0]
        assert (top["times"], top["notes"]) == (3, 3) and top["as written"] in INTEGRAL, "three spellings, one formula"
        logged = Counter(mode for modes in stack.searched_modes for mode in modes)
        assert {"words", "formula", "meaning"} <= set(logged)
        latency = {row["mode"]: row for row in rows("Search latency by mode")}
        assert {mode: row["searches"] for mode, row in latency.items()} == dict(logged)
        assert all(0 < row["p50 (ms)"] <= row["p95 (ms)"] for row in latency.values())
        assert rows("Searches") == [{"searches": len(SEARCHES)}]


def test_a_selection_narrows_and_an_empty_range_shows_no_data_without_errors(stack: NotesStack) -> None:
    """The checks above can fail: a task no note has leaves the panels empty; a range before any note too."""
    dashboard = load("notes")
    span = _span(dashboard)
    with stack.grafana() as conn:
        variables = _variables(dashboard, conn, span)
        one = {**variables, "task": SqlVariable("task", ("solve",), True)}
        assert _rows(conn, _queries(dashboard, one, span)["Notes A"]) == [{"notes": 2}]
        odd = {**variables, "task": SqlVariable("task", ("it's none",), True)}  # a quote, escaped as Grafana does
        assert _rows(conn, _queries(dashboard, odd, span)["Notes A"]) == [{"notes": 0}]
        long_ago = (span[0] - 400 * 86_400_000, span[0] - 365 * 86_400_000)
        empty = _variables(dashboard, conn, long_ago)
        assert all(not v.values for v in empty.values()), "no notes then: the variables have no values"
        for label, sql in _queries(dashboard, empty, long_ago).items():
            rows = _rows(conn, sql)  # runs: All with no values is still valid SQL
            assert all(v in (None, 0) for row in rows for k, v in row.items() if k != "time"), (label, rows)
