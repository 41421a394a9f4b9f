"""A cache and rate-limit store shared by the gunicorn workers of one host, in SQLite.

Used when ``VISION_WORKERS`` > 1 and no ``REDIS_URL`` is set, so every worker sees the
same cached answers and the same request counts (the limiter on this store,
:class:`~mathnotes.vision.ratelimit.SqliteLimiter`, lives beside the other limiters). The database lives in a private
temporary folder (``VISION_STATE_DIR``); each process opens its own connection.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from ..common.logs import get_logger

__all__ = ["SqliteCache", "SqliteStore"]

log = get_logger("mathnotes.vision.store")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cache (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires REAL NOT NULL, used REAL NOT NULL);
CREATE INDEX IF NOT EXISTS cache_used ON cache (used);
CREATE TABLE IF NOT EXISTS windows (client TEXT PRIMARY KEY, ends REAL NOT NULL, count INTEGER NOT NULL);
"""


class SqliteStore:
    def __init__(self, folder: str) -> None:
        Path(folder).mkdir(parents=True, exist_ok=True)  # a missing folder must not silently disable limits
        self.path = Path(folder) / "vision-state.sqlite3"
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid = 0

    def run(self, work: Any) -> Any:
        """``work(connection)`` in one transaction, one thread of this process at a time."""
        with self._lock:
            if self._conn is None or self._pid != os.getpid():  # a fresh connection after fork
                self._conn = sqlite3.connect(self.path, timeout=5, isolation_level=None, check_same_thread=False)
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=OFF")
                self._conn.executescript(_SCHEMA)
                self._pid = os.getpid()
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = work(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result

    def ping(self) -> bool:
        try:
            return bool(self.run(lambda c: c.execute("SELECT 1").fetchone()))
        except sqlite3.Error:
            return False


class SqliteCache:
    def __init__(self, store: SqliteStore, max_entries: int, ttl_s: float) -> None:
        self.store, self.max_entries, self.ttl_s = store, max_entries, ttl_s

    def get(self, key: str) -> dict[str, Any] | None:
        now = time.time()

        def work(c: sqlite3.Connection) -> str | None:
            row = c.execute("SELECT value, expires FROM cache WHERE key = ?", (key,)).fetchone()
            if row is None:
                return None
            if row[1] < now:
                c.execute("DELETE FROM cache WHERE key = ?", (key,))
                return None
            c.execute("UPDATE cache SET used = ? WHERE key = ?", (now, key))
            return str(row[0])

        try:
            raw = self.store.run(work)
        except sqlite3.Error as err:
            log.warning("cache read failed: %s", err)
            return None
        return json.loads(raw) if raw else None

    def set(self, key: str, value: dict[str, Any]) -> None:
        if self.max_entries <= 0:
            return
        now = time.time()
        raw = json.dumps(value, ensure_ascii=False)

        def work(c: sqlite3.Connection) -> None:
            c.execute("INSERT OR REPLACE INTO cache VALUES (?, ?, ?, ?)", (key, raw, now + self.ttl_s, now))
            (count,) = c.execute("SELECT COUNT(*) FROM cache").fetchone()
            if count > self.max_entries:
                c.execute(
                    "DELETE FROM cache WHERE key IN (SELECT key FROM cache ORDER BY used LIMIT ?)",
                    (count - self.max_entries,),
                )

        try:
            self.store.run(work)
        except sqlite3.Error as err:
            log.warning("cache write failed: %s", err)

    def ping(self) -> bool:
        return self.store.ping()
