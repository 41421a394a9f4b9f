"""The notes library's database in the compose stack, wired as compose wires it, on a real PostgreSQL + pgvector.

``docker/postgres/init/20-mathnotes.sh`` runs with the environment compose gives the postgres service (from a
``.env`` filled by ``scripts/init-env.sh``); the vision service then migrates with the ``DATABASE_URL`` compose
gives it (the library's real migrations), and Grafana logs in as the provisioned data source does. Checked:
separate databases and users, the library owner is no superuser, Grafana's role reads only the dashboard's
columns and writes nothing, the script is idempotent and applies a changed password.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from psycopg import errors

from mathnotes.common.settings import load
from mathnotes.notes.migrate import scripts
from mathnotes.vision.settings import VisionSettings

from .composefile import filled_env, resolved_services, service_env
from .pgcluster import Cluster, local_url, migrate_as_vision, run_init
from .rig import REPO

DASHBOARD_COLUMNS = ("id", "owner", "task", "language", "source", "created_at", "checked_steps", "wrong_steps")
PRIVATE_COLUMNS = ("title", "tags", "answer", "body", "words", "image", "embedding", "model")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return filled_env(
        tmp_path_factory.mktemp("notes-env"), DOMAIN="notes.example.com", N8N_OWNER_EMAIL="owner@example.com"
    )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> Iterator[Cluster]:
    """The stack's PostgreSQL after its first start: the init script has run, the vision service has migrated."""
    server = Cluster(tmp_path_factory.mktemp("stack-postgres"))
    try:
        server.start()
        done = run_init(server, service_env(env, "postgres"))
        assert done.returncode == 0, done.stdout + done.stderr
        migrate_as_vision(service_env(env, "vision"), server)
        yield server
    finally:
        server.stop()


def grafana_login(env: dict[str, str], cluster: Cluster) -> dict[str, Any]:
    """What Grafana's provisioned data source connects with (grafana/provisioning/datasources/postgres.yaml)."""
    (ds,) = yaml.safe_load((REPO / "grafana" / "provisioning" / "datasources" / "postgres.yaml").read_text())[
        "datasources"
    ]
    grafana = service_env(env, "grafana")

    def fill(text: str) -> str:
        return re.sub(r"\$\{(\w+)\}", lambda m: grafana[m.group(1)], text)

    assert fill(ds["url"]) == "postgres:5432" and fill(ds["jsonData"]["sslmode"]) == "disable"
    return {
        "host": cluster.host,
        "port": cluster.port,
        "dbname": ds["jsonData"]["database"],
        "user": ds["user"],
        "password": fill(ds["secureJsonData"]["password"]),
        "connect_timeout": 5,
    }


def owner_url(env: dict[str, str], cluster: Cluster) -> str:
    return local_url(service_env(env, "vision")["DATABASE_URL"], cluster)


def test_compose_wires_the_library_to_its_own_database_and_user(env: dict[str, str]) -> None:
    services = resolved_services(env)
    postgres, vision, grafana = (service_env(env, name) for name in ("postgres", "vision", "grafana"))
    assert re.fullmatch(r"pgvector/pgvector:0\.8\.\d+-pg16-bookworm", services["postgres"]["image"])
    assert "./docker/postgres/init:/docker-entrypoint-initdb.d:ro" in services["postgres"]["volumes"]
    assert services["postgres"]["healthcheck"]["test"][1:4] == ["pg_isready", "-h", "127.0.0.1"]
    assert vision["DATABASE_URL"] == f"postgresql://mathnotes:{env['MATHNOTES_DB_PASSWORD']}@postgres:5432/mathnotes"
    assert postgres["MATHNOTES_DB_PASSWORD"] == env["MATHNOTES_DB_PASSWORD"] != env["POSTGRES_PASSWORD"]
    assert grafana["MATHNOTES_GRAFANA_DB_PASSWORD"] == postgres["MATHNOTES_GRAFANA_DB_PASSWORD"]
    assert len({env["MATHNOTES_DB_PASSWORD"], env["MATHNOTES_GRAFANA_DB_PASSWORD"], env["POSTGRES_PASSWORD"]}) == 3
    assert services["vision"]["depends_on"]["postgres"] == {"condition": "service_healthy"}
    settings = load(VisionSettings, vision, env_file="/nonexistent/.env")
    assert settings.database_url == vision["DATABASE_URL"] and settings.notes_enabled


def test_a_managed_database_replaces_the_container_by_one_variable(tmp_path: Path) -> None:
    managed = "postgresql://mathnotes:s3cret@pgm-bp1example.pg.rds.aliyuncs.com:5432/mathnotes?sslmode=require"
    env = filled_env(
        tmp_path,
        DOMAIN="notes.example.com",
        N8N_OWNER_EMAIL="o@example.com",
        NOTES_DATABASE_URL=managed,
        NOTES_DB_SSLMODE="require",
    )
    assert service_env(env, "vision")["DATABASE_URL"] == managed
    assert service_env(env, "grafana")["NOTES_DB_SSLMODE"] == "require"


def test_the_notes_queue_lives_on_a_named_volume_the_image_prepares(env: dict[str, str]) -> None:
    vision = resolved_services(env)["vision"]
    notes_dir = vision["environment"]["NOTES_DIR"]
    (volume,) = [v for v in vision["volumes"] if v.endswith(f":{notes_dir}")]
    assert not volume.startswith((".", "/")), "a named volume, kept across releases"
    dockerfile = (REPO / "docker" / "mathnotes" / "Dockerfile").read_text()
    made = re.search(r"install -d -o mathnotes -g mathnotes ([^\n;\\]+)", dockerfile)
    assert made and notes_dir in made.group(1).split(), "owned by the image's user, or the volume is root's"


def test_the_library_owner_migrated_its_database_and_is_no_superuser(env: dict[str, str], cluster: Cluster) -> None:
    with psycopg.connect(owner_url(env, cluster), connect_timeout=5) as conn:
        row = conn.execute(
            "SELECT current_user, rolsuper, rolcreatedb, rolcreaterole, "
            "(SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()), "
            "(SELECT extversion FROM pg_extension WHERE extname = 'vector'), "
            "(SELECT max(version) FROM schema_migrations) FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
    assert row is not None
    assert row[:5] == ("mathnotes", False, False, False, "mathnotes")
    assert row[5] and row[6] == scripts("postgres")[-1].version


@pytest.mark.parametrize("who", ["owner", "grafana"])
def test_neither_library_role_reaches_n8ns_database(env: dict[str, str], cluster: Cluster, who: str) -> None:
    if who == "grafana":
        login = {**grafana_login(env, cluster), "dbname": "n8n"}
    else:
        login = {"conninfo": owner_url(env, cluster).rsplit("/", 1)[0] + "/n8n", "connect_timeout": 5}
    with pytest.raises(psycopg.OperationalError, match='permission denied for database "n8n"'):
        psycopg.connect(**login).close()


def test_grafana_reads_the_dashboard_columns_and_nothing_else(env: dict[str, str], cluster: Cluster) -> None:
    now = datetime.now(timezone.utc)
    with psycopg.connect(owner_url(env, cluster), connect_timeout=5, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO notes (id, owner, title, source, task, language, model, answer, body, words, checked_steps, "
            "wrong_steps, created_at, updated_at) VALUES ('a1', 'shared', 't', 'api', 'solve', 'en', 'm', '{}', "
            "'secret page text', 'secret', 4, 1, %s, %s)",
            (now, now),
        )
        conn.execute("INSERT INTO note_formulas VALUES ('a1', 0, 'x^{2}', 'x^2', 'k')")
        conn.execute("INSERT INTO search_log VALUES (%s, 'shared', 'words', 3.5, 1)", (now,))
    with psycopg.connect(**grafana_login(env, cluster), autocommit=True) as conn:
        columns = ", ".join(DASHBOARD_COLUMNS)
        assert conn.execute(f"SELECT {columns} FROM notes").fetchall()[0][:5] == ("a1", "shared", "solve", "en", "api")
        assert conn.execute("SELECT norm FROM note_formulas").fetchall() == [("x^2",)]
        assert conn.execute("SELECT modes, ms FROM search_log").fetchall() == [("words", 3.5)]
        for column in PRIVATE_COLUMNS:
            with pytest.raises(errors.InsufficientPrivilege):
                conn.execute(f"SELECT {column} FROM notes")
        for statement in (
            "SELECT * FROM notes",
            "SELECT * FROM note_formula_grams",
            "SELECT * FROM schema_migrations",
            "DELETE FROM search_log",
            "CREATE TABLE mine (x int)",
        ):
            with pytest.raises((errors.InsufficientPrivilege, errors.ReadOnlySqlTransaction)):
                conn.execute(statement)
        assert conn.execute("SHOW default_transaction_read_only").fetchone() == ("on",)
        assert conn.execute("SHOW statement_timeout").fetchone() == ("30s",)


def test_the_init_script_runs_again_and_takes_a_changed_password(env: dict[str, str], cluster: Cluster) -> None:
    changed = {**service_env(env, "postgres"), "MATHNOTES_DB_PASSWORD": "changed-in-dotenv"}
    done = run_init(cluster, changed)
    assert done.returncode == 0, done.stdout + done.stderr
    try:
        url = owner_url(env, cluster)
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(url, connect_timeout=5).close()
        with psycopg.connect(url.replace(env["MATHNOTES_DB_PASSWORD"], "changed-in-dotenv"), connect_timeout=5) as c:
            assert c.execute("SELECT count(*) FROM notes").fetchone() is not None  # nothing was dropped
    finally:
        assert run_init(cluster, service_env(env, "postgres")).returncode == 0


def test_the_init_script_names_a_missing_password(env: dict[str, str], cluster: Cluster) -> None:
    missing = {k: v for k, v in service_env(env, "postgres").items() if k != "MATHNOTES_GRAFANA_DB_PASSWORD"}
    done = run_init(cluster, missing)
    assert done.returncode != 0 and "MATHNOTES_GRAFANA_DB_PASSWORD is not set" in done.stderr
