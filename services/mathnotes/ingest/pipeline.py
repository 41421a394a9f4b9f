"""The write pipeline: batches, retries, the disk spool, dead letters and acknowledgements.

One writer thread owns InfluxDB. Intake (MQTT callbacks, HTTP handlers) only
appends :class:`Item` objects and never waits on InfluxDB. The thread cuts a
batch when it holds ``batch_size`` lines, when half of ``window`` items are
waiting (the broker's in-flight window: no more arrive until some are acked, so
the other half keeps arriving while this batch is written),
when intake pauses for ``idle_flush`` (so a smaller broker window than
configured never stalls it), or ``flush_interval`` after its first item, then:

* writes it, retrying 429/5xx/unreachable with jittered backoff (honouring
  Retry-After), splitting on 413 and bisecting 400/422 answers so that only
  the bad lines go to the dead-letter queue;
* if InfluxDB stays unavailable for ``spool_after`` seconds, or the spool is
  not empty (order is kept), puts the batch in the disk spool instead;
* only then publishes its dead letters and acknowledges its items in order
  (``acknowledge``: the consumer's, one call per batch).

So an item is acknowledged once InfluxDB accepted its points or they are
fsync'd in the spool, which replays oldest first when InfluxDB answers again.

Nothing stops the thread but :meth:`Pipeline.stop`. When neither InfluxDB nor the disk takes a
batch (disk full), it goes back to the head of the queue, unacknowledged, and is tried again
after a growing pause (intake goes on into memory up to ``max_queued_lines``, then waits: the
MQTT reader pauses and the broker holds the rest). A batch that raises anything unexpected is
retried item by item, and an item that still raises is dead-lettered as ``internal_error``. Any
other error is logged and counted (``ingest_worker_errors_total{thread="writer"}``) and the loop
goes on after a pause. ``beat`` is called at least every second while the thread is idle and
before each write attempt, so a watchdog can tell a stuck or dead thread.
"""

from __future__ import annotations

import bisect
import collections
import logging
import random
import threading
import time
from collections.abc import Callable

from . import influx
from .errors import Refused, Retryable
from .items import DeadLetter, Item
from .metrics import IngestMetrics
from .spool import Spool
from .workers import keep_going
from .writes import write_isolating

__all__ = ["BEAT_S", "Pipeline"]

log = logging.getLogger("mathnotes.ingest.pipeline")
BEAT_S = 1.0  # longest idle wait between heartbeats
MAX_HOLD_S = 30.0  # longest pause before retrying a batch neither InfluxDB nor the disk took


class Pipeline:
    def __init__(
        self,
        writer: influx.Writer,
        spool: Spool,
        metrics: IngestMetrics,
        publish_dead: Callable[[DeadLetter], None],
        acknowledge: Callable[[list[Item]], None] = lambda _items: None,
        *,
        batch_size: int = 5000,
        flush_interval: float = 1.0,
        window: int = 1000,
        spool_after: float = 5.0,
        max_backoff: float = 5.0,
        idle_flush: float = 0.05,
        max_queued_lines: int = 50_000,
        beat: Callable[[], None] = lambda: None,
    ) -> None:
        self.idle_flush = idle_flush
        self.max_queued_lines = max_queued_lines
        self._overflowing = False
        self.writer, self.spool, self.metrics = writer, spool, metrics
        self.publish_dead, self.acknowledge, self.beat = publish_dead, acknowledge, beat
        self.batch_size, self.flush_interval, self.window = batch_size, flush_interval, window
        self.spool_after, self.max_backoff = spool_after, max_backoff
        self._items: collections.deque[Item] = collections.deque()
        self._lines = 0  # lines in self._items
        # Cut a batch at half the broker's in-flight window: the other half keeps arriving while it is written.
        self.max_items = max(1, window // 2)
        self._cond = threading.Condition()
        self._stopping = False
        self.thread = threading.Thread(target=self._run, name="ingest-writer", daemon=True)
        self._next_replay = 0.0
        self._replay_backoff = 0.5
        self._hold_until = 0.0  # a batch nothing took waits until then
        self._hold = 1.0
        self._quarantined = 0
        self.influx_ok = True
        self._update_spool_gauges()

    # --- intake ------------------------------------------------------------------

    def start(self) -> None:
        self.thread.start()

    def submit(self, item: Item, timeout: float | None = 5.0) -> bool:
        return self.submit_many([item], timeout)

    def submit_many(self, items: list[Item], timeout: float | None = None) -> bool:
        """Queue items for the writer; past ``max_queued_lines`` they go straight to the disk spool instead.

        The broker's in-flight window should keep the queue short, but a broker need not enforce it
        (Mosquitto 2.0.11 lets an acknowledging client run far past ``max_inflight_messages``), so
        memory stays bounded here: overflow is spooled (fsync'd) and acknowledged, and replays in order.
        If the disk refuses it too, this waits (up to ``timeout`` seconds) for room in the queue and
        returns False if none came: the items were not taken.
        """
        with self._cond:
            if self._lines < self.max_queued_lines or self._stopping:
                self._enqueue(items)
                self._overflowing = False
                return True
        if not self._overflowing:
            log.warning("write queue holds %d lines: spooling new messages until InfluxDB catches up", self._lines)
            self._overflowing = True
        lines = [line for item in items for line in item.lines]
        if lines and not self._spooled(lines):
            with self._cond:  # no disk either: wait for room in memory (the MQTT reader pauses meanwhile)
                if not self._cond.wait_for(lambda: self._lines < self.max_queued_lines or self._stopping, timeout):
                    return False
                self._enqueue(items)
                return True
        self._finish(items, "spooled", [item.dead for item in items if item.dead is not None])
        return True

    def _enqueue(self, items: list[Item]) -> None:
        """Append under ``self._cond`` (held by the caller) and wake the writer when a batch is due."""
        was_empty = not self._items
        self._items.extend(items)
        self._lines += sum(len(i.lines) for i in items)
        if was_empty or len(self._items) >= self.max_items or self._lines >= self.batch_size:
            self._cond.notify_all()

    def pending(self) -> int:
        return len(self._items)

    def pending_lines(self) -> int:
        return self._lines

    def stop(self, timeout: float = 30.0) -> None:
        """Flush everything queued (to InfluxDB or the spool), then stop the thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self.thread.join(timeout)

    # --- the writer thread ---------------------------------------------------------

    def _take_batch(self) -> list[Item]:
        with self._cond:
            while not self._stopping:
                now = time.monotonic()
                if self._items and now >= self._hold_until:
                    break
                if self.spool.depth and now >= self._next_replay:
                    return []
                self.beat()
                self._cond.wait(self._idle_wait(now))
            if not self._items:
                return []
            deadline = time.monotonic() + self.flush_interval
            while not self._stopping:
                if self._lines >= self.batch_size or len(self._items) >= self.max_items:
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                before = len(self._items)
                self._cond.wait(min(remaining, self.idle_flush))
                if len(self._items) == before:
                    break  # intake paused (a full in-flight window, or a lull): write what we have
            batch: list[Item] = []
            count = 0
            while self._items and count < self.batch_size:  # when behind, up to a full batch in one write
                item = self._items.popleft()
                batch.append(item)
                count += len(item.lines)
            self._lines -= count
            self._cond.notify_all()  # room for intake waiting in submit_many
            return batch

    def _idle_wait(self, now: float) -> float:
        wait = BEAT_S
        if self.spool.depth:
            wait = min(wait, self._next_replay - now)
        if self._items:
            wait = min(wait, self._hold_until - now)
        return max(0.05, wait)

    def _run(self) -> None:
        errors = self.metrics.worker_errors.labels("writer")
        keep_going("writer", self._round, self.beat, errors.inc, self._pause, self.max_backoff)

    def _round(self) -> bool:
        """One batch, then replay for up to half a second; True once stopping with nothing left."""
        batch = self._take_batch()
        if batch:
            self._process_guarded(batch)
        replay_until = time.monotonic() + 0.5
        while self.spool.depth and time.monotonic() >= self._next_replay and time.monotonic() < replay_until:
            if self._stopping or not self._replay_one():
                break
        return self._stopping and not self._items

    def _pause(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        with self._cond:
            while not self._stopping and (left := deadline - time.monotonic()) > 0:
                self.beat()
                self._cond.wait(min(BEAT_S, left))

    def _process_guarded(self, batch: list[Item]) -> None:
        """:meth:`_process`; on an unexpected error, item by item, and an item that still fails is dead-lettered."""
        try:
            self._process(batch)
            return
        except Exception as err:
            self.metrics.worker_errors.labels("writer").inc()
            if len(batch) > 1:
                log.exception("writer: unexpected error on a batch of %d items; retrying them one by one", len(batch))
                for item in batch:
                    self._process_guarded([item])
                return
            log.exception("writer: unexpected error on an item from %s; dead-lettering it", batch[0].topic)
            item = batch[0]
            payload = item.payload or "\n".join(item.lines).encode("utf-8", "backslashreplace")
            detail = f"{type(err).__name__}: {err}"[:300]
            item.dead = DeadLetter("internal_error", detail, item.topic, payload, item.received_ns)
            item.lines = []
            self._finish([item], "rejected", [item.dead])

    def _process(self, batch: list[Item]) -> None:
        lines: list[str] = []
        starts: list[int] = []  # where each item's lines begin in ``lines``
        for item in batch:
            starts.append(len(lines))
            lines.extend(item.lines)
        dead = [item.dead for item in batch if item.dead is not None]
        outcome = "written"
        if lines and self.spool.depth and self._spooled(lines):  # after what is spooled, to keep the order
            outcome = "spooled"
        elif lines:
            deadline = time.monotonic() + (1.0 if self._stopping else self.spool_after)
            try:
                bad = self._write(list(range(len(lines))), lines, deadline)
            except Retryable as err:
                log.error("InfluxDB unavailable, spooling %d lines: %s", len(lines), err)
                self.influx_ok = False
                if not self._spooled(lines):
                    self._requeue(batch)
                    return
                outcome = "spooled"
            else:
                for index, reason in bad:
                    k = bisect.bisect_right(starts, index) - 1  # the last item starting at or before it
                    src = batch[k]
                    src.refused.append((index - starts[k], reason))
                    dead.append(DeadLetter(Refused.code, reason, src.topic, lines[index].encode(), src.received_ns))
        self._hold = 1.0
        self._finish(batch, outcome, dead)

    def _requeue(self, batch: list[Item]) -> None:
        """Neither InfluxDB nor the disk took ``batch``: back to the head of the queue, unacknowledged."""
        with self._cond:
            if self._stopping:
                log.error(
                    "%d messages stay unacknowledged (no InfluxDB, no disk): the broker redelivers them", len(batch)
                )
                return
            self._items.extendleft(reversed(batch))
            self._lines += sum(len(item.lines) for item in batch)
            self._hold_until = time.monotonic() + self._hold
            log.error(
                "neither InfluxDB nor the spool takes a batch of %d items; again in %.0f s", len(batch), self._hold
            )
            self._hold = min(MAX_HOLD_S, self._hold * 2)

    def _finish(self, batch: list[Item], outcome: str, dead: list[DeadLetter]) -> None:
        """Publish the batch's dead letters, then acknowledge its items in order."""
        for letter in dead:
            self._dead_letter(letter)
        for item in batch:
            item.outcome = "rejected" if item.dead is not None else outcome
        try:
            self.acknowledge(batch)
        except Exception:  # the broker redelivers what was not acknowledged
            self.metrics.worker_errors.labels("writer").inc()
            log.exception("could not acknowledge %d messages", len(batch))
        for item in batch:
            if item.done is not None:
                item.done.set()

    def _dead_letter(self, letter: DeadLetter) -> None:
        self.metrics.rejected.labels(letter.reason).inc()
        try:
            self.publish_dead(letter)
            self.metrics.dlq.inc()
        except Exception:
            log.exception("could not publish a dead letter (%s)", letter.reason)

    def _write(self, idx: list[int], lines: list[str], deadline: float) -> list[tuple[int, str]]:
        bad = write_isolating(self.writer, lines, idx, deadline, self.metrics, self.beat, self.max_backoff)
        if not self.influx_ok:
            log.info("InfluxDB is accepting writes again")
        self.influx_ok = True
        return bad

    def _spooled(self, lines: list[str]) -> bool:
        """Put ``lines`` in the spool; False (logged, counted) when the disk refuses them."""
        try:
            dropped_batches, dropped_lines = self.spool.append(lines)
        except OSError as err:
            self.metrics.spool_errors.inc()
            log.error("SPOOL UNWRITABLE: %s (%s); %d lines stay in memory", err, type(err).__name__, len(lines))
            return False
        self.metrics.spooled.inc()
        if dropped_lines:
            self.metrics.spool_dropped.inc(dropped_lines)
            log.error(
                "SPOOL FULL: dropped the %d oldest batches (%d lines) to stay under %d bytes",
                dropped_batches,
                dropped_lines,
                self.spool.max_bytes,
            )
        self._update_spool_gauges()
        return True

    def _replay_one(self) -> bool:
        """Write the oldest spooled batches (up to a batch's size); False when InfluxDB is still unavailable."""
        lines, files = self.spool.peek_many(self.batch_size)
        self._update_spool_gauges()  # unreadable batches were quarantined on the way
        if not files:
            return False
        try:
            bad = self._write(list(range(len(lines))), lines, time.monotonic())
        except Retryable:
            self._next_replay = time.monotonic() + self._replay_backoff * (0.5 + random.random())  # noqa: S311
            self._replay_backoff = min(self.max_backoff, self._replay_backoff * 2)
            return False
        for index, reason in bad:
            self._dead_letter(DeadLetter(Refused.code, reason, "spool", lines[index].encode(), 0))
        self.spool.remove(files)
        self._replay_backoff = 0.5
        self._next_replay = 0.0
        self._update_spool_gauges()
        if not self.spool.depth:
            log.info("spool drained")
        return True

    def _update_spool_gauges(self) -> None:
        self.metrics.spool_bytes.set(self.spool.bytes)
        self.metrics.spool_depth.set(self.spool.depth)
        if self.spool.quarantined > self._quarantined:
            self.metrics.spool_quarantined.inc(self.spool.quarantined - self._quarantined)
            self._quarantined = self.spool.quarantined
