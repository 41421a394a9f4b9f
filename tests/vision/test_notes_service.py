"""The notes library in the real service and against a database that goes away: PostgreSQL killed while
pages are analysed, the gunicorn master migrating before its workers fork, a database that never answers,
a schema newer than this release."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import psycopg
import requests

from mathnotes.notes.migrate import scripts
from tests.support.fake_openai import FakeOpenAI
from tests.support.postgres import Postgres
from tests.support.servers import RunService, StartServer, console_script, free_port, wait_until

from .helpers import AppFactory, b64, service_env
from .notes_helpers import KEY_A, KEY_B, NOTE_WAIT_S, NotesClient, bearer, page_jpeg

PAGES = [f"Page {n}: $x^{n} + {n} = 0$" for n in range(1, 6)]


def _metric(text: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + " ") or
               line.startswith(name + "{"))  # fmt: skip


def test_the_database_killed_mid_stream_loses_no_analyze_and_no_note(
    make_app: AppFactory, model: FakeOpenAI, start_server: StartServer, tmp_path: Path
) -> None:
    database = start_server(Postgres(tmp_path / "pg"))
    _app, client = make_app({"DATABASE_URL": database.url, "VISION_API_KEYS": KEY_A, "NOTES_DIR": str(tmp_path / "n")})
    notes = NotesClient(client, model)
    before = notes.add("written while the database is up")

    database.kill()  # SIGKILL: postmaster and backends, a crash
    kept = []
    for n in range(len(PAGES)):
        answer = _streamed(notes) if n % 2 else notes.analyze(PAGES[n])
        assert answer["note_id"], answer  # the analyze answered 200 and named its note
        kept.append(answer["note_id"])
    down = notes.request("GET", "/api/notes")
    assert down.status_code == 503 and down.get_json()["error"]["code"] == "notes_unavailable"
    assert down.headers["Retry-After"]
    health = client.get("/health")
    assert health.status_code == 200 and health.get_json()["notes"]["writer"] is True  # alive, waiting
    assert wait_until(lambda: client.get("/health").get_json()["notes"]["database"] is False, NOTE_WAIT_S)
    assert client.get("/ready").get_json()["checks"]["notes"].startswith("unreachable")
    assert _metric(client.get("/metrics").get_data(as_text=True), 'vision_notes_saved_total{result="queued"}') >= 1

    database.start()  # recovers from its WAL; the writer's next retry drains the disk queue
    for note_id in kept:
        notes.wait(note_id)
    assert set(notes.ids(limit=100)) == {before, *kept}
    metrics = client.get("/metrics").get_data(as_text=True)
    assert _metric(metrics, 'vision_notes_saved_total{result="written"}') == len(kept) + 1
    assert _metric(metrics, 'vision_notes_saved_total{result="dropped"}') == 0
    assert client.get("/health").get_json()["notes"] == {
        "writer": True, "database": True, "queue_depth": 0, "backend": "postgres"
    }  # fmt: skip


def _streamed(notes: NotesClient) -> dict:
    import json

    resp = notes.request(
        "POST", "/api/vision/analyze", json={"image": b64(page_jpeg()), "stream": True, "cache": False}
    )
    assert resp.status_code == 200
    block = next(b for b in resp.get_data(as_text=True).split("\n\n") if b.startswith("event: answer"))
    return dict(json.loads(block.split("data: ", 1)[1]))


def test_the_service_migrates_once_and_every_worker_saves_and_finds(
    run_service: RunService, model: FakeOpenAI, postgres_db: str
) -> None:
    env = service_env(model, DATABASE_URL=postgres_db, VISION_WORKERS="2", VISION_API_KEYS=f"{KEY_A},{KEY_B}")
    proc = run_service("mathnotes-vision", env)
    ids = []
    for n in range(6):  # over both workers (each its own writer thread)
        resp = requests.post(
            f"{proc.url}/api/vision/analyze",
            json={"image": b64(page_jpeg()), "cache": False, "tags": [f"t{n}"], "source": "n8n"},
            headers=bearer(KEY_A),
            timeout=30,
        )
        assert resp.status_code == 200
        ids.append(resp.json()["note_id"])

    def listed() -> list[str]:
        page = requests.get(f"{proc.url}/api/notes", params={"limit": 50}, headers=bearer(KEY_A), timeout=10).json()
        return [n["id"] for n in page["notes"]]

    assert wait_until(lambda: set(listed()) == set(ids), NOTE_WAIT_S)
    assert requests.get(f"{proc.url}/api/notes", headers=bearer(KEY_B), timeout=10).json()["notes"] == []
    # 10 kB of CJK: too long for a URL (gunicorn refuses the request line), fine as a JSON body
    long_query = "积分微分矩阵特征值" * 1100
    in_url = requests.get(f"{proc.url}/api/notes", params={"q": long_query}, headers=bearer(KEY_A), timeout=30)
    assert in_url.status_code == 414
    in_body = requests.post(
        f"{proc.url}/api/notes/search", json={"q": long_query, "mode": "words", "limit": 5},
        headers=bearer(KEY_A), timeout=30,
    )  # fmt: skip
    assert in_body.status_code == 200 and in_body.json()["modes"] == ["words"]
    found = requests.post(f"{proc.url}/api/notes/search", json={"tag": "t3"}, headers=bearer(KEY_A), timeout=10)
    assert [n["id"] for n in found.json()["notes"]] == [ids[3]]
    health = requests.get(f"{proc.url}/health", timeout=5)
    assert health.status_code == 200 and health.json()["notes"]["writer"] is True
    metrics = requests.get(f"{proc.url}/metrics", timeout=5).text
    assert _metric(metrics, 'vision_notes_saved_total{result="written"}') == 6  # summed over the workers
    with psycopg.connect(postgres_db) as conn:
        versions = [s.version for s in scripts("postgres")]
        assert [v for (v,) in conn.execute("SELECT version FROM schema_migrations ORDER BY version")] == versions
        assert conn.execute("SELECT count(*), min(source) FROM notes").fetchone() == (6, "n8n")
    assert "notes database" in proc.log_text() and f"schema version {versions[-1]}" in proc.log_text()


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {"PATH": "/usr/bin:/bin", "ENV_FILE": "/nonexistent", "VISION_TELEMETRY": "false", **env}
    with tempfile.TemporaryDirectory(prefix="vision-notes-") as scratch:
        return subprocess.run([console_script("mathnotes-vision"), *args], env=full, capture_output=True, text=True,
                              timeout=120, cwd=scratch)  # fmt: skip


def test_a_database_that_never_answers_stops_the_start_with_one_clear_line() -> None:
    nowhere = f"postgresql://mathnotes:secret@127.0.0.1:{free_port()}/mathnotes"
    env = {"DATABASE_URL": nowhere, "NOTES_DB_WAIT_S": "1", "PORT": str(free_port()), "HOST": "127.0.0.1"}
    for args in ([], ["migrate"]):
        result = _run(args, env)
        assert result.returncode == 1, result.stderr
        last = result.stderr.strip().splitlines()[-1]
        assert "did not answer within 1 s (NOTES_DB_WAIT_S)" in last and "secret" not in result.stderr, last


def test_migrate_is_idempotent_and_refuses_a_newer_schema(postgres_db: str, tmp_path: Path) -> None:
    for kind, env in (("postgres", {"DATABASE_URL": postgres_db}), ("sqlite", {"NOTES_DIR": str(tmp_path / "sqlite")})):
        first, again = _run(["migrate"], env), _run(["migrate"], env)
        assert first.returncode == 0 and again.returncode == 0, first.stderr + again.stderr
        newest = f"schema version {scripts(kind)[-1].version}\n"
        assert first.stdout.endswith(newest) and again.stdout.endswith(newest), (first.stdout, again.stdout)
    with psycopg.connect(postgres_db, autocommit=True) as conn:
        conn.execute("INSERT INTO schema_migrations VALUES (99, now())")
    refused = _run(["migrate"], {"DATABASE_URL": postgres_db})
    assert refused.returncode == 1 and "schema version 99" in refused.stderr
