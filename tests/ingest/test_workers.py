"""The watchdog's bookkeeping, pure: a clock that the test moves, threads that are real."""

from __future__ import annotations

import threading

from mathnotes.ingest.workers import Workers


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_failing_for_counts_an_unbroken_stall_and_resets_when_it_ends() -> None:
    clock, alive = Clock(), threading.current_thread()
    workers = Workers(stall_s=5, clock=clock)
    workers.watch("writer", lambda: alive)
    beat = workers.beater("writer")
    assert workers.failing_for() == (0.0, [])
    clock.now += 6  # silent past stall_s: failing from this check on
    assert workers.failing_for() == (0.0, ["writer"])
    clock.now += 10
    assert workers.failing_for() == (10.0, ["writer"])
    beat()  # it moved again: the count starts over
    assert workers.failing_for() == (0.0, [])
    clock.now += 6
    assert workers.failing_for() == (0.0, ["writer"])


def test_a_dead_thread_fails_at_once() -> None:
    clock = Clock()
    done = threading.Thread(target=lambda: None)
    done.start()
    done.join()
    workers = Workers(stall_s=60, clock=clock)
    workers.watch("mqtt", lambda: done, beats=False)
    workers.watch("parser", lambda: None)
    assert workers.failing() == ["mqtt", "parser"]
    clock.now += 3
    assert workers.failing_for() == (0.0, ["mqtt", "parser"])
    clock.now += 3
    assert workers.failing_for() == (3.0, ["mqtt", "parser"])
