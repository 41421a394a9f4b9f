"""docker-compose.prod.yml against the Compose Specification schema and our own rules.

The schema is compose-spec/compose-spec ``schema/compose-spec.json`` kept in ``data/`` (see
``data/README.md``). There is no Docker engine here, so what compose itself would check at
``docker compose config`` time is checked with the schema plus the rules below.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from .composefile import ENV_EXAMPLE, env_lines, load_compose
from .rig import REPO

SCHEMA = Path(__file__).parent / "data" / "compose-spec.json"
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")
_SECRET_NAME = re.compile(r"(PASSWORD|SECRET|TOKEN|_KEY|_KEYS|REDISCLI_AUTH)$")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose()


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def _strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for key, value in node.items() for s in (*_strings(key), *_strings(value))]
    if isinstance(node, list):
        return [s for item in node for s in _strings(item)]
    return []


def test_validates_against_the_compose_schema(compose: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA.read_text())
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(compose), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_the_expected_services(services: dict[str, dict[str, Any]]) -> None:
    wanted = {
        "nginx",
        "vision",
        "ingest",
        "ingest-2",
        "mosquitto",
        "influxdb",
        "grafana",
        "nodered",
        "n8n",
        "openwebui",
        "postgres",
        "redis",
    }
    assert wanted <= set(services)


def test_image_tags_are_pinned(services: dict[str, dict[str, Any]]) -> None:
    for name, svc in services.items():
        image = svc.get("image", "")
        assert image, f"{name}: no image name"
        if "build" in svc or image.startswith("mathnotes/"):
            assert image.endswith(":${MATHNOTES_TAG:-dev}"), f"{name}: our images carry MATHNOTES_TAG"
        else:
            repo, _, tag = image.rpartition(":")
            assert repo and "/" not in tag, f"{name}: {image} has no tag"
            assert tag not in {"latest", "main", "stable"} and re.search(r"\d+\.\d+", tag), f"{name}: {image}"


def test_every_service_has_a_healthcheck_and_a_restart_policy(services: dict[str, dict[str, Any]]) -> None:
    for name, svc in services.items():
        check = svc.get("healthcheck") or {}
        assert check.get("test") and not check.get("disable"), f"{name}: no healthcheck"
        assert svc.get("restart") in {"unless-stopped", "always"}, f"{name}: restart policy"


def test_dependencies_wait_for_health(services: dict[str, dict[str, Any]]) -> None:
    for name, svc in services.items():
        deps = svc.get("depends_on", {})
        assert isinstance(deps, dict), f"{name}: depends_on must use conditions"
        for dep, spec in deps.items():
            assert dep in services, f"{name} depends on unknown {dep}"
            assert spec["condition"] == "service_healthy", f"{name} -> {dep}"
    assert set(services["nginx"]["depends_on"]) >= {"vision", "ingest", "n8n", "openwebui", "nodered", "grafana"}


def test_only_nginx_publishes_ports(services: dict[str, dict[str, Any]]) -> None:
    publishing = sorted(name for name, svc in services.items() if svc.get("ports"))
    assert publishing == ["nginx"]
    assert all(not svc.get("network_mode") for svc in services.values())


def test_memory_limits_fit_the_reference_vm_and_the_docs(services: dict[str, dict[str, Any]]) -> None:
    limits = {}
    for name, svc in services.items():
        memory = svc.get("deploy", {}).get("resources", {}).get("limits", {}).get("memory", "")
        match = re.fullmatch(r"(\d+)([MG])", memory)
        assert match, f"{name}: memory limit {memory!r}"
        limits[name] = int(match.group(1)) * (1024 if match.group(2) == "G" else 1)
    total = sum(limits.values())
    assert total <= 3584, f"limits add up to {total} MB: more than a 4 GB VM can give after the OS"
    for doc in ("DEPLOY.md", "DEPLOY.zh-CN.md"):
        text = (REPO / doc).read_text()
        table = {m[0]: int(m[1]) for m in re.findall(r"^\| ([a-z0-9-]+) \| (\d+) MB \|", text, re.MULTILINE)}
        assert table == limits, f"{doc}: the memory table differs from the compose file"
        assert f"**{total} MB**" in text, f"{doc} states the memory total"


def test_named_volumes_only_for_state(compose: dict[str, Any], services: dict[str, dict[str, Any]]) -> None:
    declared = set(compose["volumes"])
    for name, svc in services.items():
        for spec in svc.get("volumes", []):
            source = spec.split(":", 1)[0]
            if source.startswith((".", "/")):
                assert spec.endswith(":ro"), f"{name}: bind mount {spec} must be read-only"
                assert (REPO / source).exists() or source.startswith(("./grafana", "./node-red-flows")), spec
            else:
                assert source in declared, f"{name}: volume {source} is not declared"


def test_no_literal_secrets(services: dict[str, dict[str, Any]]) -> None:
    for name, svc in services.items():
        env = svc.get("environment", {})
        assert isinstance(env, dict), f"{name}: environment as a mapping"
        for key, value in env.items():
            if _SECRET_NAME.search(key):
                text = str(value)
                assert "${" in text, f"{name}: {key} is a literal, not a ${{VAR}} from .env"
                assert re.sub(r"\$\{[^}]*\}", "", text).count(":") <= 1 or "://" in text
    for line in ENV_EXAMPLE.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            if _SECRET_NAME.search(key.strip()):
                assert value.strip() == "", f".env.production.example commits a value for {key}"


def test_every_variable_is_in_the_env_example(compose: dict[str, Any]) -> None:
    used = {var for text in _strings(compose) for var in _VAR.findall(text)}
    listed = env_lines(ENV_EXAMPLE.read_text())
    missing = sorted(used - set(listed))
    assert not missing, f"not in docker/.env.production.example: {missing}"
    text = ENV_EXAMPLE.read_text().splitlines()
    for i, line in enumerate(text):  # every variable has a comment right above it (or in its block)
        if "=" in line and not line.startswith("#"):
            above = [t for t in text[max(0, i - 4) : i] if t.startswith("#")]
            assert above, f"{line.split('=')[0]} has no comment"


def test_upstreams_are_compose_services(services: dict[str, dict[str, Any]]) -> None:
    upstreams = (REPO / "docker" / "nginx" / "mathnotes" / "upstreams.conf").read_text()
    for host in re.findall(r"^\s*server\s+([a-z0-9-]+):\d+", upstreams, re.MULTILINE):
        assert host in services, f"nginx upstream host {host} is not a compose service"


def test_ingest_replicas_share_one_group_with_their_own_identity(services: dict[str, dict[str, Any]]) -> None:
    one, two = services["ingest"], services["ingest-2"]
    assert one["environment"]["INGEST_SHARED_GROUP"] == two["environment"]["INGEST_SHARED_GROUP"] != ""
    assert one["environment"]["INGEST_CLIENT_ID"] != two["environment"]["INGEST_CLIENT_ID"]
    writable = [{spec for spec in svc["volumes"] if not spec.endswith(":ro")} for svc in (one, two)]
    assert writable[0] and writable[0].isdisjoint(writable[1])  # each its own spool (the token is shared, read-only)
    assert one["image"] == two["image"] == services["vision"]["image"]
