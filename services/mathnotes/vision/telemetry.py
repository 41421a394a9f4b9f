"""Each request's telemetry to MQTT ``telemetry/<site>/vision/requests``, in the background.

:meth:`Telemetry.record` only puts a point on a bounded queue (a full queue drops
it and counts the drop), so a slow or absent broker never delays a request. A
daemon thread publishes the points as the JSON envelope ingest accepts
(``{"ts", "fields", "tags"}``) with QoS 1 while connected; points that find no
connection are dropped and counted too.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt

from ..common.logs import get_logger
from ..common.settings import MqttTarget
from .metrics import VisionMetrics

__all__ = ["Telemetry", "envelope"]

log = get_logger("mathnotes.vision.telemetry")

TAG_KEYS = ("status", "task", "model", "backend", "cached")


def envelope(point: dict[str, Any], ts: float | None = None) -> dict[str, Any]:
    """Split a flat point into the ingest envelope: low-cardinality tags, numeric fields."""
    tags = {k: str(point[k]).lower() if isinstance(point[k], bool) else str(point[k]) for k in TAG_KEYS if k in point}
    fields = {k: v for k, v in point.items() if k not in TAG_KEYS and v is not None}
    fields["count"] = 1
    return {"ts": round((time.time() if ts is None else ts) * 1000), "fields": fields, "tags": tags}


class Telemetry:
    def __init__(self, target: MqttTarget, site: str, metrics: VisionMetrics, maxsize: int = 1000) -> None:
        self.topic = f"telemetry/{site}/vision/requests"
        self.metrics = metrics
        self.queue: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=maxsize)
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="", clean_session=True)
        if target.username:
            self.client.username_pw_set(target.username, target.password)
        if target.tls:
            self.client.tls_set()
        self.client.max_queued_messages_set(maxsize)
        self.client.reconnect_delay_set(1, 30)
        self.target = target
        self._connected = threading.Event()
        self.client.on_connect = lambda *_args: self._connected.set()
        self.client.on_disconnect = lambda *_args: self._connected.clear()
        self._thread = threading.Thread(target=self._run, name="vision-telemetry", daemon=True)
        self._started = False

    def start(self) -> Telemetry:
        if not self._started:
            self._started = True
            self.client.connect_async(self.target.host, self.target.port, keepalive=30)
            self.client.loop_start()
            self._thread.start()
        return self

    def record(self, point: dict[str, Any]) -> None:
        """Never blocks: a full queue drops the point."""
        try:
            self.queue.put_nowait(envelope(point))
        except queue.Full:
            self.metrics.telemetry.labels(result="dropped").inc()

    def _run(self) -> None:
        while True:
            item = self.queue.get()
            if item is None:
                return
            if not self._connected.wait(1.0):  # this thread waits a little, never the request
                self.metrics.telemetry.labels(result="dropped").inc()
                continue
            info = self.client.publish(self.topic, json.dumps(item, ensure_ascii=False), qos=1)
            result = "sent" if info.rc == mqtt.MQTT_ERR_SUCCESS else "dropped"
            self.metrics.telemetry.labels(result=result).inc()

    def stop(self, timeout: float = 5.0) -> None:
        """Publish what is queued (up to ``timeout``), then disconnect."""
        if not self._started:
            return
        deadline = time.monotonic() + timeout
        try:
            self.queue.put(None, timeout=timeout)
        except queue.Full:
            pass
        self._thread.join(max(0.0, deadline - time.monotonic()))
        while self.client.is_connected() and time.monotonic() < deadline and self.client.want_write():
            time.sleep(0.05)
        self.client.disconnect()
        self.client.loop_stop()
        self._started = False
