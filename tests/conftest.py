"""Session fixtures: real servers on free loopback ports, stopped at the end.

``mosquitto``, ``influxdb`` (InfluxDB 1.6), ``victoria`` (VictoriaMetrics) and
``fake_model`` (the local OpenAI-compatible stand-in) start once per session;
``model`` is ``fake_model`` reset for one test. ``run_service`` starts our own
console scripts as subprocesses against them and stops them after the test.
A missing server binary fails the test: CI installs every one of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from mathnotes.testing.fake_openai import FakeOpenAI
from mathnotes.testing.servers import InfluxDB1, Mosquitto, ServiceProcess, VictoriaMetrics


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    server = Mosquitto(tmp_path_factory.mktemp("mosquitto"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def influxdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxDB1]:
    server = InfluxDB1(tmp_path_factory.mktemp("influxdb"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def victoria(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VictoriaMetrics]:
    server = VictoriaMetrics(tmp_path_factory.mktemp("victoria"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def fake_model() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def model(fake_model: FakeOpenAI) -> FakeOpenAI:
    fake_model.reset()
    return fake_model


RunService = Callable[..., ServiceProcess]


@pytest.fixture
def run_service(tmp_path: Path) -> Iterator[RunService]:
    """Start ``mathnotes-vision`` or ``mathnotes-ingest`` (or any console script) for one test.

    ``run_service("mathnotes-ingest", {"INFLUX_URL": ...})`` picks a free port,
    passes it as PORT / INGEST_PORT, waits for ``/health`` and returns the
    process; ``.url`` on it is the base URL.
    """
    started: list[ServiceProcess] = []

    def start(
        script: str, env: Mapping[str, str] | None = None, args: Sequence[str] = (), health: bool = True
    ) -> ServiceProcess:
        proc = ServiceProcess.on_free_port(script, tmp_path / f"{script}-{len(started)}", env, args, health)
        started.append(proc)
        proc.start()
        return proc

    yield start
    for proc in started:
        proc.stop()
