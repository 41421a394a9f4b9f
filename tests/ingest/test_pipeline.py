"""The write pipeline's failure handling, against a scripted InfluxDB writer and a real disk spool.

Real InfluxDB 1.6 cannot be told to answer 429, 413 or 503 on demand, so these answers come
from a small scripted ``Writer`` (the pipeline's one I/O seam); the end-to-end and fault tests
cover the same pipeline against the real servers.
"""

from __future__ import annotations

import gzip
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mathnotes.ingest.errors import Refused, Retryable, TooLarge
from mathnotes.ingest.items import DeadLetter, Item
from mathnotes.ingest.metrics import IngestMetrics
from mathnotes.ingest.pipeline import Pipeline
from mathnotes.ingest.spool import Spool
from tests.support.servers import wait_until


class ScriptedWriter:
    """Accepts lines unless ``answer(lines)`` raises; records every accepted write in order."""

    def __init__(self, answer: Callable[[list[str]], None] = lambda _lines: None) -> None:
        self.answer = answer
        self.written: list[str] = []
        self.calls: list[tuple[float, int]] = []

    def write(self, lines: list[str]) -> None:
        self.calls.append((time.monotonic(), len(lines)))
        self.answer(lines)
        self.written.extend(lines)

    def ping(self) -> bool:
        return True

    def close(self) -> None:
        pass


class Harness:
    def __init__(self, tmp_path: Path, writer: ScriptedWriter, spool_bytes: int = 10**8, **kw: Any) -> None:
        self.dead: list[DeadLetter] = []
        self.acked: list[str] = []
        self.metrics = IngestMetrics()
        self.spool = Spool(tmp_path / "spool", spool_bytes)
        self.pipeline = Pipeline(
            writer,
            self.spool,
            self.metrics,
            self.dead.append,
            lambda items: self.acked.extend(item.topic for item in items),
            batch_size=kw.pop("batch_size", 5000),
            **kw,
        )
        self.pipeline.start()

    def submit(self, lines: list[str], topic: str = "t") -> Item:
        item = Item(lines=lines, topic=topic, done=threading.Event())
        self.pipeline.submit(item)
        return item


def unreachable_writer() -> tuple[threading.Event, ScriptedWriter]:
    """A writer that fails as an unreachable InfluxDB does while the event is set (it starts set)."""
    down = threading.Event()
    down.set()

    def answer(_chunk: list[str]) -> None:
        if down.is_set():
            raise Retryable("InfluxDB unreachable: ConnectionError")

    return down, ScriptedWriter(answer)


def lines(n: int, start: int = 0) -> list[str]:
    return [f"m v={float(i)} {i}" for i in range(start, start + n)]


def test_retry_after_is_honoured_then_the_batch_lands(tmp_path: Path) -> None:
    answers = iter([Retryable("429", 429, retry_after=0.4), Retryable("503", 503, retry_after=None)])

    def answer(_lines: list[str]) -> None:
        err = next(answers, None)
        if err is not None:
            raise err

    writer = ScriptedWriter(answer)
    h = Harness(tmp_path, writer, spool_after=30)
    item = h.submit(lines(5))
    assert item.done is not None and item.done.wait(20)
    assert item.outcome == "written" and writer.written == lines(5)
    assert writer.calls[1][0] - writer.calls[0][0] >= 0.4  # waited at least what Retry-After asked
    assert h.metrics.retries._value.get() == 2
    h.pipeline.stop()


def test_413_splits_the_batch_until_it_fits(tmp_path: Path) -> None:
    def answer(chunk: list[str]) -> None:
        if len(chunk) > 3:
            raise TooLarge("413", 413)

    writer = ScriptedWriter(answer)
    h = Harness(tmp_path, writer)
    items = [h.submit(lines(1, i), topic=f"t{i}") for i in range(10)]
    for item in items:
        assert item.done is not None and item.done.wait(20)
    assert sorted(writer.written) == sorted(lines(10)) and not h.dead
    assert max(n for _, n in writer.calls if n <= 3) <= 3
    h.pipeline.stop()


def test_a_rejected_line_goes_to_the_dlq_alone(tmp_path: Path) -> None:
    def answer(chunk: list[str]) -> None:
        if any("bad" in line for line in chunk):
            raise Refused('400: field type conflict: input field "v" is type string', 400)

    writer = ScriptedWriter(answer)
    h = Harness(tmp_path, writer)
    batch = [*lines(6), 'm v="bad" 99', *lines(5, 6)]
    items = [h.submit([line], topic=f"dev/{i}") for i, line in enumerate(batch)]
    for item in items:
        assert item.done is not None and item.done.wait(20)
    assert writer.written == lines(11)
    assert [(d.reason, d.topic, d.payload) for d in h.dead] == [("influx_rejected", "dev/6", b'm v="bad" 99')]
    assert "conflict" in h.dead[0].detail
    assert len(h.acked) == 12  # every message, the rejected one too, is acknowledged
    h.pipeline.stop()


def test_unavailable_influx_spools_then_replays_in_order(tmp_path: Path) -> None:
    down, writer = unreachable_writer()
    h = Harness(tmp_path, writer, spool_after=0.2, max_backoff=0.2, idle_flush=0.01)
    first = [h.submit(lines(3, i * 3), topic=f"a{i}") for i in range(4)]
    for item in first:
        assert item.done is not None and item.done.wait(20)
    assert {i.outcome for i in first} == {"spooled"} and len(h.acked) == 4
    assert h.spool.depth >= 1 and h.metrics.spool_bytes._value.get() > 0
    later = h.submit(lines(3, 12), topic="later")  # spooled too: the spool is not empty, order is kept
    assert later.done is not None and later.done.wait(20) and later.outcome == "spooled"
    down.clear()
    assert wait_until(lambda: h.spool.depth == 0, 30)
    assert writer.written == lines(15)
    h.pipeline.stop()


def test_the_spool_is_bounded_drops_oldest_and_survives_a_restart(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s", max_bytes=2000)
    dropped_lines = 0
    for batch in range(40):
        dropped_lines += spool.append([f'm,batch={batch} v={i}.5,w="x{batch * 1000 + i}" {i}' for i in range(20)])[1]
    assert dropped_lines > 0 and spool.bytes <= 2000 + 1000
    reopened = Spool(tmp_path / "s", max_bytes=2000)
    assert reopened.depth == spool.depth
    kept = []
    while (oldest := reopened.peek_many(1))[1]:
        kept.append(int(oldest[0][0].split("batch=")[1].split(" ")[0]))
        reopened.remove(oldest[1])
    assert kept == sorted(kept) and kept[-1] == 39 and dropped_lines == (40 - len(kept)) * 20


def test_stop_flushes_everything_queued(tmp_path: Path) -> None:
    writer = ScriptedWriter()
    h = Harness(tmp_path, writer, flush_interval=30, idle_flush=30)
    for i in range(20):
        h.submit(lines(1, i))
    h.pipeline.stop()
    assert writer.written == lines(20) and len(h.acked) == 20


def test_memory_stays_bounded_when_the_broker_sends_faster_than_influx_takes(tmp_path: Path) -> None:
    writer = ScriptedWriter(lambda _chunk: time.sleep(0.01))  # a slower InfluxDB than intake
    h = Harness(tmp_path, writer, max_queued_lines=40, idle_flush=0.01, max_backoff=0.1)
    items, most = [], 0
    for i in range(400):
        items.append(h.submit(lines(1, i), topic=f"t{i}"))
        most = max(most, h.pipeline.pending_lines())
    assert most <= 40
    for item in items:
        assert item.done is not None and item.done.wait(30)
    assert h.metrics.spooled._value.get() > 0 and len(h.acked) == 400
    assert wait_until(lambda: h.spool.depth == 0, 30)
    assert sorted(writer.written) == sorted(lines(400)) and len(writer.written) == 400
    h.pipeline.stop()


def test_an_unexpected_error_dead_letters_only_the_item_that_causes_it(tmp_path: Path) -> None:
    # the real writer's own step: a lone surrogate (which JSON's "\ud800" escape produces) cannot be UTF-8
    writer = ScriptedWriter(lambda chunk: "\n".join(chunk).encode() and None)
    h = Harness(tmp_path, writer, idle_flush=0.2)
    good, poisoned, after = h.submit(lines(2)), h.submit(['m v="\ud800" 7'], topic="dev/x"), h.submit(lines(2, 2))
    for item in (good, poisoned, after):
        assert item.done is not None and item.done.wait(20)
    assert (good.outcome, poisoned.outcome, after.outcome) == ("written", "rejected", "written")
    assert writer.written == lines(4) and len(h.acked) == 3
    assert [(d.reason, d.topic) for d in h.dead] == [("internal_error", "dev/x")]
    assert "UnicodeEncodeError" in h.dead[0].detail
    assert h.metrics.worker_errors.labels("writer")._value.get() >= 1
    later = h.submit(lines(1, 4))  # the thread goes on
    assert later.done is not None and later.done.wait(20) and later.outcome == "written"
    h.pipeline.stop()


def test_with_no_influxdb_and_no_disk_batches_wait_in_memory_unacknowledged(tmp_path: Path) -> None:
    down, writer = unreachable_writer()
    h = Harness(tmp_path, writer, spool_after=0.1, max_backoff=0.1, idle_flush=0.01, max_queued_lines=10)
    shutil.rmtree(h.spool.dir)  # the spool's volume is gone: every write to it fails (FileNotFoundError)
    items = [h.submit(lines(2, 2 * i), topic=f"t{i}") for i in range(5)]  # 10 lines: up to the bound
    assert wait_until(lambda: h.metrics.spool_errors._value.get() >= 2, 20)
    assert not h.acked and not any(item.done.is_set() for item in items if item.done)
    extra = Item(lines=lines(2, 10), topic="extra", done=threading.Event())
    assert h.pipeline.submit_many([extra], timeout=0.5) is False  # full, and the overflow has nowhere to go
    down.clear()  # InfluxDB is back: everything kept in memory is written, in order, then acknowledged
    for item in items:
        assert item.done is not None and item.done.wait(60) and item.outcome == "written"
    assert h.pipeline.submit_many([extra], timeout=10) and extra.done is not None and extra.done.wait(20)
    assert writer.written == lines(12) and h.acked == [*(f"t{i}" for i in range(5)), "extra"]
    assert h.pipeline.thread.is_alive()
    h.pipeline.stop()


def test_unreadable_spool_files_are_quarantined_and_the_rest_replays(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s", max_bytes=10**6)
    spool.append(["m v=1 1"])
    (tmp_path / "s" / "00000000000000000001.lp.gz").write_bytes(b"not gzip at all")
    (tmp_path / "s" / "00000000000000000002.lp.gz").write_bytes(gzip.compress(b"\xff\xfe not utf-8"))
    (tmp_path / "s" / "00000000000000000003.lp.gz").write_bytes(gzip.compress(b"m v=4 4\n")[:-6])  # truncated
    (tmp_path / "s" / "00000000000000000004.lp.gz").write_bytes(gzip.compress(b"m v=5 5\n"))
    reopened = Spool(tmp_path / "s", max_bytes=10**6)
    assert reopened.depth == 5
    lines_, files = reopened.peek_many(100)
    assert lines_ == ["m v=1 1", "m v=5 5"] and reopened.quarantined == 3 and reopened.depth == 2
    assert sorted(p.name for p in (tmp_path / "s" / "quarantine").iterdir()) == [
        f"0000000000000000000{i}.lp.gz" for i in (1, 2, 3)
    ]
    reopened.remove(files)
    assert reopened.depth == 0 and reopened.bytes == 0
