"""The PostgreSQL fixture is a real PostgreSQL 16 with pgvector: HNSW answers, databases are fresh, crashes recover."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from tests.support.postgres import Postgres
from tests.support.servers import StartServer

from .procfs import descendants

# eight 3-d points; the query (1, 0.1, 0) is nearest, by cosine distance, to ids 1, 2, 3 in that order
POINTS = {
    1: (1.0, 0.0, 0.0),
    2: (1.0, 0.3, 0.0),
    3: (1.0, 1.0, 0.0),
    4: (0.0, 1.0, 0.0),
    5: (0.0, 0.0, 1.0),
    6: (-1.0, 0.0, 0.0),
    7: (0.0, -1.0, 0.0),
    8: (0.0, 0.0, -1.0),
}


def _vector(values: tuple[float, ...]) -> str:
    return "[" + ",".join(str(v) for v in values) + "]"


def test_pgvector_hnsw_index_answers_nearest_neighbours(postgres_db: str) -> None:
    with psycopg.connect(postgres_db, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        version = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
        assert version is not None and version[0] == "0.6.2"
        conn.execute("CREATE TABLE items (id int PRIMARY KEY, embedding vector(3))")
        for item, values in POINTS.items():
            conn.execute("INSERT INTO items VALUES (%s, %s::vector)", (item, _vector(values)))
        conn.execute("CREATE INDEX items_hnsw ON items USING hnsw (embedding vector_cosine_ops)")
        conn.execute("SET enable_seqscan = off")
        query = "SELECT id FROM items ORDER BY embedding <=> %s::vector LIMIT 3"
        plan = "\n".join(row[0] for row in conn.execute("EXPLAIN " + query, (_vector((1, 0.1, 0)),)))
        assert "items_hnsw" in plan, plan
        assert [row[0] for row in conn.execute(query, (_vector((1, 0.1, 0)),))] == [1, 2, 3]


def test_postgres_db_is_a_new_empty_database_each_time(postgres: Postgres, postgres_db: str) -> None:
    with psycopg.connect(postgres_db, autocommit=True) as conn:
        conn.execute("CREATE TABLE mine (x int)")
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
        assert tables == (1,)
    assert postgres.sql("SELECT count(*) FROM pg_tables WHERE tablename = 'mine'") == "0"  # not in the session db
    name = postgres_db.rsplit("/", 1)[1]
    assert postgres.sql(f"SELECT count(*) FROM pg_database WHERE datname = '{name}'", database="postgres") == "1"


def test_wrong_password_is_refused(postgres: Postgres) -> None:
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(postgres.url.replace(":mathnotes@", ":wrong@"), connect_timeout=5)


def test_killed_postgres_comes_back_with_its_committed_rows(tmp_path: Path, start_server: StartServer) -> None:
    server = start_server(Postgres(tmp_path / "pg"))
    assert server.proc is not None
    uid = next(line for line in Path(f"/proc/{server.proc.pid}/status").read_text().splitlines() if line[:4] == "Uid:")
    assert uid.split()[1] != "0", "PostgreSQL must not run as root"
    conn = psycopg.connect(server.url, autocommit=True)
    conn.execute("CREATE TABLE kept (x int)")
    conn.execute("INSERT INTO kept SELECT generate_series(1, 1000)")
    postmaster = server.proc.pid
    assert descendants(postmaster), "no backends?"
    server.kill()
    assert descendants(postmaster) == []  # the backends died with it, as in a crash
    with pytest.raises(psycopg.OperationalError):
        conn.execute("SELECT 1")
    conn.close()
    server.start()
    with psycopg.connect(server.url) as again:
        assert again.execute("SELECT count(*), sum(x) FROM kept").fetchone() == (1000, 500500)
    assert server.stop() == 0  # fast shutdown, even with the session's connections gone
