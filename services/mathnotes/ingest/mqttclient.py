"""The consumer's MQTT clients: :class:`IntakeClient` (paho's own reader) and :class:`FastClient`.

:class:`IntakeClient` is paho's ``Client`` plus what the consumer needs, through paho's public API
only: ``reading_paused`` (asked before each read), ``ack_many`` and ``network_thread``. It works on
any paho-mqtt 2.x, as paho reads.

Stock paho reads a packet with three ``recv`` calls (command byte, length
bytes, body) and goes round its whole loop (``select``, keepalive checks)
once per packet. :class:`FastClient` reads the socket in 256 KiB chunks
through :class:`BufferedSocket` and, on each wake-up, handles every complete
packet already buffered before returning to the loop: on a backlog drain a bare
subscriber on it receives about three times as fast as one on stock paho
(``bench/ingest.py`` prints both). QoS 0 and 1 PUBLISH packets are decoded
here (:func:`decode_publish`, held to paho's own decoder by a property test)
and handed to ``on_message`` as paho's ``MQTTMessage``, minus its ``info`` (a
``threading.Condition`` per message that only outgoing messages use: a sixth of
the intake's time) and, for MQTT 5, with ``properties`` None when the message
carries none (paho builds an empty ``Properties`` for each: a third of an MQTT 5
intake's time). ``message_callback_add`` filters are not supported. QoS 2,
connects, reconnects and every other callback are paho's own.

:meth:`FastClient.ack_many` queues the PUBACKs of a written batch as one
write and one loop wake-up instead of one of each per message (``ack``).

This leans on paho 2.2's internals (``_create_socket``, ``_handle_publish``,
``_packet_queue``, ``_in_packet``), hence the ``paho-mqtt>=2.2,<2.3`` pin;
``tests/ingest/test_mqttclient.py`` holds them to the behaviour relied on,
against a real broker, and :mod:`~.mqttreaders` checks they are there before using it (else the
consumer falls back to :class:`IntakeClient`).
"""

from __future__ import annotations

import struct
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.exception import MalformedPacket, MQTTException
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

__all__ = ["BufferedSocket", "FastClient", "IntakeClient", "decode_publish"]

CHUNK = 256 * 1024
BURST = 2000  # most packets handled per wake-up before paho's loop (keepalive, writes) runs again
PAUSE_S = 0.002  # how long one loop round waits while reading is paused
PUBACK = 0x40


def decode_publish(header: int, body: bytes | bytearray, v5: bool) -> tuple[bytes, int, Properties | None, bytes]:
    """A PUBLISH packet's topic, packet id (0 at QoS 0), MQTT 5 properties (None if none) and payload.

    ``header`` is the fixed header's first byte, ``body`` what follows the remaining length.
    Raises paho's ``MalformedPacket``, on which paho drops the connection.
    """
    qos = (header >> 1) & 3
    if len(body) < 2:
        raise MalformedPacket("PUBLISH without a topic length")
    end = 2 + (body[0] << 8 | body[1])
    pos = end + (2 if qos else 0)
    if len(body) < pos:
        raise MalformedPacket("PUBLISH shorter than its topic and packet id")
    topic = bytes(body[2:end])
    if not topic and not v5:
        raise MalformedPacket("topic can't be empty in MQTTv3")
    mid = body[end] << 8 | body[end + 1] if qos else 0
    properties = None
    if v5:
        if pos >= len(body):
            raise MalformedPacket("MQTT 5 PUBLISH without a property length")
        if body[pos]:
            properties = Properties(PacketTypes.PUBLISH)
            try:
                _, size = properties.unpack(body[pos:])
            except MalformedPacket:
                raise
            except (struct.error, IndexError, KeyError, ValueError, MQTTException) as err:  # as paho converts them
                raise MalformedPacket(f"bad PUBLISH properties: {err}") from err
            pos += size
        else:
            pos += 1
    return topic, mid, properties, bytes(body[pos:])


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


class IntakeClient(mqtt.Client):
    """paho's ``Client`` and reader, with what the consumer needs on top, through paho's public API.

    ``reading_paused``, when set, is asked before each read: while it answers True
    the loop stops reading (each round waits ``PAUSE_S``; writes, acks and pings still go
    out), so the broker holds what the application cannot take yet. Pauses longer than
    the keepalive let paho drop the connection, and the broker redelivers.
    ``network_thread`` is the thread ``loop_start`` started (paho runs ``loop_forever`` in it).
    """

    reader = "stock"
    reading_paused: Callable[[], bool] | None = None
    network_thread: threading.Thread | None = None

    def loop_forever(self, timeout: float = 1.0, retry_first_connection: bool = False) -> mqtt.MQTTErrorCode:
        self.network_thread = threading.current_thread()
        return super().loop_forever(timeout, retry_first_connection)

    def loop_read(self, max_packets: int = 1) -> mqtt.MQTTErrorCode:
        paused = self.reading_paused
        if paused is not None and paused():
            time.sleep(PAUSE_S)
            return mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS
        return super().loop_read(max_packets)

    def ack_many(self, mids: list[int]) -> None:
        """Acknowledge QoS 1 messages (PUBACK, in the order given)."""
        for mid in mids:
            self.ack(mid, 1)


class FastClient(IntakeClient):
    """An :class:`IntakeClient` reading through :class:`BufferedSocket`, decoding PUBLISH itself, acking at once."""

    reader = "fast"

    def _create_socket(self) -> Any:
        return BufferedSocket(super()._create_socket())

    def loop_read(self, max_packets: int = 1) -> mqtt.MQTTErrorCode:
        paused = self.reading_paused
        if paused is not None and paused():
            time.sleep(PAUSE_S)
            return mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS
        read = mqtt.Client.loop_read  # paho's own: the pause was asked above
        rc = read(self, max_packets)
        for _ in range(BURST):
            sock: Any = self._sock  # a BufferedSocket, or None once disconnected
            if rc != mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS or sock is None or not sock.pending():
                break
            if paused is not None and paused():
                break
            rc = read(self, 1)
        return rc

    def _handle_publish(self) -> mqtt.MQTTErrorCode:
        command = self._in_packet["command"]
        qos = (command >> 1) & 3
        if qos > 1:  # QoS 2 is paho's own exchange (and 3 its protocol error)
            return super()._handle_publish()
        v5 = self._protocol == mqtt.MQTTv5
        topic, mid, properties, payload = decode_publish(command, self._in_packet["packet"], v5)
        message = mqtt.MQTTMessage.__new__(mqtt.MQTTMessage)
        message.mid, message._topic, message.payload, message.properties = mid, topic, payload, properties
        message.qos, message.retain, message.dup = qos, bool(command & 1), bool(command & 8)
        message.state, message.timestamp = mqtt.mqtt_ms_invalid, time.monotonic()
        on_message = self.on_message
        if on_message is not None:
            with self._in_callback_mutex:
                on_message(self, self._userdata, message)
        if qos and not self._manual_ack:
            return self._send_puback(mid)
        return mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS

    def message_callback_add(self, sub: str, callback: Any) -> None:
        raise NotImplementedError("FastClient delivers every message to on_message")

    def ack_many(self, mids: list[int]) -> None:
        """Acknowledge QoS 1 messages (PUBACK, in the order given) with one queued write."""
        if mids:
            packet = b"".join([struct.pack("!BBH", PUBACK, 2, mid) for mid in mids])
            self._packet_queue(PUBACK, packet, 0, 1)
