"""n8n fixtures: the cached n8n install, our built package, our real services and a running n8n.

Session-scoped because n8n is heavy: one ``n8n start`` serves every webhook test.
Services run as real subprocesses against the session's Mosquitto, InfluxDB and the
fake model (the one stand-in, for the cloud model).
"""

from __future__ import annotations

import base64
import io
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw

from tests.support.fake_openai import FakeOpenAI
from tests.support.servers import InfluxDB1, Mosquitto, ServiceProcess

from .harness import WORKFLOWS_DIR, N8nHome, N8nServer, Receiver, build_package, n8n_binary

VISION_KEY = "vision-key-for-n8n-tests"
INGEST_KEY = "ingest-key-for-n8n-tests"
WEBHOOK_TOKEN = "webhook-token-for-n8n-tests"  # what our webhooks' header auth expects
WEBHOOK_AUTH = {"Authorization": f"Bearer {WEBHOOK_TOKEN}"}
DB = "n8n_telemetry"
HERE = Path(__file__).parent
WORKFLOW_FILES = ["analyze-notes-webhook", "daily-telemetry-digest", "alert-explainer"]


@pytest.fixture(scope="session")
def n8n_bin() -> Path:
    return n8n_binary()


@pytest.fixture(scope="session")
def n8n_tarball(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_package(tmp_path_factory.mktemp("n8n-pack"))


@pytest.fixture(scope="session")
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def notify(receiver: Receiver) -> Receiver:
    receiver.reset()
    return receiver


@pytest.fixture(scope="session")
def vision(tmp_path_factory: pytest.TempPathFactory, fake_model: FakeOpenAI) -> Iterator[ServiceProcess]:
    workdir = tmp_path_factory.mktemp("vision")
    env = {
        "DASHSCOPE_API_KEY": "sk-n8n-tests",
        "DASHSCOPE_BASE_URL": fake_model.base_url, "VISION_API_KEYS": VISION_KEY, "VISION_TELEMETRY": "false",
        "VISION_WORKERS": "1", "VISION_THREADS": "8", "VISION_RETRIES": "0", "VISION_TIMEOUT_S": "10",
        "RATE_LIMIT_MAX_REQUESTS": "100000", "VISION_CACHE_ENTRIES": "0", "VISION_STATE_DIR": str(workdir / "state"),
        "VISION_FETCH_ALLOW_NETWORKS": "127.0.0.0/8",  # tests only: images served by the local receiver
    }  # fmt: skip
    proc = ServiceProcess.on_free_port("mathnotes-vision", workdir, env)
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def ingest(
    tmp_path_factory: pytest.TempPathFactory, influxdb: InfluxDB1, mosquitto: Mosquitto
) -> Iterator[ServiceProcess]:
    influxdb.create_database(DB)
    workdir = tmp_path_factory.mktemp("ingest")
    env = {
        "MQTT_URL": mosquitto.url,
        "INFLUX_URL": influxdb.url, "INFLUX_API": "v1", "INFLUX_BUCKET": DB, "INGEST_API_KEYS": INGEST_KEY,
        "INGEST_SPOOL_DIR": str(workdir / "spool"), "INGEST_TOPICS": "telemetry-n8n/#", "INGEST_FLUSH_MS": "200",
        "INGEST_STATS_INTERVAL_S": "0", "INGEST_CLIENT_ID": "ingest-n8n-tests",
    }  # fmt: skip
    proc = ServiceProcess.on_free_port("mathnotes-ingest", workdir, env)
    proc.start()
    yield proc
    proc.stop()


def credentials(vision_url: str, ingest_url: str, model_url: str) -> list[dict[str, Any]]:
    """The credentials a user creates in n8n's UI (the workflows name them)."""
    return [
        {"id": "mnCredVision0001", "name": "Math Notes API", "type": "mathNotesApi",
         "data": {"baseUrl": vision_url, "apiKey": VISION_KEY}},
        {"id": "mnCredIngest0001", "name": "Math Notes ingest", "type": "mathNotesApi",
         "data": {"baseUrl": ingest_url, "apiKey": INGEST_KEY}},
        {"id": "mnCredModel00001", "name": "Chat model (OpenAI-compatible)", "type": "openAiApi",
         "data": {"apiKey": "sk-model-for-n8n-tests", "url": model_url}},
        {"id": "mnCredNowhere001", "name": "Math Notes nowhere", "type": "mathNotesApi",
         "data": {"baseUrl": "http://127.0.0.1:9", "apiKey": ""}},
        {"id": "mnCredWebhookKey", "name": "Math Notes webhook key", "type": "httpHeaderAuth",
         "data": {"name": "Authorization", "value": f"Bearer {WEBHOOK_TOKEN}"}},
    ]  # fmt: skip


def unreachable_variant(folder: Path) -> Path:
    """analyze-notes-webhook as shipped, but on its own path and with a credential whose API does not answer."""
    workflow = json.loads((WORKFLOWS_DIR / "analyze-notes-webhook.json").read_text())
    workflow.update(id="mnTestUnreachab1", versionId=str(uuid.uuid4()), name="Test: analyze, API unreachable")
    for node in workflow["nodes"]:
        if node["type"] == "n8n-nodes-base.webhook":
            node["parameters"]["path"] = "test/analyze-unreachable"
            node["webhookId"] = str(uuid.uuid4())
        if "mathNotesApi" in node.get("credentials", {}):
            node["credentials"]["mathNotesApi"]["name"] = "Math Notes nowhere"
    path = folder / "analyze-unreachable.json"
    path.write_text(json.dumps(workflow))
    return path


def workflow_env(influxdb: InfluxDB1, receiver: Receiver) -> dict[str, str]:
    return {
        "MATHNOTES_INFLUX_URL": influxdb.url,
        "MATHNOTES_INFLUX_DB": DB,
        "MATHNOTES_NOTIFY_URL": receiver.url,
        "MATHNOTES_CHAT_MODEL": "deepseek-chat",
    }


def make_home(
    folder: Path, binary: Path, tarball: Path, env: dict[str, str], creds: list[dict[str, Any]], workflows: list[Path]
) -> tuple[N8nHome, dict[str, dict[str, Any]]]:
    home = N8nHome(folder, binary, env)
    home.install_package(tarball)
    home.import_credentials(creds)
    imported = {path.stem: home.import_workflow(path) for path in workflows}
    return home, imported


@pytest.fixture(scope="session")
def n8n(
    tmp_path_factory: pytest.TempPathFactory,
    n8n_bin: Path,
    n8n_tarball: Path,
    vision: ServiceProcess,
    ingest: ServiceProcess,
    fake_model: FakeOpenAI,
    influxdb: InfluxDB1,
    receiver: Receiver,
) -> Iterator[tuple[N8nServer, dict[str, dict[str, Any]]]]:
    """A running n8n with our package, the credentials and every workflow imported; webhook workflows active."""
    files = [WORKFLOWS_DIR / f"{name}.json" for name in ("analyze-notes-webhook", "alert-explainer")]
    files += [HERE / "workflows" / "telemetry-write.json", HERE / "workflows" / "vision-url.json"]
    files.append(unreachable_variant(tmp_path_factory.mktemp("variants")))
    home, imported = make_home(
        tmp_path_factory.mktemp("n8n-home"), n8n_bin, n8n_tarball, workflow_env(influxdb, receiver),
        credentials(vision.url, ingest.url, fake_model.base_url), files,
    )  # fmt: skip
    server = N8nServer(home)
    server.start()
    try:
        server.login()
        for workflow in imported.values():
            server.activate(workflow)
        yield server, imported
    finally:
        server.stop()


def note_photo() -> bytes:
    """A JPEG of a handwritten-looking line of maths."""
    img = Image.new("RGB", (640, 200), "white")
    ImageDraw.Draw(img).text((20, 80), "x^2 + 2x + 1 = 0", fill="black")
    out = io.BytesIO()
    img.save(out, "JPEG", quality=85)
    return out.getvalue()


def data_url(data: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(data).decode()


def request_image(request: dict[str, Any]) -> str:
    """The image URL the vision service sent to the model in one recorded chat request."""
    for message in request["body"]["messages"]:
        content = message.get("content")
        if isinstance(content, list):
            for part in content:
                if part.get("type") == "image_url":
                    return str(part["image_url"]["url"])
    raise AssertionError(f"no image in {json.dumps(request)[:300]}")
