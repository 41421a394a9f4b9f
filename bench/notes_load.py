"""Bulk loading for ``bench.notes``: N synthetic notes into a migrated notes database, fast.

The rows are the ones :meth:`mathnotes.notes.store.Store.insert` writes, built by the same functions
(``clean``, ``body_of``, ``words_of``, ``verdict_counts``, ``formulas_of``, ``formulas.normalize``/``key``,
``note_grams``), plus each note's vector as the fake model would embed its ``title\\nbody`` (the text the
library's backfill sends), in the space :func:`use_vectors` chose.
They are built on every core (the formula normaliser is pure Python), then
PostgreSQL takes them by ``COPY`` with its indexes dropped and rebuilt afterwards (their definitions read
back from ``pg_indexes``, so they are the migration's; built by one process), and SQLite by ``executemany`` in large
transactions (its full-text triggers fill ``notes_fts``). The store's own ``insert`` takes 1.5 ms
(SQLite) to 3 ms (PostgreSQL) a note here: 2.5 to 5 minutes for 100,000.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sqlite3
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import numpy as np
import psycopg
from tests.support.fake_embeddings import Embed, embedder

from bench.notes_corpus import answer
from mathnotes.notes import formulas
from mathnotes.notes.answers import body_of, formulas_of, verdict_counts, words_of
from mathnotes.notes.model import clean, derive_title, iso
from mathnotes.notes.store import note_grams

OWNER = "key:bench"
DIMENSIONS = 1024
VECTORS = {  # --vectors: whose space the notes' (and the fake model's) vectors are in
    "minilm": "bench.minilm:vector",  # a real model's (all-MiniLM-L6-v2, static): graded, as real embeddings are
    "hashed": "tests.support.fake_embeddings:vector",  # the tests' hashed bag of words: plateaus, the hard case
}
_embed: Embed = embedder(VECTORS["hashed"])


def use_vectors(name: str) -> Embed:
    """Embed the notes loaded from now on with ``VECTORS[name]`` (warmed here: the loading processes inherit it)."""
    global _embed
    _embed = embedder(VECTORS[name])
    _embed("warm up", DIMENSIONS)
    return _embed


NOTE_COLUMNS = (
    "id, owner, title, tags, source, task, language, model, answer, body, words, checked_steps, wrong_steps, "
    "created_at, updated_at, embedding"
)
Row = tuple[tuple[Any, ...], list[tuple[Any, ...]], list[tuple[Any, ...]]]


def note_id(index: int) -> str:
    return f"{index:032x}"


FORMULA_COLUMNS = "note_id, position, latex, norm, key, owner, created_at"


def _rows(index: int, backend: str) -> Row:
    """The notes row, its note_formulas rows and its note_formula_grams rows, as ``Store.insert`` makes them."""
    doc = clean(answer(index))
    title, body = clean(derive_title(doc)), clean(body_of(doc))
    checked, wrong = verdict_counts(doc)
    created = datetime.fromtimestamp(doc["created"], timezone.utc)
    unit = _embed(f"{title}\n{body}", DIMENSIONS)
    ident = note_id(index)
    common = (ident, OWNER, title)
    rest = ("api", doc["task"], doc["language"], doc["model"])
    latexes = formulas_of(doc)
    if backend == "postgres":
        literal = ["0"] * DIMENSIONS
        for i in np.flatnonzero(unit).tolist():
            literal[i] = format(unit[i], ".7g")
        note: tuple[Any, ...] = (*common, [], *rest, json.dumps(doc), body, words_of(title, body), checked, wrong)
        note += (created, created, "[" + ",".join(literal) + "]")
    else:
        note = (*common, "[]", *rest, json.dumps(doc, ensure_ascii=False), body, words_of(title, body))
        note += (checked, wrong, iso(created), iso(created), np.asarray(unit, dtype="<f4").tobytes())
    when = note[13]  # created_at as the backend stores it
    # note_formulas carries the note's owner and created_at too (the store's formula lookup filters on them)
    formula_rows = [(ident, i, x, formulas.normalize(x), formulas.key(x), OWNER, when) for i, x in enumerate(latexes)]
    return note, formula_rows, [(ident, OWNER, when, g) for g in note_grams(latexes)]


def _postgres_rows(index: int) -> Row:
    return _rows(index, "postgres")


def _sqlite_rows(index: int) -> Row:
    return _rows(index, "sqlite")


def rows(count: int, backend: str) -> Iterator[Row]:
    """Every note's rows, in order, built on every core."""
    make = _postgres_rows if backend == "postgres" else _sqlite_rows
    with multiprocessing.get_context("fork").Pool(os.cpu_count() or 1) as pool:
        yield from pool.imap(make, range(count), chunksize=200)


def load_postgres(url: str, count: int) -> dict[str, float]:
    """``count`` notes by COPY into the migrated database at ``url``; seconds to load and to index."""
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        tables = ("notes", "note_formulas", "note_formula_grams")
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%s) AND indexdef NOT LIKE '%%UNIQUE%%'",
            (list(tables),),
        ).fetchall()
        for name, _definition in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        with conn.transaction(), conn.cursor() as cursor:
            with cursor.copy(f"COPY notes ({NOTE_COLUMNS}) FROM STDIN") as notes_copy:
                formula_rows, gram_rows = [], []
                for note, formula, grams in rows(count, "postgres"):
                    notes_copy.write_row(note)  # text format: the JSON and the vector literal parse server-side
                    formula_rows += formula
                    gram_rows += grams
            with cursor.copy(f"COPY note_formulas ({FORMULA_COLUMNS}) FROM STDIN") as copy:
                for formula_row in formula_rows:
                    copy.write_row(formula_row)
            with cursor.copy("COPY note_formula_grams (note_id, owner, created_at, gram) FROM STDIN") as copy:
                for gram_row in gram_rows:
                    copy.write_row(gram_row)
        loaded = time.perf_counter()
        conn.execute("SET maintenance_work_mem = '2GB'")
        # one process, as the index grows in production (a note at a time): on these vectors a parallel
        # build (pgvector 0.6) made a graph with a far lower recall (0.55 against 0.92 at 3,000 notes)
        conn.execute("SET max_parallel_maintenance_workers = 0")
        for _name, definition in indexes:
            conn.execute(definition)
        conn.execute("VACUUM ANALYZE")
    return {"load_s": round(loaded - started, 1), "index_s": round(time.perf_counter() - loaded, 1)}


def load_sqlite(path: str, count: int) -> dict[str, float]:
    """``count`` notes into the migrated SQLite file at ``path``; seconds to load."""
    started = time.perf_counter()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    insert_note = f"INSERT INTO notes ({NOTE_COLUMNS}) VALUES ({', '.join('?' * 16)})"
    batch: list[Row] = []

    def flush() -> None:
        with conn:
            conn.executemany(insert_note, [b[0] for b in batch])
            conn.executemany(
                f"INSERT INTO note_formulas ({FORMULA_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [f for b in batch for f in b[1]],
            )
            conn.executemany(
                "INSERT INTO note_formula_grams (note_id, owner, created_at, gram) VALUES (?, ?, ?, ?)",
                [g for b in batch for g in b[2]],
            )
        batch.clear()

    for row in rows(count, "sqlite"):
        batch.append(row)
        if len(batch) >= 5000:
            flush()
    flush()
    conn.execute("ANALYZE")
    conn.close()
    return {"load_s": round(time.perf_counter() - started, 1), "index_s": 0.0}
