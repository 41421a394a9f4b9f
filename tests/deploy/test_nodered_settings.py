"""docker/node-red/settings.js in a real Node-RED 5 with the shipped flows, behind our real nginx.

Node-RED runs as in the container (settings.js copied into its user folder, ``NODE_RED_FLOWS_DIR`` the
repo's node-red-flows/) against the secured Mosquitto of ``docker/mosquitto/entrypoint.sh`` and the
real vision API of the ``front`` fixture (which answers through the fake model).
"""

from __future__ import annotations

import base64
import json
import os
import queue
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import requests
from paho.mqtt.enums import CallbackAPIVersion

from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.servers import StartServer, free_port, spawn, wait_until

from ..nodered.harness import node_red
from .brokers import PASSWORDS, Broker
from .clients import websocket_handshake
from .composefile import load_compose
from .front import NODERED_KEY, Front
from .rig import REPO, NginxRig
from .standins import note_png

pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")

SETTINGS = REPO / "docker" / "node-red" / "settings.js"
FLOWS = REPO / "node-red-flows"
ADMIN = ("admin", "Nr-test-Passw0rd")
HTTP_TOKEN = "nr-http-token-for-tests"  # NODE_RED_HTTP_TOKEN: what the flows' HTTP endpoints require
SITE = "deploytest"
SHIPPED = [node for path in sorted(FLOWS.glob("*.json")) for node in json.loads(path.read_text())]
BROKERS = {node["id"] for node in SHIPPED if node["type"] == "mqtt-broker"}


@dataclass
class NodeRed:
    """Node-RED as the container runs it: our settings.js in ``user_dir``, the shipped flows folder.

    ``start()`` returns once the process runs (the caller waits for what it needs); ``wait()`` for its exit.
    """

    user_dir: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return (self.user_dir / "node-red.log").read_text(errors="replace")

    def start(self) -> NodeRed:
        self.user_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SETTINGS, self.user_dir / "settings.js")
        full = {**os.environ, "NODE_RED_FLOWS_DIR": str(FLOWS), **self.env}
        with open(self.user_dir / "node-red.log", "wb") as log:
            self.proc = spawn(
                [str(node_red()), "-u", str(self.user_dir), "-p", str(self.port)],
                env=full,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def wait(self, timeout: float) -> int:
        assert self.proc is not None, "not started"
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(15)


@pytest.fixture(scope="module")
def nodered(tmp_path_factory: pytest.TempPathFactory, secured_broker: Broker, front: Front) -> Iterator[NodeRed]:
    env = {  # as docker-compose.prod.yml gives it, with this machine's addresses
        "NODE_RED_ADMIN_USER": ADMIN[0],
        "NODE_RED_ADMIN_PASSWORD": ADMIN[1],
        "NODE_RED_CREDENTIAL_SECRET": "test-credential-secret",
        "NODE_RED_DISABLED_TABS": "sim.tab",
        "MQTT_HOST": "127.0.0.1",
        "MQTT_PORT": str(secured_broker.port),
        "MQTT_USERNAME": "nodered",
        "MQTT_PASSWORD": PASSWORDS["NODERED_MQTT_PASSWORD"],
        "VISION_URL": f"http://127.0.0.1:{front.ports['vision']}",
        "VISION_API_KEY": NODERED_KEY,
        "NODE_RED_HTTP_TOKEN": HTTP_TOKEN,
        "SITE": SITE,
    }
    red = NodeRed(tmp_path_factory.mktemp("nodered") / "data", env).start()
    try:
        # every broker node whose flows run logs in (the simulator's tab is disabled: its broker has no user)
        ok = wait_until(lambda: len(_connected(red, secured_broker)) >= len(BROKERS) - 1, 60, 0.3)
        assert ok, red.log()[-3000:]
        yield red
    finally:
        red.stop()


def _connected(red: NodeRed, broker: Broker) -> list[str]:
    return [line for line in red.log().splitlines() if "Connected to broker: " in line and f":{broker.port}" in line]


def _token(base: str, password: str) -> requests.Response:
    form = {"client_id": "node-red-admin", "grant_type": "password", "scope": "*", "username": ADMIN[0]}
    return requests.post(base + "/nodered/auth/token", timeout=10, data={**form, "password": password})


def test_shipped_flows_are_seeded_with_the_simulator_off(nodered: NodeRed) -> None:
    seeded = json.loads((nodered.user_dir / "flows.json").read_text())
    assert [n["id"] for n in seeded] == [n["id"] for n in SHIPPED]
    assert {n["id"] for n in seeded if n["type"] == "tab" and n.get("disabled")} == {"sim.tab"}
    assert f"seeded flows.json with {len(SHIPPED)} nodes" in nodered.log()
    assert "disabled: Device simulator" in nodered.log()
    assert requests.post(nodered.base + "/notes/image", timeout=10).status_code == 404  # nothing at the root


def test_runs_the_node_red_and_node_the_compose_file_pins(nodered: NodeRed) -> None:
    """The image is ``nodered/node-red:<Node-RED version>-<Node major>``: the same pair runs here."""
    image = load_compose()["services"]["nodered"]["image"]
    pinned = re.fullmatch(r"nodered/node-red:(\d+\.\d+\.\d+)-(\d+)", image)
    assert pinned, f"{image} is not nodered/node-red:<version>-<node major>"
    running = re.search(r"Node-RED version: v(\S+)\n.*Node\.js\s+version: v(\d+)\.", nodered.log())
    assert running, nodered.log()[:2000]
    assert running.groups() == pinned.groups()


def test_editor_api_needs_the_admin_login(nodered: NodeRed) -> None:
    assert requests.get(nodered.base + "/nodered/flows", timeout=10).status_code == 401
    assert _token(nodered.base, "wrong-password").status_code == 403
    good = _token(nodered.base, ADMIN[1])
    assert good.status_code == 200
    flows = requests.get(
        nodered.base + "/nodered/flows", timeout=10, headers={"Authorization": f"Bearer {good.json()['access_token']}"}
    )
    assert flows.status_code == 200
    assert {n["id"] for n in flows.json()} == {n["id"] for n in SHIPPED}


def test_broker_login_stays_in_the_environment(nodered: NodeRed) -> None:
    stored = (nodered.user_dir / "flows_cred.json").read_text()
    assert PASSWORDS["NODERED_MQTT_PASSWORD"] not in stored and "${MQTT_PASSWORD}" in stored
    token = _token(nodered.base, ADMIN[1]).json()["access_token"]
    for broker in BROKERS:
        creds = requests.get(
            f"{nodered.base}/nodered/credentials/mqtt-broker/{broker}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        ).json()
        assert creds == {"user": "${MQTT_USERNAME}", "has_password": True}


def _subscribe(broker: Broker, topic: str) -> tuple[mqtt.Client, queue.Queue[bytes]]:
    """A subscriber logged in as Node-RED's user (the ACL lets it read what it publishes)."""
    got: queue.Queue[bytes] = queue.Queue()
    subscribed: queue.Queue[int] = queue.Queue()
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    client.username_pw_set("nodered", PASSWORDS["NODERED_MQTT_PASSWORD"])
    client.on_message = lambda c, u, msg: got.put(bytes(msg.payload))
    client.on_subscribe = lambda c, u, mid, codes, props: subscribed.put(mid)
    client.on_connect = lambda c, u, flags, rc, props: c.subscribe(topic, qos=1)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    subscribed.get(timeout=10)
    return client, got


def test_a_photo_through_nginx_node_red_and_the_vision_api(
    nodered: NodeRed,
    front: Front,
    secured_broker: Broker,
    model: FakeOpenAI,
    tmp_path: Path,
    start_server: StartServer,
) -> None:
    model.script(Reply(content="The page reads: $a^2 + b^2 = c^2$"))
    nginx = start_server(NginxRig(tmp_path, {**front.ports, "nodered": nodered.port}))
    client, published = _subscribe(secured_broker, f"notes/{SITE}/analyzed")
    try:
        resp = requests.post(
            f"https://127.0.0.1:{nginx.https_port}/nodered/notes/image?task=transcribe",
            data=note_png(),
            headers={"Host": nginx.domain, "Content-Type": "image/png", "Authorization": f"Bearer {HTTP_TOKEN}"},
            verify=False,
            timeout=60,
        )
        editor = requests.get(
            f"https://127.0.0.1:{nginx.https_port}/nodered/",
            headers={"Host": nginx.domain},
            verify=False,
            timeout=10,
        )
        status, _ = websocket_handshake(nginx.https_port, nginx.domain, "/nodered/comms", {})
        message = json.loads(published.get(timeout=30))  # the notes/ topic is in Node-RED's ACL
    finally:
        client.disconnect()
        client.loop_stop()
    assert resp.status_code == 200, resp.text
    assert resp.text == "The page reads: $a^2 + b^2 = c^2$"
    assert message["markdown"] == resp.text and message["site"] == SITE
    assert editor.status_code == 200 and "Node-RED" in editor.text
    assert " 101 " in f"{status} ", status


def test_refuses_to_start_without_a_password(tmp_path: Path, start_server: StartServer) -> None:
    red = start_server(NodeRed(tmp_path / "data", {"NODE_RED_ADMIN_PASSWORD": "", "NODE_RED_CREDENTIAL_SECRET": "x"}))
    assert red.wait(60) != 0
    assert "NODE_RED_ADMIN_PASSWORD is not set" in red.log()


def test_refuses_to_start_without_the_http_token(tmp_path: Path, start_server: StartServer) -> None:
    env = {"NODE_RED_ADMIN_PASSWORD": "x", "NODE_RED_CREDENTIAL_SECRET": "x", "NODE_RED_HTTP_TOKEN": ""}
    red = start_server(NodeRed(tmp_path / "data", env))
    assert red.wait(60) != 0
    assert "NODE_RED_HTTP_TOKEN is not set" in red.log()


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    "auth",
    [None, "Bearer wrong-token", _basic("notes", "wrong-token"), f"Token {HTTP_TOKEN}", _basic(HTTP_TOKEN, "")],
    ids=["none", "wrong-bearer", "wrong-basic", "other-scheme", "token-as-user"],
)
@pytest.mark.parametrize("path", ["/nodered/notes/upload", "/nodered/notes/image"])
def test_the_flows_http_endpoints_want_the_token(
    nodered: NodeRed, model: FakeOpenAI, path: str, auth: str | None
) -> None:
    headers = {"Content-Type": "image/png", **({"Authorization": auth} if auth else {})}
    resp = requests.post(nodered.base + path, data=note_png(), headers=headers, timeout=30)
    assert resp.status_code == 401, resp.text
    assert resp.json()["error"]["code"] == "unauthorized"
    assert resp.headers["WWW-Authenticate"].startswith("Basic ")
    assert model.requests == []  # the vision API key was not spent


@pytest.mark.parametrize("auth", [f"Bearer {HTTP_TOKEN}", _basic("phone", HTTP_TOKEN)], ids=["bearer", "basic"])
def test_an_upload_with_the_token_is_analysed(nodered: NodeRed, model: FakeOpenAI, auth: str) -> None:
    model.script(Reply(content="Upload read: $x = 1$"))
    files = {"file": ("page.png", note_png(), "image/png")}
    resp = requests.post(
        nodered.base + "/nodered/notes/upload", files=files, headers={"Authorization": auth}, timeout=60
    )
    assert resp.status_code == 200, resp.text
    assert resp.text == "Upload read: $x = 1$"
    [call] = model.requests
    assert "image_url" in json.dumps(call["body"])  # the photo reached the model through the vision API
