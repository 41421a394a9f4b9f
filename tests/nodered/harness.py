"""A real Node-RED 5 (from npm, on its own Node 24) run headless on a free loopback port, and the suite around it."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import requests

from tests.support.servers import InfluxDB1, Mosquitto, ServiceProcess, free_port, spawn, wait_until

__all__ = [
    "FLOWS", "NAMES", "REPO", "NodeRed", "Suite",
    "load_flow", "node_binary", "node_red", "node_red_home", "start_suite",
]  # fmt: skip

REPO = Path(__file__).resolve().parents[2]
FLOWS = REPO / "node-red-flows"
NAMES = ("device-simulator", "alerts", "notes-camera")

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

# what the flows read: cleared from the inherited environment so each test says what it gives
_FLOW_ENV_PREFIXES = ("MQTT_", "SIM_", "ALERT_", "NOTES_", "VISION_", "N8N_", "SITE")


def node_red(test_helper: bool = False) -> Path:
    """The ``node-red`` launcher (Node-RED's red.js on Node 24) of scripts/install-node-red.sh (a no-op when there)."""
    argv = [str(REPO / "scripts" / "install-node-red.sh"), *(["--test"] if test_helper else [])]
    out = subprocess.run(argv, check=True, capture_output=True, text=True, timeout=600)
    path = Path(out.stdout.strip().splitlines()[-1])
    assert path.exists(), f"install-node-red.sh printed {path}, which does not exist"
    return path


@cache
def node_red_home() -> Path:
    """The npm prefix holding node-red and node-red-node-test-helper (installed once per session)."""
    return node_red(test_helper=True).parent


@cache
def node_binary() -> Path:
    """The Node that runs Node-RED (scripts/install-node.sh: Node 24 from the npm registry, cached)."""
    out = subprocess.run([str(REPO / "scripts" / "install-node.sh")], check=True, capture_output=True, text=True)
    node = Path(out.stdout.strip().splitlines()[-1]) / "node"
    assert node.exists(), f"install-node.sh printed {node.parent}, which holds no node"
    return node


def load_flow(name: str) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads((FLOWS / f"{name}.json").read_text())
    return data


@dataclass
class NodeRed:
    """``NodeRed(workdir, flows, env).start()``: ``.url``, ``.deploy()``, ``.deployed()``, ``.log()``, ``.stop()``.

    ``keep_files``: the user dir already holds the flows and credentials (``flows`` is not written).
    """

    workdir: Path
    flows: list[dict[str, Any]]
    env: Mapping[str, str] = field(default_factory=dict)
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    keep_files: bool = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90.0) -> NodeRed:
        """Start with ``self.flows`` (or the files already there, with ``keep_files``); wait for "Started flows"."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "settings.js").write_text(SETTINGS)
        if not self.keep_files:
            (self.workdir / "flows.json").write_text(json.dumps(self.flows))
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(_FLOW_ENV_PREFIXES)}
        env.update(self.env)
        red = node_red()
        with open(self.workdir / "node-red.log", "wb") as log:
            self.proc = spawn(
                [str(red), "-u", str(self.workdir), "-p", str(self.port), "flows.json"],
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

    def wait_log(self, text: str, count: int = 1, timeout: float = 30.0) -> str:
        """The log once ``text`` appears ``count`` times in it (the caller asserts on what it needs)."""
        wait_until(lambda: self.log().count(text) >= count, timeout, 0.1)
        return self.log()

    def deploy(self, nodes: list[dict[str, Any]]) -> str:
        """A full deploy through the admin API, as the editor's *Deploy* button does; returns the new revision."""
        before = self.log().count("Started flows")
        resp = requests.post(
            self.url + "/flows",
            json={"flows": nodes},
            headers={"Node-RED-API-Version": "v2", "Node-RED-Deployment-Type": "full"},
            timeout=30,
        )
        assert resp.status_code == 200, resp.text
        self.wait_log("Started flows", before + 1)
        rev: str = resp.json()["rev"]
        return rev

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


@dataclass
class Suite:
    """Every flow in one Node-RED, with the real ingest (→ InfluxDB 1.6) and vision (→ the fake model)."""

    db: str
    sites: tuple[str, str]
    red: NodeRed
    services: list[ServiceProcess]
    watch_dir: Path

    def stop(self) -> None:
        self.red.stop()
        for service in self.services:
            service.stop()


SIM_DEVICES = 3  # per site: 2 sites x 3 devices cover the simulator's five payload forms


def start_suite(
    workdir: Path,
    mosquitto: Mosquitto,
    influxdb: InfluxDB1,
    model_url: str,
    db: str,
    extra_env: Mapping[str, str] | None = None,
) -> Suite:
    """Start ingest, vision and Node-RED with all three flows in one flows file (as ``./stack up`` does)."""
    sites = (f"{db}a", f"{db}b")
    influxdb.create_database(db)
    common = {"MQTT_URL": mosquitto.url, "LOG_LEVEL": "info", "SITE": sites[0]}
    ingest = ServiceProcess.on_free_port(
        "mathnotes-ingest",
        workdir / "ingest",
        {
            **common,
            "INFLUX_URL": influxdb.url,
            "INFLUX_API": "v1",
            "INFLUX_BUCKET": db,
            "INGEST_SPOOL_DIR": str(workdir / "spool"),
            "INGEST_CLIENT_ID": f"ingest-{db}",
            "INGEST_TOPICS": ",".join(f"telemetry/{s}/#" for s in sites),
            "INGEST_FLUSH_MS": "200",
            "INGEST_STATS_INTERVAL_S": "1",
        },
    )
    vision = ServiceProcess.on_free_port(
        "mathnotes-vision",
        workdir / "vision",
        {
            **common,
            "DASHSCOPE_API_KEY": "sk-test-nodered",
            "DASHSCOPE_BASE_URL": model_url,
            "VISION_TELEMETRY": "true",
            "VISION_TIMEOUT_S": "10",
            "RATE_LIMIT_MAX_REQUESTS": "100000",
            "VISION_STATE_DIR": str(workdir / "vision-state"),
        },
    )
    services: list[ServiceProcess] = []
    watch_dir = workdir / "inbox"
    watch_dir.mkdir(parents=True, exist_ok=True)
    env = {
        "MQTT_HOST": mosquitto.host,
        "MQTT_PORT": str(mosquitto.port),
        "SITE": sites[0],
        "SIM_SITES": ",".join(sites),
        "SIM_DEVICES": str(SIM_DEVICES),
        "SIM_INTERVAL_S": "1",
        "SIM_SPIKE_PROBABILITY": "0.05",
        "SIM_SILENT_S": "4",
        "SIM_SILENT_EVERY_S": "8",
        "ALERT_STALE_S": "2",
        "VISION_URL": vision.url,
        "NOTES_WATCH_DIR": str(watch_dir),
        **(extra_env or {}),
    }
    red = NodeRed(workdir / "node-red", [node for name in NAMES for node in load_flow(name)], env)
    try:
        for process in (ingest, vision):
            process.start()
            services.append(process)
        red.start()
    except BaseException:
        for service in services:
            service.stop()
        raise
    return Suite(db, sites, red, services, watch_dir)
