"""No silent death, against real servers: corrupt spool files, a disk that refuses the spool, a payload
that used to break the writer, a stuck writer and a killed thread: each seen, counted and survived.

The disk limit is a real one: the service runs under ``RLIMIT_FSIZE`` (set by a two-line exec
wrapper), so writing a spool batch past it fails in the kernel with ``EFBIG``, the way a full
disk fails with ``ENOSPC``. The stuck writer meets a real InfluxDB stopped with SIGSTOP: it
accepts the connection and never answers.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import gzip
import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask.testing import FlaskClient

from mathnotes.ingest.service import WATCHDOG_EXIT, IngestService
from tests.support.servers import InfluxDB1, Mosquitto, ServiceProcess, console_script, free_port, wait_until

from .helpers import BASE_NS, Collector, Ingest, StartIngest, metric, publish, service_env

FSIZE = 256 * 1024  # the most bytes any one file of the service may hold (its log file included)
LIMITED = (
    "import os, resource, sys; resource.setrlimit(resource.RLIMIT_FSIZE, ({0}, {0})); "
    "os.execv(sys.argv[1], sys.argv[1:])"
)


def health(url: str) -> tuple[int, dict[str, Any]]:
    resp = requests.get(f"{url}/health", timeout=10)
    return resp.status_code, resp.json()


def test_corrupt_spool_files_are_quarantined_and_intake_goes_on(
    start_ingest: StartIngest, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    db = f"q{uuid.uuid4().hex[:8]}"
    spool = tmp_path / f"spool-{db}"  # where start_ingest points INGEST_SPOOL_DIR
    spool.mkdir()
    (spool / "00000000000000000000.lp.gz").write_bytes(b"\x1f\x8b not really gzip")
    (spool / "00000000000000000001.lp.gz").write_bytes(gzip.compress(f"spooled v=1 {BASE_NS}\n".encode())[:-4])
    (spool / "00000000000000000002.lp.gz").write_bytes(gzip.compress(f"spooled v=2 {BASE_NS + 1}\n".encode()))
    ing = start_ingest(db=db)
    assert ing.wait_count("spooled", 1) == 1  # the good batch replays past the two bad ones
    assert wait_until(lambda: metric(ing.url, "ingest_spool_quarantined_total") == 2, 20)
    assert sorted(p.name for p in (spool / "quarantine").iterdir()) == [
        "00000000000000000000.lp.gz",
        "00000000000000000001.lp.gz",
    ]
    assert ing.proc.log_text().count("SPOOL QUARANTINE") == 2
    publish(mosquitto, [(f"telemetry/{ing.db}/dev/after", "1")])
    assert ing.wait_count("after", 1) == 1
    assert health(ing.url)[0] == 200


@pytest.fixture
def limited_ingest(mosquitto: Mosquitto, tmp_path: Path) -> Iterator[Callable[[InfluxDB1, str], ServiceProcess]]:
    """``mathnotes-ingest`` whose files may not grow past FSIZE bytes."""
    started: list[ServiceProcess] = []

    def start(influx: InfluxDB1, db: str) -> ServiceProcess:
        port = free_port()
        env = {
            **service_env(mosquitto, influx, db, tmp_path / "spool"),
            "INGEST_HOST": "127.0.0.1",
            "INGEST_PORT": str(port),
        }
        argv = [sys.executable, "-c", LIMITED.format(FSIZE), console_script("mathnotes-ingest")]
        url = f"http://127.0.0.1:{port}"
        proc = ServiceProcess(argv, env, f"{url}/health", tmp_path / "limited", name="mathnotes-ingest", url=url)
        started.append(proc)
        proc.start()
        assert wait_until(lambda: "connected to" in proc.log_text(), 20)
        return proc

    yield start
    for proc in started:
        proc.stop()


def test_a_disk_that_refuses_the_spool_keeps_batches_in_memory_and_loses_nothing(
    limited_ingest: Callable[[InfluxDB1, str], ServiceProcess], mosquitto: Mosquitto, own_influx: InfluxDB1
) -> None:
    db = f"d{uuid.uuid4().hex[:8]}"
    own_influx.create_database(db)
    proc = limited_ingest(own_influx, db)
    own_influx.stop()
    # 400 messages of 2 KB that gzip cannot shrink: a batch of them is past the file-size limit
    blobs = [base64.b64encode(os.urandom(1500)).decode() for _ in range(400)]
    payloads = [json.dumps({"ts": BASE_NS + i, "fields": {"seq": i, "blob": b}}) for i, b in enumerate(blobs)]
    publish(mosquitto, [(f"telemetry/{db}/dev/big", p) for p in payloads])
    assert wait_until(lambda: metric(proc.url, "ingest_spool_errors_total") >= 2, 60)
    assert wait_until(lambda: health(proc.url)[1]["status"] == "degraded", 10)  # InfluxDB is down, and only that
    assert all(worker["ok"] for worker in health(proc.url)[1]["workers"].values())
    assert "SPOOL UNWRITABLE" in proc.log_text() and "File too large" in proc.log_text()
    assert "neither InfluxDB nor the spool takes a batch" in proc.log_text()  # kept in memory, unacknowledged
    own_influx.start()
    count = 'SELECT count("seq") FROM "big"'
    assert wait_until(lambda: (own_influx.values(count, db) or [[0, 0]])[0][1] == 400, 90)  # every one, once
    assert wait_until(lambda: health(proc.url)[0] == 200, 30)


def test_a_lone_surrogate_is_refused_at_the_door_and_its_neighbours_are_written(
    start_ingest: StartIngest, mosquitto: Mosquitto, collect: Callable[[str], Collector]
) -> None:
    """JSON's ``\\ud800`` escape used to reach the writer and fail its UTF-8 encoding: the whole batch
    was left unacknowledged and an HTTP request hung for 60 s."""
    ing = start_ingest()
    dlq = collect(f"telemetry-dlq/telemetry/{ing.db}/#")
    topic = f"telemetry/{ing.db}/dev/s"
    publish(mosquitto, [(topic, "1"), (topic, b'{"fields": {"v": "\\ud800"}}'), (topic, "3")])
    assert ing.wait_count("s", 2) == 2
    assert wait_until(lambda: len(dlq.messages) == 1, 20)
    assert dlq.json()[0][1]["reason"] == "invalid_point"
    resp = requests.post(
        f"{ing.url}/api/ingest",
        data=b'{"measurement": "s", "fields": {"v": "\\ud800"}}',
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert resp.status_code == 400 and resp.json()["error"]["details"][0]["reason"] == "invalid_point"


@contextlib.contextmanager
def frozen(influx: InfluxDB1) -> Iterator[None]:
    """InfluxDB stopped with SIGSTOP: it accepts connections and never answers."""
    assert influx.proc is not None
    os.kill(influx.proc.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(influx.proc.pid, signal.SIGCONT)


def start_on(start_ingest: StartIngest, mosquitto: Mosquitto, influx: InfluxDB1, extra: dict[str, str]) -> Ingest:
    """Ingest writing to ``influx``, with one point written and read back."""
    ing = start_ingest({"INFLUX_URL": influx.url, **extra}, influx=influx)
    publish(mosquitto, [(f"telemetry/{ing.db}/dev/m", json.dumps({"ts": BASE_NS, "fields": {"v": 1}}))])
    assert ing.wait_count("m", 1) == 1
    return ing


def test_a_writer_stuck_on_a_silent_influxdb_is_reported_then_recovers(
    start_ingest: StartIngest, mosquitto: Mosquitto, own_influx: InfluxDB1
) -> None:
    ing = start_on(start_ingest, mosquitto, own_influx, {"INGEST_WORKER_STALL_S": "3"})
    assert health(ing.url)[0] == 200
    with frozen(own_influx):
        publish(mosquitto, [(f"telemetry/{ing.db}/dev/m", json.dumps({"ts": BASE_NS + 1, "fields": {"v": 2}}))])

        def stalled() -> bool:
            status, body = health(ing.url)
            writer = body["workers"]["writer"]
            return status == 503 and body["status"] == "stalled" and writer["alive"] and not writer["ok"]

        assert wait_until(stalled, 60)
    assert wait_until(lambda: health(ing.url)[0] == 200, 60)
    assert ing.wait_count("m", 2) == 2


HEALTHCHECK = Path(__file__).resolve().parents[2] / "docker" / "mathnotes" / "healthcheck.py"


def container_probe(port: str) -> int:
    """The production image's HEALTHCHECK script, run against ``port``: its exit code."""
    env = {"PATH": "/usr/bin:/bin", "PORT": str(free_port()), "INGEST_PORT": port}
    return subprocess.run([sys.executable, str(HEALTHCHECK)], env=env, capture_output=True, timeout=30).returncode


def test_a_stalled_service_is_unhealthy_then_exits_and_loses_nothing(
    start_ingest: StartIngest, mosquitto: Mosquitto, own_influx: InfluxDB1
) -> None:
    extra = {"INGEST_WORKER_STALL_S": "2", "INGEST_WORKER_EXIT_S": "4"}
    ing = start_on(start_ingest, mosquitto, own_influx, extra)
    port = ing.url.rsplit(":", 1)[1]
    assert container_probe(port) == 0
    with frozen(own_influx):  # the writer blocks on a server that never answers
        publish(mosquitto, [(f"telemetry/{ing.db}/dev/m", json.dumps({"ts": BASE_NS + 1, "fields": {"v": 2}}))])
        assert wait_until(lambda: health(ing.url)[1]["status"] == "stalled", 60)
        assert container_probe(port) == 1  # Docker marks the container unhealthy
        assert ing.proc.wait(120) == WATCHDOG_EXIT  # then it drains and exits for its restart policy
    again = start_ingest({"INFLUX_URL": own_influx.url, **extra}, db=ing.db, influx=own_influx)  # the restart
    assert again.wait_count("m", 2) == 2  # the message in flight was spooled or redelivered


def kill(thread: threading.Thread) -> None:
    """Raise SystemExit inside ``thread`` (CPython's async exception): it dies as from an unhandled error."""
    assert thread.ident is not None
    done = ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), ctypes.py_object(SystemExit))
    assert done == 1
    thread.join(10)
    assert not thread.is_alive()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the SystemExit we raise
def test_a_dead_worker_thread_turns_health_to_503(in_process: tuple[IngestService, FlaskClient]) -> None:
    service, client = in_process
    assert client.get("/health").status_code == 200
    kill(service.pipeline.thread)
    resp = client.get("/health")
    assert resp.status_code == 503 and resp.json is not None
    assert resp.json["status"] == "stalled"
    assert resp.json["workers"]["writer"] == {
        "alive": False,
        "idle_s": resp.json["workers"]["writer"]["idle_s"],
        "ok": False,
    }
    assert resp.json["workers"]["parser"]["ok"] and resp.json["workers"]["mqtt"]["ok"]
    kill(service.consumer.parser)
    assert not client.get("/health").json["workers"]["parser"]["ok"]  # type: ignore[index]
