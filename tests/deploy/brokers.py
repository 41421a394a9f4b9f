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

from tests.support.servers import free_port, spawn, wait_until

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


def _spawn(work: Path) -> subprocess.Popen[bytes]:
    mosquitto = shutil.which("mosquitto", path=os.environ["PATH"] + ":/usr/sbin")
    assert mosquitto, "mosquitto is not installed (./stack installs it)"
    with open(work / "mosquitto.log", "ab") as log:
        return spawn([mosquitto, "-c", str(work / "test.conf")], stdout=log, stderr=subprocess.STDOUT)


@dataclass
class Broker:
    port: int
    config: Path
    proc: subprocess.Popen[bytes]
    work: Path

    def stop(self) -> None:
        """SIGTERM: the broker saves its persistence file and exits."""
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(60)

    def log(self) -> str:
        return (self.work / "mosquitto.log").read_text(errors="replace")

    def wait_listening(self) -> None:
        def listening() -> bool:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True

        if not wait_until(listening, 60):
            self.stop()
            raise AssertionError(self.log()[-3000:])

    def restart(self) -> None:
        """Stop (saving the persistence file), start again on the same configuration and data, wait."""
        self.stop()
        self.proc = _spawn(self.work)
        self.wait_listening()


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
    broker = Broker(port, config, _spawn(work), work)
    broker.wait_listening()
    return broker
