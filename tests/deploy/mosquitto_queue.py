"""What the broker holds while the ingest service is down: a real Mosquitto on our mosquitto.conf, measured.

The two ingest sessions (client ids ``mathnotes-ingest-1``/``-2``, user ``ingest``, MQTT 5 persistent
sessions on ``$share/ingest/telemetry/#`` at QoS 1, as in production) subscribe and go away; a device
publishes QoS 1 telemetry of a chosen payload size; the broker is restarted (SIGTERM saves its
persistence file, the new process reloads it) and the sessions come back and count what they get.
Memory is the broker process's own RSS (``VmRSS``/``VmHWM``: it has no children) and the heap it
reports in ``$SYS/broker/heap/...`` (what ``memory_limit`` counts).

    python -m tests.deploy.mosquitto_queue [PAYLOAD_BYTES ...]   # prints the figures as JSON lines
"""

from __future__ import annotations

import json
import math
import re
import sys
import tempfile
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import yaml
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tests.support.servers import wait_until

from ..procfs import status_kb
from .brokers import MOSQUITTO_DIR, PASSWORDS, Broker, start_broker
from .rig import REPO

__all__ = ["QueueRun", "conf_value", "container_limit_mib", "expected_per_session", "queue_while_ingest_is_down"]

SESSIONS = ("mathnotes-ingest-1", "mathnotes-ingest-2")
DEVICE = ("sensor-12", "dev-pw-4")  # from PASSWORDS["MQTT_DEVICES"]; the ACL lets it publish under its name
TOPIC = "telemetry/lab/sensor-12/temperature"


def conf_value(name: str) -> int:
    """A numeric setting of the shipped docker/mosquitto/mosquitto.conf."""
    match = re.search(rf"^{name}\s+(\d+)\s*$", (MOSQUITTO_DIR / "mosquitto.conf").read_text(), re.MULTILINE)
    assert match, f"{name} is not set in mosquitto.conf"
    return int(match.group(1))


def container_limit_mib() -> int:
    compose = yaml.safe_load((REPO / "docker-compose.prod.yml").read_text())
    memory = str(compose["services"]["mosquitto"]["deploy"]["resources"]["limits"]["memory"])
    assert memory.endswith("M"), memory
    return int(memory[:-1])


def expected_per_session(payload_bytes: int) -> int:
    """What one offline session keeps: the first bound reached (Mosquitto admits while under the byte bound)."""
    return min(conf_value("max_queued_messages"), math.ceil(conf_value("max_queued_bytes") / payload_bytes))


@dataclass
class QueueRun:
    payload_bytes: int
    published: int
    kept: list[int]  # messages each session received after the restart
    rss_idle_mib: float  # the broker before anything was queued
    rss_queued_mib: float  # with the queues full (and everything past the bounds refused)
    heap_queued_mib: float
    rss_reload_peak_mib: float  # the restarted broker once it has reloaded its persistence file
    heap_reload_peak_mib: float
    rss_delivery_peak_mib: float  # the restarted broker's peak, delivery of the whole backlog included
    persistence_file_mib: float
    drops_logged: bool


def _status(broker: Broker, key: str) -> float:
    return status_kb(broker.proc.pid, key) / 1024


def _heap(broker: Broker) -> dict[str, float]:
    """``$SYS/broker/heap/{current,maximum}`` in MiB (published every sys_interval, retained)."""
    seen: dict[str, float] = {}
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="heap-reader")
    client.username_pw_set("nodered", PASSWORDS["NODERED_MQTT_PASSWORD"])
    client.on_message = lambda c, u, m: seen.__setitem__(m.topic.rsplit("/", 1)[-1], int(m.payload) / 2**20)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    client.subscribe("$SYS/broker/heap/#", 0)
    wait_until(lambda: {"current", "maximum"} <= set(seen), 15, 0.1)
    client.loop_stop()
    client.disconnect()
    return seen


class _Session:
    """One ingest replica's persistent session; counts what it is delivered (paho acknowledges each)."""

    def __init__(self, broker: Broker, client_id: str, subscribe: bool) -> None:
        self.count = 0
        self.last = 0.0
        self._lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        self.client.username_pw_set("ingest", PASSWORDS["INGEST_MQTT_PASSWORD"])
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda c, u, mid, codes, props: subscribed.set()
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 7 * 86400
        self.client.connect("127.0.0.1", broker.port, clean_start=False, properties=props)
        self.client.loop_start()
        if subscribe:
            self.client.subscribe("$share/ingest/telemetry/#", qos=1)
            assert subscribed.wait(10), "no SUBACK"

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.count += 1

    def received(self) -> int:
        with self._lock:
            return self.count

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _payload(seq: int, size: int) -> bytes:
    body = json.dumps({"ts": 1733100000000 + seq, "fields": {"value": 21.5 + seq % 100 / 100}, "tags": {"unit": "C"}})
    assert len(body) <= size, f"payloads start at {len(body)} bytes"
    return body.ljust(size).encode()


def _publish(broker: Broker, count: int, size: int) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="device-sensor-12")
    client.username_pw_set(*DEVICE)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    pending: list[mqtt.MQTTMessageInfo] = []
    for seq in range(count):
        pending.append(client.publish(TOPIC, _payload(seq, size), qos=1))
        if len(pending) >= 5000:
            for info in pending:
                info.wait_for_publish(60)
            pending.clear()
    for info in pending:
        info.wait_for_publish(60)
    client.loop_stop()
    client.disconnect()


def _drain(sessions: list[_Session], expected: int) -> list[int]:
    """Counts once each session has ``expected`` messages (or 120 s passed) and then nothing more arrives for 2 s.

    Waiting for ``expected`` first keeps a pause in delivery on a loaded machine from ending the
    count early; the quiet spell after it catches any message past the bound.
    """
    wait_until(lambda: all(s.received() >= expected for s in sessions), 120)
    last: list[int] = []

    def settled() -> bool:
        nonlocal last
        now = [s.received() for s in sessions]
        done = now == last and sum(now) > 0
        last = now
        return done

    wait_until(settled, 120, 2)
    return last


def queue_while_ingest_is_down(broker: Broker, payload_bytes: int, extra: int = 2000) -> QueueRun:
    """Fill both sessions' queues past their bounds by ``extra`` messages, restart, deliver; measure.

    ``broker``: a fresh one from :func:`~tests.deploy.brokers.start_broker` (its caller stops it).
    """
    # test-only additions: $SYS every second, and a reader of the broker's heap figures
    with open(broker.work / "test.conf", "a") as conf:
        conf.write("\nsys_interval 1\n")
    with open(broker.config / "acl", "a") as acl:
        acl.write("\nuser nodered\ntopic read $SYS/broker/heap/#\n")
    broker.restart()
    for client_id in SESSIONS:
        _Session(broker, client_id, subscribe=True).close()
    rss_idle = _status(broker, "VmRSS")
    published = len(SESSIONS) * expected_per_session(payload_bytes) + extra
    _publish(broker, published, payload_bytes)
    rss_queued, heap_queued = _status(broker, "VmRSS"), _heap(broker)["current"]
    broker.restart()
    persistence = (broker.work / "data" / "mosquitto.db").stat().st_size / 2**20
    rss_reload, heap_reload = _status(broker, "VmHWM"), _heap(broker)["maximum"]
    sessions = [_Session(broker, client_id, subscribe=False) for client_id in SESSIONS]
    kept = _drain(sessions, expected_per_session(payload_bytes))
    for session in sessions:
        session.close()
    rss_delivery = _status(broker, "VmHWM")
    drops = "Outgoing messages are being dropped" in broker.log()
    return QueueRun(
        payload_bytes,
        published,
        kept,
        round(rss_idle, 1),
        round(rss_queued, 1),
        round(heap_queued, 1),
        round(rss_reload, 1),
        round(heap_reload, 1),
        round(rss_delivery, 1),
        round(persistence, 1),
        drops,
    )


if __name__ == "__main__":
    for size in [int(a) for a in sys.argv[1:]] or [75, 168, 1000]:
        with tempfile.TemporaryDirectory() as tmp:
            broker = start_broker(Path(tmp))
            try:
                print(json.dumps(asdict(queue_while_ingest_is_down(broker, size))), flush=True)
            finally:
                broker.stop()
