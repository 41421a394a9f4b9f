"""Where the notes live: the backend :class:`NotesConfig` selects, and bounded connections to it.

:class:`NotesConfig` is the library's whole configuration, a plain frozen dataclass: the vision service
maps its settings onto it (the notes package reads no environment of its own)::

    field                  setting                default
    notes_dir              NOTES_DIR              ./notes-data
    keep_images            NOTES_KEEP_IMAGES      True
    image_max_bytes        NOTES_IMAGE_MAX_BYTES  150000 (a larger thumbnail is not kept)
    queue_length           NOTES_QUEUE_LENGTH     1000
    queue_dir              NOTES_QUEUE_DIR        "" = <notes_dir>/queue
    queue_max_mb           NOTES_QUEUE_MAX_MB     64
    db_wait_s              NOTES_DB_WAIT_S        60
    database_url           DATABASE_URL           ""
    db_host .. db_password DB_HOST, DB_PORT (5432), DB_NAME, DB_USER, DB_PASSWORD
    embedding_model        EMBEDDING_MODEL        text-embedding-v4
    embedding_base_url     EMBEDDING_BASE_URL     "" (vision passes DASHSCOPE_BASE_URL when unset)
    embedding_api_key      EMBEDDING_API_KEY      "" (vision passes DASHSCOPE_API_KEY when unset); "" = no meaning mode
    embedding_dimensions   EMBEDDING_DIMENSIONS   1024
    embedding_timeout_s    -                      10
    statement_timeout_s    -                      2 (a search statement's ceiling, both backends)

``database_url`` (``postgresql://…``) or ``db_host`` select PostgreSQL (psycopg 3); otherwise the SQLite
file ``<notes_dir>/notes.sqlite3``. :func:`open_database` returns a :class:`Database`: ``connection()``
for reads (autocommit) and ``transaction()`` for writes, each bounded in time (PostgreSQL's
``statement_timeout``; an SQLite progress handler) and turning "cannot reach it, locked, read-only, timed
out" into :class:`DbUnavailable` (:class:`DbTimeout` for a statement cut short), so callers handle one
exception whatever the backend. Other errors (a constraint, a bug) pass through unchanged.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import psycopg
from psycopg import conninfo

__all__ = [
    "Database",
    "DbTimeout",
    "DbUnavailable",
    "NotesConfig",
    "PostgresDatabase",
    "SqliteDatabase",
    "open_database",
]

CONNECT_TIMEOUT_S = 5  # PostgreSQL: a connection attempt's ceiling
SQLITE_BUSY_S = 2.0  # SQLite: how long a writer waits for another's lock before the note goes to the queue
IDLE_CONNECTIONS = 8  # PostgreSQL connections kept open between uses


@dataclass(frozen=True)
class NotesConfig:
    notes_dir: str = "./notes-data"
    keep_images: bool = True
    image_max_bytes: int = 150_000
    queue_length: int = 1000
    queue_dir: str = ""
    queue_max_mb: int = 64
    db_wait_s: float = 60.0
    database_url: str = field(default="", repr=False)  # may hold a password
    db_host: str = ""
    db_port: int = 5432
    db_name: str = ""
    db_user: str = ""
    db_password: str = field(default="", repr=False)
    embedding_model: str = "text-embedding-v4"
    embedding_base_url: str = ""
    embedding_api_key: str = field(default="", repr=False)
    embedding_dimensions: int = 1024
    embedding_timeout_s: float = 10.0
    statement_timeout_s: float = 2.0

    @property
    def backend(self) -> Literal["sqlite", "postgres"]:
        return "postgres" if self.database_url or self.db_host else "sqlite"

    @property
    def sqlite_path(self) -> Path:
        return Path(self.notes_dir) / "notes.sqlite3"

    @property
    def queue_path(self) -> Path:
        return Path(self.queue_dir) if self.queue_dir else Path(self.notes_dir) / "queue"

    def postgres_conninfo(self) -> str:
        if self.database_url:
            return self.database_url
        parts: dict[str, str] = {"host": self.db_host, "port": str(self.db_port), "dbname": self.db_name}
        parts.update(user=self.db_user, password=self.db_password)
        return conninfo.make_conninfo(**{k: v for k, v in parts.items() if v})


class DbUnavailable(Exception):
    """The database cannot be reached or written now (down, locked, read-only, timed out)."""


class DbTimeout(DbUnavailable):
    """A statement ran past its ceiling and was cut short."""


class Database(Protocol):
    kind: Literal["sqlite", "postgres"]
    where: str  # for messages and logs: never a password

    def connection(self, timeout_s: float | None = None) -> Any:
        """A context manager giving an autocommit connection; ``timeout_s`` 0 = no ceiling."""
        ...

    def transaction(self, timeout_s: float | None = None) -> Any:
        """A context manager giving a connection inside one transaction, committed on success."""
        ...

    def close(self) -> None: ...


# --- SQLite ------------------------------------------------------------------------------------------


class SqliteDatabase:
    """One connection per thread (and per process, after a fork), WAL, foreign keys on."""

    kind: Literal["sqlite", "postgres"] = "sqlite"

    def __init__(self, path: str | os.PathLike[str], statement_timeout_s: float, busy_s: float = SQLITE_BUSY_S) -> None:
        self.path = Path(path)
        self.where = str(self.path)
        self.statement_timeout_s = statement_timeout_s
        self.busy_s = busy_s
        self._local = threading.local()

    def _open(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and getattr(self._local, "pid", 0) == os.getpid():
            return conn
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=self.busy_s, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
        except sqlite3.Error:
            conn.close()
            raise
        self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    @contextmanager
    def _bounded(self, timeout_s: float | None) -> Iterator[sqlite3.Connection]:
        limit = self.statement_timeout_s if timeout_s is None else timeout_s
        try:
            conn = self._open()
        except (sqlite3.Error, OSError) as err:
            raise DbUnavailable(f"cannot open {self.where}: {err}") from err
        if limit > 0:
            deadline = time.monotonic() + limit
            conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
        try:
            yield conn
        except sqlite3.OperationalError as err:
            if "interrupted" in str(err):
                raise DbTimeout(f"statement cut short after {limit} s") from err
            raise DbUnavailable(f"{self.where}: {err}") from err
        except sqlite3.DatabaseError as err:
            if isinstance(err, (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError)):
                raise
            raise DbUnavailable(f"{self.where}: {err}") from err
        finally:
            conn.set_progress_handler(None, 0)

    @contextmanager
    def connection(self, timeout_s: float | None = None) -> Iterator[sqlite3.Connection]:
        with self._bounded(timeout_s) as conn:
            yield conn

    @contextmanager
    def transaction(self, timeout_s: float | None = None) -> Iterator[sqlite3.Connection]:
        with self._bounded(timeout_s) as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


# --- PostgreSQL --------------------------------------------------------------------------------------


class PostgresDatabase:
    """A few idle psycopg connections reused across threads; a broken one is dropped, never reused."""

    kind: Literal["sqlite", "postgres"] = "postgres"

    def __init__(self, dsn: str, statement_timeout_s: float, idle_max: int = IDLE_CONNECTIONS) -> None:
        self.dsn = dsn
        parts = conninfo.conninfo_to_dict(dsn)
        self.where = f"postgresql://{parts.get('host', '')}:{parts.get('port', 5432)}/{parts.get('dbname', '')}"
        self.statement_timeout_s = statement_timeout_s
        self.idle_max = idle_max
        self._idle: list[psycopg.Connection[Any]] = []
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def _checkout(self) -> psycopg.Connection[Any]:
        with self._lock:
            if self._pid != os.getpid():  # after a fork: the parent's sockets are not ours to use
                self._idle, self._pid = [], os.getpid()
            while self._idle:
                conn = self._idle.pop()
                if not conn.closed:
                    return conn
        return psycopg.connect(self.dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)

    def _checkin(self, conn: psycopg.Connection[Any]) -> None:
        idle = conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        with self._lock:
            if idle and not conn.closed and len(self._idle) < self.idle_max and self._pid == os.getpid():
                self._idle.append(conn)
                return
        conn.close()

    @contextmanager
    def connection(self, timeout_s: float | None = None) -> Iterator[psycopg.Connection[Any]]:
        limit = self.statement_timeout_s if timeout_s is None else timeout_s
        conn: psycopg.Connection[Any] | None = None
        try:
            conn = self._checkout()
            if getattr(conn, "_notes_timeout", None) != limit:
                conn.execute(f"SET statement_timeout = {int(limit * 1000)}")
                conn._notes_timeout = limit  # type: ignore[attr-defined]
            yield conn
        except psycopg.errors.QueryCanceled as err:
            raise DbTimeout(f"statement cut short after {limit} s") from err
        except (psycopg.OperationalError, psycopg.InterfaceError) as err:
            if conn is not None:
                conn.close()
            raise DbUnavailable(f"{self.where}: {str(err).strip()}") from err
        finally:
            if conn is not None and not conn.closed:
                self._checkin(conn)

    @contextmanager
    def transaction(self, timeout_s: float | None = None) -> Iterator[psycopg.Connection[Any]]:
        with self.connection(timeout_s) as conn, conn.transaction():
            yield conn

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


def open_database(config: NotesConfig) -> Database:
    if config.backend == "postgres":
        return PostgresDatabase(config.postgres_conninfo(), config.statement_timeout_s)
    return SqliteDatabase(config.sqlite_path, config.statement_timeout_s)
