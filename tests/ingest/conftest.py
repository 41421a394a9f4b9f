"""Fixtures for the ingest tests: a database per test, our service as a subprocess or in process, and servers
of a test's own (which it may stop, restart or freeze) besides the session's. Plain helpers are in ``helpers``."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from mathnotes.ingest.service import IngestService
from tests.support.servers import InfluxDB1, Mosquitto, RunService, StartServer, wait_until

from .helpers import Collector, Ingest, OwnBroker, StartIngest, in_process_service, service_env

_counter = itertools.count()


@pytest.fixture
def start_ingest(run_service: RunService, mosquitto: Mosquitto, influxdb: InfluxDB1, tmp_path: Path) -> StartIngest:
    """Start ``mathnotes-ingest`` on a new database (on the session's servers unless told otherwise)."""

    def start(
        extra: dict[str, str] | None = None,
        db: str | None = None,
        broker: Mosquitto | None = None,
        influx: InfluxDB1 | None = None,
        wait_connected: bool = True,
    ) -> Ingest:
        server = influx or influxdb
        db = db or f"t{next(_counter)}_{uuid.uuid4().hex[:6]}"
        server.create_database(db)
        env = {**service_env(broker or mosquitto, server, db, tmp_path / f"spool-{db}"), **(extra or {})}
        proc = run_service("mathnotes-ingest", env)
        if wait_connected:
            assert wait_until(lambda: "connected to" in proc.log_text(), 20)
        return Ingest(proc, db, env, server)

    return start


@pytest.fixture
def collect(mosquitto: Mosquitto) -> Iterator[Callable[[str], Collector]]:
    made: list[Collector] = []

    def make(topic: str) -> Collector:
        made.append(Collector(mosquitto, topic))
        return made[-1]

    yield make
    for c in made:
        c.close()


@pytest.fixture
def own_influx(tmp_path: Path, start_server: StartServer) -> InfluxDB1:
    """An InfluxDB 1.6 of this test's own, which it may stop, restart or freeze."""
    return start_server(InfluxDB1(tmp_path / "influx-own"))


@pytest.fixture
def own_broker(tmp_path: Path, start_server: StartServer) -> OwnBroker:
    """Start a Mosquitto of this test's own (``Mosquitto``'s keyword arguments), which it may stop and restart;
    each is stopped at teardown."""
    count = itertools.count()
    return lambda **options: start_server(Mosquitto(tmp_path / f"broker-{next(count)}", **options))


@pytest.fixture
def in_process(
    mosquitto: Mosquitto, influxdb: InfluxDB1, tmp_path: Path
) -> Iterator[tuple[IngestService, FlaskClient]]:
    """An ``IngestService`` running inside the test process, and a test client of its app."""
    db = f"k{uuid.uuid4().hex[:8]}"
    with in_process_service(mosquitto, influxdb, db, tmp_path / "spool") as running:
        yield running
