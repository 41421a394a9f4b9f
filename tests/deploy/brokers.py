"""A real Mosquitto 2.0 configured by our docker/mosquitto/entrypoint.sh (password file, ACL, no anonymous).

The broker runs the ingest engineer's ``mosquitto.conf`` unchanged except for its listener (a free
loopback port) and the folder paths (the test's temporary folder instead of /mosquitto/...).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from mathnotes.testing.servers import free_port, spawn, wait_until

from .rig import REPO

__all__ = ["MOSQUITTO_DIR", "PASSWORDS", "Broker", "run_entrypoint", "start_broker"]

MOSQUITTO_DIR = REPO / "docker" / "mosquitto"
PASSWORDS = {
    "INGEST_MQTT_PASSWORD": "ingest-pw-1",
    "VISION_MQTT_PASSWORD": "vision-pw-2",
    "NODERED_MQTT_PASSWORD": "nodered-pw-3",
    "MQTT_DEVICES": "sensor-12:dev-pw-4, sensor-13:dev-pw-5",
}
REQUIRED_LINES = (
    "listener 1883",
    "allow_anonymous false",
    "password_file /mosquitto/config/passwd",
    "acl_file /mosquitto/config/acl",
    "persistence_location /mosquitto/data/",
)


@dataclass
class Broker:
    port: int
    config: Path
    proc: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def run_entrypoint(config: Path, env: dict[str, str], *cmd: str) -> subprocess.CompletedProcess[str]:
    full = {
        "PATH": os.environ["PATH"] + ":/usr/sbin",
        "MOSQUITTO_SRC": str(MOSQUITTO_DIR),
        "MOSQUITTO_CONFIG_DIR": str(config),
        "MOSQUITTO_UID": str(os.getuid()),
        **env,
    }
    return subprocess.run(
        ["sh", str(MOSQUITTO_DIR / "entrypoint.sh"), *cmd], env=full, capture_output=True, text=True, timeout=60
    )


def start_broker(work: Path) -> Broker:
    config, data = work / "config", work / "data"
    data.mkdir(parents=True, exist_ok=True)
    done = run_entrypoint(config, PASSWORDS, "true")
    assert done.returncode == 0, done.stderr
    conf = (config / "mosquitto.conf").read_text()
    for line in REQUIRED_LINES:
        assert line in conf.splitlines(), f"the broker settings no longer contain {line!r}"
    port = free_port()
    conf = (
        conf.replace("listener 1883", f"listener {port} 127.0.0.1")
        .replace("/mosquitto/config/", f"{config}/")
        .replace("/mosquitto/data/", f"{data}/")
    )
    if os.geteuid() == 0:
        conf += "\nuser root\n"
    (work / "test.conf").write_text(conf)
    mosquitto = shutil.which("mosquitto", path=os.environ["PATH"] + ":/usr/sbin")
    assert mosquitto, "mosquitto is not installed (./stack installs it)"
    with open(work / "mosquitto.log", "wb") as log:
        proc = spawn([mosquitto, "-c", str(work / "test.conf")], stdout=log, stderr=subprocess.STDOUT)

    def listening() -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True

    broker = Broker(port, config, proc)
    if not wait_until(listening, 20):
        broker.stop()
        raise AssertionError((work / "mosquitto.log").read_text())
    return broker
