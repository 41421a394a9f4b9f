"""What the ingest test modules share besides fixtures: the running service's handle, MQTT helpers, metrics."""

from __future__ import annotations

import contextlib
import json
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import requests
from flask.testing import FlaskClient
from paho.mqtt.properties import Properties

from mathnotes.common.settings import load
from mathnotes.ingest.app import create_app
from mathnotes.ingest.service import IngestService
from mathnotes.ingest.settings import IngestSettings
from tests.support.servers import InfluxDB1, Mosquitto, ServiceProcess, wait_until

__all__ = [
    "BASE_NS",
    "Collector",
    "Ingest",
    "OwnBroker",
    "StartIngest",
    "in_process_env",
    "in_process_service",
    "metric",
    "publish",
    "service_env",
]

BASE_NS = 1_700_000_000_000_000_000  # a fixed timestamp for the points the tests send


@dataclass
class Ingest:
    proc: ServiceProcess
    db: str
    env: dict[str, str]
    influx: InfluxDB1

    @property
    def url(self) -> str:
        return self.proc.url

    def count(self, measurement: str, where: str = "") -> int:
        q = f'SELECT count(*) FROM "{measurement}"' + (f" WHERE {where}" if where else "")
        rows = self.influx.values(q, self.db)
        return int(max(v for v in rows[0][1:] if v is not None)) if rows else 0

    def wait_count(self, measurement: str, expected: int, timeout: float = 30, where: str = "") -> int:
        wait_until(lambda: self.count(measurement, where) >= expected, timeout, 0.2)
        return self.count(measurement, where)


StartIngest = Callable[..., Ingest]  # the ``start_ingest`` fixture
OwnBroker = Callable[..., Mosquitto]  # the ``own_broker`` fixture


def metric(url: str, name: str) -> float:
    """One sample of the service's ``/metrics`` (``name`` with its labels, if any); 0 when it is not there yet."""
    for line in requests.get(f"{url}/metrics", timeout=5).text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def service_env(broker: Mosquitto, influx: InfluxDB1, db: str, spool: Path) -> dict[str, str]:
    """Settings for a ``mathnotes-ingest`` subprocess of one test, on the database ``db`` (created by the caller)."""
    return {
        "MQTT_URL": broker.url,
        "INFLUX_URL": influx.url,
        "INFLUX_API": "v1",
        "INFLUX_BUCKET": db,
        "INGEST_SPOOL_DIR": str(spool),
        "INGEST_CLIENT_ID": f"ingest-{db}",
        "INGEST_TOPICS": f"telemetry/{db}/#",
        "INGEST_FLUSH_MS": "200",
        "INGEST_STATS_INTERVAL_S": "0",
        "INGEST_SPOOL_AFTER_S": "1",
        "SITE": db,
    }


class Collector:
    """Subscribes to a filter and keeps every message (topic, payload)."""

    def __init__(self, broker: Mosquitto, topic: str) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"collector-{uuid.uuid4().hex[:8]}")
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *_a: subscribed.set()
        self.client.connect(broker.host, broker.port)
        self.client.subscribe(topic, qos=1)
        self.client.loop_start()
        assert subscribed.wait(5)

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.messages.append((msg.topic, bytes(msg.payload)))

    def json(self) -> list[tuple[str, dict[str, object]]]:
        with self.lock:
            return [(t, json.loads(p)) for t, p in self.messages]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def publish(
    broker: Mosquitto,
    messages: Sequence[tuple[str, bytes | str]],
    qos: int = 1,
    properties: Properties | None = None,
    retain: bool = False,
) -> None:
    """Publish and wait until the broker acknowledged every message (MQTT 5 when ``properties`` are given)."""
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=f"pub-{uuid.uuid4().hex[:8]}",
        protocol=mqtt.MQTTv5 if properties else mqtt.MQTTv311,
    )
    client.max_inflight_messages_set(200)
    client.max_queued_messages_set(0)
    client.connect(broker.host, broker.port)
    client.loop_start()
    infos = [client.publish(t, p, qos=qos, retain=retain, properties=properties) for t, p in messages]
    for info in infos:
        info.wait_for_publish(30)
    client.loop_stop()
    client.disconnect()


def in_process_env(mosquitto: Mosquitto, influxdb: InfluxDB1, db: str, spool: Path, **extra: str) -> dict[str, str]:
    """Settings for an ``IngestService`` run inside the test process, on its own new database ``db``."""
    influxdb.create_database(db)
    return {
        "MQTT_URL": mosquitto.url,
        "INFLUX_URL": influxdb.url,
        "INFLUX_API": "v1",
        "INFLUX_BUCKET": db,
        "INGEST_CLIENT_ID": db,
        "INGEST_TOPICS": f"telemetry/{db}/#",
        "INGEST_SPOOL_DIR": str(spool),
        "INGEST_STATS_INTERVAL_S": "0",
        **extra,
    }


@contextlib.contextmanager
def in_process_service(
    mosquitto: Mosquitto, influxdb: InfluxDB1, db: str, spool: Path, **extra: str
) -> Iterator[tuple[IngestService, FlaskClient]]:
    """An ``IngestService`` started inside the test process (``in_process_env``), connected to the broker,
    with a Flask test client of its app; stopped afterwards."""
    env = in_process_env(mosquitto, influxdb, db, spool, **extra)
    service = IngestService(load(IngestSettings, env, env_file="/nonexistent/.env"))
    service.start()
    try:
        assert wait_until(service.consumer.connected.is_set, 20)
        yield service, create_app(service.settings, service).test_client()
    finally:
        service.stop()
