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
"""

from __future__ import annotations

import bisect
import collections
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from . import influx
from .metrics import IngestMetrics
from .spool import Spool

__all__ = ["DeadLetter", "Item", "Pipeline"]

log = logging.getLogger("mathnotes.ingest.pipeline")


@dataclass
class DeadLetter:
    reason: str
    detail: str
    topic: str
    payload: bytes
    received_ns: int


@dataclass
class Item:
    lines: list[str]
    source: str = "mqtt"
    dead: DeadLetter | None = None
    mid: int | None = None  # MQTT packet id of a QoS 1 message, acknowledged through ``acknowledge``
    generation: int = 0  # the broker connection it came in on
    done: threading.Event | None = None
    topic: str = ""
    payload: bytes = b""
    received_ns: int = 0
    outcome: str = field(default="pending")
    refused: list[tuple[int, str]] = field(default_factory=list)  # (line of this item, reason) InfluxDB refused


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
    ) -> None:
        self.idle_flush = idle_flush
        self.max_queued_lines = max_queued_lines
        self._overflowing = False
        self.writer, self.spool, self.metrics = writer, spool, metrics
        self.publish_dead, self.acknowledge = publish_dead, acknowledge
        self.batch_size, self.flush_interval, self.window = batch_size, flush_interval, window
        self.spool_after, self.max_backoff = spool_after, max_backoff
        self._items: collections.deque[Item] = collections.deque()
        self._lines = 0  # lines in self._items
        # Cut a batch at half the broker's in-flight window: the other half keeps arriving while it is written.
        self.max_items = max(1, window // 2)
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="ingest-writer", daemon=True)
        self._next_replay = 0.0
        self._replay_backoff = 0.5
        self.influx_ok = True
        self._update_spool_gauges()

    # --- intake ------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def submit(self, item: Item) -> None:
        self.submit_many([item])

    def submit_many(self, items: list[Item]) -> None:
        """Queue items for the writer; past ``max_queued_lines`` they go straight to the disk spool instead.

        The broker's in-flight window should keep the queue short, but a broker need not enforce it
        (Mosquitto 2.0.11 lets an acknowledging client run far past ``max_inflight_messages``), so
        memory stays bounded here: overflow is spooled (fsync'd) and acknowledged, and replays in order.
        """
        with self._cond:
            overflow = self._lines >= self.max_queued_lines and not self._stopping
            if not overflow:
                self._enqueue(items)
                self._overflowing = False
                return
        if not self._overflowing:
            log.warning("write queue holds %d lines: spooling new messages until InfluxDB catches up", self._lines)
            self._overflowing = True
        lines = [line for item in items for line in item.lines]
        if lines:
            self._to_spool(lines)
        self._finish(items, "spooled", [item.dead for item in items if item.dead is not None])

    def _enqueue(self, items: list[Item]) -> None:
        """Append under ``self._cond`` (held by the caller) and wake the writer when a batch is due."""
        was_empty = not self._items
        self._items.extend(items)
        self._lines += sum(len(i.lines) for i in items)
        if was_empty or len(self._items) >= self.max_items or self._lines >= self.batch_size:
            self._cond.notify()

    def pending(self) -> int:
        return len(self._items)

    def pending_lines(self) -> int:
        return self._lines

    def stop(self, timeout: float = 30.0) -> None:
        """Flush everything queued (to InfluxDB or the spool), then stop the thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join(timeout)

    # --- the writer thread ---------------------------------------------------------

    def _take_batch(self) -> list[Item]:
        with self._cond:
            while not self._items and not self._stopping:
                if self.spool.depth and time.monotonic() >= self._next_replay:
                    return []
                self._cond.wait(self._replay_wait())
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
            return batch

    def _replay_wait(self) -> float | None:
        if not self.spool.depth:
            return None
        return max(0.05, self._next_replay - time.monotonic())

    def _run(self) -> None:
        while True:
            batch = self._take_batch()
            if batch:
                try:
                    self._process(batch)
                except Exception:
                    log.exception("unexpected error processing a batch; items stay unacknowledged")
            replay_until = time.monotonic() + 0.5
            while self.spool.depth and time.monotonic() >= self._next_replay and time.monotonic() < replay_until:
                if self._stopping or not self._replay_one():
                    break
            if self._stopping and not self._items:
                return

    def _process(self, batch: list[Item]) -> None:
        lines: list[str] = []
        starts: list[int] = []  # where each item's lines begin in ``lines``
        for item in batch:
            starts.append(len(lines))
            lines.extend(item.lines)
        dead = [item.dead for item in batch if item.dead is not None]
        if lines:
            if self.spool.depth:
                self._to_spool(lines)
                outcome = "spooled"
            else:
                deadline = time.monotonic() + (1.0 if self._stopping else self.spool_after)
                try:
                    bad = self._write(list(range(len(lines))), lines, deadline)
                    outcome = "written"
                    for index, reason in bad:
                        k = bisect.bisect_right(starts, index) - 1  # the last item starting at or before it
                        src = batch[k]
                        src.refused.append((index - starts[k], reason))
                        letter = DeadLetter(
                            "influx_rejected", reason, src.topic, lines[index].encode(), src.received_ns
                        )
                        dead.append(letter)
                except influx.Retryable as err:
                    log.error("InfluxDB unavailable, spooling %d lines: %s", len(lines), err)
                    self.influx_ok = False
                    self._to_spool(lines)
                    outcome = "spooled"
        else:
            outcome = "written"
        self._finish(batch, outcome, dead)

    def _finish(self, batch: list[Item], outcome: str, dead: list[DeadLetter]) -> None:
        """Publish the batch's dead letters, then acknowledge its items in order."""
        for letter in dead:
            self.metrics.rejected.labels(letter.reason).inc()
            try:
                self.publish_dead(letter)
                self.metrics.dlq.inc()
            except Exception:
                log.exception("could not publish a dead letter (%s)", letter.reason)
        for item in batch:
            item.outcome = "rejected" if item.dead is not None else outcome
        self.acknowledge(batch)
        for item in batch:
            if item.done is not None:
                item.done.set()

    def _write(self, idx: list[int], lines: list[str], deadline: float) -> list[tuple[int, str]]:
        """Write ``lines[i] for i in idx``; returns the (index, reason) of lines InfluxDB refused."""
        backoff = 0.2
        while True:
            chunk = [lines[i] for i in idx]
            started = time.perf_counter()
            try:
                self.writer.write(chunk)
            except influx.TooLarge as err:
                if len(idx) == 1:
                    return [(idx[0], str(err))]
                half = len(idx) // 2
                return self._write(idx[:half], lines, deadline) + self._write(idx[half:], lines, deadline)
            except influx.Rejected as err:
                if len(idx) == 1:
                    return [(idx[0], str(err))]
                half = len(idx) // 2
                return self._write(idx[:half], lines, deadline) + self._write(idx[half:], lines, deadline)
            except influx.Retryable as err:
                self.metrics.retries.inc()
                wait = err.retry_after if err.retry_after is not None else backoff * (0.5 + random.random())  # noqa: S311
                if time.monotonic() + wait > deadline:
                    raise
                log.warning("InfluxDB write failed, retrying in %.1fs: %s", wait, err)
                time.sleep(wait)
                backoff = min(self.max_backoff, backoff * 2)
                continue
            self.metrics.write_seconds.observe(time.perf_counter() - started)
            self.metrics.batch_lines.observe(len(chunk))
            self.metrics.points.inc(len(chunk))
            if not self.influx_ok:
                log.info("InfluxDB is accepting writes again")
            self.influx_ok = True
            return []

    def _to_spool(self, lines: list[str]) -> None:
        dropped_batches, dropped_lines = self.spool.append(lines)
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

    def _replay_one(self) -> bool:
        """Write the oldest spooled batches (up to a batch's size); False when InfluxDB is still unavailable."""
        lines, files = self.spool.peek_many(self.batch_size)
        if not files:
            return False
        try:
            bad = self._write(list(range(len(lines))), lines, time.monotonic())
        except influx.Retryable:
            self._next_replay = time.monotonic() + self._replay_backoff * (0.5 + random.random())  # noqa: S311
            self._replay_backoff = min(self.max_backoff, self._replay_backoff * 2)
            return False
        for index, reason in bad:
            self.metrics.rejected.labels("influx_rejected").inc()
            self.publish_dead(DeadLetter("influx_rejected", reason, "spool", lines[index].encode(), 0))
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
