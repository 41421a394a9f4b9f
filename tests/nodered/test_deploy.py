"""Each flow file alone in a real Node-RED 5: imported and deployed through the admin API (what the editor's
*Import* + *Deploy* do), it runs with every node type known and nothing logged as an error or a warning.
Failures at the edges (vision API down, n8n webhook missing) come out as one clear line, not a storm."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from tests.support.servers import Mosquitto, free_port

from .harness import FLOWS, NAMES, NodeRed, load_flow
from .mqtt import Collector, publish
from .support import Webhook, png_bytes

StartRed = Callable[[dict[str, str]], NodeRed]
# Node-RED's own start-up notices in this headless setup, not about our flows
EXPECTED_WARNINGS = ("Projects disabled", "Using unencrypted credentials")


@pytest.fixture
def empty_red(tmp_path: Path) -> Iterator[StartRed]:
    """Start a Node-RED with no flows and the given environment; stopped after the test."""
    started: list[NodeRed] = []

    def start(env: dict[str, str]) -> NodeRed:
        red = NodeRed(tmp_path / f"red-{len(started)}", [], env)
        started.append(red)
        return red.start()

    yield start
    for red in started:
        red.stop()


def _broker_env(mosquitto: Mosquitto, site: str) -> dict[str, str]:
    return {"MQTT_HOST": mosquitto.host, "MQTT_PORT": str(mosquitto.port), "SITE": site, "SIM_SITES": site}


def _problems(log: str) -> list[str]:
    lines = [ln for ln in log.splitlines() if "[error]" in ln or "[warn]" in ln]
    return [ln for ln in lines if not any(w in ln for w in EXPECTED_WARNINGS)]


def test_every_flow_file_is_listed_and_has_a_readme() -> None:
    assert sorted(p.stem for p in FLOWS.glob("*.json")) == sorted(NAMES)
    for name in NAMES:
        assert (FLOWS / f"README-{name}.md").exists(), name
    assert not list(FLOWS.rglob("*_cred*")), "no credentials file is ever committed"


@pytest.mark.parametrize("name", NAMES)
def test_flow_file_shape(name: str) -> None:
    nodes = load_flow(name)
    ids = [n["id"] for n in nodes]
    assert len(ids) == len(set(ids))
    assert [n["type"] for n in nodes].count("tab") == 1
    known = set(ids)
    for node in nodes:
        assert "credentials" not in node, f"{node['id']} carries credentials"
        for out in node.get("wires", []):
            assert set(out) <= known, f"{node['id']} is wired to a missing node"
        if node["type"] == "mqtt-broker":
            assert node["broker"] == "${MQTT_HOST}" and node["port"] == "${MQTT_PORT}"
        if node["type"] == "catch" and isinstance(node["scope"], list):
            assert set(node["scope"]) <= known
    text = json.dumps(nodes)
    # the only literal URL is the documented fallback of VISION_URL
    assert not re.search(r"https?://(?!\$\{)[a-z0-9.-]+[:/]", text.replace("http://127.0.0.1:3001", "")), (
        "hosts and URLs come from the environment"
    )


DEPLOYS = {
    "device-simulator": ("device-simulator", True),
    "alerts": ("alerts", True),
    "notes-camera": ("notes-camera", True),
    "notes-camera, no watched folder": ("notes-camera", False),
}


@pytest.mark.parametrize("case", DEPLOYS)
def test_flow_deploys_in_real_node_red(case: str, empty_red: StartRed, mosquitto: Mosquitto, tmp_path: Path) -> None:
    name, watch = DEPLOYS[case]
    nodes = load_flow(name)
    env = {**_broker_env(mosquitto, "deploytest"), "VISION_URL": f"http://127.0.0.1:{free_port()}"}
    if watch:
        env["NOTES_WATCH_DIR"] = str(tmp_path)
    red = empty_red(env)
    unknown = {n["type"] for n in nodes if n["type"] != "tab"} - red.known_types()
    assert not unknown, f"unknown node types: {unknown}"
    red.deploy(nodes)
    assert {n["id"] for n in red.deployed()} == {n["id"] for n in nodes}
    log = red.wait_log(f"Connected to broker: mqtt://{mosquitto.host}:{mosquitto.port}")
    assert f"Connected to broker: mqtt://{mosquitto.host}:{mosquitto.port}" in log, log
    if name == "notes-camera" and not watch:
        log = red.wait_log("no watched folder (NOTES_WATCH_DIR is not set); uploads only")
        assert "no watched folder" in log
    assert "missing types" not in log.lower()
    assert not _problems(log), log


def test_vision_api_down_is_one_clear_502(empty_red: StartRed, mosquitto: Mosquitto) -> None:
    vision = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    red = empty_red({**_broker_env(mosquitto, "camdown"), "VISION_URL": vision})
    watch = Collector(mosquitto, "notes/camdown/errors")
    try:
        red.deploy(load_flow("notes-camera"))
        red.wait_log("Connected to broker")
        resp = requests.post(red.url + "/notes/upload", files={"file": ("p.png", png_bytes(), "image/png")}, timeout=30)
        assert resp.status_code == 502, resp.text
        message = resp.json()["error"]["message"]
        assert message.startswith(f"vision API not reachable at {vision}/api/vision/analyze: connect ECONNREFUSED")
        (error,) = watch.wait_for("notes/camdown/errors")
        assert error["error"] == message and error["source"] == {"kind": "upload", "name": "p.png"}
    finally:
        watch.close()
    # one failure, one line: the reply does not fail again (no ERR_HTTP_HEADERS_SENT loop through the catch node)
    assert [ln.split("] ", 2)[-1] for ln in _problems(red.log())] == [f"notes-camera failed: {message}"], red.log()


@pytest.fixture
def unregistered_webhook() -> Iterator[Webhook]:
    """An n8n webhook whose workflow is not active: every POST gets a 404."""
    hook = Webhook(status=404)
    yield hook
    hook.stop()


@pytest.mark.parametrize("answer", ["404", "closed port"])
def test_a_failing_n8n_webhook_is_logged(
    answer: str, empty_red: StartRed, mosquitto: Mosquitto, unregistered_webhook: Webhook
) -> None:
    hook = unregistered_webhook
    url = hook.url if answer == "404" else f"http://127.0.0.1:{free_port()}/webhook/math-notes/alert"
    red = empty_red({**_broker_env(mosquitto, "hookfail"), "N8N_ALERT_WEBHOOK_URL": url})
    red.deploy(load_flow("alerts"))
    red.wait_log("Connected to broker")
    publish(mosquitto, [("telemetry/hookfail/probe/temperature", "41")])
    expected = (
        f"alerts: n8n webhook answer: 404 from {url}"
        if answer == "404"
        else "alerts: POST to n8n webhook: RequestError: connect ECONNREFUSED"
    )
    log = red.wait_log(expected)
    assert expected in log, log
    assert [b["device"] for b in hook.received()] == (["probe"] if answer == "404" else [])
