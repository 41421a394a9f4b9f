"""A Grafana-style SQLite database kept busy by a writer process, and the checks a copy of it must pass.

The writer (:data:`WRITER`, started by the ``sqlite_writer`` fixture in conftest.py) commits :data:`BATCH`
rows per transaction until it is stopped; :func:`committed` is how far it got, :func:`sound_rows` checks a
restored copy.
"""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["BATCH", "WRITER", "StartWriter", "Writer", "committed", "sound_rows"]

BATCH = 50

# commits BATCH rows per transaction (each row: id, random body, the body's digest) until the stop file appears
WRITER = """
import hashlib, os, sqlite3, sys, time
path, mode, stop = sys.argv[1:4]
db = sqlite3.connect(path, timeout=60, isolation_level=None)
db.execute(f"PRAGMA journal_mode={mode}")
db.execute("CREATE TABLE IF NOT EXISTS rows (id INTEGER PRIMARY KEY, body BLOB, digest TEXT)")
n = db.execute("SELECT count(*) FROM rows").fetchone()[0]
while not os.path.exists(stop):
    db.execute("BEGIN IMMEDIATE")
    for _ in range(int(sys.argv[4])):
        n += 1
        body = os.urandom(500)
        db.execute("INSERT INTO rows VALUES (?, ?, ?)", (n, body, hashlib.sha256(body).hexdigest()))
    db.execute("COMMIT")
    time.sleep(0.005)  # a busy service, not a benchmark: the file stays a few MB
"""


def committed(path: Path) -> int:
    with sqlite3.connect(path, timeout=60) as db:
        return int(db.execute("SELECT coalesce(max(id), 0) FROM rows").fetchone()[0])


def sound_rows(path: Path) -> int:
    """Rows in a restored copy, after checking it: intact file, ids 1..n, every body matching its digest."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        ids, bad = 0, 0
        for n, (row_id, body, digest) in enumerate(db.execute("SELECT id, body, digest FROM rows ORDER BY id"), 1):
            assert row_id == n, f"row {n} is missing"
            bad += hashlib.sha256(body).hexdigest() != digest
            ids = n
        assert bad == 0
        return ids
    finally:
        db.close()


@dataclass
class Writer:
    """One running :data:`WRITER` on ``db``; ``stop()`` asks it to finish its transaction and exit."""

    db: Path
    proc: subprocess.Popen[bytes]
    stop_file: Path

    def stop(self) -> int:
        """Its exit code (0: every transaction it began was committed)."""
        self.stop_file.touch()
        return self.proc.wait(60)


# sqlite_writer(db, journal_mode): a Writer that has committed 10 batches to ``db``
StartWriter = Callable[[Path, str], Writer]
