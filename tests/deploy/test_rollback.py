"""``scripts/deploy.sh`` run for real on a copy of this tree: releases, the health gate, rollbacks.

No Docker engine runs here, so ``docker`` is ``tests/deploy/fake_docker.py``: it records each
call and, for ``compose up``, the digests of the compose file, the env file and every bind-mounted
config it would start from. The route check after a roll-out goes to our real nginx (``front``),
which a ``compose exec nginx nginx -s reload`` really reloads.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from .composefile import filled_env
from .fake_docker import UNHEALTHY_MARK, install, tree_digest
from .front import Front
from .rig import REPO

COMPOSE = "docker-compose.prod.yml"
MOSQUITTO_CONF = Path("docker/mosquitto/mosquitto.conf")


def in_use(root: Path) -> dict[str, Any]:
    """What ``compose up`` in ``root`` starts from: compose file, .env and bind-mounted paths, as digests."""
    doc = yaml.safe_load((root / COMPOSE).read_text())
    sources = {
        str(v).split(":")[0] for s in doc["services"].values() for v in s.get("volumes", []) if str(v).startswith(".")
    }
    return {
        "compose": tree_digest(root / COMPOSE),
        "env": tree_digest(root / ".env"),
        "mounts": {source: tree_digest(root / source) for source in sorted(sources)},
    }


@dataclass
class Site:
    """A checkout of this tree with a filled .env, a fake docker on PATH, and the deploy state beside it."""

    checkout: Path
    docker_state: Path
    env: dict[str, str]

    @property
    def releases(self) -> Path:
        return self.checkout / ".deploy" / "releases"

    def link(self, name: str) -> str:
        path = self.checkout / ".deploy" / name
        return os.readlink(path) if path.is_symlink() else ""

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.checkout / "scripts" / "deploy.sh"), *args],
            cwd=self.checkout,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=300,
        )

    def deploy(self, *args: str, **env: str) -> str:
        done = self.run(*args, **env)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def calls(self) -> list[dict[str, Any]]:
        lines = (self.docker_state / "calls.jsonl").read_text().splitlines()
        return [json.loads(line) for line in lines]

    def last_up(self) -> dict[str, Any]:
        ups = [c for c in self.calls() if c.get("compose") == "up"]
        assert ups, "compose up was never called"
        return ups[-1]

    def edit(self, relative: str | Path, old: str, new: str) -> None:
        path = self.checkout / relative
        text = path.read_text()
        assert old in text, f"{old!r} not in {relative}"
        path.write_text(text.replace(old, new))


@pytest.fixture
def site(tmp_path: Path, front: Front) -> Site:
    checkout = tmp_path / "mathnotes"
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    for name in filter(None, listed.decode().split("\0")):
        source = REPO / name
        if source.is_file():
            (checkout / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, checkout / name)
    filled_env(checkout, DOMAIN=front.host)
    bin_dir, state = install(tmp_path / "bin").parent, tmp_path / "docker-state"
    (state / "pids").mkdir(parents=True)
    assert front.nginx.proc is not None
    (state / "pids" / "nginx").write_text(str(front.nginx.proc.pid))
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "FAKE_DOCKER_DIR": str(state),
        "CHECK_HTTPS_PORT": str(front.nginx.https_port),
        "CHECK_HTTP_PORT": str(front.nginx.http_port),
        "HEALTH_TIMEOUT": "1",
    }
    env.pop("ENV_FILE", None)
    env.pop("DEPLOY_DIR", None)
    return Site(checkout, state, env)


def change_release(site: Site, name: str) -> None:
    """A new release differs in its compose file, its mounted broker config and its .env."""
    site.edit(COMPOSE, "image: redis:7.4.11-alpine", "image: redis:7.4.12-alpine")
    site.edit(MOSQUITTO_CONF, "autosave_interval 30", "autosave_interval 60")
    with open(site.checkout / ".env", "a") as env:
        env.write(f"LOG_LEVEL=debug\n# {name}\n")


def test_rollback_brings_back_the_whole_previous_release(site: Site, tmp_path: Path) -> None:
    site.deploy("aaaa1111")
    a_files = in_use(site.checkout)
    kept = tmp_path / "release-a"
    shutil.copytree(site.checkout, kept, ignore=shutil.ignore_patterns(".deploy"))
    a_id = Path(site.link("current")).name
    assert a_id.endswith("-aaaa1111") and site.link("previous") == ""
    assert site.last_up()["in_use"] == a_files and site.last_up()["tag"] == "aaaa1111"

    change_release(site, "release B")
    b_files = in_use(site.checkout)
    assert b_files["compose"] != a_files["compose"] and b_files["env"] != a_files["env"]
    assert b_files["mounts"]["./docker/mosquitto"] != a_files["mounts"]["./docker/mosquitto"]
    site.deploy("bbbb2222")
    b_id = Path(site.link("current")).name
    assert site.last_up()["in_use"] == b_files and site.link("previous") == f"releases/{a_id}"

    out = site.deploy("rollback")
    assert f"rolled back to {a_id}" in out
    up = site.last_up()
    assert up["in_use"] == a_files, "compose, .env and mounted config are release A's again"
    assert up["tag"] == "aaaa1111" and up["project"] == "mathnotes"
    assert up["cwd"] == up["project_dir"] == str(site.releases / a_id)
    assert site.link("current") == f"releases/{a_id}" and site.link("previous") == f"releases/{b_id}"
    release = site.releases / a_id
    for path in (Path(COMPOSE), MOSQUITTO_CONF, Path("docker"), Path("grafana"), Path("node-red-flows")):
        assert tree_digest(release / path) == tree_digest(kept / path), f"{path} is not A's byte for byte"
    assert (release / ".env").read_bytes() == (kept / ".env").read_bytes()
    assert (release / ".env").stat().st_mode & 0o777 == 0o600
    # the checkout (where the next release comes from) is untouched by a rollback
    assert in_use(site.checkout) == b_files

    site.deploy("rollback")  # and forward again
    assert site.last_up()["in_use"] == b_files and site.link("current") == f"releases/{b_id}"
    ups = [c for c in site.calls() if c.get("compose") == "up"]
    assert {c["project"] for c in ups} == {"mathnotes"}, "one project: the named volumes stay the same"
    reloads = [c for c in site.calls() if c.get("compose") == "exec" and c["args"][-3:] == ["nginx", "-s", "reload"]]
    assert len(reloads) == len(ups)


def test_a_release_failing_the_health_gate_gives_way_to_the_running_one(site: Site) -> None:
    site.deploy("aaaa1111")
    a_id = Path(site.link("current")).name
    a_files = in_use(site.checkout)
    change_release(site, "release B")
    site.edit(COMPOSE, "services:\n", f"# {UNHEALTHY_MARK}\nservices:\n")
    done = site.run("bbbb2222")
    assert done.returncode != 0
    assert f"rolled back to {a_id}" in done.stderr and "bbbb2222 was not deployed" in done.stderr
    assert site.last_up()["in_use"] == a_files and site.last_up()["tag"] == "aaaa1111"
    assert site.link("current") == f"releases/{a_id}" and site.link("previous") == ""
    health = [c for c in site.calls() if c["argv"][:1] == ["inspect"]]
    assert health, "the health gate asked docker for the containers' state"


def test_a_release_changed_after_the_fact_is_not_rolled_back_to(site: Site) -> None:
    site.deploy("aaaa1111")
    a_id = Path(site.link("current")).name
    change_release(site, "release B")
    site.deploy("bbbb2222")
    b_files = in_use(site.checkout)
    (site.releases / a_id / MOSQUITTO_CONF).write_text("listener 1883\nallow_anonymous true\n")
    done = site.run("rollback")
    assert done.returncode != 0 and f"release {a_id} was changed" in done.stderr
    assert site.last_up()["in_use"] == b_files and Path(site.link("current")).name != a_id


def test_old_releases_and_their_images_are_pruned(site: Site) -> None:
    for n in range(1, 5):
        with open(site.checkout / ".env", "a") as env:
            env.write(f"# deploy {n}\n")
        site.deploy(f"tag{n}", KEEP_RELEASES="1")
    kept = sorted(p.name.rsplit("-", 1)[1] for p in site.releases.iterdir())
    assert kept == ["tag3", "tag4"], "the newest, and the previous one for a rollback"
    images = json.loads((site.docker_state / "images.json").read_text())
    assert sorted(images["mathnotes/app"]) == ["tag3", "tag4"]
    assert sorted(images["mathnotes/nginx"]) == ["tag3", "tag4"]
    status = site.run("status")
    assert status.returncode == 0
    assert [line.split()[0] for line in status.stdout.splitlines()[:2]] == ["previous", "current"]
