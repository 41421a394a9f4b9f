"""Each flow file alone in a real Node-RED 4: deploys with no errors and no unknown node types."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from mathnotes.testing.servers import Mosquitto

from .harness import FLOWS, NodeRed, load_flow

NAMES = ("device-simulator", "alerts", "notes-camera")


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
    tabs = [n for n in nodes if n["type"] == "tab"]
    assert len(tabs) == 1
    known = set(ids)
    for node in nodes:
        assert "credentials" not in node, f"{node['id']} carries credentials"
        for out in node.get("wires", []):
            assert set(out) <= known, f"{node['id']} is wired to a missing node"
        if node["type"] == "mqtt-broker":
            assert node["broker"] == "${MQTT_HOST}" and node["port"] == "${MQTT_PORT}"
    text = json.dumps(nodes)
    assert not re.search(r"https?://(?!\$\{)[a-z0-9.-]+[:/]", text.replace("http://127.0.0.1:3001", "")), (
        "hosts and URLs come from the environment"
    )


@pytest.mark.parametrize("name", NAMES)
def test_flow_deploys_in_real_node_red(name: str, tmp_path: Path, mosquitto: Mosquitto) -> None:
    nodes = load_flow(name)
    env = {
        "MQTT_HOST": mosquitto.host,
        "MQTT_PORT": str(mosquitto.port),
        "SITE": "deploytest",
        "SIM_SITES": "deploytest",
        "NOTES_WATCH_DIR": str(tmp_path),
        "VISION_URL": "http://127.0.0.1:9",
    }
    red = NodeRed(tmp_path / "red", nodes, env).start()
    try:
        deployed = red.deployed()
        assert {n["id"] for n in deployed} == {n["id"] for n in nodes}
        types = red.known_types()
        unknown = {n["type"] for n in nodes if n["type"] != "tab"} - types
        assert not unknown, f"unknown node types: {unknown}"
        log = red.log()
        assert "Started flows" in log
        assert "missing types" not in log.lower() and "[error]" not in log, log
        if any(n["type"] == "mqtt-broker" for n in nodes):
            assert f"Connected to broker: mqtt://{mosquitto.host}:{mosquitto.port}" in _wait_log(
                red, "Connected to broker"
            )
    finally:
        red.stop()


def _wait_log(red: NodeRed, text: str) -> str:
    from mathnotes.testing.servers import wait_until

    wait_until(lambda: text in red.log(), 20, 0.1)
    return red.log()
