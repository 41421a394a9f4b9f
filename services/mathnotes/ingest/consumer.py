"""The MQTT side: paho-mqtt 2.x (VERSION2 callbacks), QoS 1, persistent session, manual acks.

paho's network thread (a client from a :class:`~.mqttreaders.ClientFactory`: the
reader ``INGEST_MQTT_READER`` picks unless told otherwise) only hands raw
messages to a parser thread; parsing and writing never run on it. Each message
is acknowledged once its batch is in InfluxDB or the spool (the pipeline calls
:meth:`Consumer.acknowledge` per batch), so a crash before that means the broker
redelivers it. The client id is stable and the session
persistent (MQTT 5: clean_start off with a long session expiry; 3.1.1:
clean_session off), so messages published while we are away wait for us.

A message with the retain flag set is the broker's stored copy, sent again on every
(re)subscribe (a live publish reaches an existing subscription with the flag clear). Only its
points that carry the device's own timestamp are written, so a replay rewrites the same point;
one without is skipped (acknowledged, counted in ``ingest_retained_skipped_total``) rather than
written again under a new receive time.
"""

from __future__ import annotations

import logging
import queue
import ssl
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from .dlq import dlq_message
from .errors import Rejected
from .items import DeadLetter, Item
from .lineproto import encode
from .metrics import IngestMetrics
from .mqttreaders import ClientFactory, reader_factory
from .parse import NO_TIME, ParseOptions, parse_message
from .pipeline import BEAT_S, Pipeline
from .settings import IngestSettings
from .workers import keep_going

__all__ = ["Consumer", "mids_to_ack"]

log = logging.getLogger("mathnotes.ingest.mqtt")
SESSION_EXPIRY = 7 * 24 * 3600
# Raw messages waiting for the parser past which paho stops reading (the broker holds the rest): a
# broker that lets an acknowledging client run past its in-flight window would otherwise fill memory.
RAW_QUEUE_MAX = 10_000


def mids_to_ack(items: list[Item], generation: int) -> list[int]:
    """Packet ids to PUBACK, in order: QoS 1 messages that came in on connection ``generation``.

    After a reconnect the broker redelivers what was not acknowledged, and a
    stale id could acknowledge a different message that reuses it.
    """
    return [item.mid for item in items if item.mid is not None and item.generation == generation]


class Consumer:
    """The broker connection from ``settings``, on a client from ``client_factory`` (default: the
    ``INGEST_MQTT_READER`` one); :meth:`bind` gives it the pipeline it feeds before :meth:`start`."""

    pipeline: Pipeline
    opts: ParseOptions
    metrics: IngestMetrics
    beat: Callable[[], None]

    def __init__(self, settings: IngestSettings, client_factory: ClientFactory | None = None) -> None:
        self.settings = settings
        self.v5 = settings.mqtt_protocol == "5"
        factory = client_factory or reader_factory(settings.mqtt_reader)
        self.client = factory(settings.mqtt_client_id, v5=self.v5)
        self.reader: str = getattr(self.client, "reader", type(self.client).__name__)
        log.info("MQTT reader: %s", self.reader, extra={"reader": self.reader})
        target = settings.mqtt
        if target.username:
            self.client.username_pw_set(target.username, target.password)
        if target.tls:
            self.client.tls_set(ca_certs=settings.mqtt_ca_file or None, cert_reqs=ssl.CERT_REQUIRED)
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        self.client.max_inflight_messages_set(100)
        self.client.max_queued_messages_set(10000)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_connect_fail = self._on_connect_fail
        self.client.on_message = self._on_message
        self.connected = threading.Event()
        self._raw: queue.SimpleQueue[tuple[mqtt.MQTTMessage, int] | None] = queue.SimpleQueue()
        self.client.reading_paused = lambda: self._raw.qsize() >= RAW_QUEUE_MAX
        self._generation = 0  # bumped on every disconnect (see mids_to_ack)
        self.parser = threading.Thread(target=self._parse_loop, name="ingest-parser", daemon=True)
        self._closing = False
        self._last_publish: mqtt.MQTTMessageInfo | None = None

    def bind(
        self, pipeline: Pipeline, opts: ParseOptions, metrics: IngestMetrics, beat: Callable[[], None] = lambda: None
    ) -> None:
        """Feed ``pipeline`` with messages parsed with ``opts``, counting in ``metrics``; ``beat`` while working."""
        self.pipeline, self.opts, self.metrics, self.beat = pipeline, opts, metrics, beat
        self._received = metrics.received.labels("mqtt")
        self._retained_skipped = metrics.retained_skipped

    # --- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        self.parser.start()
        props = None
        if self.v5:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = SESSION_EXPIRY
            props.ReceiveMaximum = self.settings.receive_maximum
        target = self.settings.mqtt
        self.client.connect_async(target.host, target.port, keepalive=30, clean_start=False, properties=props)
        self.client.loop_start()

    def stop_intake(self) -> None:
        """Stop taking messages while the pipeline flushes (acks still go out).

        The subscription stays in the persistent session, so messages that
        arrive from now on stay unacknowledged and the broker redelivers them
        to the next run.
        """
        self._closing = True
        self._raw.put(None)
        self.parser.join(10)

    def close(self) -> None:
        if self._last_publish is not None and self.connected.is_set():
            try:
                self._last_publish.wait_for_publish(2.0)
            except (RuntimeError, ValueError):
                pass
        self.client.disconnect()
        self.client.loop_stop()

    def network_thread(self) -> threading.Thread | None:
        """paho's network thread (``loop_start``), None before it starts."""
        return self.client.network_thread

    def filters(self) -> list[str]:
        group = self.settings.shared_group
        return [f"$share/{group}/{t}" if group else t for t in self.settings.topics]

    # --- paho callbacks (network thread: never block here) ------------------------------

    def _on_connect(self, client: mqtt.Client, _ud: Any, flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            log.error("broker refused the connection: %s", reason)
            return
        self.connected.set()
        self.metrics.connected.set(1)
        session = getattr(flags, "session_present", False)
        log.info("connected to %s (session present: %s)", self.settings.mqtt.redacted(), session)
        client.subscribe([(f, 1) for f in self.filters()])

    def _on_connect_fail(self, _client: mqtt.Client, _ud: Any) -> None:
        error = sys.exc_info()[1]  # paho calls this while handling the connection error
        log.warning("cannot connect to %s (%s); retrying", self.settings.mqtt.redacted(), error or "connection failed")

    def _on_disconnect(self, _c: mqtt.Client, _ud: Any, _flags: Any, reason: Any, _props: Any) -> None:
        self._generation += 1
        self.connected.clear()
        self.metrics.connected.set(0)
        log.warning("disconnected from the broker (%s); reconnecting", reason)

    def _on_message(self, _client: mqtt.Client, _ud: Any, msg: mqtt.MQTTMessage) -> None:
        if not self._closing:  # while closing, leave it unacknowledged: the broker redelivers it
            self._raw.put((msg, self._generation))

    # --- parser thread -------------------------------------------------------------------

    def _parse_loop(self) -> None:
        """Raw messages to items until told to stop; an unexpected error is logged, counted, paused on."""
        keep_going("parser", self._parse_some, self.beat, self.metrics.worker_errors.labels("parser").inc, time.sleep)

    def _parse_some(self) -> bool:
        """Hand whatever raw messages are waiting to the pipeline; True at the end of intake."""
        try:
            batch = [self._raw.get(timeout=BEAT_S)]
        except queue.Empty:
            return False
        while len(batch) < 500:  # whatever else is waiting: one hand-over to the pipeline
            try:
                batch.append(self._raw.get_nowait())
            except queue.Empty:
                break
        items = [self.to_item(*entry) for entry in batch if entry is not None]
        while items and not self.pipeline.submit_many(items, timeout=BEAT_S):
            self.beat()  # the queue is full and the disk refuses the overflow: wait for the writer
        return None in batch

    def to_item(self, msg: mqtt.MQTTMessage, generation: int) -> Item:
        now = time.time_ns()
        self._received.inc()
        payload = bytes(msg.payload)
        mid = msg.mid if msg.qos else None
        try:
            topic = msg.topic
        except UnicodeDecodeError:  # MQTT forbids it and Mosquitto refuses it, but never let it stop intake
            topic = bytes(msg._topic).decode("utf-8", "replace")
            dead = DeadLetter("topic_mismatch", "the topic is not UTF-8", topic, payload, now)
            return Item([], mid=mid, generation=generation, dead=dead, topic=topic, payload=payload, received_ns=now)
        item = Item(lines=[], mid=mid, generation=generation, topic=topic, payload=payload, received_ns=now)
        try:
            if msg.retain:  # a stored copy sent on (re)subscribing: only points stamped by the device
                points = [p for p in parse_message(topic, payload, NO_TIME, self.opts) if p.ts_ns != NO_TIME]
                if not points:
                    self._retained_skipped.inc()
                    return item  # acknowledged, nothing written
            else:
                points = parse_message(topic, payload, now, self.opts)
            item.lines = [encode(p) for p in points]
        except Rejected as err:
            item.dead = DeadLetter(err.code, err.message, topic, payload, now)
        except Exception as err:  # a parser bug must not stop intake: dead-letter the message instead
            log.exception("internal error parsing a message from %s", topic)
            item.dead = DeadLetter("internal_error", f"{type(err).__name__}: {err}"[:300], topic, payload, now)
        return item

    def acknowledge(self, items: list[Item]) -> None:
        """PUBACK a finished batch's QoS 1 messages that came in on the current connection, in order."""
        self.client.ack_many(mids_to_ack(items, self._generation))

    # --- publishing ------------------------------------------------------------------------

    def publish_dead(self, letter: DeadLetter) -> None:
        topic, payload = dlq_message(letter, self.settings.dlq_prefix)
        self._last_publish = self.client.publish(topic, payload, qos=1)
        log.info("rejected a message from %s: %s", letter.topic, letter.reason, extra={"detail": letter.detail})
