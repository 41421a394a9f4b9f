"""docker/n8n's entry point, prepare-import.mjs and setup-owner.mjs with the real n8n 2.x, behind our nginx.

Run as in the container except that the image's own entry point is replaced by the n8n binary
(``N8N_IMAGE_ENTRYPOINT``), the database is SQLite in a temporary folder instead of PostgreSQL, and our
community package is built here (``npm pack``, as the image's build stage does).
The workflows are the shipped ones (``n8n-nodes/workflows``), their credentials come from the
environment docker-compose.prod.yml gives n8n (resolved from a filled .env), and the chat model is the
fake model.
Two starts, about a minute in all: the first imports, creates the owner and publishes the workflows; the
second changes nothing and serves behind our real nginx with ``N8N_PATH=/n8n/``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.servers import free_port, spawn, wait_until

from ..n8n.harness import WORKFLOWS_DIR, Receiver, build_package, n8n_binary
from .clients import websocket_handshake
from .composefile import filled_env, service_env
from .rig import REPO, NginxRig

pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")

ENTRYPOINT = REPO / "docker" / "n8n" / "docker-entrypoint.sh"
DOMAIN = "notes.example.test"
OWNER = ("owner@example.com", "Mn-0a1b2c3d-7Q")
CHAT_KEY = "sk-n8n-deploy-test"
CHAT_MODEL = "deploy-test-chat"
SHIPPED = {wf["id"]: wf["name"] for wf in (json.loads(p.read_text()) for p in sorted(WORKFLOWS_DIR.glob("*.json")))}
CREDENTIALS = {
    "Math Notes API": "mathNotesApi",
    "Chat model (OpenAI-compatible)": "openAiApi",
    "Math Notes webhook key": "httpHeaderAuth",
    "InfluxDB read token": "httpHeaderAuth",
}
STANDIN_UPSTREAMS = ("vision", "ingest", "openwebui", "nodered", "grafana")
READ_TOKEN = "read-only-influx-token-for-n8n"  # what docker/influxdb/init/20-mathnotes-tokens.sh would write
SECRET_NAME = re.compile(r"(PASSWORD|SECRET|TOKEN|_KEY|_KEYS)$")
N8N_OWN = {"N8N_ENCRYPTION_KEY", "POSTGRES_PASSWORD"}  # what n8n itself needs to run


class Run:
    """One start of the entry point in its own process group, stopped with SIGTERM."""

    def __init__(self, n8n_bin: Path, work: Path, package: Path, env: dict[str, str], n: int) -> None:
        self.port = free_port()
        self.home = work / "home"
        self.log = work / f"run{n}.log"
        full = {
            **os.environ,
            **env,
            "PATH": f"{n8n_bin.parent}:{os.environ['PATH']}",
            "N8N_USER_FOLDER": str(self.home),
            "N8N_PORT": str(self.port),
            "N8N_LISTEN_ADDRESS": "127.0.0.1",
            "N8N_RUNNERS_BROKER_PORT": str(free_port()),
            "MATHNOTES_N8N_PACKAGE": str(package),
            "N8N_IMAGE_ENTRYPOINT": "n8n",
        }
        with open(self.log, "wb") as out:
            self.proc = spawn(
                ["sh", str(ENTRYPOINT), "start"], env=full, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_setup(self) -> None:
        """Until setup-owner.mjs has finished (it logs "done", or the error that stopped it)."""
        finished = wait_until(lambda: re.search(r"n8n-setup: (done|Error)", self.text()) is not None, 240, 1)
        assert finished and "n8n-setup: done" in self.text(), self.text()[-4000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


@dataclass
class Deployed:
    first: Run
    second: Run
    nginx: NginxRig
    receiver: Receiver
    webhook_token: str  # N8N_WEBHOOK_TOKEN of the .env
    dotenv: dict[str, str]

    def via_nginx(self, method: str, path: str, **kw: Any) -> requests.Response:
        headers = {"Host": self.nginx.domain, **kw.pop("headers", {})}
        url = f"https://127.0.0.1:{self.nginx.https_port}{path}"
        return requests.request(method, url, headers=headers, verify=False, timeout=60, **kw)


def _package(work: Path) -> Path:
    """The image's build stage: ``npm pack``, then unpack."""
    with tarfile.open(build_package(work)) as tar:
        tar.extractall(work / "unpacked", filter="data")
    return work / "unpacked" / "package"


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory, fake_model: FakeOpenAI) -> Iterator[Deployed]:
    work = tmp_path_factory.mktemp("n8n-entrypoint")
    n8n_bin, package = n8n_binary(), _package(work)
    receiver = Receiver().start()
    dotenv = filled_env(
        work,
        DOMAIN=DOMAIN,
        N8N_OWNER_EMAIL=OWNER[0],
        N8N_OWNER_PASSWORD=OWNER[1],
        N8N_CHAT_BASE_URL=fake_model.base_url,
        N8N_CHAT_API_KEY=CHAT_KEY,
        N8N_CHAT_MODEL=CHAT_MODEL,
        MATHNOTES_NOTIFY_URL=receiver.url,
    )
    env = {  # the n8n service's environment in docker-compose.prod.yml, with SQLite instead of PostgreSQL
        **{k: v for k, v in service_env(dotenv, "n8n").items() if not k.startswith("DB_POSTGRESDB_")},
        "DB_TYPE": "sqlite",
        "N8N_SECURE_COOKIE": "false",  # the test also talks to n8n directly over plain HTTP
        "MATHNOTES_WORKFLOWS_DIR": str(WORKFLOWS_DIR),
        "MATHNOTES_INFLUX_TOKEN_FILE": str(work / "read-token"),  # the read-only token's volume in production
    }
    (work / "read-token").write_text(READ_TOKEN)
    runs: list[Run] = []
    try:
        for n in (1, 2):
            runs.append(Run(n8n_bin, work, package, env, n))
            runs[-1].wait_for_setup()
            if n == 1:
                runs[0].stop()
        ports = {name: free_port() for name in STANDIN_UPSTREAMS}
        with NginxRig(work / "nginx", {**ports, "n8n": runs[1].port}, domain=DOMAIN) as nginx:
            yield Deployed(runs[0], runs[1], nginx, receiver, dotenv["N8N_WEBHOOK_TOKEN"], dotenv)
    finally:
        for run in runs:
            run.stop()
        receiver.stop()


def _session(base: str, password: str = OWNER[1], **kw: Any) -> tuple[requests.Session, requests.Response]:
    session = requests.Session()
    session.headers["browser-id"] = "deploy-test"
    login = session.post(
        base + "/rest/login", json={"emailOrLdapLoginId": OWNER[0], "password": password}, timeout=30, **kw
    )
    return session, login


def test_first_start_imports_creates_the_owner_and_activates(deployed: Deployed) -> None:
    log = deployed.first.text()
    assert f"first start: {len(SHIPPED)} workflow(s), {len(CREDENTIALS)} credential(s) to import" in log
    assert f"owner {OWNER[0]} created" in log
    for workflow_id, name in SHIPPED.items():
        assert f"workflow {workflow_id} ({name}): activated" in log
    assert "community package n8n-nodes-mathnotes 0." in log
    assert not (deployed.first.home / ".n8n" / ".mathnotes-activate").exists()  # nothing left to retry


def test_second_start_changes_nothing(deployed: Deployed) -> None:
    log = deployed.second.text()
    assert "first start" not in log and "activated" not in log
    assert "n8n-setup: owner exists" in log
    session, login = _session(deployed.second.base)
    assert login.status_code == 200, login.text
    workflows = session.get(deployed.second.base + "/rest/workflows", timeout=30).json()["data"]
    assert {wf["id"]: wf["active"] for wf in workflows} == dict.fromkeys(SHIPPED, True)
    credentials = session.get(deployed.second.base + "/rest/credentials", timeout=30).json()["data"]
    assert sorted((c["name"], c["type"]) for c in credentials) == sorted(CREDENTIALS.items())  # no copies
    assert _session(deployed.second.base, "Wrong-pass-1")[1].status_code == 401


def test_our_community_package_loads(deployed: Deployed) -> None:
    session, _ = _session(deployed.second.base)
    types = session.get(deployed.second.base + "/types/nodes.json", timeout=60)
    assert types.status_code == 200, types.text[:300]
    names = {node["name"] for node in types.json()}
    assert {"n8n-nodes-mathnotes.mathNotesVision", "n8n-nodes-mathnotes.mathNotesTelemetry"} <= names


def test_editor_is_served_under_the_n8n_path(deployed: Deployed) -> None:
    page = deployed.via_nginx("GET", "/n8n/")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assets = re.findall(r'(?:src|href)="(/n8n/assets/[^"]+)"', page.text)
    assert assets, page.text[:1000]
    assert '="/assets/' not in page.text  # every asset carries the prefix nginx routes to n8n
    asset = deployed.via_nginx("GET", assets[0])
    assert asset.status_code == 200 and len(asset.content) > 1000
    settings = deployed.via_nginx("GET", "/n8n/rest/settings").json()["data"]
    assert settings["userManagement"]["showSetupOnFirstLoad"] is False  # the owner exists: no setup page


def test_alert_webhook_through_nginx_uses_the_imported_credential(deployed: Deployed, model: FakeOpenAI) -> None:
    model.script(Reply(content="Check the fan of the cold room."))
    deployed.receiver.reset()
    alert = {"site": "lab", "device": "env-01", "measurement": "temp", "value": 41, "threshold": 35, "state": "alert"}
    auth = {"Authorization": f"Bearer {deployed.webhook_token}"}
    resp = deployed.via_nginx("POST", "/n8n/webhook/math-notes/alert", json=alert, headers=auth)
    assert resp.status_code == 202, resp.text
    [sent] = deployed.receiver.wait_for(1, 90)
    assert "Check the fan of the cold room." in json.dumps(sent["body"])
    [call] = [r for r in model.requests if r["headers"].get("authorization") == f"Bearer {CHAT_KEY}"]
    assert call["body"]["model"] == CHAT_MODEL  # MATHNOTES_CHAT_MODEL reached the workflow


@pytest.mark.parametrize("path", ["/n8n/webhook/math-notes/alert", "/n8n/webhook/math-notes/analyze"])
@pytest.mark.parametrize("auth", [None, "Bearer wrong-token"])
def test_webhooks_through_nginx_want_the_token(
    deployed: Deployed, model: FakeOpenAI, path: str, auth: str | None
) -> None:
    deployed.receiver.reset()
    alert = {"site": "lab", "device": "env-02", "measurement": "temp", "value": 41, "threshold": 35, "state": "alert"}
    resp = deployed.via_nginx("POST", path, json=alert, headers={"Authorization": auth} if auth else {})
    assert resp.status_code == 403, resp.text
    assert model.requests == [] and deployed.receiver.received == []  # no model tokens spent, nothing forwarded


def _environ(pid: int) -> dict[str, str]:
    pairs = (item.split("=", 1) for item in Path(f"/proc/{pid}/environ").read_bytes().decode().split("\0") if item)
    return dict(pair for pair in pairs if len(pair) == 2)


def test_n8n_runs_with_no_secret_but_its_own(deployed: Deployed) -> None:
    """n8n's environment holds only n8n's own secrets: the read-only token went into a credential, and
    workflows cannot read the environment anyway ($env stays blocked, n8n 2.x's default)."""
    environ = _environ(deployed.second.proc.pid)  # the entry point exec'd n8n: same process
    assert "n8n" in Path(f"/proc/{deployed.second.proc.pid}/cmdline").read_bytes().decode()
    assert environ["N8N_BLOCK_ENV_ACCESS_IN_NODE"] == "true"
    assert not any(READ_TOKEN in value for value in environ.values()) and "MATHNOTES_INFLUX_TOKEN_FILE" not in environ
    out = deployed.first.home / "credentials-export.json"  # n8n's own CLI, beside the running server
    cli_env = {**environ, "N8N_RUNNERS_BROKER_PORT": str(free_port())}
    argv = [str(n8n_binary()), "export:credentials", "--all", "--decrypted", f"--output={out}"]
    subprocess.run(argv, env=cli_env, check=True, capture_output=True, timeout=300)
    [read] = [c["data"] for c in json.loads(out.read_text()) if c["name"] == "InfluxDB read token"]
    assert read == {"name": "Authorization", "value": f"Token {READ_TOKEN}"}
    secrets = {k: v for k, v in deployed.dotenv.items() if SECRET_NAME.search(k) and v and k not in N8N_OWN}
    assert {"INFLUX_TOKEN", "N8N_VISION_API_KEY", "N8N_WEBHOOK_TOKEN", "N8N_OWNER_PASSWORD"} <= set(secrets)
    leaked = sorted(name for name, value in secrets.items() if any(value in seen for seen in environ.values()))
    assert leaked == []
    assert environ["N8N_ENCRYPTION_KEY"] == deployed.dotenv["N8N_ENCRYPTION_KEY"]  # the check can see a value


def test_push_websocket_upgrades_through_nginx(deployed: Deployed) -> None:
    _, login = _session(
        f"https://127.0.0.1:{deployed.nginx.https_port}/n8n", headers={"Host": deployed.nginx.domain}, verify=False
    )
    assert login.status_code == 200, login.text
    cookie = "; ".join(f"{c.name}={c.value}" for c in login.cookies)
    status, _ = websocket_handshake(
        deployed.nginx.https_port,
        deployed.nginx.domain,
        "/n8n/rest/push?pushRef=deploytest",
        {"Cookie": cookie, "Origin": f"https://{deployed.nginx.domain}"},
    )
    assert " 101 " in f"{status} ", status
