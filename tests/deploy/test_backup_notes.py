"""``scripts/backup.sh`` and ``scripts/restore.sh`` on the notes library, with the real ``pg_dump``/``pg_restore``.

The stand-in docker (``fake_docker.py``) runs ``compose exec -T postgres pg_dump …`` with the bundled PostgreSQL
16 + pgvector client programs against a real server set up as the stack sets it up (``pgcluster.py``). The
backup is taken while a writer keeps saving notes, each note and its formulas in one transaction; it is restored
into a fresh stack's server (init script run, vision migrated), and the notes are read back: every note
committed before the backup, none torn from its formulas, embeddings and their HNSW index, the owner's
ownership and Grafana's grants as they were.
"""

from __future__ import annotations

import json
import random
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.support.servers import StartServer, wait_until

from .composefile import env_lines, service_env
from .pgcluster import Cluster, local_url, migrate_as_vision, run_init
from .test_backup_restore import calls, script, script_env

DIMENSIONS = 1024
T0 = datetime(2026, 11, 1, 8, 0, tzinfo=timezone.utc)


def vector(i: int) -> str:
    """A dense pseudo-random vector per note (what embeddings look like), in pgvector's text form."""
    rng = random.Random(i)
    return "[" + ",".join(f"{rng.uniform(-1, 1):.4f}" for _ in range(DIMENSIONS)) + "]"


def save_note(conn: psycopg.Connection[Any], i: int) -> None:
    """One note with two formulas, in one transaction (as the library's writer saves them)."""
    at = T0 + timedelta(minutes=i)
    with conn.transaction():
        conn.execute(
            "INSERT INTO notes (id, owner, title, tags, source, task, language, model, answer, body, words, "
            "checked_steps, wrong_steps, embedding, created_at, updated_at) VALUES (%s, 'key:0123456789abcdef', "
            "%s, %s, 'api', 'solve', 'zh', 'qwen3-vl-plus', %s, %s, %s, 3, %s, %s, %s, %s)",
            (
                f"{i:032x}",
                f"第 {i} 页",
                ["积分", f"t{i % 3}"],
                json.dumps({"markdown": f"$$\\int_0^{i} x\\,dx$$", "task": "solve"}),
                f"第 {i} 页 $$\\int_0^{i} x\\,dx$$",
                f"第 {i} 页",
                i % 2,
                vector(i),
                at,
                at,
            ),
        )
        for position, latex in enumerate((f"\\int_0^{{{i}}} x\\,dx", "x^{2}")):
            conn.execute(
                "INSERT INTO note_formulas VALUES (%s, %s, %s, %s, %s)",
                (f"{i:032x}", position, latex, latex.replace("{", "").replace("}", ""), f"k{position}-{i}"),
            )


def library(conn: psycopg.Connection[Any]) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Everything the library holds of its notes and formulas, in a comparable form."""
    notes = conn.execute(
        "SELECT id, owner, title, tags, answer, body, checked_steps, wrong_steps, embedding::text, created_at "
        "FROM notes ORDER BY id"
    ).fetchall()
    formulas = conn.execute("SELECT note_id, position, latex FROM note_formulas ORDER BY 1, 2").fetchall()
    return notes, formulas


def stack_postgres(tmp_path: Path, name: str, start_server: StartServer, dotenv: dict[str, str]) -> Cluster:
    """A server as the stack's first start leaves it: init script run, vision migrated."""
    cluster = start_server(Cluster(tmp_path / name))
    done = run_init(cluster, service_env(dotenv, "postgres"))
    assert done.returncode == 0, done.stdout + done.stderr
    migrate_as_vision(service_env(dotenv, "vision"), cluster)
    return cluster


def register(engine: Path, cluster: Cluster) -> None:
    """Tell the stand-in docker where ``compose exec postgres`` runs: the bundled client programs, this server."""
    (engine / "exec").mkdir(parents=True, exist_ok=True)
    target = {"path": [str(cluster.bindir)], "env": {k: v for k, v in cluster.client_env().items() if k != "PATH"}}
    (engine / "exec" / "postgres.json").write_text(json.dumps(target))


def test_the_library_backed_up_while_notes_arrive_restores_into_a_fresh_stack(
    tmp_path: Path, start_server: StartServer
) -> None:
    stack_env = script_env(tmp_path, tmp_path / "engine")
    dotenv = {**env_lines(Path(stack_env["ENV_FILE"]).read_text()), "N8N_OWNER_EMAIL": "owner@example.com"}
    engine, fresh_engine, backups = tmp_path / "engine", tmp_path / "fresh-engine", tmp_path / "backups"
    source = stack_postgres(tmp_path, "source", start_server, dotenv)
    register(engine, source)
    owner_url = local_url(service_env(dotenv, "vision")["DATABASE_URL"], source)

    saved = [0]
    stop = threading.Event()

    def keep_saving() -> None:
        with psycopg.connect(owner_url, connect_timeout=5, autocommit=True) as conn:
            while not stop.is_set():
                save_note(conn, saved[0])
                saved[0] += 1

    writer = threading.Thread(target=keep_saving, daemon=True)
    writer.start()
    try:
        assert wait_until(lambda: saved[0] >= 200, 60)
        floor = saved[0]
        done = script("backup.sh", [str(backups), "postgres", "notes"], stack_env)
    finally:
        stop.set()
        writer.join(30)
    assert done.returncode == 0, done.stdout + done.stderr
    [backup] = list(backups.iterdir())
    sums = (backup / "SHA256SUMS").read_text()
    assert "./n8n-postgres.dump" in sums and "./notes-postgres.dump" in sums
    dumps = [c["args"] for c in calls(engine) if c.get("compose") == "exec"]
    assert dumps == [["-T", "postgres", "pg_dump", "-U", "n8n", "-d", db, "-Fc"] for db in ("n8n", "mathnotes")]

    fresh = stack_postgres(tmp_path, "fresh", start_server, dotenv)
    register(fresh_engine, fresh)
    stack_env["FAKE_DOCKER_DIR"] = str(fresh_engine)
    done = script("restore.sh", [str(backup)], stack_env)
    assert done.returncode == 0, done.stdout + done.stderr
    seen = [(c["compose"], c["args"][2] if c["compose"] == "exec" else c["args"][-1]) for c in calls(fresh_engine)]
    assert seen == [
        ("stop", "n8n"),
        ("exec", "pg_restore"),
        ("start", "n8n"),
        ("stop", "vision"),
        ("exec", "pg_restore"),
        ("start", "vision"),
    ], "each database restored while the service writing it is stopped"

    with psycopg.connect(owner_url, connect_timeout=5) as conn:
        all_notes, all_formulas = library(conn)
        version = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()
    restored_url = local_url(service_env(dotenv, "vision")["DATABASE_URL"], fresh)
    with psycopg.connect(restored_url, connect_timeout=5, autocommit=True) as conn:
        notes, formulas = library(conn)
        # the backup is one snapshot: the notes committed before it, in the order they were saved, whole
        assert floor <= len(notes) <= saved[0] and notes == all_notes[: len(notes)]
        assert formulas == [f for f in all_formulas if f[0] <= notes[-1][0]] and len(formulas) == 2 * len(notes)
        assert conn.execute("SELECT max(version) FROM schema_migrations").fetchone() == version
        conn.execute("SET enable_seqscan = off")
        query = (vector(42),)
        plan = conn.execute("EXPLAIN SELECT id FROM notes ORDER BY embedding <=> %s::vector LIMIT 1", query).fetchall()
        assert "notes_embedding" in str(plan), plan
        nearest = conn.execute("SELECT id FROM notes ORDER BY embedding <=> %s::vector LIMIT 1", query).fetchone()
        assert nearest == (f"{42:032x}",)
        save_note(conn, 10**6)  # the library's user still owns its tables, and writes
        owners = conn.execute(
            "SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class WHERE relnamespace = 'public'::regnamespace "
            "AND relkind IN ('r', 'i')"
        ).fetchall()
        assert owners == [("mathnotes",)]
    grafana = {"user": "mathnotes_grafana", "password": dotenv["MATHNOTES_GRAFANA_DB_PASSWORD"]}
    with psycopg.connect(host=fresh.host, port=fresh.port, dbname="mathnotes", connect_timeout=5, **grafana) as conn:
        assert conn.execute("SELECT count(*) FROM notes WHERE wrong_steps > 0").fetchone() == (len(notes) // 2,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT answer FROM notes")
