"""The notes tables, read and written the same way on both backends; the differences live in two subclasses.

:class:`Store` holds what SQLite and PostgreSQL share: saving a batch (:meth:`Store.insert`, an id already
there is skipped, so writing a note twice is harmless), :meth:`~Store.get`, :meth:`~Store.image`,
:meth:`~Store.update`, :meth:`~Store.delete`, the newest-first listing, formula search, the summaries of
a page, export in pages, the search log and the embedding backfill. Each search mode returns note ids,
best first, for :func:`~mathnotes.notes.rank.fuse`; every statement filters by owner.
:class:`~mathnotes.notes.store_sqlite.SqliteStore` and :class:`~mathnotes.notes.store_postgres.PostgresStore`
add word and meaning search and the column conversions. :class:`~mathnotes.notes.library.Library` picks one.

Formula search: the query's normal form is looked up by ``key`` (exact matches first, newest first; one
range of the ``(owner, key, created_at)`` index);
then, for each of the query's :data:`MAX_QUERY_GRAMS` longest grams, the owner's newest
:data:`POSTINGS_PER_GRAM` notes with it (one range of the ``(owner, gram, created_at)`` index, so the
work is bounded however common a gram is: a rare gram brings all its notes, a common one the newest);
the :data:`FORMULA_CANDIDATES` notes found most often are scored with
:func:`~mathnotes.notes.formulas.similarity` over all their grams and kept above :data:`MIN_SIMILARITY`.

Bounds: every statement runs under the database's statement ceiling (``NotesConfig.statement_timeout_s``);
a mode returns at most :data:`MODE_DEPTH` ids; a note keeps at most :data:`MAX_NOTE_GRAMS` grams.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from . import formulas
from .answers import body_of, formulas_of, verdict_counts, words_of
from .db import Database
from .exchange import NewNote
from .model import Note, NoteSummary, SearchQuery, clean

__all__ = [
    "FORMULA_CANDIDATES",
    "MAX_NOTE_GRAMS",
    "MAX_QUERY_GRAMS",
    "MIN_SIMILARITY",
    "MODE_DEPTH",
    "POSTINGS_PER_GRAM",
    "Filters",
    "Store",
]

MODE_DEPTH = 1000  # ids one mode returns at most (a page deeper than this has only what the others found)
MAX_QUERY_GRAMS = 16  # grams of a formula query looked up (the longest)
POSTINGS_PER_GRAM = 500  # of each, the owner's newest notes that have it
MAX_NOTE_GRAMS = 1500  # grams kept per note (a page of 200 formulas does not make 60,000 rows)
FORMULA_CANDIDATES = 100  # notes scored in Python after the SQL count
MIN_SIMILARITY = 0.2  # below this a formula is not a match
EXPORT_PAGE = 100  # notes read per statement while exporting
NOTE_COLUMNS = "n.id, n.owner, n.title, n.tags, n.source, n.task, n.language, n.model, n.answer, n.created_at, "
NOTE_COLUMNS += "n.updated_at, n.image IS NOT NULL"


@dataclass(frozen=True)
class Filters:
    tag: str | None = None
    task: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    @classmethod
    def of(cls, query: SearchQuery) -> Filters:
        return cls(query.tag, query.task, query.since, query.until)


def note_grams(latexes: Sequence[str]) -> list[str]:
    """The grams a note is found by: those of each formula, longest first, at most :data:`MAX_NOTE_GRAMS`."""
    found: set[str] = set()
    for latex in latexes:
        found |= formulas.grams(latex)
    return sorted(found, key=lambda g: (-g.count(" "), g))[:MAX_NOTE_GRAMS]


class Store:
    """Shared SQL; ``?`` placeholders (PostgreSQL's subclass turns them into ``%s``)."""

    db: Database

    def __init__(self, db: Database) -> None:
        self.db = db

    # --- the backend's differences ------------------------------------------------------------------------

    def q(self, sql: str) -> str:
        return sql

    def tags_in(self, tags: Sequence[str]) -> Any:
        raise NotImplementedError

    def tags_out(self, raw: Any) -> tuple[str, ...]:
        raise NotImplementedError

    def answer_in(self, answer: dict[str, Any]) -> Any:
        raise NotImplementedError

    def answer_out(self, raw: Any) -> dict[str, Any]:
        raise NotImplementedError

    def time_in(self, moment: datetime) -> Any:
        raise NotImplementedError

    def time_out(self, raw: Any) -> datetime:
        raise NotImplementedError

    def in_list(self, column: str, values: Sequence[Any]) -> tuple[str, Any]:
        """``column`` is one of ``values``: the SQL and its one parameter."""
        raise NotImplementedError

    has_tag = ""  # SQL: the note ``n`` has the tag given as the parameter
    for_update = ""

    def words(self, owner: str, terms: list[str], filters: Filters, limit: int) -> list[str]:
        raise NotImplementedError

    def meaning(self, owner: str, vector: list[float], filters: Filters, limit: int) -> list[str]:
        raise NotImplementedError

    def set_embeddings(self, vectors: dict[str, list[float]]) -> None:
        raise NotImplementedError

    # --- writing ------------------------------------------------------------------------------------------

    def insert(self, items: Sequence[NewNote]) -> list[str]:
        """Save ``items`` in one transaction; returns the ids written (one already there is skipped)."""
        written: list[str] = []
        sql = self.q(
            "INSERT INTO notes (id, owner, title, tags, source, task, language, model, answer, body, words, "
            "checked_steps, wrong_steps, image, image_type, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING"
        )
        with self.db.transaction() as conn:
            cursor = conn.cursor()
            for item in items:
                n = item.note
                answer = clean(n.answer)
                title, body = clean(n.title), clean(body_of(answer))
                checked, wrong = verdict_counts(answer)
                image = item.image if item.image else None
                row: list[Any] = [n.id, n.owner, title, self.tags_in(clean(list(n.tags))), clean(n.source)]
                row += [clean(n.task), clean(n.language), clean(n.model), self.answer_in(answer), body]
                row += [words_of(title, body), checked, wrong, image, item.image_type if image else None]
                created = self.time_in(n.created_at)
                row += [created, self.time_in(n.updated_at)]
                if conn.execute(sql, row).rowcount != 1:
                    continue
                written.append(n.id)
                latexes = formulas_of(answer)
                cursor.executemany(
                    self.q(
                        "INSERT INTO note_formulas (note_id, position, latex, norm, key, owner, created_at) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?)"
                    ),
                    [
                        (n.id, i, x, formulas.normalize(x), formulas.key(x), n.owner, created)
                        for i, x in enumerate(latexes)
                    ],
                )
                cursor.executemany(
                    self.q("INSERT INTO note_formula_grams (note_id, owner, created_at, gram) VALUES (?, ?, ?, ?)"),
                    [(n.id, n.owner, created, g) for g in note_grams(latexes)],
                )
        return written

    def update(
        self, note_id: str, owner: str, title: str | None, tags: Sequence[str] | None, now: datetime
    ) -> Note | None:
        with self.db.transaction() as conn:
            row = conn.execute(
                self.q("SELECT title, body FROM notes WHERE id = ? AND owner = ?" + self.for_update), (note_id, owner)
            ).fetchone()
            if row is None:
                return None
            new_title = clean(title) if title is not None else row[0]
            sets, params = "title = ?, words = ?, updated_at = ?", [new_title, words_of(new_title, row[1])]
            params.append(self.time_in(now))
            if tags is not None:
                sets += ", tags = ?"
                params.append(self.tags_in(clean(list(tags))))
            conn.execute(self.q(f"UPDATE notes SET {sets} WHERE id = ? AND owner = ?"), (*params, note_id, owner))
        return self.get(note_id, owner)

    def delete(self, note_id: str, owner: str) -> bool:
        with self.db.transaction() as conn:
            return bool(conn.execute(self.q("DELETE FROM notes WHERE id = ? AND owner = ?"), (note_id, owner)).rowcount)

    def log_search(self, at: datetime, owner: str, modes: str, ms: float, results: int) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                self.q("INSERT INTO search_log (at, owner, modes, ms, results) VALUES (?, ?, ?, ?, ?)"),
                (self.time_in(at), owner, modes, ms, results),
            )

    # --- reading ------------------------------------------------------------------------------------------

    def _note(self, row: Sequence[Any]) -> Note:
        return Note(
            row[0], row[1], row[2], self.tags_out(row[3]), row[4], row[5], row[6], row[7],
            self.answer_out(row[8]), self.time_out(row[9]), self.time_out(row[10]), bool(row[11]),
        )  # fmt: skip

    def get(self, note_id: str, owner: str) -> Note | None:
        with self.db.connection() as conn:
            row = conn.execute(
                self.q(f"SELECT {NOTE_COLUMNS} FROM notes n WHERE n.id = ? AND n.owner = ?"), (note_id, owner)
            ).fetchone()
        return self._note(row) if row else None

    def image(self, note_id: str, owner: str) -> tuple[bytes, str] | None:
        with self.db.connection() as conn:
            row = conn.execute(
                self.q("SELECT image, image_type FROM notes WHERE id = ? AND owner = ? AND image IS NOT NULL"),
                (note_id, owner),
            ).fetchone()
        return (bytes(row[0]), row[1] or "image/jpeg") if row else None

    def filters(self, f: Filters) -> tuple[str, list[Any]]:
        """`` AND …`` for the filters of a search, on the notes alias ``n``, and their parameters."""
        sql, params = "", list[Any]()
        if f.task:
            sql, params = sql + " AND n.task = ?", [*params, f.task]
        if f.tag:
            sql, params = sql + f" AND {self.has_tag}", [*params, f.tag]
        if f.since:
            sql, params = sql + " AND n.created_at >= ?", [*params, self.time_in(f.since)]
        if f.until:
            sql, params = sql + " AND n.created_at < ?", [*params, self.time_in(f.until)]
        return sql, params

    def newest(self, owner: str, filters: Filters, limit: int, offset: int) -> list[str]:
        where, params = self.filters(filters)
        sql = (
            f"SELECT n.id FROM notes n WHERE n.owner = ?{where} ORDER BY n.created_at DESC, n.id DESC LIMIT ? OFFSET ?"
        )
        with self.db.connection() as conn:
            return [r[0] for r in conn.execute(self.q(sql), (owner, *params, limit, offset)).fetchall()]

    def formula(self, owner: str, latex: str, filters: Filters, limit: int) -> list[str]:
        """Notes with this formula (same normal form) first, then by gram similarity; at most ``limit``."""
        where, params = self.filters(filters)
        wanted = formulas.grams(latex)
        join = " JOIN notes n ON n.id = f.note_id" if where else ""  # the rows are the owner's already
        with self.db.connection() as conn:
            rows = conn.execute(
                self.q(
                    f"SELECT f.note_id FROM note_formulas f{join} WHERE f.owner = ? AND f.key = ?{where} "
                    "ORDER BY f.created_at DESC, f.note_id LIMIT ?"
                ),
                (owner, formulas.key(latex), *params, 2 * limit),
            ).fetchall()
            exact = list(dict.fromkeys(r[0] for r in rows))[:limit]  # a note may hold the formula twice
            grams_of: dict[str, set[str]] = {c: set() for c in self._candidates(conn, owner, wanted, filters, limit)}
            if grams_of:
                note_in, note_param = self.in_list("note_id", list(grams_of))
                for note_id, gram in conn.execute(
                    self.q(f"SELECT note_id, gram FROM note_formula_grams WHERE {note_in}"), (note_param,)
                ):
                    grams_of[note_id].add(gram)
        scored = [(formulas.similarity(wanted, g), note_id) for note_id, g in grams_of.items() if note_id not in exact]
        ranked = [note_id for score, note_id in sorted(scored, key=lambda s: (-s[0], s[1])) if score >= MIN_SIMILARITY]
        return (exact + ranked)[:limit]

    def _candidates(self, conn: Any, owner: str, wanted: set[str], filters: Filters, limit: int) -> list[str]:
        """The notes among the owner's newest :data:`POSTINGS_PER_GRAM` with each query gram that share most."""
        counted = sorted(wanted, key=lambda g: (-g.count(" "), g))[:MAX_QUERY_GRAMS]
        if not counted:
            return []
        one = "SELECT g.note_id FROM note_formula_grams g WHERE g.owner = ? AND g.gram = ? "
        one += "ORDER BY g.created_at DESC LIMIT ?"
        postings = " UNION ALL ".join(f"SELECT note_id FROM ({one}) AS p{i}" for i in range(len(counted)))
        params: list[Any] = [v for gram in counted for v in (owner, gram, POSTINGS_PER_GRAM)]
        sql = f"SELECT c.note_id FROM (SELECT note_id, count(*) AS hits FROM ({postings}) AS p GROUP BY note_id) AS c"
        where, extra = self.filters(filters)
        if where:  # only a filter needs the notes table: the postings are the owner's already
            sql += f" JOIN notes n ON n.id = c.note_id WHERE n.owner = ?{where}"
            params += [owner, *extra]
        sql += " ORDER BY c.hits DESC, c.note_id LIMIT ?"
        return [r[0] for r in conn.execute(self.q(sql), (*params, max(FORMULA_CANDIDATES, limit))).fetchall()]

    def summaries(self, owner: str, ids: Sequence[str]) -> dict[str, tuple[NoteSummary, str]]:
        """``{id: (summary without snippet/score/matched, body)}`` of this owner's notes among ``ids``."""
        if not ids:
            return {}
        id_in, id_param = self.in_list("n.id", list(ids))
        with self.db.connection() as conn:
            rows = conn.execute(
                self.q(
                    "SELECT n.id, n.title, n.tags, n.task, n.language, n.source, n.created_at, n.updated_at, "
                    f"n.image IS NOT NULL, n.body FROM notes n WHERE n.owner = ? AND {id_in}"
                ),
                (owner, id_param),
            ).fetchall()
            found = [r[0] for r in rows]
            first: dict[str, list[str]] = {i: [] for i in found}
            if found:
                note_in, note_param = self.in_list("note_id", found)
                for note_id, latex in conn.execute(
                    self.q(
                        f"SELECT note_id, latex FROM note_formulas WHERE {note_in} AND position < 3 "
                        "ORDER BY note_id, position"
                    ),
                    (note_param,),
                ):
                    first[note_id].append(latex)
        out = {}
        for r in rows:
            summary = NoteSummary(
                r[0], r[1], self.tags_out(r[2]), r[3], r[4], r[5], self.time_out(r[6]), self.time_out(r[7]),
                bool(r[8]), formulas=tuple(first[r[0]]),
            )  # fmt: skip
            out[r[0]] = (summary, r[9])
        return out

    def export(self, owner: str) -> Iterator[tuple[Note, bytes | None]]:
        """Every note of ``owner`` with its image, oldest first, read :data:`EXPORT_PAGE` at a time."""
        after: tuple[Any, str] | None = None
        while True:
            sql = f"SELECT {NOTE_COLUMNS}, n.image FROM notes n WHERE n.owner = ?"
            params: list[Any] = [owner]
            if after is not None:
                sql += " AND (n.created_at > ? OR (n.created_at = ? AND n.id > ?))"
                params += [after[0], after[0], after[1]]
            with self.db.connection() as conn:
                rows = conn.execute(self.q(sql + " ORDER BY n.created_at, n.id LIMIT ?"), (*params, EXPORT_PAGE))
                rows = rows.fetchall()
            for row in rows:
                yield self._note(row), bytes(row[12]) if row[12] is not None else None
            if len(rows) < EXPORT_PAGE:
                return
            after = (rows[-1][9], rows[-1][0])

    def missing_embeddings(self, limit: int) -> list[tuple[str, str]]:
        """``(id, text to embed)`` of up to ``limit`` notes without a vector, newest first."""
        with self.db.connection() as conn:
            rows = conn.execute(
                self.q(
                    "SELECT id, title, body FROM notes WHERE embedding IS NULL ORDER BY created_at DESC, id LIMIT ?"
                ),
                (limit,),
            ).fetchall()
        return [(r[0], f"{r[1]}\n{r[2]}") for r in rows]
