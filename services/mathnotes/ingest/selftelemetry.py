"""The service's own counters, published every few seconds to ``telemetry/<site>/ingest/pipeline``.

The message is the shared telemetry envelope (:mod:`mathnotes.common.telemetry`), so it travels the
same way as any device's telemetry (through the broker and back into this service) and lands in
InfluxDB as measurement ``pipeline`` with tags ``site`` and ``device=ingest``.
"""

from __future__ import annotations

import logging
import threading

from ..common.telemetry import TelemetryPublisher, envelope, topic
from .metrics import IngestMetrics

__all__ = ["SelfTelemetry", "pipeline_fields"]

log = logging.getLogger("mathnotes.ingest.telemetry")

RENAMES = {
    "ingest_messages_received_total": "received",
    "ingest_points_written_total": "written",
    "ingest_rejected_total": "rejected",
    "ingest_dlq_published_total": "dlq_published",
    "ingest_retained_skipped_total": "retained_skipped",
    "ingest_write_retries_total": "write_retries",
    "ingest_spooled_batches_total": "spooled_batches",
    "ingest_spool_dropped_lines_total": "spool_dropped_lines",
    "ingest_spool_errors_total": "spool_errors",
    "ingest_spool_quarantined_total": "spool_quarantined",
    "ingest_worker_errors_total": "worker_errors",
    "ingest_spool_bytes": "spool_bytes",
    "ingest_spool_batches": "spool_batches",
    "ingest_mqtt_connected": "mqtt_connected",
    "ingest_batch_lines_sum": "batch_lines_sum",
    "ingest_batch_lines_count": "batches_written",
    "ingest_write_seconds_sum": "write_seconds_sum",
}


def pipeline_fields(metrics: IngestMetrics) -> dict[str, float]:
    """The counters as flat field names (``received_mqtt``, ``rejected_invalid_json``, ``spool_bytes`` …)."""
    fields: dict[str, float] = {}
    for name, value in metrics.snapshot().items():
        for prefix, short in RENAMES.items():
            if name == prefix or name.startswith(prefix + "_"):
                fields[short + name[len(prefix) :]] = float(value)
    fields["received"] = sum(v for k, v in fields.items() if k.startswith("received_"))
    fields["rejected"] = sum(v for k, v in fields.items() if k.startswith("rejected_"))
    return fields


class SelfTelemetry:
    """Every ``interval`` seconds, the counters to ``publisher`` (0: off)."""

    def __init__(self, metrics: IngestMetrics, publisher: TelemetryPublisher, site: str, interval: float) -> None:
        self.metrics, self.publisher, self.interval = metrics, publisher, interval
        self.topic = topic(site, "ingest", "pipeline")
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="ingest-selftelemetry", daemon=True)

    def start(self) -> None:
        if self.interval > 0:
            self.publisher.start()
            self.thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.publisher.stop()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.publisher.publish(self.topic, envelope(pipeline_fields(self.metrics)))
            except Exception:
                log.exception("could not publish the pipeline counters")
