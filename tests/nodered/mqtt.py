"""A small paho subscriber that collects messages for the tests."""

from __future__ import annotations

import json
import threading
from typing import Any

import paho.mqtt.client as mqtt

from tests.support.servers import Mosquitto, wait_until

__all__ = ["Collector", "publish"]


class Collector:
    def __init__(self, broker: Mosquitto, *topics: str) -> None:
        self.messages: list[tuple[str, Any]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.client.on_connect = lambda c, *_a: c.subscribe([(t, 1) for t in topics])
        self.client.on_subscribe = lambda *_a: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        assert self._subscribed.wait(10), "could not subscribe"

    def _on_message(self, _client: Any, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            payload: Any = json.loads(message.payload)
        except ValueError:
            payload = message.payload.decode(errors="replace")
        with self._lock:
            self.messages.append((message.topic, payload))

    def payloads(self, topic: str) -> list[Any]:
        with self._lock:
            return [p for t, p in self.messages if t == topic]

    def wait_for(self, topic: str, count: int = 1, timeout: float = 30.0) -> list[Any]:
        wait_until(lambda: len(self.payloads(topic)) >= count, timeout, 0.1)
        return self.payloads(topic)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def publish(broker: Mosquitto, items: list[tuple[str, str]]) -> None:
    """Publish in order with QoS 1 and wait until the broker has them all."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        infos = [client.publish(topic, payload, qos=1) for topic, payload in items]
        for info in infos:
            info.wait_for_publish(10)
    finally:
        client.loop_stop()
        client.disconnect()
