"""Saving through faults: no save fails or waits for the database, and every note arrives once it is back.

A real PostgreSQL of the test's own (``start_server``) is killed (SIGKILL, postmaster and backends) in the
middle of a stream of saves and started again; a real SQLite file is locked by another connection.
"""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mathnotes.notes.db import NotesConfig, open_database
from mathnotes.notes.errors import Unavailable
from mathnotes.notes.library import Library
from mathnotes.notes.migrate import migrate
from mathnotes.notes.store import Filters
from tests.support.postgres import Postgres
from tests.support.servers import StartServer, wait_until

OWNER = "key:a"


def answer(i: int) -> dict[str, Any]:
    return {"task": "solve", "language": "en", "model": "m", "markdown": f"# Page {i}\nintegration", "latex": ["x^2"]}


def stored(library: Library) -> set[str]:
    return set(library.store.newest(OWNER, Filters(), 1000, 0))


@pytest.fixture
def server(tmp_path: Path, start_server: StartServer) -> Postgres:
    return start_server(Postgres(tmp_path / "pg"))


def start(config: NotesConfig, events: Counter[str]) -> Library:
    library = Library(config, on_saved=lambda result, n: events.update({result: n}))
    library.start()
    return library


def test_a_postgres_killed_mid_stream_loses_no_note_and_fails_no_save(server: Postgres, tmp_path: Path) -> None:
    events: Counter[str] = Counter()
    library = start(NotesConfig(notes_dir=str(tmp_path / "notes"), database_url=server.url), events)
    try:
        ids, slowest = [], 0.0
        for i in range(60):
            if i == 20:
                assert wait_until(lambda: len(stored(library)) == 20, 30)
                server.kill()
            started = time.monotonic()
            ids.append(library.save(answer(i), OWNER))
            slowest = max(slowest, time.monotonic() - started)
        assert all(ids) and len(set(ids)) == 60
        assert slowest < 2  # a save is a memory append; a generous ceiling, not a speed claim
        assert wait_until(lambda: library.health()["database"] is False, 30)
        assert wait_until(lambda: library.queue.disk.depth() > 0, 30)
        with pytest.raises(Unavailable) as caught:
            library.get(ids[0] or "", OWNER)
        assert caught.value.code == "notes_unavailable" and caught.value.status == 503
        server.start()
        assert wait_until(lambda: stored(library) == set(ids), 90), "every note arrives once the database is back"
        assert wait_until(lambda: library.health() == {"writer": True, "database": True, "queue_depth": 0}, 30)
        assert events["dropped"] == 0 and events["queued"] >= 1 and events["written"] >= 60
    finally:
        library.close()


def test_notes_queued_on_disk_are_written_by_the_next_process(server: Postgres, tmp_path: Path) -> None:
    config = NotesConfig(notes_dir=str(tmp_path / "notes"), database_url=server.url)
    events: Counter[str] = Counter()
    first = start(config, events)
    server.stop()
    ids = [first.save(answer(i), OWNER) for i in range(10)]
    first.close()  # what was still in memory goes to the disk queue
    assert events["queued"] == 10 and events["written"] == 0
    server.start()
    second = start(config, events)
    try:
        assert wait_until(lambda: stored(second) == set(ids), 60)
        assert events["dropped"] == 0
    finally:
        second.close()


@pytest.fixture
def locked(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    """The notes SQLite file, migrated, then held under an exclusive lock until the test releases it."""
    config = NotesConfig(notes_dir=str(tmp_path / "notes"))
    migrate(open_database(config), wait_s=5)
    conn = sqlite3.connect(config.sqlite_path, isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    yield conn
    if conn.in_transaction:
        conn.execute("ROLLBACK")
    conn.close()


def test_a_locked_sqlite_file_delays_notes_but_loses_none(locked: sqlite3.Connection, tmp_path: Path) -> None:
    events: Counter[str] = Counter()
    library = Library(NotesConfig(notes_dir=str(tmp_path / "notes")), on_saved=lambda r, n: events.update({r: n}))
    library.queue.start()  # migrated already; the file is locked now
    try:
        ids = [library.save(answer(i), OWNER) for i in range(15)]
        assert all(ids)
        assert wait_until(lambda: events["queued"] >= 1, 30)
        locked.execute("COMMIT")
        assert wait_until(lambda: stored(library) == set(ids), 60)
        assert events["dropped"] == 0
    finally:
        library.close()


def test_when_even_the_disk_queue_fails_the_save_says_so_and_it_is_counted(server: Postgres, tmp_path: Path) -> None:
    (tmp_path / "not-a-folder").write_text("a file where the queue folder should be")
    config = NotesConfig(
        notes_dir=str(tmp_path / "notes"),
        database_url=server.url,
        queue_dir=str(tmp_path / "not-a-folder"),
        queue_length=1,
    )
    events: Counter[str] = Counter()
    library = Library(config, on_saved=lambda r, n: events.update({r: n}))  # not started: memory holds one
    try:
        assert library.save(answer(1), OWNER) is not None
        assert library.save(answer(2), OWNER) is None  # memory full, disk unusable
        assert events == Counter(dropped=1)
    finally:
        library.close()
