"""docker/mosquitto/entrypoint.sh + healthcheck.sh with a real Mosquitto 2.0 (Debian's).

The entry point generates the password file, ACL and config folder exactly as in the container;
the broker then runs the ingest engineer's ``mosquitto.conf`` with only its listener, and the
folder paths, pointed at the test's temporary folder. The 2.1 plugin form of the same configuration
(``MOSQUITTO_AUTH``) is generated against a stand-in ``mosquitto`` that answers ``-h`` as 2.1 does and
compared with what docker/mosquitto/README.md documents; no 2.1 broker runs here.
"""

from __future__ import annotations

import os
import queue
import re
import subprocess
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from .brokers import MOSQUITTO_DIR, PASSWORDS, Broker, run_entrypoint
from .rig import REPO


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


# --- the 2.0 form we ship, the 2.1 plugin form we generate ----------------------------------------------------------

SHIPPED = (MOSQUITTO_DIR / "mosquitto.conf").read_text()
FILE_LINES = ("password_file /mosquitto/config/passwd", "acl_file /mosquitto/config/acl")


def _readme_blocks() -> list[list[str]]:
    """The ```conf blocks of docker/mosquitto/README.md's section on Mosquitto 2.1, as lists of lines."""
    text = (MOSQUITTO_DIR / "README.md").read_text()
    section = text.split("## Mosquitto 2.1", 1)[1].split("\n## ", 1)[0]
    return [block.strip().splitlines() for block in re.findall(r"```conf\n(.*?)```", section, re.S)]


def _fake_mosquitto(root: Path, version: str, plugins: bool) -> dict[str, str]:
    """A `mosquitto` that only answers -h as Mosquitto VERSION does, and a plugin folder (empty or with both)."""
    bin_dir, plugin_dir = root / "bin", root / "plugins"
    bin_dir.mkdir()
    plugin_dir.mkdir()
    fake = bin_dir / "mosquitto"
    usage = f"mosquitto version {version}\\n\\nmosquitto is an MQTT v5.0/v3.1.1/v3.1 broker.\\n"
    fake.write_text(f'#!/bin/sh\nprintf "{usage}"\nexit 3\n')
    fake.chmod(0o755)
    if plugins:
        for name in ("mosquitto_password_file.so", "mosquitto_acl_file.so"):
            (plugin_dir / name).write_bytes(b"")
    return {"PATH": f"{bin_dir}:{os.environ['PATH']}:/usr/sbin", "MOSQUITTO_PLUGIN_DIR": str(plugin_dir)}


def test_we_ship_the_2_0_form_and_the_image_is_2_0() -> None:
    assert all(line in SHIPPED.splitlines() for line in FILE_LINES)
    assert "plugin" not in "\n".join(line for line in SHIPPED.splitlines() if not line.startswith("#"))
    assert _readme_blocks()[0] == list(FILE_LINES)
    image = yaml.safe_load((REPO / "docker-compose.prod.yml").read_text())["services"]["mosquitto"]["image"]
    assert re.fullmatch(r"eclipse-mosquitto:2\.0\.\d+", image), image


def test_the_real_2_0_broker_gets_the_shipped_file_unchanged(tmp_path: Path) -> None:
    """Debian's Mosquitto 2.0 answers -h: auto keeps the 2.0 form, byte for byte (the broker tests above run it)."""
    version = subprocess.run(["sh", "-c", "mosquitto -h | head -1"], env={"PATH": os.environ["PATH"] + ":/usr/sbin"},
                             capture_output=True, text=True, timeout=30).stdout.split()[-1]  # fmt: skip
    assert version.startswith("2.0.")
    done = run_entrypoint(tmp_path / "config", PASSWORDS, "true")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "config" / "mosquitto.conf").read_text() == SHIPPED
    assert f"auth: files (mosquitto {version})" in done.stderr


@pytest.mark.parametrize(("version", "plugins", "auth", "form"), [
    ("2.1.2", True, None, "plugins"),
    ("3.0.0", True, "auto", "plugins"),
    ("2.1.2", False, None, "files"),  # a 2.1 build without the plugins still takes the deprecated options
    ("2.0.22", True, None, "files"),
    ("2.1.2", True, "files", "files"),
    ("2.0.22", True, "plugins", "plugins"),
])  # fmt: skip
def test_the_form_follows_the_broker(tmp_path: Path, version: str, plugins: bool, auth: str | None, form: str) -> None:
    env = {**PASSWORDS, **_fake_mosquitto(tmp_path, version, plugins), **({"MOSQUITTO_AUTH": auth} if auth else {})}
    done = run_entrypoint(tmp_path / "config", env, "true")
    assert done.returncode == 0, done.stderr
    conf = (tmp_path / "config" / "mosquitto.conf").read_text()
    if form == "files":
        assert conf == SHIPPED
    else:
        plugin_dir = env["MOSQUITTO_PLUGIN_DIR"]
        documented = "\n".join(_readme_blocks()[1]).replace("/usr/lib/", f"{plugin_dir}/")
        expected = SHIPPED.replace("\n".join(FILE_LINES), documented)
        assert expected != SHIPPED and conf == expected
        assert not any(line.startswith(("password_file", "acl_file")) for line in conf.splitlines())
    assert f"auth: {form} (mosquitto {version})" in done.stderr


def test_plugins_asked_for_but_missing_stop_the_start(tmp_path: Path) -> None:
    env = {**PASSWORDS, **_fake_mosquitto(tmp_path, "2.1.2", False), "MOSQUITTO_AUTH": "plugins"}
    done = run_entrypoint(tmp_path / "config", env, "true")
    assert done.returncode == 1
    assert f"no {env['MOSQUITTO_PLUGIN_DIR']}/mosquitto_password_file.so" in done.stderr


def test_an_unknown_auth_form_is_refused(tmp_path: Path) -> None:
    done = run_entrypoint(tmp_path / "config", {**PASSWORDS, "MOSQUITTO_AUTH": "dynsec"}, "true")
    assert done.returncode == 1
    assert "MOSQUITTO_AUTH must be auto, files or plugins, not 'dynsec'" in done.stderr
