"""``mathnotes.backup`` (what backup.sh runs on each volume) on real SQLite files that are being written.

A writer process commits rows in transactions of :data:`BATCH` while archives are taken; each archive
is restored into a fresh folder and the copy must be a sound database holding whole transactions
only, at least every row committed before the archive started. Rows only in the write-ahead log are
in the copy, an open transaction is not, and a transaction that holds the file locked is waited for.
"""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mathnotes.backup import BackupError, archive, restore
from tests.support.servers import wait_until

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


StartWriter = Callable[[str], Path]


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[StartWriter]:
    """Starts the writer on ``data/app.db`` in the journal mode asked for; stops it afterwards."""
    procs: list[subprocess.Popen[bytes]] = []
    stop = tmp_path / "stop-writing"

    def start(mode: str) -> Path:
        db = tmp_path / "data" / "app.db"
        db.parent.mkdir(exist_ok=True)
        procs.append(subprocess.Popen([sys.executable, "-c", WRITER, str(db), mode, str(stop), str(BATCH)]))
        assert wait_until(lambda: db.exists() and committed(db) >= 10 * BATCH, 60)
        return db

    yield start
    stop.touch()
    for proc in procs:
        assert proc.wait(60) == 0


@pytest.mark.parametrize("mode", ["delete", "wal"])
def test_archives_taken_while_a_writer_commits_hold_whole_transactions(
    tmp_path: Path, writer: StartWriter, mode: str
) -> None:
    db = writer(mode)
    (db.parent / "plugins").mkdir()
    (db.parent / "plugins" / "settings.ini").write_text("[server]\nroot_url = /grafana/\n")
    for n in range(5):
        floor = committed(db)
        out = tmp_path / f"data-{n}.tar.gz"
        done = archive(db.parent, out)
        assert done.databases == 1
        fresh = tmp_path / f"restored-{n}"
        fresh.mkdir()
        restore(out, fresh)
        assert not [p.name for p in fresh.iterdir() if p.name.startswith("app.db-")], "no -wal/-shm/-journal copied"
        rows = sound_rows(fresh / "app.db")
        assert rows >= floor and rows % BATCH == 0, (rows, floor)
        assert (fresh / "plugins" / "settings.ini").read_text().startswith("[server]")
    assert committed(db) > floor, "the writer kept writing through the backups"


def test_rows_only_in_the_wal_are_kept_and_an_open_transaction_is_not(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    db = sqlite3.connect(data / "webui.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=wal")
    db.execute("PRAGMA wal_autocheckpoint=0")  # committed pages stay in webui.db-wal
    db.execute("CREATE TABLE chat (id INTEGER PRIMARY KEY, text TEXT)")
    db.executemany("INSERT INTO chat (text) VALUES (?)", [(f"committed {i}",) for i in range(200)])
    assert (data / "webui.db-wal").stat().st_size > 0
    db.execute("BEGIN")
    db.execute("INSERT INTO chat (text) VALUES ('not committed yet')")
    out = tmp_path / "webui.tar.gz"
    archive(data, out)
    db.execute("COMMIT")
    db.close()
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    restore(out, fresh)
    copy = sqlite3.connect(fresh / "webui.db")
    texts = [t for (t,) in copy.execute("SELECT text FROM chat ORDER BY id")]
    copy.close()
    assert texts == [f"committed {i}" for i in range(200)]


# holds a transaction whose pages no longer fit in its cache, so SQLite spills them into the file and
# keeps it locked exclusively until the commit file appears
SPILLER = """
import os, sqlite3, sys, time
path, ready, go = sys.argv[1:4]
db = sqlite3.connect(path, isolation_level=None)
db.execute("PRAGMA cache_size=8")
db.execute("BEGIN IMMEDIATE")
db.executemany("INSERT INTO rows (body) VALUES (?)", [(os.urandom(4000),) for _ in range(300)])
open(ready, "w").close()
while not os.path.exists(go):
    time.sleep(0.05)
db.execute("COMMIT")
"""


def test_a_database_locked_mid_transaction_is_waited_for(tmp_path: Path) -> None:
    data, ready, go = tmp_path / "data", tmp_path / "ready", tmp_path / "go"
    data.mkdir()
    with sqlite3.connect(data / "grafana.db") as db:
        db.execute("CREATE TABLE rows (id INTEGER PRIMARY KEY, body BLOB)")
        db.executemany("INSERT INTO rows (body) VALUES (?)", [(b"before",) for _ in range(10)])
    spiller = subprocess.Popen([sys.executable, "-c", SPILLER, str(data / "grafana.db"), str(ready), str(go)])
    assert wait_until(ready.exists, 60)
    assert (data / "grafana.db-journal").exists(), "the transaction holds a hot journal"
    backup = subprocess.Popen(
        [sys.executable, "-m", "mathnotes.backup", "archive", str(data), str(tmp_path / "g.tar.gz")],
        stderr=subprocess.PIPE,
        text=True,
    )
    assert backup.stderr is not None
    assert "grafana.db is locked by a writer; waiting" in backup.stderr.readline()
    go.touch()
    assert spiller.wait(60) == 0
    assert backup.wait(60) == 0, backup.stderr.read()
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    restore(tmp_path / "g.tar.gz", fresh)
    copy = sqlite3.connect(fresh / "grafana.db")
    assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert copy.execute("SELECT count(*) FROM rows").fetchone()[0] == 310, "the transaction, committed meanwhile"
    copy.close()


def test_restore_wants_an_empty_folder_and_stays_inside_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "flows.json").write_text("[]")
    archive(data, tmp_path / "a.tar.gz")
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "old.txt").write_text("old")
    with pytest.raises(BackupError, match="not empty"):
        restore(tmp_path / "a.tar.gz", occupied)
    restore(tmp_path / "a.tar.gz", occupied, replace=True)
    assert sorted(p.name for p in occupied.iterdir()) == ["flows.json"]

    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        info = tarfile.TarInfo("link")
        info.type, info.linkname = tarfile.SYMTYPE, "../../etc"
        tar.addfile(info)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BackupError, match="outside"):
        restore(evil, empty)
    assert list(empty.iterdir()) == []
