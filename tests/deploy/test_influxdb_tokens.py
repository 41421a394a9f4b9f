"""Least-privilege InfluxDB tokens: docker/influxdb/init/20-mathnotes-tokens.sh, with-token.sh and their wiring.

There is no InfluxDB 2.x here, so the init script runs against :mod:`.influx_standin`, a stand-in for the
``influx`` CLI that keeps its authorizations in a JSON file and prints what the real CLI prints with
``--json``. ``with-token.sh`` runs for real under ``sh``; the compose wiring is read from the resolved file.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .composefile import filled_env, resolved_services
from .rig import REPO

INIT = REPO / "docker" / "influxdb" / "init" / "20-mathnotes-tokens.sh"
WITH_TOKEN = REPO / "docker" / "influxdb" / "with-token.sh"
STANDIN = Path(__file__).with_name("influx_standin.py")
BUCKET_ID = "0123456789abcdef"


class Influx:
    """A folder with the stand-in ``influx`` on PATH, its state file and the two token folders."""

    def __init__(self, root: Path) -> None:
        self.bin = root / "bin"
        self.bin.mkdir()
        launcher = self.bin / "influx"
        launcher.write_text(f'#!/bin/sh\nexec {sys.executable} {STANDIN} "$@"\n')
        launcher.chmod(0o755)
        self.state = root / "influx-state.json"
        self.read_dir, self.write_dir = root / "read", root / "write"

    def run(self, **extra: str) -> subprocess.CompletedProcess[str]:
        env = {
            "PATH": f"{self.bin}:{os.environ['PATH']}",
            "INFLUX_STANDIN_STATE": str(self.state),
            "DOCKER_INFLUXDB_INIT_BUCKET": "telemetry",
            "DOCKER_INFLUXDB_INIT_ORG": "mathnotes",
            "DOCKER_INFLUXDB_INIT_USERNAME": "admin",
            "INFLUX_STANDIN_BUCKET_ID": BUCKET_ID,
            "MATHNOTES_READ_TOKEN_DIR": str(self.read_dir),
            "MATHNOTES_WRITE_TOKEN_DIR": str(self.write_dir),
            **extra,
        }
        return subprocess.run([str(INIT)], env=env, capture_output=True, text=True, timeout=60)

    def auths(self) -> list[dict[str, Any]]:
        auths: list[dict[str, Any]] = json.loads(self.state.read_text())["auths"]
        return auths

    def calls(self) -> list[list[str]]:
        calls: list[list[str]] = json.loads(self.state.read_text())["calls"]
        return calls


@pytest.fixture
def influx(tmp_path: Path) -> Influx:
    return Influx(tmp_path)


def test_first_run_makes_one_read_and_one_write_token(influx: Influx) -> None:
    done = influx.run()
    assert done.returncode == 0, done.stderr
    tokens = {auth["token"]: auth["permissions"] for auth in influx.auths()}
    read, write = (influx.read_dir / "token").read_text(), (influx.write_dir / "token").read_text()
    assert tokens == {read: [f"read:buckets/{BUCKET_ID}"], write: [f"write:buckets/{BUCKET_ID}"]}
    for path in (influx.read_dir / "token", influx.write_dir / "token"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644  # the readers run as other users (grafana, node, ...)
    assert read not in done.stdout + done.stderr and write not in done.stdout + done.stderr  # never printed
    created = [call for call in influx.calls() if call[:2] == ["auth", "create"]]
    assert all("--user" in call and "--org" in call for call in created)


def test_a_second_run_keeps_live_tokens(influx: Influx) -> None:
    assert influx.run().returncode == 0
    before = (influx.read_dir / "token").read_text(), (influx.write_dir / "token").read_text()
    done = influx.run()
    assert done.returncode == 0, done.stderr
    assert ((influx.read_dir / "token").read_text(), (influx.write_dir / "token").read_text()) == before
    assert len(influx.auths()) == 2
    assert "read token for Grafana, n8n exists" in done.stdout


def test_a_token_influxdb_no_longer_knows_is_replaced(influx: Influx) -> None:
    """After a restore from backup the files may hold tokens the restored InfluxDB never issued."""
    assert influx.run().returncode == 0
    old_read = (influx.read_dir / "token").read_text()
    state = json.loads(influx.state.read_text())
    state["auths"] = [a for a in state["auths"] if a["token"] != old_read]
    influx.state.write_text(json.dumps(state))
    done = influx.run()
    assert done.returncode == 0, done.stderr
    new_read = (influx.read_dir / "token").read_text()
    assert new_read != old_read and new_read in {a["token"] for a in influx.auths()}


def test_no_token_from_the_cli_stops_the_script_and_writes_nothing(influx: Influx) -> None:
    done = influx.run(INFLUX_STANDIN_FAIL_CREATE="1")
    assert done.returncode != 0
    assert "gave no token" in done.stderr
    assert not (influx.read_dir / "token").exists()


def _with_token(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", str(WITH_TOKEN), *args], capture_output=True, text=True, timeout=30)


def test_with_token_hands_the_file_to_the_command(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("tok-3f9a")
    done = _with_token("INFLUX_TOKEN", str(token), "sh", "-c", 'printf "%s|%s" "$INFLUX_TOKEN" "$0"', "argv0")
    assert (done.returncode, done.stdout) == (0, "tok-3f9a|argv0")


@pytest.mark.parametrize("content", [None, ""])
def test_with_token_refuses_a_missing_or_empty_file(tmp_path: Path, content: str | None) -> None:
    token = tmp_path / "token"
    if content is not None:
        token.write_text(content)
    done = _with_token("INFLUX_TOKEN", str(token), "true")
    assert done.returncode == 1
    assert f"{token} is missing or empty" in done.stderr and "20-mathnotes-tokens.sh" in done.stderr


# --- the wiring in docker-compose.prod.yml ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    env = filled_env(tmp_path_factory.mktemp("env"), DOMAIN="notes.example.com", N8N_OWNER_EMAIL="o@example.com")
    found: dict[str, Any] = resolved_services(env)
    found["_env"] = env
    return found


def _mounts(svc: dict[str, Any]) -> dict[str, str]:
    """target -> source of a service's volumes."""
    return {spec.split(":")[1]: spec.split(":")[0] for spec in svc.get("volumes", [])}


def test_the_operator_token_stays_with_influxdb(services: dict[str, Any]) -> None:
    operator = services["_env"]["INFLUX_TOKEN"]
    holders = [name for name, svc in services.items() if name != "_env" and operator in json.dumps(svc)]
    assert holders == ["influxdb"]


@pytest.mark.parametrize(
    ("service", "volume", "variable"),
    [
        ("grafana", "influxdb-read-token", "INFLUX_TOKEN"),
        ("ingest", "influxdb-write-token", "INFLUX_TOKEN"),
        ("ingest-2", "influxdb-write-token", "INFLUX_TOKEN"),
    ],
)
def test_each_reader_gets_only_its_token(services: dict[str, Any], service: str, volume: str, variable: str) -> None:
    svc = services[service]
    wrapper, name, path = svc["entrypoint"][1:4]
    mounts = _mounts(svc)
    assert mounts[wrapper] == "./docker/influxdb/with-token.sh" and name == variable
    assert mounts[str(Path(path).parent)] == volume
    assert {"influxdb-read-token", "influxdb-write-token"} & set(mounts.values()) == {volume}
    assert all(spec.endswith(":ro") for spec in svc["volumes"] if spec.startswith("influxdb-"))
    assert variable not in svc.get("environment", {})


def test_n8n_reads_with_the_read_token_only(services: dict[str, Any]) -> None:
    n8n = services["n8n"]
    path = n8n["environment"]["MATHNOTES_INFLUX_TOKEN_FILE"]
    assert _mounts(n8n)[str(Path(path).parent)] == "influxdb-read-token"
    assert "influxdb-write-token" not in _mounts(n8n).values()
    assert "MATHNOTES_INFLUX_TOKEN" not in n8n["environment"]


def test_influxdb_writes_each_token_where_the_script_puts_it(services: dict[str, Any]) -> None:
    script = INIT.read_text()
    defaults = dict(re.findall(r"\$\{(MATHNOTES_\w+_TOKEN_DIR):-([^}]+)\}", script))
    mounts = _mounts(services["influxdb"])
    assert mounts[defaults["MATHNOTES_READ_TOKEN_DIR"]] == "influxdb-read-token"
    assert mounts[defaults["MATHNOTES_WRITE_TOKEN_DIR"]] == "influxdb-write-token"
    assert mounts["/docker-entrypoint-initdb.d"] == "./docker/influxdb/init" and INIT.stat().st_mode & 0o111
