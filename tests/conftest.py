"""Session fixtures: real servers on free loopback ports, stopped at the end.

``mosquitto``, ``influxdb`` (InfluxDB 1.6), ``victoria`` (VictoriaMetrics) and
``fake_model`` (the local OpenAI-compatible stand-in) and ``postgres`` (PostgreSQL 16 + pgvector) start once
per session; ``postgres_db`` is a new empty database on it for one test (its URL);
``model`` is ``fake_model`` reset for one test. ``run_service`` starts our own
console scripts as subprocesses against them and stops them after the test; ``start_server`` does the
same for any other server a test builds (a broker with its own configuration, an nginx, a Node-RED).
Servers start only in fixtures: a test body asks these factories, never calls ``start()`` itself.
A missing server binary fails the test: CI installs every one of them.

SIGTERM to pytest becomes a KeyboardInterrupt, so the run stops the way Ctrl-C stops it: fixtures
finalize and stop their servers. Servers also die with pytest when it is SIGKILLed
(``tests.support.servers.spawn``).
"""

from __future__ import annotations

import itertools
import signal
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import FrameType

import pytest

from tests.support.fake_openai import FakeOpenAI
from tests.support.postgres import Postgres
from tests.support.servers import (
    InfluxDB1,
    Mosquitto,
    RunService,
    Server,
    ServerT,
    ServiceProcess,
    StartServer,
    VictoriaMetrics,
    running,
)


def _interrupt_on_sigterm(signum: int, _frame: FrameType | None) -> None:
    # once: a second SIGTERM must not cut the fixtures' teardown short (a handler, not SIG_IGN, which
    # servers started during teardown would inherit)
    signal.signal(signal.SIGTERM, lambda *_: None)
    raise KeyboardInterrupt(f"signal {signum}: stopping; fixtures stop their servers")


def pytest_configure(config: pytest.Config) -> None:
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt_on_sigterm)


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """The shared broker, with the shipped configuration's queue per client (docker/mosquitto/mosquitto.conf).

    Mosquitto's default of 1000 queued QoS 1 messages per client would silently drop what a slow
    subscriber has not taken yet: paho's own reader, on a loaded machine, fell 1000 behind a
    2000-message burst and lost messages the tests expect. Tests about the bounds run their own broker.
    """
    yield from running(
        Mosquitto(
            tmp_path_factory.mktemp("mosquitto"),
            extra_conf="max_queued_messages 50000\nmax_queued_bytes 8388608",
        )
    )


@pytest.fixture(scope="session")
def influxdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxDB1]:
    yield from running(InfluxDB1(tmp_path_factory.mktemp("influxdb")))


@pytest.fixture(scope="session")
def victoria(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VictoriaMetrics]:
    yield from running(VictoriaMetrics(tmp_path_factory.mktemp("victoria")))


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Postgres]:
    yield from running(Postgres(tmp_path_factory.mktemp("postgres")))


@pytest.fixture
def postgres_db(postgres: Postgres) -> Iterator[str]:
    """The URL (a ``DATABASE_URL``) of a new empty database on the session's PostgreSQL, dropped after the test."""
    url = postgres.create_database()
    yield url
    postgres.drop_database(url.rsplit("/", 1)[1])


@pytest.fixture(scope="session")
def fake_model() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def model(fake_model: FakeOpenAI) -> FakeOpenAI:
    fake_model.reset()
    return fake_model


@pytest.fixture
def run_service(tmp_path: Path, start_server: StartServer) -> RunService:
    """Start ``mathnotes-vision`` or ``mathnotes-ingest`` (or any console script) for one test.

    ``run_service("mathnotes-ingest", {"INFLUX_URL": ...})`` picks a free port,
    passes it as PORT / INGEST_PORT, waits for ``/health`` and returns the
    process; ``.url`` on it is the base URL. Each is stopped after the test (``start_server``).
    """
    count = itertools.count()

    def start(
        script: str, env: Mapping[str, str] | None = None, args: Sequence[str] = (), health: bool = True
    ) -> ServiceProcess:
        workdir = tmp_path / f"{script}-{next(count)}"
        return start_server(ServiceProcess.on_free_port(script, workdir, env, args, health))

    return start


@pytest.fixture
def start_server() -> Iterator[StartServer]:
    """Start a server of the test's own making (``start_server(Mosquitto(tmp_path / "b", ...))``) and get it
    back; every one is stopped after the test, the last started first (stopping one already stopped is a no-op).
    """
    started: list[Server] = []

    def start(server: ServerT) -> ServerT:
        started.append(server)  # before start(): a half-started server is stopped too
        server.start()
        return server

    yield start
    for server in reversed(started):
        server.stop()
