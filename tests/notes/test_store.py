"""The store on real SQLite and PostgreSQL + pgvector: every test runs on both (``notes_backend``)."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from mathnotes.notes import store as store_module
from mathnotes.notes.db import DbTimeout, NotesConfig, open_database
from mathnotes.notes.exchange import NewNote
from mathnotes.notes.migrate import migrate
from mathnotes.notes.model import Note
from mathnotes.notes.store import Filters, Store
from mathnotes.notes.store_postgres import PostgresStore
from mathnotes.notes.store_sqlite import SqliteStore

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc)
ANY = Filters()


def answer(markdown: str, latex: tuple[str, ...] = (), task: str = "solve", **extra: Any) -> dict[str, Any]:
    return {"task": task, "language": "en", "model": "qwen-vl", "markdown": markdown, "latex": list(latex), **extra}


def note(n: int, markdown: str, latex: tuple[str, ...] = (), owner: str = "key:a", **kw: Any) -> Note:
    created = T0 + timedelta(minutes=n)
    fields: dict[str, Any] = {"title": f"note {n}", "tags": (), "task": "solve", **kw}
    return Note(
        f"{n:032x}", owner, fields["title"], tuple(fields["tags"]), "api", fields["task"], "en", "qwen-vl",
        answer(markdown, latex, fields["task"]), created, created,
    )  # fmt: skip


@pytest.fixture
def store(notes_backend: NotesConfig) -> Iterator[Store]:
    db = open_database(notes_backend)
    migrate(db, wait_s=10)
    yield PostgresStore(db) if db.kind == "postgres" else SqliteStore(db, notes_backend.embedding_dimensions)
    db.close()


def unit(*spikes: tuple[int, float]) -> list[float]:
    """A 1024-d unit vector with the given (position, weight) spikes."""
    v = [0.0] * 1024
    for at, weight in spikes:
        v[at] = weight
    norm = math.sqrt(sum(x * x for x in v))
    return [x / norm for x in v]


def test_a_note_comes_back_as_it_was_saved_and_a_second_save_is_skipped(store: Store) -> None:
    n = note(1, "# Eigen\n$\\lambda$ values", ("\\det(A-\\lambda I)=0",), tags=("linear", "代数"))
    n.answer["structured"] = {"problems": [{"steps": [{"verdict": "correct"}, {"verdict": "incorrect"}]}]}
    assert store.insert([NewNote(n, b"\xff\xd8\xff-jpeg")]) == [n.id]
    assert store.insert([NewNote(n)]) == []  # the same id again: skipped, not an error
    got = store.get(n.id, "key:a")
    assert got is not None
    assert (got.title, got.tags, got.answer, got.created_at, got.has_image) == (
        "note 1", ("linear", "代数"), n.answer, T0 + timedelta(minutes=1), True,
    )  # fmt: skip
    assert store.image(n.id, "key:a") == (b"\xff\xd8\xff-jpeg", "image/jpeg")
    with store.db.connection() as conn:
        counts = conn.execute("SELECT checked_steps, wrong_steps FROM notes").fetchone()
    assert tuple(counts) == (2, 1)


def test_text_a_database_cannot_hold_is_cleaned_not_refused(store: Store) -> None:
    n = note(1, "nul \x00 here, lone \ud800 surrogate")
    n.answer["odd"] = ["\x00", {"k\x00": "v"}]
    assert store.insert([NewNote(n)]) == [n.id]
    got = store.get(n.id, "key:a")
    assert got is not None and got.answer["markdown"] == "nul  here, lone ? surrogate"
    assert got.answer["odd"] == ["", {"k": "v"}]


def test_formula_search_ranks_the_same_formula_first_then_similar_ones(store: Store) -> None:
    store.insert(
        [
            NewNote(note(1, "exact", ("\\int_{0}^{1} x^{2}\\,\\mathrm{d}x",))),
            NewNote(note(2, "close", ("\\int_0^1 x^3 dx",))),
            NewNote(note(3, "far", ("\\det(A-\\lambda I)=0",))),
            NewNote(note(4, "exact, other owner", ("\\int_0^1 x^2 dx",), owner="key:b")),
        ]
    )
    found = store.formula("key:a", "\\int_0^1 x^2 dx", ANY, 10)
    assert found == [f"{1:032x}", f"{2:032x}"]
    assert store.formula("key:b", "\\int_0^1 x^2 dx", ANY, 10) == [f"{4:032x}"]


def test_word_search_finds_english_and_chinese_by_owner(store: Store) -> None:
    store.insert(
        [
            NewNote(note(1, "Integration by parts: integration of a product, integration again")),
            NewNote(note(2, "We use integration once here, with many other words about limits and series")),
            NewNote(note(3, "分部积分法的例题")),
            NewNote(note(4, "integration for someone else", owner="key:b")),
        ]
    )
    assert store.words("key:a", ["integration"], ANY, 10) == [f"{1:032x}", f"{2:032x}"]
    assert store.words("key:a", ["分部", "积分"], ANY, 10) == [f"{3:032x}"]
    assert store.words("key:a", ["nothing"], ANY, 10) == []
    assert store.words("key:a", ["limits", "integration"], ANY, 10) == [f"{2:032x}", f"{1:032x}"]  # both, then one
    assert store.words("key:b", ["integration"], ANY, 10) == [f"{4:032x}"]


def test_filters_apply_to_every_mode_and_the_listing(store: Store) -> None:
    store.insert(
        [
            NewNote(note(1, "matrix one", ("A v = 2 v",), tags=("exam",), task="check")),
            NewNote(note(2, "matrix two", ("A v = 2 v",), tags=("homework",))),
            NewNote(note(3, "matrix three", ("A v = 2 v",), tags=("exam",))),
        ]
    )
    exam = Filters(tag="exam")
    assert set(store.words("key:a", ["matrix"], exam, 10)) == {f"{1:032x}", f"{3:032x}"}
    assert store.formula("key:a", "Av=2v", Filters(task="check"), 10) == [f"{1:032x}"]
    window = Filters(since=T0 + timedelta(minutes=2), until=T0 + timedelta(minutes=3))
    assert store.newest("key:a", window, 10, 0) == [f"{2:032x}"]
    assert store.newest("key:a", ANY, 2, 1) == [f"{2:032x}", f"{1:032x}"]


def test_meaning_search_orders_by_cosine_and_keeps_to_the_owner(store: Store) -> None:
    notes = [note(i, f"n{i}") for i in range(1, 5)] + [note(9, "theirs", owner="key:b")]
    store.insert([NewNote(n) for n in notes])
    store.set_embeddings(
        {
            f"{1:032x}": unit((0, 1.0)),
            f"{2:032x}": unit((0, 1.0), (1, 0.5)),
            f"{3:032x}": unit((1, 1.0)),
            f"{9:032x}": unit((0, 1.0)),
        }
    )  # note 4 has no vector yet
    assert store.meaning("key:a", unit((0, 1.0), (1, 0.1)), ANY, 10) == [f"{i:032x}" for i in (1, 2, 3)]
    assert store.missing_embeddings(10) == [(f"{4:032x}", "note 4\nn4")]


def test_a_title_change_is_searchable_and_tags_change(store: Store) -> None:
    store.insert([NewNote(note(1, "body words"))])
    later = T0 + timedelta(days=1)
    changed = store.update(f"{1:032x}", "key:a", "Green theorem", ("calc",), later)
    assert changed is not None and (changed.title, changed.tags, changed.updated_at) == (
        "Green theorem",
        ("calc",),
        later,
    )
    assert store.words("key:a", ["green"], ANY, 10) == [f"{1:032x}"]
    assert store.words("key:a", ["note"], ANY, 10) == []  # the old title's words are gone
    assert store.words("key:a", ["body"], ANY, 10) == [f"{1:032x}"]


def test_delete_takes_the_formulas_with_it(store: Store) -> None:
    store.insert([NewNote(note(1, "x", ("x^2+1",)))])
    assert store.delete(f"{1:032x}", "key:a")
    assert not store.delete(f"{1:032x}", "key:a")
    with store.db.connection() as conn:
        left = [
            conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("note_formulas", "note_formula_grams")
        ]
    assert left == [0, 0]
    assert store.formula("key:a", "x^2+1", ANY, 10) == []


def test_another_owner_reaches_nothing(store: Store) -> None:
    n = note(1, "private integration", ("x^2",))
    store.insert([NewNote(n, b"\xff\xd8\xffimg")])
    store.set_embeddings({n.id: unit((0, 1.0))})
    other = "key:b"
    assert store.get(n.id, other) is None and store.image(n.id, other) is None
    assert store.update(n.id, other, "mine now", ("x",), T0) is None
    assert not store.delete(n.id, other)
    assert store.words(other, ["private"], ANY, 10) == [] and store.formula(other, "x^2", ANY, 10) == []
    assert store.meaning(other, unit((0, 1.0)), ANY, 10) == [] and store.newest(other, ANY, 10, 0) == []
    assert store.summaries(other, [n.id]) == {} and list(store.export(other)) == []
    still = store.get(n.id, "key:a")
    assert still is not None and still.title == "note 1"


def test_export_reads_every_note_in_pages(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "EXPORT_PAGE", 3)
    same_time = [note(i, f"n{i}") for i in range(10)]
    for n in same_time[5:]:
        n.created_at = same_time[5].created_at  # ties on created_at are paged by id
    store.insert([NewNote(n) for n in reversed(same_time)])
    assert [n.id for n, _ in store.export("key:a")] == [n.id for n in same_time]


def test_summaries_carry_the_first_three_formulas(store: Store) -> None:
    store.insert([NewNote(note(1, "four formulas", ("a", "b", "c", "d")))])
    (summary, body), = store.summaries("key:a", [f"{1:032x}"]).values()  # fmt: skip
    assert summary.formulas == ("a", "b", "c") and body == "four formulas"


def test_a_statement_past_its_ceiling_is_cut_short(notes_backend: NotesConfig) -> None:
    db = open_database(notes_backend)
    slow = (
        "SELECT pg_sleep(30)"
        if db.kind == "postgres"
        else "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c) SELECT count(*) FROM c"
    )
    started = time.monotonic()
    with pytest.raises(DbTimeout), db.connection(timeout_s=0.3) as conn:
        conn.execute(slow).fetchall()
    assert time.monotonic() - started < 10  # the ceiling, plus slack
    with db.connection() as conn:  # the connection is usable afterwards
        assert conn.execute("SELECT 1").fetchone()[0] == 1
