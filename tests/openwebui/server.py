"""The real Open WebUI for the tests: the cached install, the server, and its HTTP API as the web UI uses it.

:func:`open_webui_binary` runs ``scripts/install-open-webui.sh`` (idempotent; the venv lives outside
the repo, in ``$MATHNOTES_CACHE/openwebui-<version>``). :class:`OpenWebUI` runs ``open-webui serve``
on a free loopback port, offline, with its data in the test's folder, the admin account from
``WEBUI_ADMIN_EMAIL`` / ``WEBUI_ADMIN_PASSWORD`` (as docker-compose.prod.yml creates it) and one
OpenAI-compatible connection: the fake model. :class:`Session` is one signed-in user speaking the
API the browser speaks: tools, valves, access grants, uploads, chats.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import requests

from tests.support.servers import LOOPBACK, Managed

__all__ = ["ADMIN", "OpenWebUI", "Session", "open_webui_binary"]

ROOT = Path(__file__).resolve().parents[2]
ADMIN = {"email": "admin@mathnotes.test", "password": "Passw0rd-for-owui-tests", "name": "Admin"}


def open_webui_binary() -> Path:
    """The cached Open WebUI's ``open-webui`` command, installing it first when missing (~7 min, once)."""
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "install-open-webui.sh")], capture_output=True, text=True, timeout=3600
    )
    if done.returncode != 0:
        raise RuntimeError(f"install-open-webui.sh failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


class OpenWebUI(Managed):
    """``open-webui serve`` with its DATA_DIR in ``workdir``; ready when ``/health`` answers."""

    name = "open-webui"
    ready_timeout = 300.0  # ~65 s on 2 cores: it imports torch, transformers, chromadb …

    def __init__(self, workdir: Path, binary: Path, model_url: str, env: Mapping[str, str] | None = None) -> None:
        super().__init__(workdir)
        self.binary = binary
        self.url = f"http://{LOOPBACK}:{self.port}"
        self._env = {
            **os.environ,
            "DATA_DIR": str(self.workdir / "data"),
            "WEBUI_SECRET_KEY": "owui-test-secret-" + uuid.uuid4().hex,
            "WEBUI_ADMIN_EMAIL": ADMIN["email"],
            "WEBUI_ADMIN_PASSWORD": ADMIN["password"],
            "WEBUI_ADMIN_NAME": ADMIN["name"],
            "ENABLE_SIGNUP": "false",
            # offline, and no calls home (the same switches as docker-compose.prod.yml)
            "OFFLINE_MODE": "true",
            "HF_HUB_OFFLINE": "1",
            "ENABLE_VERSION_UPDATE_CHECK": "false",
            "ENABLE_COMMUNITY_SHARING": "false",
            "ANONYMIZED_TELEMETRY": "false",
            "DO_NOT_TRACK": "true",
            "SCARF_NO_ANALYTICS": "true",
            # one model connection: the fake; embeddings remote as in production (no local model to load)
            "ENABLE_OLLAMA_API": "false",
            "ENABLE_OPENAI_API": "true",
            "OPENAI_API_BASE_URLS": model_url,
            "OPENAI_API_KEYS": "sk-owui-tests",
            "RAG_EMBEDDING_ENGINE": "openai",
            "RAG_EMBEDDING_MODEL": "text-embedding-v3",
            "RAG_OPENAI_API_BASE_URL": model_url,
            "RAG_OPENAI_API_KEY": "sk-owui-tests",
            # no side requests to the model (titles, tags, follow-ups, search queries): each test scripts the
            # model's replies in order, so only the chat itself may ask it
            "ENABLE_TITLE_GENERATION": "false",
            "ENABLE_TAGS_GENERATION": "false",
            "ENABLE_FOLLOW_UP_GENERATION": "false",
            "ENABLE_RETRIEVAL_QUERY_GENERATION": "false",
            "ENABLE_SEARCH_QUERY_GENERATION": "false",
            "GLOBAL_LOG_LEVEL": "INFO",
            **(env or {}),
        }

    def argv(self) -> list[str]:
        return [str(self.binary), "serve", "--host", LOOPBACK, "--port", str(self.port)]

    def env(self) -> Mapping[str, str]:
        return self._env

    def ready(self) -> bool:
        return requests.get(f"{self.url}/health", timeout=2).status_code == 200

    def sign_in(self, email: str, password: str) -> Session:
        resp = requests.post(f"{self.url}/api/v1/auths/signin", json={"email": email, "password": password}, timeout=30)
        resp.raise_for_status()
        body = resp.json()
        return Session(self.url, str(body["token"]), body)


class Session:
    """One signed-in user: ``Authorization: Bearer <token>`` on every call, as the web UI sends it."""

    def __init__(self, url: str, token: str, user: dict[str, Any]) -> None:
        self.url = url
        self.user = user
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, timeout: float = 60, **kwargs: Any) -> Any:
        """The JSON answer of a request that must succeed (the error body is in the assertion)."""
        resp = self.http.request(method, f"{self.url}{path}", timeout=timeout, **kwargs)
        assert resp.status_code < 400, f"{method} {path}: {resp.status_code} {resp.text[:1000]}"
        return resp.json() if resp.content else None

    # --- admin: users, tools, models ---------------------------------------------

    def add_user(self, name: str, email: str, password: str) -> dict[str, Any]:
        form = {"name": name, "email": email, "password": password, "role": "user"}
        return dict(self.call("POST", "/api/v1/auths/add", json=form))

    def create_tool(self, tool_id: str, content: str, description: str) -> dict[str, Any]:
        """Workspace -> Tools -> + : the file's whole content under an id."""
        form = {"id": tool_id, "name": tool_id, "content": content, "meta": {"description": description}}
        return dict(self.call("POST", "/api/v1/tools/create", json=form))

    def set_valves(self, tool_id: str, valves: Mapping[str, Any]) -> dict[str, Any]:
        return dict(self.call("POST", f"/api/v1/tools/id/{tool_id}/valves/update", json=dict(valves)))

    def set_user_valves(self, tool_id: str, valves: Mapping[str, Any]) -> dict[str, Any]:
        """This user's own valves of a tool (the chat's Controls -> Valves -> the tool)."""
        return dict(self.call("POST", f"/api/v1/tools/id/{tool_id}/valves/user/update", json=dict(valves)))

    def grant(self, kind: str, resource_id: str, user_ids: list[str]) -> None:
        """Read access for these users (and only them) to a tool (Workspace -> Tools -> Access) or a model
        (Admin Panel -> Settings -> Models -> Access, which registers a connection's model on first use)."""
        grants = [{"principal_type": "user", "principal_id": uid, "permission": "read"} for uid in user_ids]
        if kind == "tool":
            self.call("POST", f"/api/v1/tools/id/{resource_id}/access/update", json={"access_grants": grants})
        else:
            self.call("POST", "/api/v1/models/model/access/update", json={"id": resource_id, "access_grants": grants})

    # --- a user: uploads and chats ------------------------------------------------

    def upload(self, name: str, data: bytes, content_type: str) -> dict[str, Any]:
        """What the message box does with a dropped photo: ``POST /api/v1/files/?process=false``."""
        files = {"file": (name, data, content_type)}
        return dict(self.call("POST", "/api/v1/files/", params={"process": "false"}, files=files))

    def chat(
        self,
        model: str,
        text: str,
        tool_ids: list[str],
        attach: list[dict[str, Any]] | None = None,
        files: list[dict[str, Any]] | None = None,
        params: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A new chat's first message as the web UI sends it (Chat.svelte), and the saved chat afterwards.

        ``attach``: the message's files (a photo from the message box); ``files``: the request's ``files``
        (the UI sends documents there, never photos; API clients send uploads there). ``params``: the chat's
        settings, e.g. ``{"function_calling": "legacy"}`` (Chat Controls -> Function Calling).

        The browser adds ``session_id`` (its socket.io connection) and then reads the answer from socket
        events; without one, Open WebUI runs the same chat pipeline (tool calls included) before it
        answers, and the result is read back the way the UI reloads a chat: ``GET /api/v1/chats/{id}``.
        """
        user_message = {
            "id": str(uuid.uuid4()),
            "parentId": None,
            "childrenIds": [],
            "role": "user",
            "content": text,
            "files": attach or None,
            "models": [model],
        }
        form = {
            "stream": True,
            "model": model,
            "params": params or {},
            "files": files or None,
            "tool_ids": tool_ids,
            "features": {},
            "variables": {},
            "id": str(uuid.uuid4()),
            "parent_id": None,
            "user_message": user_message,
        }
        before = {chat["id"] for chat in self.call("GET", "/api/v1/chats/")}
        self.call("POST", "/api/chat/completions", json=form, timeout=180)
        [chat_id] = [chat["id"] for chat in self.call("GET", "/api/v1/chats/") if chat["id"] not in before]
        return dict(self.call("GET", f"/api/v1/chats/{chat_id}"))
