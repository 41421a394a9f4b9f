"""``mathnotes.backup`` (what backup.sh runs on each volume) on real SQLite files that are being written.

A writer process commits rows in transactions of :data:`BATCH` while archives are taken; each archive
is restored into a fresh folder and the copy must be a sound database holding whole transactions
only, at least every row committed before the archive started. Rows only in the write-ahead log are
in the copy, an open transaction is not, and a transaction that holds the file locked is waited for.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mathnotes.backup import BackupError, archive, restore
from tests.support.servers import wait_until

from .sqlite_writer import BATCH, StartWriter, committed, sound_rows


@pytest.mark.parametrize("mode", ["delete", "wal"])
def test_archives_taken_while_a_writer_commits_hold_whole_transactions(
    tmp_path: Path, sqlite_writer: StartWriter, mode: str
) -> None:
    db = sqlite_writer(tmp_path / "data" / "app.db", mode).db
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


@dataclass
class HeldTransaction:
    """:data:`SPILLER` holding ``data/grafana.db`` locked (10 rows before it, 300 in its transaction)."""

    data: Path
    proc: subprocess.Popen[bytes]
    go: Path

    def commit(self) -> int:
        """Let it commit; its exit code."""
        self.go.touch()
        return self.proc.wait(60)


@pytest.fixture
def held_transaction(tmp_path: Path) -> Iterator[HeldTransaction]:
    data, ready, go = tmp_path / "data", tmp_path / "ready", tmp_path / "go"
    data.mkdir()
    with sqlite3.connect(data / "grafana.db") as db:
        db.execute("CREATE TABLE rows (id INTEGER PRIMARY KEY, body BLOB)")
        db.executemany("INSERT INTO rows (body) VALUES (?)", [(b"before",) for _ in range(10)])
    held = HeldTransaction(
        data, subprocess.Popen([sys.executable, "-c", SPILLER, str(data / "grafana.db"), str(ready), str(go)]), go
    )
    try:
        assert wait_until(ready.exists, 60)
        yield held
    finally:
        held.commit()


def test_a_database_locked_mid_transaction_is_waited_for(tmp_path: Path, held_transaction: HeldTransaction) -> None:
    data = held_transaction.data
    assert (data / "grafana.db-journal").exists(), "the transaction holds a hot journal"
    backup = subprocess.Popen(
        [sys.executable, "-m", "mathnotes.backup", "archive", str(data), str(tmp_path / "g.tar.gz")],
        stderr=subprocess.PIPE,
        text=True,
    )
    assert backup.stderr is not None
    assert "grafana.db is locked by a writer; waiting" in backup.stderr.readline()
    assert held_transaction.commit() == 0
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
