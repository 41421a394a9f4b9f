"""The consumer's MQTT clients on a real Mosquitto: FastClient's buffered reader, lean delivery and batched acks,
and paho's own reader (IntakeClient) taking the same delivery tests; which of them runs where."""

from __future__ import annotations

import logging
import queue
import socket
import threading
import uuid
from collections.abc import Iterator

import paho.mqtt.client as mqtt
import pytest
from hypothesis import given
from hypothesis import strategies as st
from paho.mqtt import _packet
from paho.mqtt.enums import MQTTProtocolVersion
from paho.mqtt.exception import MalformedPacket
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from mathnotes.ingest.mqttclient import CHUNK, BufferedSocket, FastClient, IntakeClient, decode_publish
from mathnotes.ingest.mqttreaders import (
    ClientFactory,
    fast_client,
    fast_reader_problem,
    reader_factory,
    stock_client,
)
from tests.support.servers import Mosquitto

from .helpers import publish

# --- BufferedSocket over a local socket pair (no broker needed) ------------------------------


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    b.setblocking(False)
    yield a, b
    a.close()
    b.close()


def test_reads_are_served_from_one_buffered_chunk(pair: tuple[socket.socket, socket.socket]) -> None:
    writer, reader = pair
    writer.sendall(b"\x30\x05hello\x40\x02\x00\x01")
    buffered = BufferedSocket(reader)
    assert buffered.pending() == 0
    assert buffered.recv(1) == b"\x30"
    assert buffered.pending() == 10  # the rest arrived with the same recv
    assert buffered.recv(1) == b"\x05"
    assert buffered.recv(5) == b"hello"
    assert buffered.recv(100) == b"\x40\x02\x00\x01"  # never more than is buffered
    assert buffered.pending() == 0
    with pytest.raises(BlockingIOError):  # empty: the socket's own error, which paho reads as "try later"
        buffered.recv(1)
    writer.close()
    assert buffered.recv(1) == b""  # closed by the peer
    assert buffered.fileno() == reader.fileno()  # everything else is the socket's


def test_a_body_larger_than_a_chunk_arrives_whole(pair: tuple[socket.socket, socket.socket]) -> None:
    writer, reader = pair
    reader.setblocking(True)
    body = bytes(range(256)) * (CHUNK // 256 * 3)
    buffered = BufferedSocket(reader)
    got = bytearray()
    writer.sendall(b"!")
    assert buffered.recv(1) == b"!"
    sender = threading.Thread(target=writer.sendall, args=(body,))
    sender.start()
    while len(got) < len(body):
        got += buffered.recv(len(body) - len(got))
    sender.join()
    assert bytes(got) == body


# --- decode_publish, held to paho's own decoder ---------------------------------------------


def publish_body(topic: bytes, qos: int, mid: int, props: bytes | None, payload: bytes) -> bytes:
    return len(topic).to_bytes(2, "big") + topic + (mid.to_bytes(2, "big") if qos else b"") + (props or b"") + payload


def properties(user: list[tuple[str, str]], content_type: str | None, expiry: int | None) -> Properties:
    props = Properties(PacketTypes.PUBLISH)
    for pair in user:
        props.UserProperty = pair
    if content_type is not None:
        props.ContentType = content_type
    if expiry is not None:
        props.MessageExpiryInterval = expiry
    return props


text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\ufeff"), max_size=20)


@given(
    topic=st.binary(min_size=1, max_size=300),
    qos=st.integers(0, 1),
    mid=st.integers(1, 65535),
    payload=st.binary(max_size=2000),
    retain=st.booleans(),
    dup=st.booleans(),
    v5=st.booleans(),
    user=st.lists(st.tuples(text, text), max_size=3),
    content_type=st.none() | text,
    expiry=st.none() | st.integers(0, 2**32 - 1),
)
def test_decode_publish_agrees_with_paho(
    topic: bytes,
    qos: int,
    mid: int,
    payload: bytes,
    retain: bool,
    dup: bool,
    v5: bool,
    user: list[tuple[str, str]],
    content_type: str | None,
    expiry: int | None,
) -> None:
    header = 0x30 | qos << 1 | int(retain) | int(dup) << 3
    props = properties(user, content_type, expiry).pack() if v5 else None
    body = publish_body(topic, qos, mid, props, payload)
    theirs = _packet.decode_publish(header, body, MQTTProtocolVersion.MQTTv5 if v5 else MQTTProtocolVersion.MQTTv311)
    got_topic, got_mid, got_props, got_payload = decode_publish(header, body, v5)
    assert (got_topic, got_mid if qos else 0, got_payload) == (theirs.topic, theirs.mid, theirs.payload)
    if v5:
        assert theirs.properties is not None
        if props == b"\x00":
            assert got_props is None  # none carried: none built
        else:
            assert got_props is not None and got_props.json() == theirs.properties.json()


@given(body=st.binary(max_size=40), header=st.sampled_from([0x30, 0x32, 0x33, 0x3A]), v5=st.booleans())
def test_decode_publish_fails_like_paho_on_any_bytes(body: bytes, header: int, v5: bool) -> None:
    """Garbage is MalformedPacket (paho then drops the connection), exactly when paho's decoder says so."""
    proto = MQTTProtocolVersion.MQTTv5 if v5 else MQTTProtocolVersion.MQTTv311
    try:
        theirs = _packet.decode_publish(header, body, proto)
    except MalformedPacket:
        with pytest.raises(MalformedPacket):
            decode_publish(header, body, v5)
        return
    topic, mid, _props, payload = decode_publish(header, body, v5)
    assert (topic, mid, payload) == (theirs.topic, theirs.mid, theirs.payload)


def test_a_truncated_publish_is_malformed() -> None:
    for body in (b"", b"\x00", b"\x00\x05abc", b"\x00\x01a\x00"):
        with pytest.raises(MalformedPacket):
            decode_publish(0x32, body, False)
    with pytest.raises(MalformedPacket):
        decode_publish(0x30, b"\x00\x00payload", False)  # an empty topic is MQTT 5's alias case only
    with pytest.raises(MalformedPacket):
        decode_publish(0x32, b"\x00\x01a\x00\x07", True)  # no property length


# --- both readers against the real broker ---------------------------------------------------


@pytest.fixture(params=[fast_client, stock_client], ids=["fast", "stock"])
def make_client(request: pytest.FixtureRequest) -> ClientFactory:
    """Each reader's factory in turn: every delivery test below holds for both."""
    factory: ClientFactory = request.param
    return factory


def connect(c: IntakeClient, mosquitto: Mosquitto, topic: str, qos: int = 1) -> queue.SimpleQueue[mqtt.MQTTMessage]:
    received: queue.SimpleQueue[mqtt.MQTTMessage] = queue.SimpleQueue()
    subscribed: queue.SimpleQueue[bool] = queue.SimpleQueue()
    c.on_message = lambda _c, _u, msg: received.put(msg)
    c.on_subscribe = lambda *_a: subscribed.put(True)
    c.on_connect = lambda cl, *_a: cl.subscribe(topic, qos)
    if c.protocol == mqtt.MQTTv5:
        c.connect(mosquitto.host, mosquitto.port, clean_start=False)
    else:
        c.connect(mosquitto.host, mosquitto.port)
    c.loop_start()
    assert subscribed.get(timeout=10)
    return received


def take(received: queue.SimpleQueue[mqtt.MQTTMessage], n: int) -> list[mqtt.MQTTMessage]:
    return [received.get(timeout=20) for _ in range(n)]


def test_a_stream_of_mixed_sizes_arrives_in_order_intact(mosquitto: Mosquitto, make_client: ClientFactory) -> None:
    topic = f"fast/{uuid.uuid4().hex[:8]}"
    c = make_client(f"fast-{uuid.uuid4().hex[:6]}")
    received = connect(c, mosquitto, f"{topic}/#")
    assert c.network_thread is not None and c.network_thread.is_alive()  # the thread loop_start runs
    sizes = [0, 1, 127, 128, 16_383, 16_384, CHUNK - 5, CHUNK + 7, 3 * CHUNK] + [40] * 2000
    sent = [(f"{topic}/{i % 3}", bytes([i % 251]) * size) for i, size in enumerate(sizes)]
    publisher = threading.Thread(target=publish, args=(mosquitto, sent))
    publisher.start()
    got = []
    while len(got) < len(sent):  # acknowledged as they come: the broker's in-flight window is small
        batch = take(received, 1)
        while not received.empty() and len(got) + len(batch) < len(sent):
            batch.append(received.get())
        c.ack_many([m.mid for m in batch])
        got += batch
    publisher.join()
    assert [(m.topic, m.payload) for m in got] == sent
    assert all(m.qos == 1 and m.mid > 0 and not m.retain and not m.dup for m in got)
    c.disconnect()
    c.loop_stop()


def test_ack_many_acknowledges_exactly_the_ids_given(mosquitto: Mosquitto, make_client: ClientFactory) -> None:
    topic = f"fast/{uuid.uuid4().hex[:8]}"
    client_id = f"fast-{uuid.uuid4().hex[:6]}"
    c = make_client(client_id)
    received = connect(c, mosquitto, topic)
    publish(mosquitto, [(topic, f"m{i}".encode()) for i in range(10)])
    got = take(received, 10)
    c.ack_many([m.mid for m in got[:6]])
    c.ack_many([])
    c.disconnect()  # after the acks in its queue: the broker has them before the DISCONNECT
    c.loop_stop()

    again = make_client(client_id)
    redelivered = connect(again, mosquitto, topic)
    rest = take(redelivered, 4)
    assert [m.payload for m in rest] == [f"m{i}".encode() for i in range(6, 10)]
    assert all(m.dup for m in rest)
    again.ack_many([m.mid for m in rest])
    again.disconnect()
    again.loop_stop()

    last = make_client(client_id)
    nothing = connect(last, mosquitto, topic)
    with pytest.raises(queue.Empty):
        nothing.get(timeout=1.5)  # everything was acknowledged: nothing is redelivered
    last.disconnect()
    last.loop_stop()


def test_qos0_qos2_and_auto_ack_take_their_own_paths(mosquitto: Mosquitto, make_client: ClientFactory) -> None:
    topic = f"fast/{uuid.uuid4().hex[:8]}"
    c = make_client(f"fast-{uuid.uuid4().hex[:6]}", manual_ack=False)
    received = connect(c, mosquitto, topic, qos=2)
    for qos, payload in enumerate([b"zero", b"one", b"two"]):
        publish(mosquitto, [(topic, payload)], qos=qos)
    got = sorted(take(received, 3), key=lambda m: m.qos)
    assert [(m.payload, m.qos) for m in got] == [(b"zero", 0), (b"one", 1), (b"two", 2)]
    assert got[2].info is not None  # QoS 2 went through paho's own handling
    c.disconnect()
    c.loop_stop()

    again = make_client(c._client_id.decode())
    nothing = connect(again, mosquitto, topic, qos=2)
    with pytest.raises(queue.Empty):
        nothing.get(timeout=1.5)  # auto-acknowledged by the client itself
    again.disconnect()
    again.loop_stop()


def test_mqtt5_properties_reach_on_message(mosquitto: Mosquitto, make_client: ClientFactory) -> None:
    topic = f"fast/{uuid.uuid4().hex[:8]}"
    c = make_client(f"fast-{uuid.uuid4().hex[:6]}", v5=True)
    received = connect(c, mosquitto, topic)
    props = Properties(PacketTypes.PUBLISH)
    props.UserProperty = ("device", "t1")
    props.ContentType = "application/json"
    publish(mosquitto, [(topic, b'{"v": 1}')], properties=props)
    (msg,) = take(received, 1)
    assert msg.payload == b'{"v": 1}'
    assert msg.properties is not None
    assert msg.properties.ContentType == "application/json"
    assert ("device", "t1") in msg.properties.UserProperty
    c.ack_many([msg.mid])
    c.disconnect()
    c.loop_stop()


def test_topic_filtered_callbacks_are_refused() -> None:
    c = FastClient(mqtt.CallbackAPIVersion.VERSION2)
    with pytest.raises(NotImplementedError):
        c.message_callback_add("a/#", lambda *_a: None)


def test_a_paused_reader_leaves_messages_with_the_broker_until_resumed(
    mosquitto: Mosquitto, make_client: ClientFactory
) -> None:
    topic = f"fast/{uuid.uuid4().hex[:8]}"
    c = make_client(f"fast-{uuid.uuid4().hex[:6]}", manual_ack=False)
    received = connect(c, mosquitto, topic)
    pause = threading.Event()
    pause.set()
    c.reading_paused = pause.is_set
    sent = [f"m{i}".encode() for i in range(50)]
    publish(mosquitto, [(topic, payload) for payload in sent])  # the broker has acknowledged them all
    with pytest.raises(queue.Empty):
        received.get(timeout=1.5)  # paused: nothing is read off the socket
    assert c.is_connected()
    pause.clear()
    assert [m.payload for m in take(received, len(sent))] == sent
    c.disconnect()
    c.loop_stop()


# --- which reader runs ----------------------------------------------------------------------


class OtherPaho(mqtt.Client):
    """A paho whose internals are not 2.2's: here ``_handle_publish`` takes the packet as an argument."""

    def _handle_publish(self, packet: bytes = b"") -> mqtt.MQTTErrorCode:  # type: ignore[override]
        return mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS


def test_the_fast_reader_runs_on_this_paho_and_paho_s_own_takes_over_elsewhere(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert fast_reader_problem() is None  # the installed paho-mqtt is the one FastClient was written for
    assert reader_factory() is fast_client and reader_factory("fast") is fast_client
    assert reader_factory("stock") is stock_client
    with caplog.at_level(logging.WARNING, logger="mathnotes.ingest.mqtt"):
        assert reader_factory("auto", client_class=OtherPaho) is stock_client
    assert "Client._handle_publish('self', 'packet') is not _handle_publish('self',)" in caplog.text
    with pytest.raises(ValueError, match="_handle_publish"):
        reader_factory("fast", client_class=OtherPaho)
    assert "no _packet_queue()" in str(
        fast_reader_problem(
            type("Bare", (), {"_create_socket": lambda self: None, "_handle_publish": lambda self: None})
        )
    )
    assert "2.3.0 is not the 2.2.x" in str(fast_reader_problem(version="2.3.0"))
    stock = stock_client("x")
    assert type(stock) is IntakeClient and stock.reader == "stock" and fast_client("x").reader == "fast"
