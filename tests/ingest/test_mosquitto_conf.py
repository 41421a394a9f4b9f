"""The shipped broker settings (docker/mosquitto) run on a real Mosquitto: password file and ACL."""

from __future__ import annotations

import os
import subprocess
import threading
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from tests.support.servers import Mosquitto, StartServer

CONF_DIR = Path(__file__).resolve().parents[2] / "docker" / "mosquitto"


class ShippedMosquitto(Mosquitto):
    """Mosquitto running docker/mosquitto/mosquitto.conf, with only paths and the listener moved to a temp dir."""

    def argv(self) -> list[str]:
        d = self.workdir
        subprocess.run(["mosquitto_passwd", "-c", "-b", str(d / "passwd"), "ingest", "ingest-pw"], check=True)
        subprocess.run(["mosquitto_passwd", "-b", str(d / "passwd"), "sensor-12", "device-pw"], check=True)
        (d / "acl").write_text((CONF_DIR / "acl.example").read_text())
        conf = (CONF_DIR / "mosquitto.conf").read_text()
        conf = conf.replace("listener 1883", f"listener {self.port} {self.host}")
        conf = conf.replace("/mosquitto/config/", f"{d}/").replace("/mosquitto/data/", f"{d}/")
        if os.geteuid() == 0:
            conf += "\nuser root\n"  # as root Mosquitto would drop to its own user, locked out of this temp dir
        (d / "mosquitto.conf").write_text(conf)
        return ["mosquitto", "-c", str(d / "mosquitto.conf")]


def client(broker: Mosquitto, user: str | None, password: str | None) -> tuple[mqtt.Client, mqtt.ReasonCode]:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"c-{uuid.uuid4().hex[:6]}", protocol=mqtt.MQTTv5)
    result: list[mqtt.ReasonCode] = []
    done = threading.Event()

    def on_connect(*args: object) -> None:
        result.append(args[3])  # type: ignore[arg-type]
        done.set()

    c.on_connect = on_connect
    if user:
        c.username_pw_set(user, password)
    c.connect(broker.host, broker.port)
    c.loop_start()
    assert done.wait(10)
    return c, result[0]


@pytest.fixture
def shipped_broker(tmp_path: Path, start_server: StartServer) -> ShippedMosquitto:
    return start_server(ShippedMosquitto(tmp_path / "broker"))


def test_shipped_conf_authenticates_and_enforces_the_acl(shipped_broker: ShippedMosquitto) -> None:
    anon, code = client(shipped_broker, None, None)
    assert code.is_failure
    anon.loop_stop()
    ingest, code = client(shipped_broker, "ingest", "ingest-pw")
    assert not code.is_failure
    got: list[str] = []
    subscribed, done = threading.Event(), threading.Event()

    def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        got.append(msg.topic)
        if msg.topic.endswith("/last"):
            done.set()

    ingest.on_message = on_message
    ingest.on_subscribe = lambda *_a: subscribed.set()
    ingest.subscribe("telemetry/#", qos=1)
    assert subscribed.wait(10)
    device, code = client(shipped_broker, "sensor-12", "device-pw")
    assert not code.is_failure
    device.publish("telemetry/lab/other-device/temp", "1", qos=1).wait_for_publish(10)  # denied by the ACL
    device.publish("telemetry/lab/sensor-12/temp", "21.5", qos=1).wait_for_publish(10)
    device.publish("telemetry/lab/sensor-12/last", "1", qos=1).wait_for_publish(10)
    assert done.wait(10)
    assert got == ["telemetry/lab/sensor-12/temp", "telemetry/lab/sensor-12/last"]
    for c in (ingest, device):
        c.loop_stop()
        c.disconnect()
    assert "max_inflight_messages 1000" in (CONF_DIR / "mosquitto.conf").read_text()
