"""Migrations on real SQLite and PostgreSQL + pgvector: idempotent, concurrent-safe, bounded wait, newer refused."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from mathnotes.notes.db import NotesConfig, open_database
from mathnotes.notes.migrate import MigrationError, current_version, migrate, scripts
from tests.support.postgres import Postgres
from tests.support.servers import StartServer, free_port

TABLES = {"notes", "note_formulas", "note_formula_grams", "search_log", "schema_migrations"}


def _tables(config: NotesConfig) -> set[str]:
    db = open_database(config)
    with db.connection() as conn:
        if db.kind == "postgres":
            rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
        else:
            rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {r[0] for r in rows}


def test_scripts_are_numbered_from_one_on_both_backends() -> None:
    for kind in ("sqlite", "postgres"):
        found = scripts(kind)
        assert [s.version for s in found] == list(range(1, len(found) + 1))
        assert "CREATE TABLE IF NOT EXISTS notes" in found[0].sql


def test_migrate_creates_the_schema_and_a_second_run_changes_nothing(notes_backend: NotesConfig) -> None:
    db = open_database(notes_backend)
    assert current_version(db) == 0
    newest = scripts(db.kind)[-1].version
    assert migrate(db, wait_s=5) == newest
    assert TABLES <= _tables(notes_backend)
    assert migrate(db, wait_s=5) == newest
    with db.connection() as conn:
        rows = conn.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
    assert [r[0] for r in rows] == list(range(1, newest + 1))


def test_the_postgres_schema_has_its_indexes(postgres_db: str) -> None:
    db = open_database(NotesConfig(database_url=postgres_db))
    migrate(db, wait_s=5)
    with db.connection() as conn:
        indexes = dict(conn.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'notes'").fetchall())
    assert "USING hnsw (embedding vector_cosine_ops)" in indexes["notes_embedding"]
    assert "USING gin (words_tsv)" in indexes["notes_words"]


def test_two_processes_migrating_at_once_apply_each_script_once(notes_backend: NotesConfig) -> None:
    results: list[int | BaseException] = []

    def run() -> None:
        try:
            results.append(migrate(open_database(notes_backend), wait_s=10))
        except BaseException as err:
            results.append(err)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    newest = scripts(notes_backend.backend)[-1].version
    assert results == [newest] * 4
    db = open_database(notes_backend)
    with db.connection() as conn:
        assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == newest


def test_a_newer_schema_is_refused(notes_backend: NotesConfig) -> None:
    db = open_database(notes_backend)
    migrate(db, wait_s=5)
    with db.transaction() as conn:
        conn.execute("INSERT INTO schema_migrations VALUES (99, " + ("now()" if db.kind == "postgres" else "'x'") + ")")
    newest = scripts(db.kind)[-1].version
    with pytest.raises(MigrationError, match=f"schema version 99; this release knows up to {newest}:"):
        migrate(db, wait_s=5)


def test_waiting_for_an_absent_postgres_is_bounded_with_a_clear_error() -> None:
    port = free_port()  # nothing listens there
    db = open_database(NotesConfig(database_url=f"postgresql://u:secret@127.0.0.1:{port}/notes"))
    started = time.monotonic()
    with pytest.raises(MigrationError) as caught:
        migrate(db, wait_s=1.5)
    assert time.monotonic() - started < 1.5 + 10  # bounded: the wait, plus slack
    message = str(caught.value)
    assert f"127.0.0.1:{port}/notes did not answer within 1.5 s (NOTES_DB_WAIT_S)" in message
    assert "secret" not in message


def test_an_unopenable_sqlite_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    db = open_database(NotesConfig(notes_dir=str(tmp_path / "file" / "notes")))
    with pytest.raises(MigrationError, match=r"did not answer within 0\.5 s"):
        migrate(db, wait_s=0.5)


def test_migrate_waits_for_a_postgres_that_starts_late(tmp_path: Path, start_server: StartServer) -> None:
    server = Postgres(tmp_path / "pg")
    db = open_database(NotesConfig(database_url=server.url))
    starter = threading.Timer(1.0, start_server, args=(server,))
    starter.start()
    try:
        assert migrate(db, wait_s=90) == scripts("postgres")[-1].version
    finally:
        starter.join()
    assert server.running


def test_a_library_at_version_1_gets_the_meaning_index_rebuilt(postgres_db: str) -> None:
    """0002 rebuilds the HNSW index with ef_construction = 200 over the notes already there."""
    db = open_database(NotesConfig(database_url=postgres_db))
    first = scripts("postgres")[0]
    with db.transaction() as conn:
        conn.execute(first.sql)
        conn.execute("CREATE TABLE schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL)")
        conn.execute("INSERT INTO schema_migrations VALUES (1, now())")
        vector = "[" + ",".join(["0"] * 1023 + ["1"]) + "]"
        conn.execute(
            "INSERT INTO notes (id, owner, title, source, task, language, model, answer, body, words, created_at, "
            "updated_at, embedding) VALUES ('n1', 'key:a', 't', 'api', 'solve', 'en', 'm', '{}', 'b', 'w', now(), "
            "now(), %s::vector)",
            (vector,),
        )
    assert current_version(db) == 1
    assert migrate(db, wait_s=10) == scripts("postgres")[-1].version >= 2
    with db.transaction() as conn:
        [definition] = conn.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'notes_embedding'").fetchone()
        assert "hnsw" in definition and "ef_construction='200'" in definition and "m='16'" in definition
        conn.execute("SET LOCAL enable_seqscan = off")
        plan = "\n".join(
            r[0]
            for r in conn.execute("EXPLAIN SELECT id FROM notes ORDER BY embedding <=> %s::vector LIMIT 1", (vector,))
        )
        assert "notes_embedding" in plan
        assert conn.execute("SELECT id FROM notes ORDER BY embedding <=> %s::vector LIMIT 1", (vector,)).fetchone() == (
            "n1",
        )
