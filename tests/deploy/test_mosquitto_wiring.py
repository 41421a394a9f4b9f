"""docker/mosquitto/entrypoint.sh + healthcheck.sh with a real Mosquitto 2.0 (Debian's).

The entry point generates the password file, ACL and config folder exactly as in the container;
the broker then runs the ingest engineer's ``mosquitto.conf`` with only its listener, and the
folder paths, pointed at the test's temporary folder.
"""

from __future__ import annotations

import os
import queue
import subprocess
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from .brokers import MOSQUITTO_DIR, PASSWORDS, Broker, run_entrypoint


def _client(broker: Broker, user: str | None, password: str | None) -> tuple[mqtt.Client, ReasonCode | None]:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    if user:
        client.username_pw_set(user, password)
    result: queue.Queue[ReasonCode] = queue.Queue()
    client.on_connect = lambda c, u, flags, rc, props: result.put(rc)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    try:
        code = result.get(timeout=10)
    except queue.Empty:
        code = None
    return client, code


def _close(client: mqtt.Client) -> None:
    client.disconnect()
    client.loop_stop()


def test_generated_files_are_private(secured_broker: Broker) -> None:
    for name in ("passwd", "acl", "health.pw"):
        assert (secured_broker.config / name).exists()
    assert (secured_broker.config / "passwd").stat().st_mode & 0o077 == 0
    users = {line.split(":", 1)[0] for line in (secured_broker.config / "passwd").read_text().splitlines()}
    assert users == {"ingest", "vision", "nodered", "health", "sensor-12", "sensor-13"}
    assert "dev-pw-4" not in (secured_broker.config / "passwd").read_text()  # hashed


@pytest.mark.parametrize(("user", "password"), [(None, None), ("ingest", "wrong"), ("nobody", "x")])
def test_anonymous_and_wrong_passwords_are_refused(
    secured_broker: Broker, user: str | None, password: str | None
) -> None:
    client, code = _client(secured_broker, user, password)
    _close(client)
    assert code is not None and code.is_failure


def test_ingest_shared_subscription_gets_device_telemetry_within_acl(secured_broker: Broker) -> None:
    ingest, code = _client(secured_broker, "ingest", PASSWORDS["INGEST_MQTT_PASSWORD"])
    assert code is not None and not code.is_failure
    got: queue.Queue[tuple[str, bytes]] = queue.Queue()
    granted: queue.Queue[list[ReasonCode]] = queue.Queue()
    ingest.on_message = lambda c, u, msg: got.put((msg.topic, bytes(msg.payload)))
    ingest.on_subscribe = lambda c, u, mid, codes, props: granted.put(codes)
    ingest.subscribe("$share/ingest/telemetry/#", qos=1)
    assert not granted.get(timeout=10)[0].is_failure
    device, code = _client(secured_broker, "sensor-12", "dev-pw-4")
    assert code is not None and not code.is_failure
    device.publish("telemetry/lab/sensor-13/temp", b"99", qos=1).wait_for_publish(10)  # not its own name
    device.publish("telemetry/lab/sensor-12/temp", b"21.5", qos=1).wait_for_publish(10)
    topic, payload = got.get(timeout=10)
    _close(device)
    _close(ingest)
    assert (topic, payload) == ("telemetry/lab/sensor-12/temp", b"21.5")  # the other one was dropped by the ACL
    assert got.empty()


def test_healthcheck_script_passes(secured_broker: Broker) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "MOSQUITTO_CONFIG_DIR": str(secured_broker.config),
        "MQTT_HEALTH_PORT": str(secured_broker.port),
    }
    done = subprocess.run(["sh", str(MOSQUITTO_DIR / "healthcheck.sh")], env=env, capture_output=True, timeout=30)
    assert done.returncode == 0, done.stderr


def test_missing_password_stops_therun_entrypoint(tmp_path: Path) -> None:
    env = {**PASSWORDS, "VISION_MQTT_PASSWORD": ""}
    done = run_entrypoint(tmp_path / "config", env, "true")
    assert done.returncode == 1
    assert "no password for MQTT user vision" in done.stderr


def test_device_entry_without_password_is_refused(tmp_path: Path) -> None:
    done = run_entrypoint(tmp_path / "config", {**PASSWORDS, "MQTT_DEVICES": "sensor-1"}, "true")
    assert done.returncode == 1
    assert "sensor-1" in done.stderr and "password" in done.stderr
