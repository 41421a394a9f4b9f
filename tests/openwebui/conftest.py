"""Open WebUI fixtures: the real vision service the tools call, and the real Open WebUI they run in.

The tools are loaded by ``tools.py`` for the direct tests. For ``test_in_open_webui.py``, a real
Open WebUI 0.12 (``server.py``) gets both tools through its API, their valves pointing at the real
vision service and the session's InfluxDB (filled by a real ``mathnotes-ingest``); its one model
connection is a second fake model that answers with streamed ``tool_calls``. A non-admin user
(``student``) holds only the grants README.md says a user needs.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mathnotes.openwebui import TOOL_FILES
from tests.support.fake_openai import FakeOpenAI
from tests.support.servers import InfluxDB1, Mosquitto, ServiceProcess, running

from .server import ADMIN, OpenWebUI, Session, open_webui_binary
from .tools import CHAT_MODEL, INGEST_KEY, PERSONAL_KEY, PUBLIC_URL, STUDENT, TOOL_IDS, VISION_KEY, tool_outputs


def _vision(workdir: Path, env: dict[str, str]) -> Iterator[ServiceProcess]:
    yield from running(ServiceProcess.on_free_port("mathnotes-vision", workdir, env))


@pytest.fixture(scope="module")
def vision(tmp_path_factory: pytest.TempPathFactory, fake_model: FakeOpenAI) -> Iterator[ServiceProcess]:
    workdir = tmp_path_factory.mktemp("vision-owui")
    env = {
        "DASHSCOPE_API_KEY": "sk-owui-tests",
        "DASHSCOPE_BASE_URL": fake_model.base_url, "VISION_API_KEYS": f"{VISION_KEY},{PERSONAL_KEY}",
        "VISION_TELEMETRY": "false", "VISION_WORKERS": "1", "VISION_THREADS": "8", "VISION_RETRIES": "0",
        "VISION_CACHE_ENTRIES": "0", "RATE_LIMIT_MAX_REQUESTS": "100000", "VISION_STATE_DIR": str(workdir / "state"),
        "VISION_FETCH_ALLOW_NETWORKS": "127.0.0.0/8",
        # the notes library on SQLite (the default); meaning search through the fake model's /v1/embeddings
        "NOTES_ENABLED": "true", "NOTES_DIR": str(workdir / "notes"),
    }  # fmt: skip
    yield from _vision(workdir, env)


@pytest.fixture(scope="module")
def offline_vision(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    """The vision service with no model key: the offline OCR backend."""
    workdir = tmp_path_factory.mktemp("vision-owui-ocr")
    env = {
        "DASHSCOPE_API_KEY": "", "VISION_BACKEND": "ocr", "VISION_API_KEYS": VISION_KEY,
        "VISION_TELEMETRY": "false", "VISION_WORKERS": "1", "VISION_CACHE_ENTRIES": "0",
        "VISION_STATE_DIR": str(workdir / "state"), "NOTES_DIR": str(workdir / "notes"),
    }  # fmt: skip
    yield from _vision(workdir, env)


@pytest.fixture(scope="module")
def telemetry_db(influxdb: InfluxDB1) -> str:
    name = f"owui_{uuid.uuid4().hex[:8]}"
    influxdb.create_database(name)
    return name


@pytest.fixture(scope="module")
def ingest(
    tmp_path_factory: pytest.TempPathFactory, influxdb: InfluxDB1, mosquitto: Mosquitto, telemetry_db: str
) -> Iterator[ServiceProcess]:
    workdir = tmp_path_factory.mktemp("ingest-owui")
    env = {
        "MQTT_URL": mosquitto.url, "INFLUX_URL": influxdb.url, "INFLUX_API": "v1", "INFLUX_BUCKET": telemetry_db,
        "INGEST_API_KEYS": INGEST_KEY, "INGEST_SPOOL_DIR": str(workdir / "spool"), "INGEST_TOPICS": "owui-tests/#",
        "INGEST_FLUSH_MS": "100", "INGEST_STATS_INTERVAL_S": "0", "INGEST_CLIENT_ID": "ingest-owui-tests",
    }  # fmt: skip
    yield from running(ServiceProcess.on_free_port("mathnotes-ingest", workdir, env))


@pytest.fixture(scope="module")
def chat_model() -> Iterator[FakeOpenAI]:
    """Open WebUI's model: calls tools when scripted to, then answers with the tools' outputs."""
    with FakeOpenAI() as fake:
        fake.models = [CHAT_MODEL]
        fake.responder = lambda body: "\n\n".join(tool_outputs(body)) or "(no tool output)"
        yield fake


@pytest.fixture
def chat(chat_model: FakeOpenAI) -> FakeOpenAI:
    chat_model.requests.clear()
    return chat_model


@pytest.fixture(scope="module")
def openwebui(tmp_path_factory: pytest.TempPathFactory, chat_model: FakeOpenAI) -> Iterator[OpenWebUI]:
    yield from running(OpenWebUI(tmp_path_factory.mktemp("open-webui"), open_webui_binary(), chat_model.base_url))


@pytest.fixture(scope="module")
def admin(openwebui: OpenWebUI, vision: ServiceProcess, influxdb: InfluxDB1, telemetry_db: str) -> Session:
    """The admin from WEBUI_ADMIN_EMAIL, who installed both tools and set their valves."""
    session = openwebui.sign_in(ADMIN["email"], ADMIN["password"])
    assert session.user["role"] == "admin"
    valves: dict[str, dict[str, Any]] = {
        "math_notes_vision": {
            "VISION_URL": vision.url,
            "API_KEY": VISION_KEY,
            "TIMEOUT_S": 60,
            "PUBLIC_URL": PUBLIC_URL,
        },
        "telemetry": {"INFLUX_URL": influxdb.url, "INFLUX_DB": telemetry_db},
    }
    for name, tool_id in TOOL_IDS.items():
        session.create_tool(tool_id, Path(TOOL_FILES[name]).read_text(encoding="utf-8"), f"Math Notes {name}")
        session.set_valves(tool_id, valves[name])
    return session


@pytest.fixture(scope="module")
def student(openwebui: OpenWebUI, admin: Session) -> Session:
    """A plain user with read access to the model and both tools, and nothing more."""
    user = admin.add_user("Student", STUDENT["email"], STUDENT["password"])
    admin.grant("model", CHAT_MODEL, [user["id"]])
    for tool_id in TOOL_IDS.values():
        admin.grant("tool", tool_id, [user["id"]])
    return openwebui.sign_in(STUDENT["email"], STUDENT["password"])
