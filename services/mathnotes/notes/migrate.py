"""Versioned schema migrations for both backends: ``migrations/<sqlite|postgres>/NNNN_name.sql``.

:func:`migrate` waits for the database (at most ``wait_s``, then a :class:`MigrationError` naming the
database and the last error), then applies, in order and each in one transaction together with its row
in ``schema_migrations(version, applied_at)``, every script newer than the database's version. It is
idempotent (a second run applies nothing; the scripts themselves only ``CREATE … IF NOT EXISTS``, or drop
what they build again) and
safe when two processes start at once (PostgreSQL: an advisory lock; SQLite: ``BEGIN IMMEDIATE``).
A database whose version is newer than the newest script here is refused: this release does not know
that schema and must not write to it.

Scripts are package data (``pyproject.toml``, ``[tool.setuptools.package-data]``).
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import resources
from typing import Any

from .db import Database, DbUnavailable

__all__ = ["MigrationError", "Script", "current_version", "migrate", "scripts", "wait_for"]

ADVISORY_LOCK = 0x6D6E6F746573  # "mnotes": one migrator at a time on PostgreSQL
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class MigrationError(RuntimeError):
    """The schema cannot be brought up to date; ``str(err)`` is one line saying why."""


@dataclass(frozen=True)
class Script:
    version: int
    name: str
    sql: str


def scripts(kind: str) -> list[Script]:
    """The migrations shipped for ``kind`` (``sqlite`` or ``postgres``), oldest first."""
    folder = resources.files("mathnotes.notes") / "migrations" / kind
    found = []
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Script(int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort(key=lambda s: s.version)
    if [s.version for s in found] != list(range(1, len(found) + 1)):
        raise MigrationError(f"migrations for {kind} are not numbered 1..n: {[s.name for s in found]}")
    return found


def wait_for(
    db: Database,
    wait_s: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Return once the database answers ``SELECT 1``; :class:`MigrationError` after ``wait_s`` seconds."""
    deadline = clock() + wait_s
    delay = 0.2
    while True:
        try:
            with db.connection() as conn:
                conn.execute("SELECT 1").fetchone()
            return
        except DbUnavailable as err:
            left = deadline - clock()
            if left <= 0:
                raise MigrationError(
                    f"the notes database at {db.where} did not answer within {wait_s:g} s (NOTES_DB_WAIT_S): {err}"
                ) from err
            sleep(min(delay, left))
            delay = min(delay * 2, 2.0)


def _version(conn: Any) -> int:
    row = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()
    return int(row[0] or 0)


def current_version(db: Database) -> int:
    """The database's schema version (0: never migrated)."""
    with db.connection() as conn:
        if db.kind == "postgres":
            exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()[0]
        else:
            exists = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'schema_migrations'").fetchone()
        return _version(conn) if exists else 0


def _statements(sql: str) -> list[str]:
    """SQLite: ``sql`` cut into whole statements (a trigger's body keeps its semicolons)."""
    out, pending = [], ""
    for line in sql.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            out.append(pending.strip())
            pending = ""
    if pending.strip() and not all(ln.strip().startswith("--") or not ln.strip() for ln in pending.splitlines()):
        raise MigrationError(f"unterminated statement at the end of a migration: {pending.strip()[:80]!r}")
    return out


def migrate(db: Database, wait_s: float, now: Callable[[], datetime] | None = None) -> int:
    """Wait for the database, bring its schema up to date, return the version it is at."""
    now = now or (lambda: datetime.now(timezone.utc))
    wait_for(db, wait_s)
    known = scripts(db.kind)
    newest = known[-1].version if known else 0
    postgres = db.kind == "postgres"
    with db.transaction(timeout_s=0) as conn:  # no statement ceiling: an index build may take a while
        if postgres:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (ADVISORY_LOCK,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, applied_at "
            + ("timestamptz" if postgres else "TEXT")
            + " NOT NULL)"
        )
        version = _version(conn)
        if version > newest:
            raise MigrationError(
                f"the notes database at {db.where} has schema version {version}; this release knows up to "
                f"{newest}: run a newer mathnotes (or restore a backup made by this one)"
            )
        for script in known[version:]:
            if postgres:
                conn.execute(script.sql)
                conn.execute("INSERT INTO schema_migrations VALUES (%s, %s)", (script.version, now()))
            else:
                for statement in _statements(script.sql):
                    conn.execute(statement)
                stamp = now().isoformat(timespec="microseconds")
                conn.execute("INSERT INTO schema_migrations VALUES (?, ?)", (script.version, stamp))
            version = script.version
    return version
