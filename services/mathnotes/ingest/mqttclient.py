"""paho's ``Client`` with a buffered reader and batched acknowledgements: the intake's hot path.

Stock paho reads a packet with three ``recv`` calls (command byte, length
bytes, body) and goes round its whole loop (``select``, keepalive checks)
once per packet. :class:`FastClient` reads the socket in 256 KiB chunks
through :class:`BufferedSocket` and, on each wake-up, handles every complete
packet already buffered before returning to the loop: on a backlog drain that
about doubles the rate at which paho alone delivers messages
(``bench/ingest.py`` prints both). QoS 0 and 1 PUBLISH packets are decoded by
paho and handed to ``on_message`` as paho's ``MQTTMessage``, minus its ``info``
(a ``threading.Condition`` per message that only outgoing messages use, a sixth
of the intake's time when it was there): ``message_callback_add`` filters are
not supported. QoS 2, connects, reconnects and every other callback are paho's own.

:meth:`FastClient.ack_many` queues the PUBACKs of a written batch as one
write and one loop wake-up instead of one of each per message (``ack``).

This leans on paho 2.2's internals (``_create_socket``, ``_handle_publish``,
``_packet_queue``, ``_packet.decode_publish``), hence the ``paho-mqtt>=2.2,<2.3``
pin; ``tests/ingest/test_mqttclient.py`` holds them to the behaviour relied on,
against a real broker.
"""

from __future__ import annotations

import struct
import time
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt._packet import decode_publish

__all__ = ["BufferedSocket", "FastClient"]

CHUNK = 256 * 1024
BURST = 2000  # most packets handled per wake-up before paho's loop (keepalive, writes) runs again
PUBACK = 0x40


class BufferedSocket:
    """Wraps paho's socket: ``recv`` is served from a buffer filled ``CHUNK`` bytes at a time.

    ``pending()`` reports the buffered bytes (plus a TLS socket's own), which is how
    paho's loop knows not to wait in ``select`` while data is waiting here.
    Everything else is the wrapped socket's.
    """

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._buf = b""
        self._pos = 0

    def recv(self, size: int) -> bytes:
        available = len(self._buf) - self._pos
        if not available:
            self._buf = self._sock.recv(max(size, CHUNK))  # BlockingIOError/SSLWantReadError pass on to paho
            self._pos = 0
            available = len(self._buf)
            if not available:
                return b""  # closed by the peer
        if size >= available and not self._pos:
            out, self._buf = self._buf, b""
            return out
        out = self._buf[self._pos : self._pos + size]
        self._pos += len(out)
        return out

    def pending(self) -> int:
        inner = getattr(self._sock, "pending", None)
        return len(self._buf) - self._pos + (inner() if inner else 0)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class FastClient(mqtt.Client):
    """A paho ``Client`` (VERSION2 callbacks as configured) reading through :class:`BufferedSocket`."""

    def _create_socket(self) -> Any:
        return BufferedSocket(super()._create_socket())

    def loop_read(self, max_packets: int = 1) -> mqtt.MQTTErrorCode:
        rc = super().loop_read(max_packets)
        for _ in range(BURST):
            sock: Any = self._sock  # a BufferedSocket, or None once disconnected
            if rc != mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS or sock is None or not sock.pending():
                break
            rc = super().loop_read(1)
        return rc

    def _handle_publish(self) -> mqtt.MQTTErrorCode:
        command = self._in_packet["command"]
        if command & 0x06 == 0x04:  # QoS 2: paho's own exchange
            return super()._handle_publish()
        result = decode_publish(command, self._in_packet["packet"], self._protocol)
        message = mqtt.MQTTMessage.__new__(mqtt.MQTTMessage)
        message.mid, message._topic, message.payload = result.mid, result.topic, result.payload
        message.qos, message.retain, message.dup = result.qos, result.retain, result.dup
        message.properties, message.state, message.timestamp = result.properties, mqtt.mqtt_ms_invalid, time.monotonic()
        on_message = self.on_message
        if on_message is not None:
            with self._in_callback_mutex:
                on_message(self, self._userdata, message)
        if result.qos and not self._manual_ack:
            return self._send_puback(result.mid)
        return mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS

    def message_callback_add(self, sub: str, callback: Any) -> None:
        raise NotImplementedError("FastClient delivers every message to on_message")

    def ack_many(self, mids: list[int]) -> None:
        """Acknowledge QoS 1 messages (PUBACK, in the order given) with one queued write."""
        if mids:
            packet = b"".join([struct.pack("!BBH", PUBACK, 2, mid) for mid in mids])
            self._packet_queue(PUBACK, packet, 0, 1)
