"""A stand-in for the ``docker`` command line, for testing the server scripts where no Docker engine runs.

``python tests/deploy/fake_docker.py ARGS...`` (put on ``PATH`` as ``docker`` by :func:`install`) answers the calls
``scripts/deploy.sh``, ``backup.sh`` and ``restore.sh`` make, keeping its state in ``$FAKE_DOCKER_DIR``:

- every call is appended to ``calls.jsonl`` with its arguments and working directory; a
  ``compose up`` also records what it would run: the SHA-256 of the compose file and of the env
  file, and a digest of every bind-mounted host path (resolved from the project directory, as
  Compose does), so a test can tell which release's files are in use, byte for byte;
- ``compose up`` "starts" one container per service, healthy unless the compose file contains
  ``fake-docker: unhealthy``; ``compose ps -q`` and ``inspect`` report them;
- ``compose build`` records the images (``image ls`` / ``image rm`` list and remove them);
- ``compose kill -s SIG SERVICE`` and ``compose exec SERVICE nginx -s reload`` signal the real
  process whose pid is in ``pids/SERVICE`` (SIGHUP for the reload), when there is one;
- ``compose exec [-T] SERVICE CMD...`` for a service a test registered in ``exec/SERVICE.json``
  (``{"path": [folders], "env": {...}}``) runs CMD here, found in those folders, with that environment added
  (e.g. ``PGHOST``/``PGPORT`` of a real PostgreSQL for ``pg_dump``), stdin and stdout passed through;
- ``run -v NAME:/path IMAGE python ...`` runs the command here, with named volumes as folders
  under ``volumes/`` and each container path in the arguments replaced by its host folder.

Anything else fails with exit code 1, so a script cannot pass a test by calling something unhandled.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

__all__ = ["UNHEALTHY_MARK", "install", "main", "tree_digest"]

UNHEALTHY_MARK = "fake-docker: unhealthy"
_VAR = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


def install(bin_dir: Path) -> Path:
    """Write ``bin_dir/docker`` running this file with this interpreter; returns its path."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    shim = bin_dir / "docker"
    shim.write_text(f"#!/bin/sh\nexec '{sys.executable}' '{Path(__file__).resolve()}' \"$@\"\n")
    shim.chmod(0o755)
    return shim


def tree_digest(path: Path) -> str:
    """SHA-256 of a file, or of a folder's relative paths and file contents in name order."""
    if path.is_file():
        return hashlib.sha256(path.read_bytes()).hexdigest()
    digest = hashlib.sha256()
    for item in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(str(item.relative_to(path)).encode() + b"\0" + tree_digest(item).encode() + b"\n")
    return digest.hexdigest()


class Fail(Exception):
    """A call the fake refuses, as docker would (message on stderr, exit 1)."""


class State:
    def __init__(self) -> None:
        self.dir = Path(os.environ["FAKE_DOCKER_DIR"])
        self.dir.mkdir(parents=True, exist_ok=True)

    def load(self, name: str, default: Any) -> Any:
        path = self.dir / name
        return json.loads(path.read_text()) if path.exists() else default

    def save(self, name: str, value: Any) -> None:
        tmp = self.dir / f".{name}.tmp"
        tmp.write_text(json.dumps(value, indent=1))
        tmp.replace(self.dir / name)

    def record(self, entry: dict[str, Any]) -> None:
        with open(self.dir / "calls.jsonl", "a") as out:
            out.write(json.dumps(entry) + "\n")

    def signal(self, service: str, sig: signal.Signals) -> None:
        pid_file = self.dir / "pids" / service
        if pid_file.exists():
            os.kill(int(pid_file.read_text()), sig)


def _env_file(path: Path) -> dict[str, str]:
    pairs = (line.partition("=") for line in path.read_text().splitlines() if "=" in line and line[0] != "#")
    return {key.strip(): value.strip().strip("'\"") for key, _, value in pairs}


def _interpolate(text: str, env: dict[str, str]) -> str:
    return _VAR.sub(lambda m: env.get(m.group(1)) or (m.group(2) or ""), text)


class Compose:
    """``docker compose -p P -f F --env-file E SUB ...`` on one project."""

    def __init__(self, state: State, args: list[str]) -> None:
        self.state, self.project, files, env_file, project_dir = state, "", [], "", ""
        while args and args[0].startswith("-"):
            opt, value, args = args[0], args[1], args[2:]
            if opt in ("-p", "--project-name"):
                self.project = value
            elif opt in ("-f", "--file"):
                files.append(value)
            elif opt == "--env-file":
                env_file = value
            elif opt == "--project-directory":
                project_dir = value
            else:
                raise Fail(f"compose option {opt} is not known to the fake")
        if not (self.project and len(files) == 1 and env_file and args):
            raise Fail("the fake wants -p, one -f, --env-file and a command")
        self.file, self.env_path = Path(files[0]).absolute(), Path(env_file).absolute()
        self.project_dir = Path(project_dir).absolute() if project_dir else self.file.parent
        for path in (self.file, self.env_path):
            if not path.is_file():
                raise Fail(f"{path}: no such file")
        self.text = self.file.read_text()
        self.doc: dict[str, Any] = yaml.safe_load(self.text)
        self.env = {**_env_file(self.env_path), **os.environ}
        self.sub, self.args = args[0], args[1:]
        self.code = 0

    def entry(self) -> dict[str, Any]:
        return {
            "compose": self.sub,
            "args": self.args,
            "project": self.project,
            "file": str(self.file),
            "env_file": str(self.env_path),
            "project_dir": str(self.project_dir),
            "tag": os.environ.get("MATHNOTES_TAG", ""),
        }

    def mounts(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for service in self.doc["services"].values():
            for volume in service.get("volumes", []):
                source = str(volume).split(":")[0]
                if source.startswith((".", "/")):
                    path = (self.project_dir / source).resolve()
                    if not path.exists():
                        raise Fail(f"bind source {source} does not exist in {self.project_dir}")
                    found[source] = tree_digest(path)
        return found

    def run(self) -> dict[str, Any]:
        entry = self.entry()
        containers = self.state.load("containers.json", {})
        services = self.doc["services"]
        if self.sub == "up":
            entry["in_use"] = {"compose": tree_digest(self.file), "env": tree_digest(self.env_path)}
            entry["in_use"]["mounts"] = self.mounts()
            health = "unhealthy" if UNHEALTHY_MARK in self.text else "healthy"
            containers[self.project] = [
                {
                    "id": hashlib.sha1(f"{self.project}/{name}".encode()).hexdigest()[:12],
                    "name": f"/{self.project}-{name}-1",
                    "health": health if "healthcheck" in spec else "running",
                }
                for name, spec in services.items()
            ]
            self.state.save("containers.json", containers)
        elif self.sub == "build":
            images = self.state.load("images.json", {})
            for spec in services.values():
                if "build" in spec and "image" in spec:
                    name, _, tag = _interpolate(spec["image"], self.env).partition(":")
                    images[name] = [tag, *[t for t in images.get(name, []) if t != tag]]
            self.state.save("images.json", images)
        elif self.sub == "ps":
            for c in containers.get(self.project, []):
                print(c["id"] if "-q" in self.args else f"{c['name'][1:]}  {c['health']}")
        elif self.sub == "kill" and self.args[:1] == ["-s"] and len(self.args) == 3:
            name = self.args[1] if self.args[1].startswith("SIG") else f"SIG{self.args[1]}"
            self.state.signal(self.args[2], signal.Signals[name])
        elif self.sub == "exec" and self.args[-3:] == ["nginx", "-s", "reload"]:
            self.state.signal("nginx", signal.SIGHUP)
        elif self.sub == "exec" and (self.state.dir / "exec" / f"{self._exec_service()}.json").is_file():
            self.code = self._exec()
        elif self.sub in ("stop", "start"):
            pass
        elif self.sub == "logs":
            print("(fake docker: no logs)")
        else:
            raise Fail(f"compose {self.sub} {' '.join(self.args)} is not known to the fake")
        return entry

    def _exec_service(self) -> str:
        args = [a for a in self.args if a != "-T"]
        return args[0] if args else ""

    def _exec(self) -> int:
        args = [a for a in self.args if a != "-T"]
        target = json.loads((self.state.dir / "exec" / f"{args[0]}.json").read_text())
        found = shutil.which(args[1], path=os.pathsep.join(target["path"]))
        if found is None:
            raise Fail(f"{args[1]}: not found in the container of {args[0]}")
        env = {**os.environ, **target["env"]}
        return subprocess.run([found, *args[2:]], env=env, check=False, timeout=600).returncode


def _inspect(state: State, args: list[str]) -> None:
    ids = [a for a in args if not a.startswith("-") and "{{" not in a]
    every = [c for project in state.load("containers.json", {}).values() for c in project]
    for wanted in ids:
        found = [c for c in every if c["id"] == wanted]
        if not found:
            raise Fail(f"no such object: {wanted}")
        print(f"{found[0]['name']} {found[0]['health']}")


def _image(state: State, args: list[str]) -> None:
    images = state.load("images.json", {})
    if args[0] == "ls":
        for tag in images.get(args[1], []):
            print(tag)
    elif args[0] == "rm":
        name, _, tag = args[1].partition(":")
        if tag not in images.get(name, []):
            raise Fail(f"no such image: {args[1]}")
        images[name].remove(tag)
        state.save("images.json", images)
    else:
        raise Fail(f"image {args[0]} is not known to the fake")


def _run(state: State, args: list[str]) -> int:
    """``run --rm [--user U] [--entrypoint E] -v SRC:DST[:ro]... IMAGE CMD...``, executed here."""
    mounts: dict[str, Path] = {}
    entrypoint: list[str] = []
    while args[0].startswith("-"):
        opt = args.pop(0)
        if opt == "-v":
            source, target = args.pop(0).split(":")[:2]
            mounts[target] = Path(source) if source.startswith("/") else state.dir / "volumes" / source
            mounts[target].mkdir(parents=True, exist_ok=True)
        elif opt in ("--user", "-u"):
            args.pop(0)
        elif opt == "--entrypoint":
            entrypoint = [args.pop(0)]
        elif opt != "--rm":
            raise Fail(f"run option {opt} is not known to the fake")
    argv = [*entrypoint, *args[1:]]  # args[0] is the image
    if argv[:1] != ["python"]:
        raise Fail(f"the fake runs only python in a container, not {argv[:1]}")

    def outside(arg: str) -> str:
        for target, source in sorted(mounts.items(), key=lambda m: -len(m[0])):
            if arg == target or arg.startswith(target + "/"):
                return str(source) + arg[len(target) :]
        return arg

    return subprocess.run([sys.executable, *map(outside, argv[1:])], check=False).returncode


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    state = State()
    entry: dict[str, Any] = {"argv": args, "cwd": os.getcwd()}
    code = 0
    try:
        if args[:1] == ["compose"]:
            compose = Compose(state, args[1:])
            entry.update(compose.run())
            code = compose.code
        elif args[:1] == ["inspect"]:
            _inspect(state, args[1:])
        elif args[:1] == ["image"]:
            _image(state, args[1:])
        elif args[:1] == ["run"]:
            code = _run(state, args[1:])
        else:
            raise Fail(f"{' '.join(args[:2])} is not known to the fake")
    except Fail as err:
        print(f"fake docker: {err}", file=sys.stderr)
        entry["error"], code = str(err), 1
    entry["exit"] = code
    state.record(entry)
    return code


if __name__ == "__main__":
    sys.exit(main())
