"""One batch into InfluxDB: retries with backoff, 413 splits, and bisection down to the lines InfluxDB refuses."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable

from . import influx
from .errors import Refused, Retryable, TooLarge
from .metrics import IngestMetrics

__all__ = ["write_isolating"]

log = logging.getLogger("mathnotes.ingest.pipeline")


def write_isolating(
    writer: influx.Writer,
    lines: list[str],
    idx: list[int],
    deadline: float,
    metrics: IngestMetrics,
    beat: Callable[[], None],
    max_backoff: float = 5.0,
) -> list[tuple[int, str]]:
    """Write ``lines[i] for i in idx``; returns the (index, reason) of lines InfluxDB refused.

    429/5xx/unreachable are retried with jittered exponential backoff (honouring Retry-After)
    until ``deadline`` (monotonic), then :class:`~.errors.Retryable` is raised. A 413 or a
    400/422 answer splits the lines in halves until the refused ones stand alone. ``beat`` is
    called before each attempt.
    """
    backoff = 0.2
    while True:
        chunk = [lines[i] for i in idx]
        started = time.perf_counter()
        beat()
        try:
            writer.write(chunk)
        except (TooLarge, Refused) as err:
            if len(idx) == 1:
                return [(idx[0], err.message)]
            half = len(idx) // 2
            first = write_isolating(writer, lines, idx[:half], deadline, metrics, beat, max_backoff)
            return first + write_isolating(writer, lines, idx[half:], deadline, metrics, beat, max_backoff)
        except Retryable as err:
            metrics.retries.inc()
            wait = err.retry_after if err.retry_after is not None else backoff * (0.5 + random.random())  # noqa: S311
            if time.monotonic() + wait > deadline:
                raise
            log.warning("InfluxDB write failed, retrying in %.1fs: %s", wait, err)
            time.sleep(wait)
            backoff = min(max_backoff, backoff * 2)
            continue
        metrics.write_seconds.observe(time.perf_counter() - started)
        metrics.batch_lines.observe(len(chunk))
        metrics.points.inc(len(chunk))
        return []
