"""The README's version table agrees with what CI installs and what production pins."""

from __future__ import annotations

import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


def table() -> dict[str, tuple[str, str]]:
    """``{tool: (tested in CI, production pins)}`` from the README's *Versions* section."""
    section = README.split("## Versions: what is tested where", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0] not in ("tool", "---"):
            rows[cells[0]] = (cells[1], cells[2])
    return rows


def default_of(script: str, variable: str) -> str:
    match = re.search(rf'^{variable}="\$\{{{variable}:-([^}}]+)\}}"', (REPO / "scripts" / script).read_text(), re.M)
    assert match, f"{script} sets no default {variable}"
    return match.group(1)


def pinned_images() -> set[str]:
    """Every image production runs: compose's ``image:`` lines and the Dockerfiles' base-image ARGs."""
    compose = (REPO / "docker-compose.prod.yml").read_text()
    images = {re.sub(r"^\$\{\w+:-([^}]+)\}", r"\1", m) for m in re.findall(r"^\s+image: (\S+)", compose, re.M)}
    for dockerfile in (REPO / "docker").glob("*/Dockerfile"):
        images |= set(re.findall(r"^ARG \w+_IMAGE=(\S+)", dockerfile.read_text(), re.M))
    return {image for image in images if not image.startswith("mathnotes/")}


def test_every_image_production_pins_is_in_the_table_and_the_other_way_round() -> None:
    listed = {image for _ci, prod in table().values() for image in re.findall(r"`([^`]+:[^`]+)`", prod)}
    build_only = {image for image in pinned_images() if image.startswith("node:")}  # the n8n package's build stage
    assert listed == pinned_images() - build_only


def test_the_versions_ci_installs_are_the_ones_in_the_table() -> None:
    rows = table()
    node = default_of("install-node.sh", "NODE_VERSION")
    assert rows["n8n"][0].startswith(f"{default_of('install-n8n.sh', 'N8N_VERSION')} on Node.js {node}")
    assert rows["Node-RED"][0].startswith(f"{default_of('install-node-red.sh', 'NODE_RED_VERSION')} on Node.js {node}")
    assert rows["Open WebUI"][0].startswith(default_of("install-open-webui.sh", "OPENWEBUI_VERSION") + " ")
    types = json.loads((REPO / "tests" / "grafana" / "types" / "package.json").read_text())
    assert rows["Grafana"][0].startswith(f"types of {types['devDependencies']['@grafana/schema']} ")


def test_production_runs_the_versions_ci_tests() -> None:
    """Where CI runs the real thing, production pins the same release."""
    rows = table()
    for tool in ("n8n", "Node-RED", "Open WebUI", "Grafana"):
        tested = re.search(r"\d+\.\d+\.\d+", rows[tool][0])
        assert tested and f":{tested.group(0)}" in rows[tool][1], (tool, rows[tool])
