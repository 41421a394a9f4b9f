"""Fixtures for the deployment tests: our nginx config in front of the real services and stand-ins.

``front`` is the session's nginx with our configuration in front of the real ``mathnotes-vision``
(answering through the fake model) and ``mathnotes-ingest`` (Mosquitto and InfluxDB 1.6 from
tests/conftest.py), both requiring keys as in production, and stand-ins on the n8n, Open WebUI, Node-RED and
Grafana ports.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.fake_openai import FakeOpenAI
from tests.support.servers import InfluxDB1, Mosquitto, ServiceProcess, free_port, wait_until

from .brokers import Broker, start_broker
from .front import CLIENT_KEY, INGEST_KEY, NODERED_KEY, STANDIN_NAMES, VISION_KEY, Front
from .rig import NginxRig
from .sqlite_writer import BATCH, WRITER, StartWriter, Writer, committed
from .standins import StandIn


@pytest.fixture(scope="session")
def standins() -> Iterator[dict[str, StandIn]]:
    servers = {name: StandIn(name).start() for name in STANDIN_NAMES}
    yield servers
    for server in servers.values():
        server.stop()


@pytest.fixture(scope="session")
def front(
    tmp_path_factory: pytest.TempPathFactory,
    standins: dict[str, StandIn],
    mosquitto: Mosquitto,
    influxdb: InfluxDB1,
    fake_model: FakeOpenAI,
) -> Iterator[Front]:
    work = tmp_path_factory.mktemp("front")
    influxdb.create_database("deploy")
    vport, iport = free_port(), free_port()
    common = {"LOG_FORMAT": "json", "LOG_LEVEL": "info", "MQTT_URL": mosquitto.url, "SITE": "deploytest"}
    vision = ServiceProcess(
        ["mathnotes-vision"],
        {
            **common,
            "PORT": str(vport),
            "HOST": "127.0.0.1",
            "DASHSCOPE_API_KEY": VISION_KEY,
            "DASHSCOPE_BASE_URL": fake_model.base_url,
            "VISION_TELEMETRY": "false",
            "VISION_WORKERS": "1",
            "VISION_RETRIES": "0",
            "VISION_CACHE_ENTRIES": "0",
            "VISION_STATE_DIR": str(work / "vision-state"),
            "VISION_TRUSTED_PROXIES": "1",
            "VISION_API_KEYS": f"{CLIENT_KEY},{NODERED_KEY}",
        },
        f"http://127.0.0.1:{vport}/health",
        work / "vision",
    )
    ingest = ServiceProcess(
        ["mathnotes-ingest"],
        {
            **common,
            "INGEST_PORT": str(iport),
            "INGEST_HOST": "127.0.0.1",
            "INFLUX_URL": influxdb.url,
            "INFLUX_API": "v1",
            "INFLUX_BUCKET": "deploy",
            "INGEST_SPOOL_DIR": str(work / "spool"),
            "INGEST_CLIENT_ID": "deploy-test-ingest",
            "INGEST_TOPICS": "telemetry/deploytest/#",
            "INGEST_SHARED_GROUP": "ingest",
            "INGEST_STATS_INTERVAL_S": "0",
            "INGEST_API_KEYS": INGEST_KEY,
        },
        f"http://127.0.0.1:{iport}/health",
        work / "ingest",
    )
    vision.start()
    ingest.start()
    ports = {"vision": vport, "ingest": iport, **{name: s.port for name, s in standins.items()}}
    nginx = NginxRig(work / "nginx", ports).start()
    yield Front(nginx, vision, ingest, standins, ports)
    nginx.stop()
    ingest.stop()
    vision.stop()


@pytest.fixture(scope="session")
def secured_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """Mosquitto with the production auth wiring (docker/mosquitto/entrypoint.sh): no anonymous access."""
    broker = start_broker(tmp_path_factory.mktemp("secured-broker"))
    yield broker
    broker.stop()


@pytest.fixture
def sqlite_writer(tmp_path: Path) -> Iterator[StartWriter]:
    """``sqlite_writer(db, journal_mode)`` starts the writer on ``db`` and returns once it has committed 10
    batches; each writer is stopped afterwards (``Writer.stop()`` stops one sooner) and must exit 0."""
    writers: list[Writer] = []

    def start(db: Path, mode: str) -> Writer:
        db.parent.mkdir(parents=True, exist_ok=True)
        stop = tmp_path / f"stop-writing-{len(writers)}"
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(db), mode, str(stop), str(BATCH)])
        writers.append(Writer(db, proc, stop))
        assert wait_until(lambda: db.exists() and committed(db) >= 10 * BATCH, 60)
        return writers[-1]

    yield start
    codes = [writer.stop() for writer in writers]
    assert codes == [0] * len(writers)
