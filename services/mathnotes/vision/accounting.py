"""Request accounting for analyze: metrics and a telemetry point, once per request however it ends.

:meth:`Accounting.begin` counts a request in flight and returns its :class:`~.analyzer.Outcome`, which
the analyzer fills in; :meth:`Accounting.end` records it once: the request counter and latency by
status, the in-flight gauge, and the point on ``telemetry/<SITE>/vision/requests``. A plain answer
ends when its response is made; a stream when its last event is out, or with :data:`CLIENT_CLOSED`
when the client left first (the stream's own ``error`` event records the error's status).
"""

from __future__ import annotations

import time

from .analyzer import Outcome
from .metrics import VisionMetrics
from .telemetry import Telemetry

__all__ = ["CLIENT_CLOSED", "Accounting"]

CLIENT_CLOSED = 499  # nginx's code for "the client went away before the answer" (metrics, telemetry)


class Accounting:
    def __init__(self, metrics: VisionMetrics, telemetry: Telemetry | None) -> None:
        self.metrics = metrics
        self.telemetry = telemetry

    def begin(self) -> Outcome:
        """A new analyze request, in flight from now on."""
        self.metrics.in_flight.inc()
        return Outcome(task="unknown")

    def end(self, outcome: Outcome, status: int) -> None:
        """Record ``outcome`` with ``status``; only the first call per request counts."""
        if outcome.recorded:
            return
        outcome.recorded = True
        seconds = time.perf_counter() - outcome.started
        m = self.metrics
        m.requests.labels(status=str(status), task=outcome.task, model=outcome.model).inc()
        m.latency.labels(task=outcome.task, cached=str(outcome.cached).lower()).observe(seconds)
        m.in_flight.dec()
        if self.telemetry is not None:
            self.telemetry.record(
                {
                    "status": status,
                    "task": outcome.task,
                    "model": outcome.model,
                    "backend": outcome.backend,
                    "cached": outcome.cached,
                    "latency_ms": round(seconds * 1000, 1),
                    "prompt_tokens": outcome.usage.get("prompt_tokens", 0),
                    "completion_tokens": outcome.usage.get("completion_tokens", 0),
                    "bytes_received": outcome.bytes_received,
                    "bytes_upstream": outcome.bytes_upstream,
                }
            )
