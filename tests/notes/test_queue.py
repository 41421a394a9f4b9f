"""The save queue: a put never waits for the database; while it is away items wait on disk, bounded; none lost.

The database here is a real SQLite file locked by another connection (``BEGIN EXCLUSIVE``), as a backup
or a second writer would; the library-level tests do the same with a real PostgreSQL stopped mid-stream.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from mathnotes.notes import queue as notes_queue
from mathnotes.notes.db import SqliteDatabase
from mathnotes.notes.queue import WRITER_NICE, DiskQueue, WriteQueue
from tests.procfs import stat
from tests.support.servers import wait_until


class Target:
    """A real SQLite table as the store: ``write`` inserts (an id twice is skipped), ``bad…`` values are refused."""

    def __init__(self, path: Path) -> None:
        self.db = SqliteDatabase(path, statement_timeout_s=2, busy_s=0.2)
        with self.db.transaction() as conn:
            conn.execute("CREATE TABLE t (seq INTEGER PRIMARY KEY, v TEXT UNIQUE CHECK (v NOT LIKE 'bad%'))")

    def write(self, items: list[str]) -> None:
        with self.db.transaction() as conn:
            conn.executemany("INSERT INTO t (v) VALUES (?) ON CONFLICT (v) DO NOTHING", [(i,) for i in items])

    def rows(self) -> list[str]:
        conn = sqlite3.connect(self.db.path)
        try:
            return [r[0] for r in conn.execute("SELECT v FROM t ORDER BY seq")]
        finally:
            conn.close()


@pytest.fixture
def target(tmp_path: Path) -> Target:
    return Target(tmp_path / "target.sqlite3")


def _queue(target: Target, disk: DiskQueue, events: Counter[str], length: int = 1000) -> WriteQueue[str]:
    return WriteQueue(
        target.write,
        encode=str.encode,
        decode=bytes.decode,
        size=len,
        disk=disk,
        length=length,
        on_event=lambda result, n: events.update({result: n}),
    )


@pytest.fixture
def lock(target: Target) -> Iterator[threading.Event]:
    """Set it and the target database is held under an exclusive lock by another connection until cleared."""
    want = threading.Event()
    done = threading.Event()

    def hold() -> None:
        conn = sqlite3.connect(target.db.path, isolation_level=None)
        while not done.is_set():
            if want.wait(0.05):
                conn.execute("BEGIN EXCLUSIVE")
                while want.is_set() and not done.is_set():
                    time.sleep(0.02)
                conn.execute("COMMIT")
        conn.close()

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    yield want
    done.set()
    holder.join(5)


# --- the disk queue ------------------------------------------------------------------------------------


def test_disk_queue_is_first_in_first_out_and_survives_a_restart(tmp_path: Path) -> None:
    disk = DiskQueue(tmp_path / "q", max_bytes=1000)
    assert disk.push([b"a", b"b", b"c"]) == 0
    disk.close()
    again = DiskQueue(tmp_path / "q", max_bytes=1000)
    rows = again.peek(2)
    assert [data for _, data in rows] == [b"a", b"b"]
    again.remove([seq for seq, _ in rows])
    assert [data for _, data in again.peek(10)] == [b"c"] and again.depth() == 1


def test_disk_queue_drops_the_oldest_past_its_bound(tmp_path: Path) -> None:
    disk = DiskQueue(tmp_path / "q", max_bytes=250)
    assert disk.push([b"1" * 100, b"2" * 100]) == 0
    assert disk.push([b"3" * 100]) == 1  # 300 bytes > 250: the oldest goes
    assert [data[:1] for _, data in disk.peek(10)] == [b"2", b"3"]
    assert disk.push([b"4" * 300]) == 3  # larger than the whole bound: nothing of it can stay
    assert disk.depth() == 0


def test_an_unreadable_disk_queue_is_set_aside_and_a_new_one_started(tmp_path: Path) -> None:
    (tmp_path / "q").mkdir()
    (tmp_path / "q" / "pending.sqlite3").write_bytes(b"this is not an SQLite database" * 100)
    disk = DiskQueue(tmp_path / "q", max_bytes=1000)
    assert disk.push([b"x"]) == 0 and disk.depth() == 1
    assert len(list((tmp_path / "q").glob("pending.unreadable-*.sqlite3"))) == 1


# --- the writer ------------------------------------------------------------------------------------------


def test_items_are_written_in_order(target: Target, tmp_path: Path) -> None:
    events: Counter[str] = Counter()
    q = _queue(target, DiskQueue(tmp_path / "q", 10**6), events)
    q.start()
    for i in range(200):
        assert q.put(f"n{i}") == "queued"
    assert wait_until(lambda: len(target.rows()) == 200, 30)
    q.stop()
    assert target.rows() == [f"n{i}" for i in range(200)]
    assert events == Counter(written=200)


def test_a_locked_database_sends_items_to_disk_and_they_all_arrive_once_it_is_free(
    target: Target, tmp_path: Path, lock: threading.Event
) -> None:
    events: Counter[str] = Counter()
    disk = DiskQueue(tmp_path / "q", 10**6)
    q = _queue(target, disk, events)
    q.start()
    q.put("before")
    assert wait_until(lambda: target.rows() == ["before"], 30)
    lock.set()
    time.sleep(0.2)
    slowest = 0.0
    for i in range(100):
        started = time.monotonic()
        assert q.put(f"n{i}") == "queued"
        slowest = max(slowest, time.monotonic() - started)
        if i == 10:
            assert wait_until(lambda: disk.depth() > 0, 30)  # the writer met the lock and spilled to disk
    assert slowest < 5  # a put never waits for the lock (generous ceiling; it is a memory append)
    assert wait_until(lambda: disk.depth() + q.depth() >= 1 and not q.database_ok, 30)
    lock.clear()
    assert wait_until(lambda: len(target.rows()) == 101, 60)
    q.stop()
    assert target.rows() == ["before", *(f"n{i}" for i in range(100))]
    assert events["written"] >= 101 and events["queued"] >= 1 and events["dropped"] == 0
    assert disk.depth() == 0


def test_a_full_memory_queue_spills_from_the_caller_and_loses_nothing(target: Target, tmp_path: Path) -> None:
    events: Counter[str] = Counter()
    disk = DiskQueue(tmp_path / "q", 10**6)
    q = _queue(target, disk, events, length=5)  # not started: nothing takes from memory yet
    for i in range(8):
        assert q.put(f"n{i}") == "queued"
    assert disk.depth() == 3  # the three that did not fit in memory
    q.start()
    assert wait_until(lambda: len(target.rows()) == 8, 30)
    q.stop()
    assert sorted(target.rows()) == sorted(f"n{i}" for i in range(8))
    assert events["dropped"] == 0


def test_the_disk_bound_is_kept_and_drops_are_counted(target: Target, tmp_path: Path, lock: threading.Event) -> None:
    events: Counter[str] = Counter()
    disk = DiskQueue(tmp_path / "q", max_bytes=10 * 100)
    q = _queue(target, disk, events)
    lock.set()
    time.sleep(0.2)
    q.start()
    for i in range(30):
        q.put(f"{i:03d}" + "x" * 97)  # 100 bytes each: the disk keeps 10
    assert wait_until(lambda: events["queued"] == 30, 30)
    lock.clear()
    assert wait_until(lambda: disk.depth() == 0 and len(target.rows()) == 10, 60)
    q.stop()
    assert events["dropped"] == 20
    assert [v[:3] for v in target.rows()] == [f"{i:03d}" for i in range(20, 30)]  # the newest ten


def test_an_item_the_store_refuses_is_dropped_alone(target: Target, tmp_path: Path) -> None:
    events: Counter[str] = Counter()
    q = _queue(target, DiskQueue(tmp_path / "q", 10**6), events)
    for value in ("a", "bad one", "b"):
        q.put(value)
    q.start()
    assert wait_until(lambda: len(target.rows()) == 2, 30)
    q.stop()
    assert target.rows() == ["a", "b"]
    assert events == Counter(written=2, dropped=1)


def test_stop_writes_what_is_still_in_memory(target: Target, tmp_path: Path) -> None:
    events: Counter[str] = Counter()
    q = _queue(target, DiskQueue(tmp_path / "q", 10**6), events)
    for i in range(20):
        q.put(f"n{i}")
    q.stop()  # never started: stop flushes
    assert len(target.rows()) == 20


def test_the_writer_outlives_a_failing_idle_hook(
    target: Target, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(notes_queue, "IDLE_EVERY_S", 0.0)
    calls: list[int] = []

    def idle() -> bool:
        calls.append(1)
        raise RuntimeError("backfill failed")

    q = WriteQueue(target.write, str.encode, bytes.decode, len, DiskQueue(tmp_path / "q", 10**6), 10, idle=idle)
    q.start()
    assert wait_until(lambda: len(calls) >= 2, 30)
    q.put("still writing")
    assert wait_until(lambda: target.rows() == ["still writing"], 30)
    assert q.alive
    q.stop()
    assert not q.alive


def test_the_writer_thread_runs_nicer_than_the_request_threads(target: Target, tmp_path: Path) -> None:
    """Niceness is per thread on Linux: the writer's CPU comes after the requests', the caller's is untouched."""
    q = _queue(target, DiskQueue(tmp_path / "q", 10**6), Counter())
    q.start()
    try:
        writer = next(t for t in threading.enumerate() if t.name == "notes-writer")
        assert writer.native_id is not None
        process = os.getpriority(os.PRIO_PROCESS, 0)
        assert process < 19 and WRITER_NICE > 0
        assert wait_until(lambda: _nice(writer.native_id) == min(19, process + WRITER_NICE), 5)
        assert _nice(threading.get_native_id()) == process
    finally:
        q.stop()


def _nice(tid: int) -> int:
    fields = stat(tid)  # /proc/<tid>/stat: field 19, the nice value
    assert fields is not None
    return int(fields[16])
