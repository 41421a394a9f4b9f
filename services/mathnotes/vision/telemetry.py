"""Each request as a telemetry point on ``telemetry/<site>/vision/requests``, through the shared publisher.

:meth:`Telemetry.record` splits a flat point into the ingest envelope (low-cardinality tags, numeric
fields, ``count=1``) and hands it to :class:`~mathnotes.common.telemetry.TelemetryPublisher`, which
never blocks the request; ``vision_telemetry_points_total{result}`` counts what was sent and dropped.
"""

from __future__ import annotations

from typing import Any

from ..common.settings import MqttTarget
from ..common.telemetry import TelemetryPublisher, topic
from ..common.telemetry import envelope as wrap
from .metrics import VisionMetrics

__all__ = ["Telemetry", "envelope"]

TAG_KEYS = ("status", "task", "model", "backend", "cached")


def envelope(point: dict[str, Any], ts: float | None = None) -> dict[str, Any]:
    """Split a flat point into the ingest envelope: low-cardinality tags, numeric fields."""
    tags = {k: str(point[k]).lower() if isinstance(point[k], bool) else str(point[k]) for k in TAG_KEYS if k in point}
    fields = {k: v for k, v in point.items() if k not in TAG_KEYS and v is not None}
    fields["count"] = 1
    return wrap(fields, tags, ts)


class Telemetry:
    def __init__(
        self, target: MqttTarget, site: str, metrics: VisionMetrics, maxsize: int = 1000, ca_file: str = ""
    ) -> None:
        self.topic = topic(site, "vision", "requests")
        self.publisher = TelemetryPublisher(
            target,
            ca_file=ca_file,
            maxsize=maxsize,
            on_result=lambda result: metrics.telemetry.labels(result=result).inc(),
            name="vision-telemetry",
        )

    def start(self) -> Telemetry:
        self.publisher.start()
        return self

    def record(self, point: dict[str, Any]) -> None:
        """Never blocks: a full queue drops the point (and counts it)."""
        self.publisher.publish(self.topic, envelope(point))

    def stop(self, timeout: float = 5.0) -> None:
        self.publisher.stop(timeout)
