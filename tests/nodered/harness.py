"""A real Node-RED 4 (from npm) run headless on a free loopback port with one flows file."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from mathnotes.testing.servers import free_port, wait_until

__all__ = ["FLOWS", "REPO", "NodeRed", "red_js"]

REPO = Path(__file__).resolve().parents[2]
FLOWS = REPO / "node-red-flows"

SETTINGS = """module.exports = {
    uiHost: "127.0.0.1",
    flowFile: "flows.json",
    credentialSecret: false,
    diagnostics: { enabled: false, ui: false },
    telemetry: { enabled: false },
    externalModules: { autoInstall: false, palette: { allowInstall: false }, modules: { allowInstall: false } },
    functionExternalModules: false,
    logging: { console: { level: "info", metrics: false, audit: false } },
};
"""


def red_js() -> Path:
    """Node-RED's red.js, installed by scripts/install-node-red.sh (a no-op when already there)."""
    out = subprocess.run(
        [str(REPO / "scripts" / "install-node-red.sh")], check=True, capture_output=True, text=True, timeout=600
    )
    path = Path(out.stdout.strip().splitlines()[-1])
    assert path.exists(), f"install-node-red.sh printed {path}, which does not exist"
    return path


@dataclass
class NodeRed:
    """``NodeRed(workdir, flows, env).start()``: ``.url``, ``.flows()``, ``.log()``, ``.stop()``."""

    workdir: Path
    flows: list[dict[str, Any]]
    env: Mapping[str, str] = field(default_factory=dict)
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90.0, keep_files: bool = False) -> NodeRed:
        """Start with ``self.flows`` (``keep_files``: the user dir already holds the flows and credentials)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "settings.js").write_text(SETTINGS)
        if not keep_files:
            (self.workdir / "flows.json").write_text(json.dumps(self.flows))
        self.port = free_port()
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("MQTT_", "SIM_", "ALERT_", "NOTES_", "VISION_"))
        }
        env.update(self.env)
        with open(self.workdir / "node-red.log", "wb") as log:
            self.proc = subprocess.Popen(
                ["node", str(red_js()), "-u", str(self.workdir), "-p", str(self.port), "flows.json"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
            )
        started = wait_until(
            lambda: self.proc is not None and (self.proc.poll() is not None or "Started flows" in self.log()),
            timeout,
            0.2,
        )
        assert started and self.proc.poll() is None, f"Node-RED did not start:\n{self.log()}"
        return self

    def log(self) -> str:
        path = self.workdir / "node-red.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def deployed(self) -> list[dict[str, Any]]:
        """The flows the runtime runs, from the admin API."""
        resp = requests.get(self.url + "/flows", headers={"Node-RED-API-Version": "v2"}, timeout=10)
        resp.raise_for_status()
        flows: list[dict[str, Any]] = resp.json()["flows"]
        return flows

    def known_types(self) -> set[str]:
        resp = requests.get(self.url + "/nodes", headers={"Accept": "application/json"}, timeout=10)
        resp.raise_for_status()
        return {t for module in resp.json() for t in module.get("types", [])}

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def load_flow(name: str) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads((FLOWS / f"{name}.json").read_text())
    return data


@dataclass
class Suite:
    """Every flow in one Node-RED, with the real ingest (→ InfluxDB 1.6) and vision (→ the fake model)."""

    db: str
    sites: tuple[str, str]
    red: NodeRed
    services: list[Any]
    watch_dir: Path

    def stop(self) -> None:
        self.red.stop()
        for service in self.services:
            service.stop()


def start_suite(
    workdir: Path, mosquitto: Any, influxdb: Any, model: Any, db: str, extra_env: Mapping[str, str] | None = None
) -> Suite:
    """Start ingest, vision and Node-RED with all three flows (as ``./stack up`` combines them)."""
    from mathnotes.testing.servers import ServiceProcess

    sites = (f"{db}a", f"{db}b")
    influxdb.create_database(db)
    services: list[Any] = []
    ingest_port, vision_port = free_port(), free_port()
    common = {"MQTT_URL": mosquitto.url, "LOG_LEVEL": "info", "HOST": "127.0.0.1", "INGEST_HOST": "127.0.0.1"}
    ingest = ServiceProcess(
        ["mathnotes-ingest"],
        {
            **common,
            "SITE": sites[0],
            "INGEST_PORT": str(ingest_port),
            "INFLUX_URL": influxdb.url,
            "INFLUX_API": "v1",
            "INFLUX_BUCKET": db,
            "INGEST_SPOOL_DIR": str(workdir / "spool"),
            "INGEST_CLIENT_ID": f"ingest-{db}",
            "INGEST_TOPICS": ",".join(f"telemetry/{s}/#" for s in sites),
            "INGEST_FLUSH_MS": "200",
            "INGEST_STATS_INTERVAL_S": "1",
        },
        f"http://127.0.0.1:{ingest_port}/health",
        workdir / "ingest",
    )
    services.append(ingest.start())
    vision = ServiceProcess(
        ["mathnotes-vision"],
        {
            **common,
            "SITE": sites[0],
            "PORT": str(vision_port),
            "DASHSCOPE_API_KEY": "sk-test-nodered",
            "DASHSCOPE_BASE_URL": model.base_url,
            "VISION_TELEMETRY": "true",
            "VISION_TIMEOUT_S": "10",
            "RATE_LIMIT_MAX_REQUESTS": "100000",
            "VISION_STATE_DIR": str(workdir / "vision-state"),
        },
        f"http://127.0.0.1:{vision_port}/health",
        workdir / "vision",
    )
    services.append(vision.start())
    watch_dir = workdir / "inbox"
    watch_dir.mkdir(parents=True, exist_ok=True)
    flows = [node for name in ("device-simulator", "alerts", "notes-camera") for node in load_flow(name)]
    env = {
        "MQTT_HOST": mosquitto.host,
        "MQTT_PORT": str(mosquitto.port),
        "SITE": sites[0],
        "SIM_SITES": ",".join(sites),
        "SIM_DEVICES": "2",
        "SIM_INTERVAL_S": "1",
        "SIM_SPIKE_PROBABILITY": "0.05",
        "SIM_SILENT_S": "4",
        "SIM_SILENT_EVERY_S": "8",
        "ALERT_STALE_S": "2",
        "VISION_URL": f"http://127.0.0.1:{vision_port}",
        "NOTES_WATCH_DIR": str(watch_dir),
        **(extra_env or {}),
    }
    red = NodeRed(workdir / "node-red", flows, env)
    try:
        red.start()
    except BaseException:
        for service in services:
            service.stop()
        raise
    return Suite(db, sites, red, services, watch_dir)
