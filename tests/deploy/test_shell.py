"""Every shell script and entry point we ship passes shellcheck (Debian's shellcheck), ``./stack`` and
``.ci/run`` (no ``.sh`` extension) included."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from .rig import REPO

SCRIPTS = sorted(
    {
        *REPO.joinpath("scripts").glob("*.sh"),
        *REPO.joinpath("docker").rglob("*.sh"),
        REPO / "stack",
        REPO / ".ci" / "run",
    }
)


def test_scripts_are_found() -> None:
    names = {p.name for p in SCRIPTS}
    assert {"setup-server.sh", "deploy.sh", "backup.sh", "docker-entrypoint.sh", "entrypoint.sh"} <= names
    assert {"stack", "run"} <= names


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(REPO)))
def test_shellcheck(script: Path) -> None:
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is not installed (./stack test installs it)"
    done = subprocess.run(
        [shellcheck, "--severity=style", "--external-sources", str(script)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(REPO)))
def test_executable_with_a_shebang(script: Path) -> None:
    assert script.read_text().startswith("#!/"), f"{script.name}: no shebang"
    assert script.stat().st_mode & 0o111, f"{script.name}: not executable"


def test_ci_workflow_tests_before_it_deploys() -> None:
    import yaml

    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "deploy.yml").read_text())
    jobs = workflow["jobs"]
    assert jobs["deploy"]["needs"] == "test"
    test_steps = " ".join(str(step.get("run", "")) for step in jobs["test"]["steps"])
    assert ".ci/run" in test_steps
    deploy_steps = " ".join(str(step.get("run", "")) for step in jobs["deploy"]["steps"])
    assert "scripts/deploy.sh" in deploy_steps and "rsync" in deploy_steps
    assert "--exclude .env" in deploy_steps  # the VM's secrets are never overwritten or deleted
    assert workflow["concurrency"]["cancel-in-progress"] is False
