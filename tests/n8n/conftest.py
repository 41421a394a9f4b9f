"""n8n fixtures: the cached n8n install, our built package, our real services and a running n8n.

Session-scoped because n8n is heavy: one ``n8n start`` serves every webhook test.
Services run as real subprocesses against the session's Mosquitto, InfluxDB and the
fake model (the one stand-in, for the cloud model).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.fake_openai import FakeOpenAI
from tests.support.servers import InfluxDB1, Mosquitto, ServiceProcess, running

from .harness import N8nServer, Receiver, build_package, n8n_binary, stage_workflows
from .support import (
    DB,
    DIGEST_KEY,
    INGEST_KEY,
    TEST_WORKFLOWS,
    VISION_KEY,
    credentials,
    make_home,
    unreachable_variant,
    workflow_env,
)


@pytest.fixture(scope="session")
def n8n_bin() -> Path:
    return n8n_binary()


@pytest.fixture(scope="session")
def n8n_tarball(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_package(tmp_path_factory.mktemp("n8n-pack"))


@pytest.fixture(scope="session")
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def notify(receiver: Receiver) -> Receiver:
    receiver.reset()
    return receiver


@pytest.fixture(scope="session")
def vision(tmp_path_factory: pytest.TempPathFactory, fake_model: FakeOpenAI) -> Iterator[ServiceProcess]:
    workdir = tmp_path_factory.mktemp("vision")
    env = {
        "DASHSCOPE_API_KEY": "sk-n8n-tests",
        "DASHSCOPE_BASE_URL": fake_model.base_url, "VISION_API_KEYS": f"{VISION_KEY},{DIGEST_KEY}",
        "VISION_TELEMETRY": "false", "NOTES_DIR": str(workdir / "notes"),  # the library on SQLite
        "VISION_WORKERS": "1", "VISION_THREADS": "8", "VISION_RETRIES": "0", "VISION_TIMEOUT_S": "10",
        "RATE_LIMIT_MAX_REQUESTS": "100000", "VISION_CACHE_ENTRIES": "0", "VISION_STATE_DIR": str(workdir / "state"),
        "VISION_FETCH_ALLOW_NETWORKS": "127.0.0.0/8",  # tests only: images served by the local receiver
    }  # fmt: skip
    yield from running(ServiceProcess.on_free_port("mathnotes-vision", workdir, env))


@pytest.fixture(scope="session")
def ingest(
    tmp_path_factory: pytest.TempPathFactory, influxdb: InfluxDB1, mosquitto: Mosquitto
) -> Iterator[ServiceProcess]:
    influxdb.create_database(DB)
    workdir = tmp_path_factory.mktemp("ingest")
    env = {
        "MQTT_URL": mosquitto.url,
        "INFLUX_URL": influxdb.url, "INFLUX_API": "v1", "INFLUX_BUCKET": DB, "INGEST_API_KEYS": INGEST_KEY,
        "INGEST_SPOOL_DIR": str(workdir / "spool"), "INGEST_TOPICS": "telemetry-n8n/#", "INGEST_FLUSH_MS": "200",
        "INGEST_STATS_INTERVAL_S": "0", "INGEST_CLIENT_ID": "ingest-n8n-tests",
    }  # fmt: skip
    yield from running(ServiceProcess.on_free_port("mathnotes-ingest", workdir, env))


@pytest.fixture(scope="session")
def n8n(
    tmp_path_factory: pytest.TempPathFactory,
    n8n_bin: Path,
    n8n_tarball: Path,
    vision: ServiceProcess,
    ingest: ServiceProcess,
    fake_model: FakeOpenAI,
    influxdb: InfluxDB1,
    receiver: Receiver,
) -> Iterator[tuple[N8nServer, dict[str, dict[str, Any]]]]:
    """A running n8n with our package, the credentials and every workflow imported; webhook workflows published."""
    staged = stage_workflows(tmp_path_factory.mktemp("staged"), workflow_env(influxdb, receiver))
    files = [staged / f"{name}.json" for name in ("analyze-notes-webhook", "alert-explainer")]
    files += [TEST_WORKFLOWS / f"{name}.json" for name in ("telemetry-write", "vision-url", "notes-library")]
    files.append(unreachable_variant(tmp_path_factory.mktemp("variants")))
    home, imported = make_home(
        tmp_path_factory.mktemp("n8n-home"), n8n_bin, n8n_tarball,
        credentials(vision.url, ingest.url, fake_model.base_url), files,
    )  # fmt: skip
    server = N8nServer(home)
    server.start()
    try:
        server.login()
        for workflow in imported.values():
            server.activate(workflow)
        yield server, imported
    finally:
        server.stop()
