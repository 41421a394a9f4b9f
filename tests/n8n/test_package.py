"""The community package as n8n sees it: node and credential types, the credential test, the linter."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from .harness import PACKAGE_DIR, N8nServer
from .support import VISION_KEY

Running = tuple[N8nServer, dict[str, dict[str, Any]]]


def test_node_and_credential_types_are_registered_from_the_community_folder(n8n: Running) -> None:
    server = n8n[0]
    nodes = {node["name"]: node for node in server.session.get(f"{server.url}/types/nodes.json", timeout=30).json()}
    assert {"n8n-nodes-mathnotes.mathNotesVision", "n8n-nodes-mathnotes.mathNotesTelemetry"} <= set(nodes)
    assert not any(name.startswith("CUSTOM.") for name in nodes)
    vision = nodes["n8n-nodes-mathnotes.mathNotesVision"]
    assert vision["displayName"] == "Math Notes Vision" and vision["credentials"][0]["name"] == "mathNotesApi"
    credentials = server.session.get(f"{server.url}/types/credentials.json", timeout=30).json()
    [cred] = [c for c in credentials if c["name"] == "mathNotesApi"]
    assert cred["displayName"] == "Math Notes API"
    assert [p["name"] for p in cred["properties"]][:2] == ["baseUrl", "apiKey"]


@pytest.mark.parametrize(("base", "key", "ok"), [("vision", VISION_KEY, True), ("nowhere", "", False)])
def test_credential_test_request_reaches_health(n8n: Running, base: str, key: str, ok: bool) -> None:
    """The editor's Test button: n8n 2.x tests a saved credential (by id) with the data shown in the form."""
    server = n8n[0]
    saved = server.home.credentials_by_name["Math Notes API" if base == "vision" else "Math Notes nowhere"]
    url = saved["data"]["baseUrl"]
    assert (url == "http://127.0.0.1:9") is not ok
    data = {"baseUrl": url, "apiKey": key}
    body = {"credentials": {"id": saved["id"], "name": saved["name"], "type": "mathNotesApi", "data": data}}
    resp = server.session.post(f"{server.url}/rest/credentials/test", json=body, timeout=60)
    resp.raise_for_status()
    assert (resp.json()["data"]["status"] == "OK") is ok, resp.text


def test_package_passes_the_community_node_linter(n8n_tarball: object) -> None:
    done = subprocess.run(["npx", "n8n-node", "lint"], cwd=PACKAGE_DIR, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "problem" not in done.stdout


def test_a_plain_npm_install_brings_our_package_alone(n8n: Running) -> None:
    """The harness installs with a plain ``npm install <tarball>`` (no --legacy-peer-deps): the optional peer
    n8n-workflow is left to n8n, so nothing with a native build (isolated-vm) comes along."""
    installed = n8n[0].home.folder / ".n8n" / "nodes" / "node_modules"
    assert sorted(p.name for p in installed.iterdir() if not p.name.startswith(".")) == ["n8n-nodes-mathnotes"]
