"""Our Dockerfiles (read, since no engine runs here), the image health probe and init-env.sh (run)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import tomllib
import yaml

from tests.support.servers import free_port

from .front import Front
from .rig import REPO

DOCKERFILES = {
    "mathnotes": REPO / "docker" / "mathnotes" / "Dockerfile",
    "n8n": REPO / "docker" / "n8n" / "Dockerfile",
    "nginx": REPO / "docker" / "nginx" / "Dockerfile",
}
MIRROR_ARGS = {"mathnotes": {"PIP_INDEX_URL", "APT_MIRROR"}, "n8n": {"NPM_CONFIG_REGISTRY"}, "nginx": {"APK_MIRROR"}}
HEALTHCHECK = REPO / "docker" / "mathnotes" / "healthcheck.py"


def _instructions(path: Path) -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", path.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _arg_defaults(steps: list[tuple[str, str]]) -> dict[str, str]:
    return dict(rest.partition("=")[::2] for word, rest in steps if word == "ARG")


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_dockerfile_rules(name: str) -> None:
    steps = _instructions(DOCKERFILES[name])
    args = _arg_defaults(steps)
    bases = [rest.split()[0] for word, rest in steps if word == "FROM"]
    for base in bases:
        image = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), ""), base)
        assert re.search(r":\d+\.\d+", image), f"{name}: base image {image} is not pinned"
    assert MIRROR_ARGS[name] <= set(args), f"{name}: mirror build args"
    assert any(word == "HEALTHCHECK" for word, _ in steps), f"{name}: no HEALTHCHECK"
    if name != "nginx":  # nginx's master binds 80/443 as root; its workers run as "nginx"
        users = [rest for word, rest in steps if word == "USER"]
        assert users and users[-1] not in {"root", "0"}, f"{name}: runs as root"
    if name in {"mathnotes", "n8n"}:
        assert len(bases) >= 2, f"{name}: not multi-stage"


def _copied_from_context(name: str) -> list[str]:
    steps = _instructions(DOCKERFILES[name])
    return [src for word, rest in steps if word == "COPY" and "--from" not in rest for src in rest.split()[:-1]]


@pytest.mark.parametrize("name", ["mathnotes", "n8n"])
def test_build_context_lets_every_copied_file_in(name: str) -> None:
    ignore = DOCKERFILES[name].with_name("Dockerfile.dockerignore").read_text().splitlines()
    allowed = [line[1:].rstrip("/") for line in ignore if line.startswith("!")]
    for source in _copied_from_context(name):
        path = source.rstrip("*").rstrip("/")
        assert any(path == a or path.startswith(a + "/") for a in allowed), f"{name}: {source} is not in the context"
        assert list(REPO.glob(source)) or source.endswith("*"), f"{name}: {source} does not exist"


def test_n8n_image_carries_every_helper_its_entry_point_runs() -> None:
    entrypoint = (REPO / "docker" / "n8n" / "docker-entrypoint.sh").read_text()
    helpers = set(re.findall(r"\$HERE/([\w.-]+)", entrypoint))
    assert helpers >= {"prepare-import.mjs", "setup-owner.mjs"}
    assert {f"docker/n8n/{h}" for h in helpers} <= set(_copied_from_context("n8n"))


def test_python_image_runs_our_console_scripts() -> None:
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    steps = _instructions(DOCKERFILES["mathnotes"])
    cmd = [rest for word, rest in steps if word == "CMD"][-1]
    assert '"mathnotes-vision"' in cmd
    compose: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.prod.yml").read_text())
    for service in ("vision", "ingest", "ingest-2"):
        command = compose["services"][service]["command"]
        assert command[0] in scripts, f"{service}: {command} is not one of our console scripts"


def test_compose_build_args_exist_in_the_dockerfiles() -> None:
    compose: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.prod.yml").read_text())
    for name, svc in compose["services"].items():
        build = svc.get("build")
        if not isinstance(build, dict):
            continue
        dockerfile = REPO / build["context"] / build.get("dockerfile", "Dockerfile")
        declared = set(_arg_defaults(_instructions(dockerfile)))
        assert set(build.get("args", {})) <= declared, f"{name}: build args not declared in {dockerfile}"


def _probe(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(HEALTHCHECK)],
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_health_probe_against_the_real_services(front: Front) -> None:
    vision_port, ingest_port = str(front.ports["vision"]), str(front.ports["ingest"])
    assert _probe({"PORT": vision_port}).returncode == 0
    assert _probe({"PORT": str(free_port()), "INGEST_PORT": ingest_port}).returncode == 0
    down = _probe({"PORT": str(free_port()), "INGEST_PORT": str(free_port())})
    assert down.returncode == 1 and "no service answered" in down.stdout


def _env(path: Path) -> dict[str, str]:
    return {
        k: v
        for k, _, v in (line.partition("=") for line in path.read_text().splitlines())
        if k and not k.startswith("#")
    }


def test_init_env_fills_only_empty_secrets_and_is_idempotent(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    example = (REPO / "docker" / ".env.production.example").read_text()
    env_file.write_text(
        example.replace("DOMAIN=\n", "DOMAIN=notes.example.com\n", 1).replace(
            "GRAFANA_ADMIN_PASSWORD=\n", "GRAFANA_ADMIN_PASSWORD=kept-as-is\n"
        )
    )
    script = str(REPO / "scripts" / "init-env.sh")
    first = subprocess.run([script, str(env_file)], capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    values = _env(env_file)
    secrets = [k for k in values if re.search(r"(PASSWORD|SECRET|SECRET_KEY|TOKEN|ENCRYPTION_KEY)$", k)]
    assert {"INFLUX_TOKEN", "N8N_ENCRYPTION_KEY", "WEBUI_SECRET_KEY", "REDIS_PASSWORD"} <= set(secrets)
    assert all(len(values[k]) >= 24 for k in secrets if k != "GRAFANA_ADMIN_PASSWORD")
    assert values["GRAFANA_ADMIN_PASSWORD"] == "kept-as-is"
    assert values["DASHSCOPE_API_KEY"] == "" and values["DOMAIN"] == "notes.example.com"
    assert re.search(r"[A-Z]", values["N8N_OWNER_PASSWORD"]) and re.search(r"\d", values["N8N_OWNER_PASSWORD"])
    assert values["REDIS_PASSWORD"].isalnum()  # goes into REDIS_URL unescaped
    assert env_file.stat().st_mode & 0o777 == 0o600
    for name in secrets:
        assert values[name] not in first.stdout  # names only, never values
    second = subprocess.run([script, str(env_file)], capture_output=True, text=True, timeout=60)
    assert "every secret already has a value" in second.stdout
    assert _env(env_file) == values
    assert "still empty, fill it in: N8N_OWNER_EMAIL" in second.stdout
