"""The notes library: what the vision service (its blueprint, its analyze path, its CLI) calls.

Built from a :class:`~mathnotes.notes.db.NotesConfig` (its docstring maps each field to the vision
setting that fills it) and, optionally, :class:`~mathnotes.notes.exchange.Rules` (the limits and
vocabularies an imported note is checked against) and ``on_saved(result, n)`` (``written``, ``queued``,
``dropped``: the ``vision_notes_saved_total`` counter)::

    library = Library(config, rules=Rules(...), on_saved=...)
    library.start()                      # waits for the database (NOTES_DB_WAIT_S), migrates, starts the writer
    note_id = library.save(answer, owner, source="api", title=None, tags=(), image_jpeg=None)  # never raises
    page = library.search(SearchQuery.from_params(args), owner)   # SearchPage; page.to_json()
    library.get(note_id, owner) -> Note; library.image(note_id, owner) -> (bytes, "image/jpeg")
    library.patch(note_id, owner, title=..., tags=...) -> Note; library.delete(note_id, owner)
    library.export(owner, "jsonl" | "markdown") -> Iterator[bytes]; library.import_(owner, lines) -> (imported, skipped)
    library.health() -> {"writer": bool, "database": bool, "queue_depth": int}; library.close()

``save`` only queues (:mod:`.queue`): the note is written, and then given its vector, by the writer
thread; it returns the new id, or ``None`` when even the disk queue failed. Every read filters by
owner: another owner's note is :class:`~mathnotes.notes.errors.NotFound`, exactly like a missing one.
A database that cannot be read is :class:`~mathnotes.notes.errors.Unavailable` (503). A search mode
cut short by the statement ceiling, or a query embedding that fails, is left out of ``modes``; the
other modes still answer. The modes of one search run side by side (:data:`SEARCH_THREADS`).
``start()`` must run in the process that serves (after a fork).
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from functools import partial
from typing import Any

from . import text
from .answers import body_of
from .db import DbTimeout, DbUnavailable, NotesConfig, open_database
from .embeddings import Embedder, EmbeddingError
from .errors import InvalidQuery, NotFound, Unavailable
from .exchange import NewNote, Rules, decode_new, encode_new, jsonl, markdown_zip, parse_import
from .migrate import migrate
from .model import Note, NoteSummary, SearchQuery, derive_title, is_note_id, new_id
from .queue import DiskQueue, WriteQueue
from .rank import fuse
from .store import MODE_DEPTH, Filters, Store
from .store_postgres import DIMENSIONS, PostgresStore
from .store_sqlite import SqliteStore

__all__ = ["Library", "SearchPage"]

log = logging.getLogger("mathnotes.notes")

QUERY_EMBED_TIMEOUT_S = 3.0  # a search waits this long at most for its query's vector
BACKFILL_BATCH = 50  # notes given a vector per idle pass of the writer
IMPORT_BATCH = 100  # notes per transaction while importing
SEARCH_THREADS = 6  # the modes of a search run side by side on these (shared by all requests)


@dataclass
class SearchPage:
    notes: list[NoteSummary]
    next_cursor: str | None
    modes: list[str]
    took_ms: float

    def to_json(self) -> dict[str, Any]:
        return {
            "notes": [n.to_json() for n in self.notes],
            "next_cursor": self.next_cursor,
            "modes": list(self.modes),
            "took_ms": round(self.took_ms, 3),
        }


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Library:
    def __init__(
        self,
        config: NotesConfig,
        *,
        rules: Rules | None = None,
        on_saved: Callable[[str, int], None] | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.config = config
        self.rules = rules or Rules()
        self.clock = clock
        self.db = open_database(config)
        self.store: Store = (
            PostgresStore(self.db) if self.db.kind == "postgres" else SqliteStore(self.db, config.embedding_dimensions)
        )
        self.embedder = self._embedder(config)
        self._searchers = ThreadPoolExecutor(SEARCH_THREADS, thread_name_prefix="notes-search")
        self.queue: WriteQueue[NewNote] = WriteQueue(
            self._write,
            encode=encode_new,
            decode=decode_new,
            size=lambda item: item.size,
            disk=DiskQueue(config.queue_path, config.queue_max_mb * 1024 * 1024),
            length=config.queue_length,
            on_event=on_saved,
            idle=self.backfill,
        )

    def _embedder(self, config: NotesConfig) -> Embedder | None:
        if not (config.embedding_api_key and config.embedding_base_url and config.embedding_model):
            return None
        if self.db.kind == "postgres" and config.embedding_dimensions != DIMENSIONS:
            log.warning(
                "EMBEDDING_DIMENSIONS=%d but the PostgreSQL column is vector(%d): search by meaning is off",
                config.embedding_dimensions,
                DIMENSIONS,
            )
            return None
        return Embedder(
            config.embedding_base_url,
            config.embedding_api_key,
            config.embedding_model,
            config.embedding_dimensions,
            config.embedding_timeout_s,
        )

    @property
    def meaning_available(self) -> bool:
        return self.embedder is not None

    # --- life ---------------------------------------------------------------------------------------------

    def start(self) -> int:
        """Wait for the database, migrate (MigrationError when it cannot), start the writer; the schema version."""
        version = migrate(self.db, self.config.db_wait_s)
        self.queue.start()
        return version

    def close(self) -> None:
        self._searchers.shutdown(wait=True)
        self.queue.stop()
        self.queue.disk.close()
        self.db.close()

    def health(self) -> dict[str, Any]:
        return {"writer": self.queue.alive, "database": self.queue.database_ok, "queue_depth": self.queue.depth()}

    # --- saving ---------------------------------------------------------------------------------------------

    def save(
        self,
        answer: dict[str, Any],
        owner: str,
        source: str = "api",
        title: str | None = None,
        tags: Sequence[str] = (),
        image_jpeg: bytes | None = None,
    ) -> str | None:
        """Queue the answer as a new note of ``owner``; its id, or None if it could not even be queued. Never raises."""
        try:
            now = self.clock()
            keep = self.config.keep_images and image_jpeg and len(image_jpeg) <= self.config.image_max_bytes
            image = image_jpeg if keep else None
            note = Note(
                new_id(), owner, title or derive_title(answer), tuple(tags), source,
                str(answer.get("task", "")), str(answer.get("language", "")), str(answer.get("model", "")),
                dict(answer), now, now, image is not None,
            )  # fmt: skip
            return note.id if self.queue.put(NewNote(note, image)) != "dropped" else None
        except Exception:
            log.exception("notes: could not queue a note")
            return None

    def _write(self, batch: list[NewNote]) -> None:
        """The writer thread's step: insert, then (best effort) the new notes' vectors."""
        written = set(self.store.insert(batch))
        if self.embedder is not None and written:
            self._embed(
                [(i.note.id, f"{i.note.title}\n{body_of(i.note.answer)}") for i in batch if i.note.id in written]
            )

    def _embed(self, pending: list[tuple[str, str]]) -> bool:
        assert self.embedder is not None
        try:
            vectors = self.embedder.embed([t for _, t in pending])
            self.store.set_embeddings({note_id: v for (note_id, _), v in zip(pending, vectors, strict=True)})
            return True
        except (EmbeddingError, DbUnavailable) as err:
            log.warning("notes: %d note(s) left without a vector for now (%s); the backfill retries", len(pending), err)
        except Exception:
            log.exception("notes: storing vectors failed; the backfill retries")
        return False

    def backfill(self) -> bool:
        """Give vectors to up to :data:`BACKFILL_BATCH` notes without one; True when there may be more."""
        if self.embedder is None:
            return False
        try:
            pending = self.store.missing_embeddings(BACKFILL_BATCH)
        except DbUnavailable as err:
            log.warning("notes: backfill postponed (%s)", err)
            return False
        return bool(pending) and self._embed(pending) and len(pending) == BACKFILL_BATCH

    # --- reading ----------------------------------------------------------------------------------------------

    def search(self, query: SearchQuery, owner: str) -> SearchPage:
        started = time.perf_counter()
        modes = query.modes(self.meaning_available)
        filters = Filters.of(query)
        ran: list[str] = []
        try:
            if modes:
                depth = min(MODE_DEPTH, query.offset + query.limit + 1)
                rankings = {}
                if len(modes) == 1:
                    results = {modes[0]: self._mode(modes[0], query, owner, filters, depth)}
                else:  # side by side: each on its own connection
                    running = {m: self._searchers.submit(self._mode, m, query, owner, filters, depth) for m in modes}
                    results = {m: future.result() for m, future in running.items()}
                for mode in modes:
                    found = results[mode]
                    if found is not None:
                        rankings[mode], ran = found, [*ran, mode]
                fused = fuse(rankings)
                window = fused[query.offset : query.offset + query.limit]
                more = len(fused) > query.offset + query.limit
                scores = {note_id: (score, found_by) for note_id, score, found_by in window}
            else:
                ids = self.store.newest(owner, filters, query.limit + 1, query.offset)
                more, fused = len(ids) > query.limit, []
                scores = {note_id: (0.0, []) for note_id in ids[: query.limit]}
            summaries = self.store.summaries(owner, list(scores))
        except DbUnavailable as err:
            raise Unavailable(f"the notes library cannot be read now: {err}") from err
        terms = query.terms
        notes = []
        for note_id, (score, found_by) in scores.items():
            if note_id in summaries:
                summary, body = summaries[note_id]
                snippet = text.snippet(text.markdown_text(body), terms)
                notes.append(replace(summary, snippet=snippet, score=round(score, 6), matched=tuple(found_by)))
        took_ms = (time.perf_counter() - started) * 1000
        if modes:
            self._log_search(owner, ran, took_ms, len(fused))
        return SearchPage(notes, query.next_cursor(more), ran, took_ms)

    def _mode(self, mode: str, query: SearchQuery, owner: str, filters: Filters, depth: int) -> list[str] | None:
        """One mode's ranked ids; None when it was cut short (the statement ceiling, the embedding model)."""
        try:
            if mode == "words":
                return self.store.words(owner, query.terms, filters, depth)
            if mode == "formula":
                return self.store.formula(owner, query.formula_query, filters, depth)
            assert self.embedder is not None
            vector = self.embedder.embed([query.q], timeout_s=QUERY_EMBED_TIMEOUT_S)[0]
            return self.store.meaning(owner, vector, filters, depth)
        except (DbTimeout, EmbeddingError) as err:
            log.warning("notes search: %s mode left out (%s)", mode, err)
            return None

    def _log_search(self, owner: str, modes: list[str], ms: float, results: int) -> None:
        try:
            self.store.log_search(self.clock(), owner, ",".join(modes), ms, results)
        except DbUnavailable as err:
            log.warning("notes: search not logged (%s)", err)

    def _found(self, note: Note | None) -> Note:
        if note is None:
            raise NotFound()
        return note

    def _read(self, work: Callable[[], Any]) -> Any:
        try:
            return work()
        except DbUnavailable as err:
            raise Unavailable(f"the notes library cannot be read now: {err}") from err

    @staticmethod
    def _known(note_id: str) -> None:
        """Not found before any statement: the id cannot be a note's (and a NUL would reach PostgreSQL)."""
        if not is_note_id(note_id):
            raise NotFound()

    def get(self, note_id: str, owner: str) -> Note:
        self._known(note_id)
        return self._found(self._read(lambda: self.store.get(note_id, owner)))

    def image(self, note_id: str, owner: str) -> tuple[bytes, str]:
        self._known(note_id)
        found = self._read(lambda: self.store.image(note_id, owner))
        if found is None:
            raise NotFound("no such note, or it has no image")
        data, mime = found
        return data, mime

    def patch(self, note_id: str, owner: str, title: str | None = None, tags: Sequence[str] | None = None) -> Note:
        self._known(note_id)
        now = self.clock()
        return self._found(self._read(lambda: self.store.update(note_id, owner, title, tags, now)))

    def delete(self, note_id: str, owner: str) -> None:
        self._known(note_id)
        if not self._read(lambda: self.store.delete(note_id, owner)):
            raise NotFound()

    # --- export and import ------------------------------------------------------------------------------------

    def export(self, owner: str, fmt: str = "jsonl") -> Iterator[bytes]:
        """The owner's notes, oldest first, as JSON Lines or a zip of Markdown files, streamed."""
        if fmt not in ("jsonl", "markdown"):
            raise InvalidQuery("format must be jsonl or markdown", "format")
        items = self.store.export(owner)
        head = self._read(lambda: list(itertools.islice(items, 1)))  # an unreadable database: 503, not a cut stream
        notes = itertools.chain(head, items)
        return jsonl(notes) if fmt == "jsonl" else markdown_zip(notes)

    def import_(self, owner: str, lines: Iterable[str]) -> tuple[int, int]:
        """Add the notes of a JSON Lines export as ``owner``'s: (imported, skipped because the id is there)."""
        notes = parse_import(lines, owner, self.clock(), self.rules, new_id)
        imported = 0
        for start in range(0, len(notes), IMPORT_BATCH):
            imported += len(self._read(partial(self.store.insert, notes[start : start + IMPORT_BATCH])))
        return imported, len(notes) - imported
