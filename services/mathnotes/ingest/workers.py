"""Is every worker thread alive and moving? The watchdog behind ``/health``. Pure code (the clock is passed in).

Each worker thread calls its :meth:`Workers.beat` at least every second while idle and
before each step that may block (a write to InfluxDB waits at most its 10 s timeout). A
thread that has died, or has not beaten for ``stall_s`` seconds, is *failing*: ``/health``
answers 503 with ``"status": "stalled"`` and names it, and the container healthcheck reports
the container unhealthy. :meth:`Workers.failing_for` says how long some thread has been failing
without a break; the service exits once that passes ``INGEST_WORKER_EXIT_S``, so the container's
restart policy starts a fresh process (plain Docker Compose does not restart unhealthy containers).
Threads that only need to be alive (paho's network thread) are watched with ``beats=False``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Workers", "keep_going"]

log = logging.getLogger("mathnotes.ingest")


@dataclass
class _Watched:
    thread: Callable[[], threading.Thread | None]
    beats: bool
    last: float = field(default=0.0)


class Workers:
    def __init__(self, stall_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.stall_s, self.clock = stall_s, clock
        self._watched: dict[str, _Watched] = {}
        self._failing_since: float | None = None

    def watch(self, name: str, thread: Callable[[], threading.Thread | None], beats: bool = True) -> None:
        """Watch a thread from now on (``thread()`` finds it, since some are created later)."""
        self._watched[name] = _Watched(thread, beats, self.clock())

    def beater(self, name: str) -> Callable[[], None]:
        """The ``beat`` callable for the thread watched as ``name``."""
        watched = self._watched[name]
        clock = self.clock

        def beat() -> None:
            watched.last = clock()

        return beat

    def report(self) -> dict[str, dict[str, Any]]:
        """Per thread: ``alive``, ``idle_s`` (since its last beat, for beating threads) and ``ok``."""
        now = self.clock()
        out: dict[str, dict[str, Any]] = {}
        for name, watched in self._watched.items():
            thread = watched.thread()
            alive = thread is not None and thread.is_alive()
            entry: dict[str, Any] = {"alive": alive}
            ok = alive
            if watched.beats:
                entry["idle_s"] = round(now - watched.last, 1)
                ok = ok and now - watched.last <= self.stall_s
            entry["ok"] = ok
            out[name] = entry
        return out

    def failing(self, report: dict[str, dict[str, Any]] | None = None) -> list[str]:
        return [name for name, entry in (report or self.report()).items() if not entry["ok"]]

    def failing_for(self) -> tuple[float, list[str]]:
        """Seconds some thread has been failing without a break (0.0 when all are well), and which ones.

        Call it regularly (the service's watchdog does, every second): a gap in failing resets it.
        """
        now, failing = self.clock(), self.failing()
        if not failing:
            self._failing_since = None
            return 0.0, []
        if self._failing_since is None:
            self._failing_since = now
        return now - self._failing_since, failing


def keep_going(
    name: str,
    step: Callable[[], bool],
    beat: Callable[[], None],
    on_error: Callable[[], None],
    pause: Callable[[float], None],
    max_pause: float = 5.0,
) -> None:
    """A worker thread's loop: ``beat()``, then ``step()`` until it returns True (done).

    An unexpected error in ``step`` is logged, reported to ``on_error`` (a metric), and paused on
    (0.2 s doubling to ``max_pause``) before the loop goes on: the thread never dies of it.
    """
    failures = 0
    while True:
        beat()
        try:
            if step():
                return
            failures = 0
        except Exception:
            failures += 1
            on_error()
            log.exception("%s: unexpected error (%d in a row); going on", name, failures)
            pause(min(max_pause, 0.1 * 2**failures))
