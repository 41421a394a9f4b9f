"""The decode budget: memory that decodes reserve before they start, first come first served.

A decode asks for what :func:`~mathnotes.vision.pixels.decode_cost` says it may hold
at its peak. One that fits the worker's own budget (``total_bytes``) waits until that
many bytes and a slot are free and every earlier request in the worker has had its turn
(so a large picture is not starved by a stream of small ones). A larger one, up to
``large_bytes``, is a *large decode*: it first takes an exclusive ``flock`` on
``lock_path``, a file every worker of the container opens (the kernel drops the lock
if the worker dies), then the whole worker budget, so at most one large decode runs
in the container at a time and nothing else decodes in its worker meanwhile.
Anything larger is refused at once.
"""

from __future__ import annotations

import collections
import ctypes
import ctypes.util
import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from .errors import VisionError

__all__ = ["BudgetExceeded", "DecodeBudget", "return_freed_memory", "shared_lock_path"]

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -3, -8


def return_freed_memory() -> bool:
    """Make glibc give a decode's memory back to the system when it is freed (False where that is not glibc).

    By default glibc raises its mmap threshold to the size of the last large block freed
    (up to 32 MB), after which Pillow's 16 MB image blocks come from per-thread heaps that
    keep freed memory resident: peak RSS then grows with every large decode on another thread.
    A fixed 1 MB threshold maps every large block and unmaps it on free; two arenas bound
    what small allocations can strand. Runs in the gunicorn master, so every worker inherits it.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    ok = mallopt(_M_MMAP_THRESHOLD, 1 << 20) == 1
    ok = mallopt(_M_TRIM_THRESHOLD, 4 << 20) == 1 and ok
    return mallopt(_M_ARENA_MAX, 2) == 1 and ok


_SHARED_LOCK: list[str] = []  # set in the gunicorn master before it forks; every worker inherits it


def shared_lock_path(path: str | None = None) -> str | None:
    """The container-wide large-decode lock file (``path`` sets it, in the master before forking)."""
    if path is not None:
        _SHARED_LOCK[:] = [path]
    return _SHARED_LOCK[0] if _SHARED_LOCK else None


class BudgetExceeded(VisionError):
    """One decode needs more than the whole budget: 400 ``image_too_large``."""

    def __init__(self, cost: int, total: int) -> None:
        super().__init__(
            "image_too_large",
            f"decoding this image would take {cost >> 20} MB; the limit is {total >> 20} MB "
            "(VISION_DECODE_LARGE_MB): send fewer pixels, or a JPEG",
        )


class DecodeBudget:
    def __init__(self, total_bytes: int, slots: int, large_bytes: int = 0, lock_path: str | None = None) -> None:
        if total_bytes < 1 or slots < 1:
            raise ValueError("a decode budget needs at least one byte and one slot")
        self.total = total_bytes
        self.large = max(large_bytes, total_bytes)
        self.lock_path = lock_path
        self._large_lock = threading.Lock()  # one large decode per worker; flock makes it one per container
        self.slots = slots
        self._free = total_bytes
        self._free_slots = slots
        self._queue: collections.deque[object] = collections.deque()
        self._cond = threading.Condition()

    @property
    def held(self) -> int:
        with self._cond:
            return self.total - self._free

    @contextmanager
    def hold(self, cost: int) -> Iterator[None]:
        """Hold ``cost`` bytes and a slot for the ``with`` block; BudgetExceeded if it can never fit."""
        if cost > self.large:
            raise BudgetExceeded(cost, self.large)
        if cost <= self.total:
            with self._reserve(cost):
                yield
            return
        with self._large_lock, self._container_lock(), self._reserve(self.total):
            yield

    @contextmanager
    def _container_lock(self) -> Iterator[None]:
        if self.lock_path is None:
            yield
            return
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing drops the lock

    @contextmanager
    def _reserve(self, cost: int) -> Iterator[None]:
        ticket = object()
        with self._cond:
            self._queue.append(ticket)
            try:
                while self._queue[0] is not ticket or cost > self._free or not self._free_slots:
                    self._cond.wait()
            finally:
                self._queue.remove(ticket)
                self._cond.notify_all()  # the next in line may fit now
            self._free -= cost
            self._free_slots -= 1
        try:
            yield
        finally:
            with self._cond:
                self._free += cost
                self._free_slots += 1
                self._cond.notify_all()
