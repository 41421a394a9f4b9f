"""Saving that never blocks or fails the caller: a bounded memory queue, a writer thread, a disk queue.

:meth:`WriteQueue.put` only appends to a memory queue (bounded by ``length`` items and
:data:`MEMORY_MAX_BYTES`) and returns. One writer thread takes batches off it and calls ``write(batch)``.
When that raises :class:`~mathnotes.notes.db.DbUnavailable` (the database is down, locked or read-only) the
batch goes to the :class:`DiskQueue`, and so does everything after it until a retry (backing off from
:data:`RETRY_MIN_S` to :data:`RETRY_MAX_S`) writes the disk queue's oldest batch again; the disk queue is
then drained oldest first before new items are written, so order is kept. A full memory queue sends the
item straight to the disk queue from the caller's thread (a local SQLite insert).

The disk queue is one SQLite file (``<dir>/pending.sqlite3``; WAL, synchronous=NORMAL: what was put survives
the process being killed, not a power cut of the last moments), bounded by ``max_bytes``
of payload: past it the oldest items are dropped, counted and logged loudly. Writing an item twice is
harmless (the store skips an id it has). An item that the store refuses for any other reason (bad data)
is dropped alone, counted and logged, never retried forever. Counts go to ``on_event(result, n)`` with
``result`` one of ``written``, ``queued`` (put on the disk queue), ``dropped``. When nothing waits, the
``idle`` hook (the embedding backfill) runs at most every :data:`IDLE_EVERY_S`, or again at once while it
says there is more to do. The writer thread runs :data:`WRITER_NICE` steps nicer than the process
(:func:`lower_priority`), and starts a batch :data:`LINGER_S` after its first item arrived, so the request
that queued it sends its answer before the write takes CPU and the GIL (on SQLite the write runs in
this process), and on a busy core the requests' threads come first.
"""

from __future__ import annotations

import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

from .db import DbUnavailable

__all__ = ["MEMORY_MAX_BYTES", "WRITER_NICE", "DiskQueue", "WriteQueue", "lower_priority"]

log = logging.getLogger("mathnotes.notes.queue")
T = TypeVar("T")

MEMORY_MAX_BYTES = 32 * 1024 * 1024  # items waiting in memory, together (a note with its thumbnail ~ 160 kB)
BATCH = 50  # items per write
LINGER_S = 0.05  # after the first item, the writer waits this long: the request that queued it answers first
RETRY_MIN_S, RETRY_MAX_S = 0.5, 5.0  # retrying the database while it is away
IDLE_EVERY_S = 30.0  # the idle hook (embedding backfill) runs at most this often
WRITER_NICE = 10  # the writer thread runs this much nicer than the process: a busy core serves requests first


def lower_priority(nice: int = WRITER_NICE) -> bool:
    """Make the calling thread ``nice`` steps nicer (at most 19). Linux schedules threads, so ``setpriority``
    on the thread id affects it alone; raising one's own niceness needs no privilege. False where it fails."""
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + nice))
    except (AttributeError, OSError):
        return False
    return True


_DISK_SCHEMA = "CREATE TABLE IF NOT EXISTS pending (seq INTEGER PRIMARY KEY AUTOINCREMENT, size INTEGER, data BLOB)"


class DiskQueue:
    """A bounded FIFO of byte strings in one SQLite file, shared safely by the processes of one host."""

    def __init__(self, directory: str | Path, max_bytes: int) -> None:
        self.path = Path(directory) / "pending.sqlite3"
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
            try:
                conn.execute("PRAGMA auto_vacuum=FULL")  # freed pages go back to the disk
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute(_DISK_SCHEMA)
            except sqlite3.DatabaseError:
                conn.close()
                self._set_aside()
                conn = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
                conn.execute("PRAGMA auto_vacuum=FULL")
                conn.execute(_DISK_SCHEMA)
            self._conn = conn
        return self._conn

    def _set_aside(self) -> None:
        aside = self.path.with_name(f"pending.unreadable-{int(time.time())}.sqlite3")
        self.path.replace(aside)
        log.error("NOTES QUEUE UNREADABLE: %s moved to %s; starting an empty queue", self.path, aside.name)

    def push(self, items: list[bytes]) -> int:
        """Store ``items`` durably; returns how many (oldest first, these included) were dropped for space."""
        with self._lock:
            conn = self._db()
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany("INSERT INTO pending (size, data) VALUES (?, ?)", [(len(i), i) for i in items])
                dropped = 0
                total = conn.execute("SELECT coalesce(sum(size), 0) FROM pending").fetchone()[0]
                while total > self.max_bytes:
                    seq, size = conn.execute("SELECT seq, size FROM pending ORDER BY seq LIMIT 1").fetchone()
                    conn.execute("DELETE FROM pending WHERE seq = ?", (seq,))
                    total -= size
                    dropped += 1
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return dropped

    def peek(self, n: int) -> list[tuple[int, bytes]]:
        """The oldest ``n`` items with their sequence numbers (for :meth:`remove` once written)."""
        with self._lock:
            rows = self._db().execute("SELECT seq, data FROM pending ORDER BY seq LIMIT ?", (n,)).fetchall()
            return [(int(seq), bytes(data)) for seq, data in rows]

    def remove(self, seqs: list[int]) -> None:
        with self._lock:
            self._db().executemany("DELETE FROM pending WHERE seq = ?", [(s,) for s in seqs])

    def depth(self) -> int:
        with self._lock:
            return int(self._db().execute("SELECT count(*) FROM pending").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


class WriteQueue(Generic[T]):
    def __init__(
        self,
        write: Callable[[list[T]], None],
        encode: Callable[[T], bytes],
        decode: Callable[[bytes], T],
        size: Callable[[T], int],
        disk: DiskQueue,
        length: int,
        on_event: Callable[[str, int], None] | None = None,
        idle: Callable[[], bool] | None = None,
    ) -> None:
        self._write, self._encode, self._decode, self._size = write, encode, decode, size
        self.disk = disk
        self.length = length
        self._on_event = on_event or (lambda result, n: None)
        self._idle = idle
        self._memory: queue.Queue[T | None] = queue.Queue()  # None wakes the writer to stop
        self._bytes = 0
        self._full = False
        self._bytes_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        try:
            self._disk_waiting = disk.depth() > 0  # left over from a previous run
        except (sqlite3.Error, OSError) as err:
            log.error("notes disk queue %s cannot be opened: %s", disk.path, err)
            self._disk_waiting = False
        self._retry_at = 0.0
        self._retry_s = RETRY_MIN_S
        self.database_ok = True

    # --- the caller's side -----------------------------------------------------------------------

    def put(self, item: T) -> str:
        """Hand ``item`` over; never blocks on the database. ``queued``, or ``dropped`` if even the disk failed."""
        size = self._size(item)
        with self._bytes_lock:
            fits = self._memory.qsize() < self.length and self._bytes + size <= MEMORY_MAX_BYTES
            if fits:
                self._bytes += size
                self._memory.put(item)
            was_full, self._full = self._full, not fits
        if fits:
            return "queued"
        if not was_full:  # once per episode, not once per note
            log.warning(
                "notes memory queue full (%d items or %d bytes): saving to the disk queue", self.length, self._bytes
            )
        return "queued" if self._to_disk([item]) else "dropped"

    def depth(self) -> int:
        """Items waiting: in memory and on disk."""
        return self._memory.qsize() + (self.disk.depth() if self._disk_waiting else 0)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.alive:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="notes-writer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Write (or put on disk) what is in memory, then stop the thread."""
        self._stop.set()
        self._memory.put(None)
        if self._thread is not None:
            self._thread.join(timeout)
        self._flush_memory()

    # --- the writer thread -----------------------------------------------------------------------

    def _take(self, wait: float) -> list[T]:
        try:
            first = self._memory.get(timeout=wait)
        except queue.Empty:
            return []
        batch = [] if first is None else [first]
        if batch:
            self._stop.wait(LINGER_S)  # the caller still has its answer to send; a stop cuts the wait short
        while batch and len(batch) < BATCH:
            try:
                item = self._memory.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                batch.append(item)
        with self._bytes_lock:
            self._bytes -= sum(self._size(i) for i in batch)
        return batch

    def _run(self) -> None:
        lower_priority()
        last_idle = time.monotonic()
        while not self._stop.is_set():
            try:
                if self._disk_waiting and time.monotonic() >= self._retry_at:
                    self._drain_disk()
                    continue
                wait = max(0.05, min(1.0, self._retry_at - time.monotonic())) if self._disk_waiting else 1.0
                batch = self._take(wait)
                if batch:
                    if self._disk_waiting:
                        self._to_disk(batch)
                    else:
                        self._write_or_spill(batch)
                elif self._idle is not None and self.database_ok and time.monotonic() - last_idle > IDLE_EVERY_S:
                    last_idle = time.monotonic()
                    if self._idle():  # more to do: again after the next wait for items
                        last_idle = float("-inf")
            except Exception:  # the writer must outlive any one failure; /health watches it
                log.exception("notes writer: unexpected error; going on")
                self._stop.wait(1.0)

    def _write_or_spill(self, batch: list[T]) -> None:
        try:
            self._write_each(batch)
            self._back()
        except DbUnavailable as err:
            self._away(err)
            self._to_disk(batch)

    def _write_each(self, batch: list[T]) -> None:
        """``write(batch)``; if the store refuses it for a reason other than being away, item by item."""
        try:
            self._write(batch)
            self._on_event("written", len(batch))
            return
        except DbUnavailable:
            raise
        except Exception:
            if len(batch) == 1:
                log.exception("notes writer: a note was refused by the store and is dropped")
                self._on_event("dropped", 1)
                return
        for item in batch:
            self._write_each([item])

    def _drain_disk(self) -> None:
        rows = self.disk.peek(BATCH)
        if not rows:
            self._disk_waiting = False
            return
        items: list[T] = []
        for _seq, data in rows:
            try:
                items.append(self._decode(data))
            except Exception:
                log.exception("notes writer: an unreadable item in the disk queue is dropped")
                self._on_event("dropped", 1)
        try:
            self._write_each(items)
        except DbUnavailable as err:
            self._away(err)
            return
        self.disk.remove([seq for seq, _ in rows])
        if self._retry_s > RETRY_MIN_S or not self.database_ok:
            log.info("notes database is back: writing the disk queue")
        self._back()

    def _to_disk(self, batch: list[T]) -> bool:
        try:
            dropped = self.disk.push([self._encode(i) for i in batch])
        except (sqlite3.Error, OSError) as err:
            log.error("NOTES DROPPED: %d note(s) could not be put on the disk queue: %s", len(batch), err)
            self._on_event("dropped", len(batch))
            return False
        self._disk_waiting = True
        self._on_event("queued", len(batch))
        if dropped:
            log.error("NOTES DROPPED: the disk queue is over its bound; %d oldest note(s) dropped", dropped)
            self._on_event("dropped", dropped)
        return True

    def _away(self, err: Exception) -> None:
        if self.database_ok:
            log.warning("notes database unavailable (%s): notes go to the disk queue %s", err, self.disk.path)
        self.database_ok = False
        self._retry_at = time.monotonic() + self._retry_s
        self._retry_s = min(self._retry_s * 2, RETRY_MAX_S)

    def _back(self) -> None:
        self.database_ok = True
        self._retry_s = RETRY_MIN_S
        self._retry_at = 0.0

    def _flush_memory(self) -> None:
        while not self._memory.empty():
            batch = self._take(0.0)
            if not batch:
                continue
            if self._disk_waiting:
                self._to_disk(batch)
            else:
                self._write_or_spill(batch)
