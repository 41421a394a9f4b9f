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

    def files(self) -> dict[str, str]:
        """What the two token folders hold: {"read/token": ..., "read/id": ..., "write/token": ..., ...}."""
        return {
            f"{folder.name}/{name}": (folder / name).read_text()
            for folder in (self.read_dir, self.write_dir)
            for name in ("token", "id")
            if (folder / name).exists()
        }


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
    ids = {auth["token"]: auth["id"] for auth in influx.auths()}
    assert (influx.read_dir / "id").read_text() == ids[read] and (influx.write_dir / "id").read_text() == ids[write]


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


def test_tokens_are_recognised_once_influxdb_hashes_them(influx: Influx) -> None:
    """InfluxDB 2.9 (or 2.8 with use-hashed-tokens) never shows a token again: the id file is what is checked."""
    assert influx.run().returncode == 0
    before = influx.files()
    done = influx.run(INFLUX_STANDIN_HASHED="1")
    assert done.returncode == 0, done.stderr
    assert influx.files() == before and len(influx.auths()) == 2
    assert "read token for Grafana, n8n exists" in done.stdout and "write token for ingest exists" in done.stdout
    assert [call[:2] for call in influx.calls()].count(["auth", "create"]) == 2


def test_a_token_file_without_an_id_gets_its_id_while_tokens_are_plain(influx: Influx) -> None:
    """Folders written before ids were kept: looked up by token once, then they survive hashing."""
    assert influx.run().returncode == 0
    ids = {auth["token"]: auth["id"] for auth in influx.auths()}
    for folder in (influx.read_dir, influx.write_dir):
        (folder / "id").unlink()
    done = influx.run()
    assert done.returncode == 0, done.stderr
    for folder in (influx.read_dir, influx.write_dir):
        assert (folder / "id").read_text() == ids[(folder / "token").read_text()]
        assert stat.S_IMODE((folder / "id").stat().st_mode) == 0o644
    before = influx.files()
    assert influx.run(INFLUX_STANDIN_HASHED="1").returncode == 0
    assert influx.files() == before and len(influx.auths()) == 2


def test_a_token_file_without_an_id_cannot_be_recognised_once_hashed(influx: Influx) -> None:
    """Why DEPLOY.md says to run the script once on 2.8 before hashing: afterwards it can only make new ones."""
    assert influx.run().returncode == 0
    old = (influx.write_dir / "token").read_text()
    (influx.write_dir / "id").unlink()
    done = influx.run(INFLUX_STANDIN_HASHED="1")
    assert done.returncode == 0, done.stderr
    new = (influx.write_dir / "token").read_text()
    assert new != old and len(influx.auths()) == 3
    assert (influx.write_dir / "id").read_text() == next(a["id"] for a in influx.auths() if a["token"] == new)
    assert "read token for Grafana, n8n exists" in done.stdout


@pytest.mark.parametrize("hashed", ["", "1"])
def test_a_deleted_authorization_is_replaced_hashed_or_not(influx: Influx, hashed: str) -> None:
    assert influx.run().returncode == 0
    old_id = (influx.read_dir / "id").read_text()
    state = json.loads(influx.state.read_text())
    state["auths"] = [a for a in state["auths"] if a["id"] != old_id]
    influx.state.write_text(json.dumps(state))
    done = influx.run(INFLUX_STANDIN_HASHED=hashed)
    assert done.returncode == 0, done.stderr
    new_id = (influx.read_dir / "id").read_text()
    assert new_id != old_id
    assert next(a["token"] for a in influx.auths() if a["id"] == new_id) == (influx.read_dir / "token").read_text()


def test_an_id_whose_shown_token_differs_from_the_file_is_replaced(influx: Influx) -> None:
    """While InfluxDB still shows tokens, the id alone is not enough: the file must hold that token."""
    assert influx.run().returncode == 0
    (influx.read_dir / "token").write_text("a-token-influxdb-never-issued")
    done = influx.run()
    assert done.returncode == 0, done.stderr
    assert (influx.read_dir / "token").read_text() in {a["token"] for a in influx.auths()}
    assert len(influx.auths()) == 3


def test_no_token_from_the_cli_stops_the_script_and_writes_nothing(influx: Influx) -> None:
    done = influx.run(INFLUX_STANDIN_FAIL_CREATE="1")
    assert done.returncode != 0
    assert "gave no token" in done.stderr
    assert not (influx.read_dir / "token").exists() and not (influx.read_dir / "id").exists()


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


def test_influxdb_is_2_8_with_token_hashing_spelled_out(services: dict[str, Any]) -> None:
    """2.9 hashes every token at its first start, for good (DEPLOY.md, "InfluxDB versions"): not by accident."""
    influxdb = services["influxdb"]
    assert re.fullmatch(r"influxdb:2\.8\.\d+-alpine", influxdb["image"]), influxdb["image"]
    assert influxdb["environment"]["INFLUXD_USE_HASHED_TOKENS"] == "false"
