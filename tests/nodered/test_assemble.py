"""node-red-flows/assemble.js: one flows file from every flow, and the MQTT login from the environment only."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.support.servers import Mosquitto, StartServer, wait_until

from .harness import FLOWS, NodeRed

ASSEMBLE = FLOWS / "assemble.js"


def _assemble(user_dir: Path, env: dict[str, str]) -> str:
    out = subprocess.run(
        ["node", str(ASSEMBLE), str(FLOWS), str(user_dir)],
        env={"PATH": "/usr/bin:/bin", **env},
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    )
    return out.stdout


def test_combines_every_flow_and_writes_no_credentials_without_a_login(tmp_path: Path) -> None:
    print(_assemble(tmp_path, {}))
    nodes = json.loads((tmp_path / "flows.json").read_text())
    expected = sum(len(json.loads(p.read_text())) for p in FLOWS.glob("*.json"))
    assert len(nodes) == expected and len({n["id"] for n in nodes}) == expected
    assert {n["label"] for n in nodes if n["type"] == "tab"} == {"Device simulator", "Alerts", "Notes camera"}
    assert not (tmp_path / "flows_cred.json").exists()


def test_duplicate_ids_are_refused(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    for name in ("a.json", "b.json"):
        (flows / name).write_text(json.dumps([{"id": "same", "type": "tab", "label": name}]))
    out = subprocess.run(["node", str(ASSEMBLE), str(flows), str(tmp_path / "u")], capture_output=True, text=True)
    assert out.returncode != 0 and "node id same is in both a.json and b.json" in out.stderr


def test_flows_log_in_to_a_password_only_broker_from_the_environment(tmp_path: Path, start_server: StartServer) -> None:
    passwd = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(passwd), "nodered", "s3cret-pw"], check=True)
    broker = start_server(Mosquitto(tmp_path / "broker", extra_conf=f"allow_anonymous false\npassword_file {passwd}"))
    user_dir = tmp_path / "red"
    env = {"MQTT_USERNAME": "nodered", "MQTT_PASSWORD": "s3cret-pw"}
    _assemble(user_dir, env)
    cred = (user_dir / "flows_cred.json").read_text()
    assert "s3cret-pw" not in cred and "${MQTT_PASSWORD}" in cred
    flows = json.loads((user_dir / "flows.json").read_text())
    env |= {
        "MQTT_HOST": broker.host,
        "MQTT_PORT": str(broker.port),
        "SIM_SITES": "authsite",
        "NOTES_WATCH_DIR": str(tmp_path),
    }
    red = start_server(NodeRed(user_dir, flows, env, keep_files=True))
    brokers = sum(1 for n in flows if n["type"] == "mqtt-broker")
    assert wait_until(lambda: red.log().count("Connected to broker") >= brokers, 30, 0.2), red.log()
