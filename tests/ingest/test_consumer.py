"""Consumer.to_item and acknowledge: what a raw MQTT message becomes (no broker); the parts a service takes in."""

from __future__ import annotations

from pathlib import Path

import paho.mqtt.client as mqtt

from mathnotes.common.settings import load
from mathnotes.ingest.consumer import Consumer, mids_to_ack
from mathnotes.ingest.items import Item
from mathnotes.ingest.mqttclient import IntakeClient
from mathnotes.ingest.mqttreaders import fast_client
from mathnotes.ingest.service import IngestService
from mathnotes.ingest.settings import IngestSettings

ENV = {"INFLUX_URL": "http://127.0.0.1:9", "INFLUX_API": "v1"}


def service(tmp_path: Path) -> IngestService:
    return IngestService(load(IngestSettings, {**ENV, "INGEST_SPOOL_DIR": str(tmp_path / "spool")}, env_file=None))


def message(topic: bytes, payload: bytes, mid: int = 7, qos: int = 1) -> mqtt.MQTTMessage:
    msg = mqtt.MQTTMessage(mid, topic)
    msg.payload, msg.qos = payload, qos
    return msg


def test_a_message_becomes_lines_and_remembers_its_packet_id(tmp_path: Path) -> None:
    consumer = service(tmp_path).consumer
    item = consumer.to_item(message(b"telemetry/lab/t1/climate", b'{"temp": 21}'), generation=3)
    assert item.dead is None and item.mid == 7 and item.generation == 3
    assert len(item.lines) == 1 and item.lines[0].startswith("climate,device=t1,site=lab temp=21.0 ")
    qos0 = consumer.to_item(message(b"telemetry/lab/t1/climate", b"21", qos=0), generation=3)
    assert qos0.mid is None  # nothing to acknowledge


def test_a_topic_that_is_not_utf8_is_dead_lettered_not_raised(tmp_path: Path) -> None:
    consumer = service(tmp_path).consumer
    item = consumer.to_item(message(b"telemetry/lab/\xff/climate", b"21"), generation=0)
    assert item.dead is not None and item.dead.reason == "topic_mismatch"
    assert item.dead.topic == "telemetry/lab/\ufffd/climate" and item.dead.payload == b"21"
    assert item.lines == [] and item.mid == 7  # still acknowledged once its batch is done


def test_the_service_takes_a_consumer_and_the_consumer_its_client_factory(tmp_path: Path) -> None:
    settings = load(IngestSettings, {**ENV, "INGEST_SPOOL_DIR": str(tmp_path), "INGEST_MQTT_PROTOCOL": "5"}, None)
    built: list[tuple[str, bool]] = []

    def factory(client_id: str, *, v5: bool = False, manual_ack: bool = True) -> IntakeClient:
        built.append((client_id, v5))
        return fast_client(client_id, v5=v5, manual_ack=manual_ack)

    consumer = Consumer(settings, client_factory=factory)
    service = IngestService(settings, consumer=consumer)
    assert service.consumer is consumer and built == [(settings.mqtt_client_id, True)]
    assert consumer.metrics is service.metrics and consumer.pipeline is service.pipeline


def test_only_messages_of_the_current_connection_are_acknowledged() -> None:
    items = [Item([], mid=1, generation=1), Item([], mid=2, generation=2), Item([]), Item([], mid=4, generation=2)]
    assert mids_to_ack(items, 2) == [2, 4]  # in order; QoS 0 and the older connection's are left out
    assert mids_to_ack(items, 3) == []
