"""The services' own telemetry over MQTT: one topic scheme, one envelope, one publisher.

Both services report about themselves the way a device does, so their figures travel the same
road as any telemetry (broker → ingest → InfluxDB → Grafana):

* the topic is ``telemetry/<site>/<service>/<measurement>`` (:func:`topic`), which ingest's default
  template turns into measurement ``<measurement>`` with tags ``site`` and ``device=<service>``;
* the payload is the JSON envelope ingest accepts, ``{"ts": <epoch ms>, "fields": {...}, "tags": {...}}``
  (:func:`envelope`; ``services/mathnotes/ingest/envelope.schema.json``).

:class:`TelemetryPublisher` owns one paho client: ``mqtt://`` or ``mqtts://`` from ``MQTT_URL``, an
``mqtts://`` broker verified against ``MQTT_CA_FILE`` or the system's CAs. :meth:`~TelemetryPublisher.publish`
never blocks the caller: it puts the message on a bounded queue, and a full queue drops it. A daemon
thread publishes queued messages with QoS 1 while connected; a message that finds no connection within
a second is dropped. Every message ends as one ``on_result("sent" | "dropped")`` call, so the caller
counts outcomes in its own metrics. Telemetry is best-effort by design: a slow or absent broker costs
points, never a request.
"""

from __future__ import annotations

import json
import queue
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import paho.mqtt.client as mqtt

from .logs import get_logger
from .settings import MqttTarget

__all__ = ["TelemetryPublisher", "envelope", "topic"]

log = get_logger("mathnotes.telemetry")
CONNECT_WAIT_S = 1.0  # how long the sender thread waits for a connection before dropping a message


def topic(site: str, service: str, measurement: str) -> str:
    """``telemetry/<site>/<service>/<measurement>``: ingest's default template reads ``service`` as the device."""
    return f"telemetry/{site}/{service}/{measurement}"


def envelope(
    fields: Mapping[str, Any], tags: Mapping[str, str] | None = None, ts: float | None = None
) -> dict[str, Any]:
    """The ingest envelope for ``fields`` (and ``tags``) at ``ts`` (epoch seconds; now when omitted), in ms."""
    message: dict[str, Any] = {"ts": round((time.time() if ts is None else ts) * 1000), "fields": dict(fields)}
    if tags:
        message["tags"] = dict(tags)
    return message


class TelemetryPublisher:
    """Publishes JSON messages to MQTT from a bounded queue, in the background (see the module docstring)."""

    def __init__(
        self,
        target: MqttTarget,
        *,
        ca_file: str = "",
        maxsize: int = 1000,
        on_result: Callable[[str], None] | None = None,
        name: str = "telemetry",
    ) -> None:
        self.target = target
        self.on_result = on_result or (lambda _result: None)
        self.queue: queue.Queue[tuple[str, bytes] | None] = queue.Queue(maxsize=maxsize)
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="", clean_session=True)
        if target.username:
            self.client.username_pw_set(target.username, target.password)
        if target.tls:
            self.client.tls_set(ca_certs=ca_file or None, cert_reqs=ssl.CERT_REQUIRED)
        self.client.max_queued_messages_set(maxsize)
        self.client.reconnect_delay_set(1, 30)
        self._connected = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda *_args: self._connected.clear()
        self.thread = threading.Thread(target=self._run, name=f"{name}-publisher", daemon=True)
        self._started = False

    def _on_connect(self, _client: Any, _userdata: Any, _flags: Any, reason: Any, _props: Any = None) -> None:
        if not reason.is_failure:
            self._connected.set()
        else:
            log.warning("the broker refused the telemetry connection: %s", reason)

    def start(self) -> TelemetryPublisher:
        if not self._started:
            self._started = True
            self.client.connect_async(self.target.host, self.target.port, keepalive=30)
            self.client.loop_start()
            self.thread.start()
        return self

    def publish(self, topic: str, message: Mapping[str, Any]) -> bool:
        """Queue ``message`` (JSON) for ``topic``; never blocks. False (and ``dropped``) when the queue is full."""
        try:
            self.queue.put_nowait((topic, json.dumps(message, ensure_ascii=False).encode()))
        except queue.Full:
            self.on_result("dropped")
            return False
        return True

    def _run(self) -> None:
        while True:
            item = self.queue.get()
            if item is None:
                return
            if not self._connected.wait(CONNECT_WAIT_S):  # this thread waits a little, never the caller
                self.on_result("dropped")
                continue
            info = self.client.publish(item[0], item[1], qos=1)
            self.on_result("sent" if info.rc == mqtt.MQTT_ERR_SUCCESS else "dropped")

    def stop(self, timeout: float = 5.0) -> None:
        """Publish what is queued (up to ``timeout`` seconds), then disconnect."""
        if not self._started:
            return
        deadline = time.monotonic() + timeout
        try:
            self.queue.put(None, timeout=timeout)
        except queue.Full:
            pass
        self.thread.join(max(0.0, deadline - time.monotonic()))
        while self.client.is_connected() and time.monotonic() < deadline and self.client.want_write():
            time.sleep(0.05)  # paho's network thread is flushing what was published; nothing to wait on
        self.client.disconnect()
        self.client.loop_stop()
        self._started = False
