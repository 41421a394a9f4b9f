"""The compose stack's PostgreSQL, as far as it can run here: a real PostgreSQL 16 + pgvector (``pgserver``) whose
bootstrap superuser is n8n's, set up by ``docker/postgres/init/20-mathnotes.sh`` with the environment
docker-compose.prod.yml gives the ``postgres`` service.

The image runs the init folder through ``psql`` on its Unix socket; here the same script reaches the server over
loopback TCP through libpq's ``PGHOST`` / ``PGPORT`` / ``PGPASSWORD``, with the bundled ``psql`` first on ``PATH``.
:func:`local_url` turns a URL naming the compose host ``postgres:5432`` into one for this server.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

from mathnotes.notes.db import NotesConfig, open_database
from mathnotes.notes.migrate import migrate
from tests.support.postgres import Postgres

from .rig import REPO

__all__ = ["INIT_SCRIPT", "Cluster", "local_url", "migrate_as_vision", "run_init"]

INIT_SCRIPT = REPO / "docker" / "postgres" / "init" / "20-mathnotes.sh"


class Cluster(Postgres):
    """A server whose superuser and first database are n8n's, as the image makes them from POSTGRES_USER/_DB."""

    user = "n8n"
    password = "n8n-superuser-test-password"
    database = "n8n"

    def client_env(self) -> dict[str, str]:
        """libpq's environment for the bundled client programs (psql, pg_dump, pg_restore) to reach this server."""
        return {
            "PATH": f"{self.bindir}{os.pathsep}{os.environ['PATH']}",
            "PGHOST": self.host,
            "PGPORT": str(self.port),
            "PGPASSWORD": self.password,
            "PGCONNECT_TIMEOUT": "5",
        }


def run_init(cluster: Cluster, service_env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """``20-mathnotes.sh`` with the postgres service's environment (``service_env``), against ``cluster``."""
    env = {**os.environ, **service_env, **cluster.client_env()}
    return subprocess.run([str(INIT_SCRIPT)], env=env, capture_output=True, text=True, timeout=120)


def local_url(url: str, cluster: Postgres) -> str:
    """``url`` (``postgresql://user:password@postgres:5432/db``) pointed at ``cluster`` instead."""
    parts = urlsplit(url)
    assert parts.hostname == "postgres" and parts.port == 5432, url
    credentials = parts.netloc.rsplit("@", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{credentials}@{cluster.host}:{cluster.port}"))


def migrate_as_vision(vision_env: Mapping[str, str], cluster: Postgres) -> int:
    """What the vision service does at start-up, with its ``DATABASE_URL`` pointed at ``cluster``: migrate."""
    db = open_database(NotesConfig(database_url=local_url(vision_env["DATABASE_URL"], cluster)))
    try:
        return migrate(db, wait_s=10)
    finally:
        db.close()
