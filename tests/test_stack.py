"""``./stack up`` brings a second, independent copy of the suite up on other ports, idempotently."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def stack_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {
        **os.environ,
        "STACK_DIR": str(tmp_path / "stack"),
        "MOSQUITTO_PORT": str(free_port()),
        "INFLUX_PORT": str(free_port()),
        "INFLUX_RPC_PORT": str(free_port()),
        "INGEST_PORT": str(free_port()),
        "PORT": str(free_port()),
        "NODERED_PORT": str(free_port()),
    }
    yield env
    subprocess.run([str(ROOT / "stack"), "down"], env=env, capture_output=True, timeout=120)


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ROOT / "stack"), *args], env=env, capture_output=True, text=True, timeout=600)


def test_up_twice_status_and_down(stack_env: dict[str, str]) -> None:
    first = run(stack_env, "up")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Math Notes Suite is up" in first.stdout
    for port_var in ("INGEST_PORT", "PORT"):
        health = requests.get(f"http://127.0.0.1:{stack_env[port_var]}/health", timeout=5)
        assert health.status_code in (200, 503) and "status" in health.json()
    influx = requests.post(
        f"http://127.0.0.1:{stack_env['INFLUX_PORT']}/query", data={"q": "SHOW DATABASES"}, timeout=5
    )
    assert ["telemetry"] in influx.json()["results"][0]["series"][0]["values"]
    # the notes library is on, on SQLite in the stack's data folder (nothing to install)
    health = requests.get(f"http://127.0.0.1:{stack_env['PORT']}/health", timeout=5).json()
    assert health["notes"]["backend"] == "sqlite", health
    notes = requests.get(f"http://127.0.0.1:{stack_env['PORT']}/api/notes", timeout=10)
    assert notes.status_code == 200 and notes.json()["notes"] == []
    assert list((Path(stack_env["STACK_DIR"]) / "data" / "notes").glob("*.sqlite3"))

    second = run(stack_env, "up")
    assert second.returncode == 0
    assert second.stdout.count("already running") == 5

    status = run(stack_env, "status")
    assert status.returncode == 0, status.stdout
    assert [line.split()[1] for line in status.stdout.splitlines()] == ["up"] * 5

    logs = run(stack_env, "logs", "vision")
    assert "mathnotes-vision listening" in logs.stdout

    down = run(stack_env, "down")
    assert down.returncode == 0
    assert run(stack_env, "status").returncode == 1


def test_a_part_that_fails_is_named_with_its_log(stack_env: dict[str, str]) -> None:
    broken = {**stack_env, "LOG_FORMAT": "yaml"}
    result = run(broken, "up")
    assert result.returncode == 1
    assert "ingest failed to start" in result.stderr
    assert "LOG_FORMAT: expected one of json, text" in result.stderr
