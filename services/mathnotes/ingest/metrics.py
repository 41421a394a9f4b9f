"""The ingest service's Prometheus metrics, one registry per service instance."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["IngestMetrics"]


@dataclass
class IngestMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.received = Counter("ingest_messages_received", "Messages and HTTP items received", ["source"], registry=r)
        self.points = Counter("ingest_points_written", "Points InfluxDB accepted", registry=r)
        self.rejected = Counter("ingest_rejected", "Messages or lines rejected, by reason", ["reason"], registry=r)
        self.dlq = Counter("ingest_dlq_published", "Dead letters published", registry=r)
        self.retained_skipped = Counter(
            "ingest_retained_skipped", "Retained copies skipped for carrying no timestamp of their own", registry=r
        )
        self.retries = Counter("ingest_write_retries", "InfluxDB write attempts retried", registry=r)
        self.spooled = Counter("ingest_spooled_batches", "Batches put in the disk spool", registry=r)
        self.spool_dropped = Counter(
            "ingest_spool_dropped_lines", "Lines dropped because the spool was full", registry=r
        )
        self.spool_errors = Counter(
            "ingest_spool_errors", "Batches the disk refused (full, size limit, gone); they stay in memory", registry=r
        )
        self.spool_quarantined = Counter(
            "ingest_spool_quarantined", "Unreadable spool files moved to quarantine/", registry=r
        )
        self.worker_errors = Counter(
            "ingest_worker_errors", "Unexpected errors a worker thread survived, by thread", ["thread"], registry=r
        )
        self.spool_bytes = Gauge("ingest_spool_bytes", "Bytes in the disk spool", registry=r)
        self.spool_depth = Gauge("ingest_spool_batches", "Batches in the disk spool", registry=r)
        self.connected = Gauge("ingest_mqtt_connected", "1 while connected to the broker", registry=r)
        self.batch_lines = Histogram(
            "ingest_batch_lines",
            "Lines per InfluxDB write",
            buckets=(1, 10, 50, 100, 500, 1000, 2500, 5000, 10000),
            registry=r,
        )
        self.write_seconds = Histogram(
            "ingest_write_seconds",
            "InfluxDB write latency",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )

    def snapshot(self) -> dict[str, float]:
        """Flat current values, for the service's own telemetry."""
        values: dict[str, float] = {}
        for metric in self.registry.collect():
            for sample in metric.samples:
                if sample.name.endswith("_created") or sample.name.endswith("_bucket"):
                    continue
                label = "_".join(sample.labels.values())
                values[sample.name + (f"_{label}" if label else "")] = sample.value
        return values
