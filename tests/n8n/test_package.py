"""The community package as n8n sees it: node and credential types, the credential test, the linter."""

from __future__ import annotations

import json
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from .harness import PACKAGE_DIR, N8nServer
from .support import VISION_KEY

Running = tuple[N8nServer, dict[str, dict[str, Any]]]


def test_node_and_credential_types_are_registered_from_the_community_folder(n8n: Running) -> None:
    server = n8n[0]
    nodes = {node["name"]: node for node in server.session.get(f"{server.url}/types/nodes.json", timeout=30).json()}
    ours = {f"n8n-nodes-mathnotes.{name}" for name in ("mathNotesVision", "mathNotesLibrary", "mathNotesTelemetry")}
    assert ours | {f"{name}Tool" for name in ours} <= set(nodes)  # usableAsTool: n8n adds each one's AI tool
    assert not any(name.startswith("CUSTOM.") for name in nodes)
    vision = nodes["n8n-nodes-mathnotes.mathNotesVision"]
    assert vision["displayName"] == "Math Notes Vision" and vision["credentials"][0]["name"] == "mathNotesApi"
    library = nodes["n8n-nodes-mathnotes.mathNotesLibrary"]
    assert library["displayName"] == "Math Notes Library" and library["credentials"][0]["name"] == "mathNotesApi"
    [operation] = [p for p in library["properties"] if p["name"] == "operation"]
    # n8n adds "Custom API Call" (an HTTP Request node with our credential) to every resource/operation node
    assert [o["value"] for o in operation["options"]] == ["delete", "get", "search", "__CUSTOM_API_CALL__"]
    tool = nodes["n8n-nodes-mathnotes.mathNotesLibraryTool"]
    assert tool["outputs"] == ["ai_tool"] and {"descriptionType", "toolDescription"} <= {
        p["name"] for p in tool["properties"]
    }  # the tool's description can follow the resource and operation
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


def test_the_tarball_holds_the_built_nodes_the_manifest_names(n8n_tarball: Path) -> None:
    with tarfile.open(n8n_tarball) as tar:
        files = {name.removeprefix("package/") for name in tar.getnames()}
        manifest = json.loads(tar.extractfile("package/package.json").read())  # type: ignore[union-attr]
    assert manifest["n8n"]["nodes"] == [
        "dist/nodes/MathNotesVision/MathNotesVision.node.js",
        "dist/nodes/MathNotesLibrary/MathNotesLibrary.node.js",
        "dist/nodes/MathNotesTelemetry/MathNotesTelemetry.node.js",
    ]
    for path in [*manifest["n8n"]["nodes"], *manifest["n8n"]["credentials"]]:
        assert path in files, path
    for node in ("MathNotesVision", "MathNotesLibrary", "MathNotesTelemetry"):
        assert f"dist/nodes/{node}/{node}.node.json" in files  # the codex: category, docs links
    assert {"dist/icons/mathnotes.svg", "dist/icons/mathnotes.dark.svg", "package.json", "README.md"} <= files
    assert not any(name.endswith(".ts") and not name.endswith(".d.ts") for name in files)  # built code only
    assert not any(name.startswith(("nodes/", "workflows/", "node_modules/")) for name in files)


def test_a_plain_npm_install_brings_our_package_alone(n8n: Running) -> None:
    """The harness installs with a plain ``npm install <tarball>`` (no --legacy-peer-deps): the optional peer
    n8n-workflow is left to n8n, so nothing with a native build (isolated-vm) comes along."""
    installed = n8n[0].home.folder / ".n8n" / "nodes" / "node_modules"
    assert sorted(p.name for p in installed.iterdir() if not p.name.startswith(".")) == ["n8n-nodes-mathnotes"]
