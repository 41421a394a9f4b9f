"""Prometheus metrics of the vision API, one registry per app (``GET /metrics``)."""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess

__all__ = ["VisionMetrics"]

_LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 8, 13, 20, 30, 60, 120)


class VisionMetrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.requests = Counter(
            "vision_requests",
            "analyze requests by HTTP status, task and model",
            ["status", "task", "model"],
            registry=r,
        )
        self.latency = Histogram(
            "vision_request_duration_seconds",
            "analyze latency end to end",
            ["task", "cached"],
            buckets=_LATENCY,
            registry=r,
        )
        self.upstream_latency = Histogram(
            "vision_upstream_duration_seconds",
            "model call latency (successful attempts)",
            ["model"],
            buckets=_LATENCY,
            registry=r,
        )
        self.preprocess_latency = Histogram(
            "vision_preprocess_duration_seconds",
            "image decode, orient, resize and encode",
            buckets=_LATENCY,
            registry=r,
        )
        self.tokens = Counter(
            "vision_tokens", "model tokens by kind (prompt, completion)", ["model", "kind"], registry=r
        )
        self.cache = Counter(
            "vision_cache_lookups", "answer cache lookups by result (hit, miss)", ["result"], registry=r
        )
        self.upstream_errors = Counter(
            "vision_upstream_errors", "failed model attempts by kind", ["model", "kind"], registry=r
        )
        self.upstream_retries = Counter("vision_upstream_retries", "retried model attempts", ["model"], registry=r)
        self.fallbacks = Counter("vision_upstream_fallbacks", "moves to the next model in the list", registry=r)
        self.image_bytes = Counter(
            "vision_image_bytes", "image bytes by direction (received, upstream)", ["direction"], registry=r
        )
        self.rate_limited = Counter("vision_rate_limited", "requests refused by the rate limit", registry=r)
        self.telemetry = Counter(
            "vision_telemetry_points", "MQTT telemetry points by result (sent, dropped)", ["result"], registry=r
        )
        self.notes_saved = Counter(
            "vision_notes_saved",
            "notes by what became of them: written to the database, queued on disk while it is away, dropped",
            ["result"],
            registry=r,
        )
        self.notes_queue_depth = Gauge(
            "vision_notes_queue_depth",
            "notes waiting to be written (in memory and on disk)",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.notes_search = Histogram(
            "vision_notes_search_seconds",
            "notes search latency by mode (words, formula, meaning, fused)",
            ["mode"],
            buckets=_LATENCY,
            registry=r,
        )
        self.in_flight = Gauge(
            "vision_requests_in_flight", "analyze requests being served", registry=r, multiprocess_mode="livesum"
        )

    def upstream_error(self, model: str, kind: str) -> None:
        self.upstream_errors.labels(model=model, kind=kind).inc()

    def render(self) -> bytes:
        """This process's metrics, or every worker's summed when gunicorn runs several."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)
