"""``scripts/backup.sh`` then ``scripts/restore.sh`` into fresh volumes, on real data, with a stand-in docker.

No Docker engine runs here: ``docker`` is ``tests/deploy/fake_docker.py``, whose named volumes are
folders and whose ``run`` executes the helper command (``python -m mathnotes.backup``) on them. The
volumes hold the real thing: a Mosquitto 2.0 broker persisting to ``mosquitto-data`` (autosave an hour
away, so only the SIGUSR1 backup.sh sends can write the queued messages to disk) and a Grafana-style
SQLite database that a writer process keeps committing to. The backup is restored into the volumes of
an empty second "engine"; a broker started on the restored folder hands the persistent session its
queued messages, and the database holds every row committed before the backup.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tests.support.servers import Mosquitto, StartServer, wait_until

from .composefile import filled_env
from .fake_docker import install
from .rig import REPO
from .sqlite_writer import BATCH, StartWriter, committed, sound_rows

SESSION = "backup-probe"
TOPIC = "telemetry/backup/probe-1/temperature"
SIGNAL_BROKER = ["kill", "-s", "SIGUSR1", "mosquitto"]


def session_client() -> mqtt.Client:
    """The persistent session (MQTT 3.1.1, clean session off) whose queue the backup must keep."""
    return mqtt.Client(CallbackAPIVersion.VERSION2, client_id=SESSION, clean_session=False)


def queue_for_offline_session(broker: Mosquitto, payloads: list[str], subscribe: bool) -> None:
    if subscribe:
        sub = session_client()
        subscribed = threading.Event()
        sub.on_subscribe = lambda *_: subscribed.set()
        sub.connect(broker.host, broker.port)
        sub.loop_start()
        sub.subscribe(TOPIC, qos=1)
        assert subscribed.wait(10)
        sub.disconnect()
        sub.loop_stop()
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="backup-device")
    pub.connect(broker.host, broker.port)
    pub.loop_start()
    for payload in payloads:
        pub.publish(TOPIC, payload, qos=1).wait_for_publish(10)
    pub.disconnect()
    pub.loop_stop()


def receive_queued(broker: Mosquitto, expected: int) -> list[str]:
    got: list[str] = []
    present: list[bool] = []
    sub = session_client()
    sub.on_connect = lambda _c, _u, flags, _rc, _p: present.append(bool(flags.session_present))
    sub.on_message = lambda _c, _u, msg: got.append(msg.payload.decode())
    sub.connect(broker.host, broker.port)
    sub.loop_start()
    wait_until(lambda: len(got) >= expected, 30)
    time.sleep(1)  # a quiet second: anything beyond what is expected would arrive now
    sub.disconnect()
    sub.loop_stop()
    assert present == [True], "the restored broker knows the session"
    return got


def script_env(tmp_path: Path, engine: Path) -> dict[str, str]:
    """The environment backup.sh / restore.sh run in: a filled .env in ``tmp_path``, the fake docker on PATH
    keeping its volumes and calls in ``engine``, no release folder."""
    filled_env(tmp_path, DOMAIN="notes.example.test")
    return {
        **os.environ,
        "PATH": f"{install(tmp_path / 'bin').parent}{os.pathsep}{os.environ['PATH']}",
        "FAKE_DOCKER_DIR": str(engine),
        "ENV_FILE": str(tmp_path / ".env"),
        "DEPLOY_DIR": str(tmp_path / "no-release"),
        "HELPER_IMAGE": "mathnotes/app:test",
    }


def script(name: str, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(REPO / "scripts" / name), *args], env=env, capture_output=True, text=True, timeout=300, cwd=REPO
    )


def calls(state: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (state / "calls.jsonl").read_text().splitlines()]


def test_backup_restores_into_fresh_volumes_with_queued_messages_and_committed_rows(
    tmp_path: Path, start_server: StartServer, sqlite_writer: StartWriter
) -> None:
    engine, fresh_engine, backups = tmp_path / "engine", tmp_path / "fresh-engine", tmp_path / "backups"
    volumes = engine / "volumes"
    grafana_db = volumes / "mathnotes_grafana-data" / "grafana.db"
    grafana_db.parent.mkdir(parents=True)
    (grafana_db.parent / "plugins").mkdir()
    (grafana_db.parent / "plugins" / "installed.txt").write_text("none\n")
    writer = sqlite_writer(grafana_db, "delete")
    broker = start_server(Mosquitto(volumes / "mathnotes_mosquitto-data", persistence=True, autosave_s=3600))
    (engine / "pids").mkdir()
    assert broker.proc is not None
    (engine / "pids" / "mosquitto").write_text(str(broker.proc.pid))
    before = [f"{20 + i / 10:.1f}" for i in range(120)]
    queue_for_offline_session(broker, before, subscribe=True)
    assert wait_until(lambda: grafana_db.exists() and committed(grafana_db) >= 5 * BATCH, 60)

    env = script_env(tmp_path, engine)
    floor = committed(grafana_db)
    done = script("backup.sh", [str(backups), "mosquitto-data", "grafana-data"], env)
    assert done.returncode == 0, done.stdout + done.stderr
    queue_for_offline_session(broker, ["after the backup"], subscribe=False)
    assert writer.stop() == 0
    [backup] = list(backups.iterdir())
    sums = (backup / "SHA256SUMS").read_text()
    assert "mosquitto-data.tar.gz" in sums and "grafana-data.tar.gz" in sums
    seen = [c["argv"] for c in calls(engine)]
    signal_at = next(i for i, a in enumerate(seen) if a[:1] == ["compose"] and a[-4:] == SIGNAL_BROKER)
    archived_at = next(i for i, a in enumerate(seen) if "/backup/mosquitto-data.tar.gz" in a)
    assert signal_at < archived_at, "the broker saves its queues, then the volume is archived"

    env["FAKE_DOCKER_DIR"] = str(fresh_engine)
    done = script("restore.sh", [str(backup)], env)
    assert done.returncode == 0, done.stdout + done.stderr
    order = [c["argv"][-1] if c.get("compose") else c["argv"][-3] for c in calls(fresh_engine)]
    expected = [(s, f"/backup/{s}-data.tar.gz", s) for s in ("grafana", "mosquitto")]
    assert order == [x for triple in expected for x in triple], "each volume restored while its service stopped"
    assert [c.get("compose") for c in calls(fresh_engine)] == ["stop", None, "start"] * 2

    fresh_volumes = fresh_engine / "volumes"
    rows = sound_rows(fresh_volumes / "mathnotes_grafana-data" / "grafana.db")
    assert rows >= floor and rows % BATCH == 0
    assert (fresh_volumes / "mathnotes_grafana-data" / "plugins" / "installed.txt").read_text() == "none\n"
    broker.stop()
    restored_broker = start_server(Mosquitto(fresh_volumes / "mathnotes_mosquitto-data", persistence=True))
    assert receive_queued(restored_broker, len(before)) == before


def test_restore_refuses_a_backup_that_does_not_match_its_sums(tmp_path: Path) -> None:
    backup = tmp_path / "20250101T000000Z"
    data = tmp_path / "data"
    data.mkdir()
    (data / "flows.json").write_text("[]")
    backup.mkdir()
    subprocess.run(
        [sys.executable, "-m", "mathnotes.backup", "archive", str(data), str(backup / "nodered-data.tar.gz")],
        check=True,
        capture_output=True,
    )
    subprocess.run("sha256sum ./nodered-data.tar.gz > SHA256SUMS", shell=True, cwd=backup, check=True)
    with open(backup / "nodered-data.tar.gz", "ab") as archive:
        archive.write(b"\0")
    done = script("restore.sh", [str(backup)], script_env(tmp_path, tmp_path / "engine"))
    assert done.returncode != 0 and "does not match its SHA256SUMS" in done.stderr
    assert not (tmp_path / "engine" / "calls.jsonl").exists(), "nothing was stopped or touched"
