"""Real n8n for the tests: the cached install, our package in the community-nodes folder, the CLI and the server.

:func:`n8n_binary` runs ``scripts/install-n8n.sh`` (idempotent; the install lives outside
the repo, in ``$MATHNOTES_CACHE/n8n/<version>``, run with its own Node 24). :func:`build_package` builds
``n8n-nodes/`` with ``n8n-node build`` and packs it; :func:`stage_workflows` fills our workflows' Config
nodes the way the production entry point does (``docker/n8n/prepare-import.mjs``); :class:`N8nHome` is
one ``N8N_USER_FOLDER`` with the package installed the way users do (``npm install`` in ``~/.n8n/nodes``),
credentials and workflows imported with the CLI; :class:`N8nServer` runs ``n8n start`` on a free loopback
port, sets up the owner and publishes workflows over the REST API. :class:`Receiver` stands in for a
notification webhook. n8n runs with its defaults where they matter: ``$env`` is blocked
(``N8N_BLOCK_ENV_ACCESS_IN_NODE``), as in every n8n 2.x a user installs.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

from tests.support.servers import LOOPBACK, Managed, free_port, wait_until

__all__ = [
    "PACKAGE_DIR", "WORKFLOWS_DIR", "N8nHome", "N8nServer", "Receiver",
    "build_package", "call_export", "n8n_binary", "stage_workflows", "webhooks",
]  # fmt: skip

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DIR = ROOT / "n8n-nodes"
WORKFLOWS_DIR = PACKAGE_DIR / "workflows"
OWNER = {"email": "owner@mathnotes.test", "firstName": "Test", "lastName": "Owner", "password": "Passw0rd-for-tests"}


def _run(argv: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None, timeout: float = 900) -> str:
    done = subprocess.run(list(argv), cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        tail = f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}):\n{tail}")
    return done.stdout


def n8n_binary() -> Path:
    """The cached n8n's launcher, installing n8n and Node 24 first when missing (about 10 minutes, once)."""
    out = _run(["bash", str(ROOT / "scripts" / "install-n8n.sh")], ROOT, timeout=1800)
    return Path(out.strip().splitlines()[-1])


def build_package(dest: Path) -> Path:
    """``npm install`` (when needed), ``npm run build`` (n8n-node build), ``npm pack``: the tarball users install."""
    _run(["npm", "install", "--no-audit", "--no-fund", "--ignore-scripts"], PACKAGE_DIR)  # ~3 s when up to date
    _run(["npm", "run", "build"], PACKAGE_DIR)
    out = _run(["npm", "pack", "--pack-destination", str(dest)], PACKAGE_DIR)
    return dest / out.strip().splitlines()[-1]


def call_export(module: str, call: str, *args: Any) -> Any:
    """Call an export of the built package's ``dist/<module>`` with JSON ``args`` under node: its JSON
    result, or ``{"error": message}`` when it throws."""
    script = (
        "const m = require(process.argv[1]); const args = JSON.parse(process.argv[2]);"
        f"try {{ console.log(JSON.stringify(m.{call}(...args) ?? null)); }}"
        "catch (e) { console.log(JSON.stringify({ error: e.message })); }"
    )
    path = str(PACKAGE_DIR / "dist" / module)
    out = subprocess.run(["node", "-e", script, path, json.dumps(args)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def stage_workflows(folder: Path, settings: Mapping[str, str]) -> Path:
    """Our workflows as the production entry point imports them: Config nodes filled from ``settings``
    (``MATHNOTES_*``) by ``docker/n8n/prepare-import.mjs``; returns the folder of the staged files."""
    env = {**os.environ, "MATHNOTES_WEBHOOK_TOKEN": "unused-here", **settings}
    _run(["node", str(ROOT / "docker" / "n8n" / "prepare-import.mjs"), str(WORKFLOWS_DIR), str(folder)], ROOT, env)
    return folder / "workflows"


def webhooks(workflow: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The (path, HTTP method) of each of a workflow's Webhook nodes."""
    nodes = [n["parameters"] for n in workflow["nodes"] if n["type"] == "n8n-nodes-base.webhook"]
    return [(str(p["path"]), str(p.get("httpMethod", "GET"))) for p in nodes]


class N8nHome:
    """One N8N_USER_FOLDER: community package installed, credentials and workflows imported."""

    def __init__(self, folder: Path, binary: Path, env: Mapping[str, str]) -> None:
        self.folder = folder
        self.binary = binary
        self.credentials_by_name: dict[str, dict[str, Any]] = {}
        folder.mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ,
            "N8N_USER_FOLDER": str(folder),
            "N8N_ENCRYPTION_KEY": "mathnotes-test-encryption-key",
            "N8N_DIAGNOSTICS_ENABLED": "false",
            "N8N_VERSION_NOTIFICATIONS_ENABLED": "false",
            "N8N_VERSION_NOTIFICATIONS_WHATS_NEW_ENABLED": "false",
            "N8N_TEMPLATES_ENABLED": "false",
            "N8N_DYNAMIC_BANNERS_ENABLED": "false",
            "N8N_PERSONALIZATION_ENABLED": "false",
            "N8N_BLOCK_ENV_ACCESS_IN_NODE": "true",  # n8n 2.x's default, whatever the caller's environment says
            "N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS": "false",
            "N8N_RUNNERS_BROKER_PORT": str(free_port()),
            "GENERIC_TIMEZONE": "UTC",
            "TZ": "UTC",
            "DB_TYPE": "sqlite",
            "NODE_OPTIONS": "--max-old-space-size=1024",
            **env,
        }

    def install_package(self, tarball: Path) -> Path:
        """What a user does by hand (n8n-nodes/README.md): a plain ``npm install <package>`` in ``~/.n8n/nodes``."""
        nodes = self.folder / ".n8n" / "nodes"
        nodes.mkdir(parents=True, exist_ok=True)
        (nodes / "package.json").write_text('{"name": "installed-nodes", "private": true}\n')
        _run(["npm", "install", "--no-audit", "--no-fund", str(tarball)], nodes)
        return nodes

    def cli(self, *args: str, timeout: float = 300) -> str:
        return _run([str(self.binary), *args], self.folder, self.env, timeout=timeout)

    def import_credentials(self, credentials: list[dict[str, Any]]) -> None:
        path = self.folder / "credentials.json"
        path.write_text(json.dumps(credentials))
        self.credentials_by_name.update({c["name"]: c for c in credentials})
        self.cli("import:credentials", f"--input={path}")

    def import_workflow(self, path: Path) -> dict[str, Any]:
        self.cli("import:workflow", f"--input={path}")
        return dict(json.loads(path.read_text()))

    def execute(self, workflow_id: str) -> str:
        return self.cli("execute", f"--id={workflow_id}", timeout=300)


class N8nServer(Managed):
    """``n8n start`` for one N8nHome on a free loopback port."""

    name = "n8n"
    ready_timeout = 120.0

    def __init__(self, home: N8nHome) -> None:
        super().__init__(home.folder / "server")
        self.home = home
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.session = requests.Session()

    def argv(self) -> list[str]:
        return [str(self.home.binary), "start"]

    def env(self) -> Mapping[str, str]:
        return {
            **self.home.env,
            "N8N_PORT": str(self.port),
            "N8N_LISTEN_ADDRESS": LOOPBACK,
            "N8N_HOST": LOOPBACK,
            "N8N_PROTOCOL": "http",
            "WEBHOOK_URL": f"{self.url}/",
            "N8N_SECURE_COOKIE": "false",
            "N8N_HIRING_BANNER_ENABLED": "false",
            "EXECUTIONS_MODE": "regular",
            "N8N_PUSH_BACKEND": "sse",
        }

    def ready(self) -> bool:
        # /healthz answers before the REST routes are mounted; /rest/settings comes last
        resp = requests.get(f"{self.url}/rest/settings", timeout=2)
        return resp.status_code == 200 and resp.headers.get("Content-Type", "").startswith("application/json")

    def login(self) -> None:
        """Set up the owner (first start) and keep the session cookie for the REST API."""
        resp = self.session.post(f"{self.url}/rest/owner/setup", json=OWNER, timeout=30)
        if resp.status_code >= 400:
            resp = self.session.post(
                f"{self.url}/rest/login",
                json={"emailOrLdapLoginId": OWNER["email"], "password": OWNER["password"]},
                timeout=30,
            )
        resp.raise_for_status()

    def activate(self, workflow: Mapping[str, Any]) -> None:
        """Publish as the editor's button does in n8n 2.x: ``POST /rest/workflows/:id/activate`` with the
        ``versionId`` n8n holds (``import:workflow`` gives each import a new one), then wait until each of
        its webhooks is registered: n8n answers 200 at once, but the webhook 404s for a moment after."""
        url = f"{self.url}/rest/workflows/{workflow['id']}"
        version = self.session.get(url, timeout=30).json()["data"]["versionId"]
        resp = self.session.post(f"{url}/activate", json={"versionId": version}, timeout=60)
        if resp.status_code >= 400 or not resp.json()["data"].get("active"):
            raise RuntimeError(f"activating {workflow['id']} failed: {resp.status_code} {resp.text[:500]}")
        for path, method in webhooks(workflow):
            if not wait_until(lambda: self.registered(path, method), 30):  # noqa: B023 (called at once)
                raise RuntimeError(f"{workflow['id']}: webhook {path} still not registered 30 s after activation")

    def registered(self, path: str, method: str) -> bool:
        """A CORS preflight for the webhook runs no workflow: 204 once registered, an error before (a plain
        ``OPTIONS`` answers 204 either way)."""
        preflight = {"Origin": self.url, "Access-Control-Request-Method": method}
        return requests.options(f"{self.url}/webhook/{path}", headers=preflight, timeout=5).status_code == 204


class _ReceiverHandler(BaseHTTPRequestHandler):
    server: _ReceiverServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = raw.decode(errors="replace")
        with self.server.lock:
            self.server.received.append({"path": self.path, "headers": dict(self.headers), "body": body})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"ok": true}')

    def do_GET(self) -> None:
        found = self.server.files.get(self.path)
        if found is None:
            self.send_error(404)
            return
        body, content_type = found
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _ReceiverServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__((LOOPBACK, 0), _ReceiverHandler)
        self.lock = threading.Lock()
        self.received: list[dict[str, Any]] = []
        self.files: dict[str, tuple[bytes, str]] = {}


class Receiver:
    """A stand-in notification webhook (email/IM gateway) that records every POST; it also serves files by GET."""

    def __init__(self) -> None:
        self._server = _ReceiverServer()
        self.url = f"http://{LOOPBACK}:{self._server.server_address[1]}/notify"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> Receiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def received(self) -> list[dict[str, Any]]:
        with self._server.lock:
            return list(self._server.received)

    def serve(self, path: str, body: bytes, content_type: str) -> str:
        """Serve ``body`` at ``path``; returns its URL."""
        self._server.files[path] = (body, content_type)
        return self.url.removesuffix("/notify") + path

    def reset(self) -> None:
        with self._server.lock:
            self._server.received.clear()

    def wait_for(self, count: int = 1, timeout: float = 60) -> list[dict[str, Any]]:
        wait_until(lambda: len(self.received) >= count, timeout)
        return self.received
