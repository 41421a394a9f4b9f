"""What the n8n tests share: the keys and credentials our services and n8n are given, the workflow
environment, an n8n home with everything imported, a note photo, and the image a model request carried."""

from __future__ import annotations

import base64
import io
import json
import uuid
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from tests.support.servers import InfluxDB1

from .harness import WORKFLOWS_DIR, N8nHome, Receiver

__all__ = [
    "DB", "DIGEST_KEY", "INGEST_KEY", "TEST_WORKFLOWS", "VISION_KEY", "WEBHOOK_AUTH", "WEBHOOK_TOKEN",
    "WORKFLOW_FILES",
    "credentials", "data_url", "make_home", "note_photo", "request_image", "unreachable_variant", "workflow_env",
]  # fmt: skip

VISION_KEY = "vision-key-for-n8n-tests"
DIGEST_KEY = "vision-key-of-the-notes-digest"  # a second client of the vision API: its own notes only
INGEST_KEY = "ingest-key-for-n8n-tests"
WEBHOOK_TOKEN = "webhook-token-for-n8n-tests"  # what our webhooks' header auth expects
WEBHOOK_AUTH = {"Authorization": f"Bearer {WEBHOOK_TOKEN}"}
DB = "n8n_telemetry"
TEST_WORKFLOWS = Path(__file__).parent / "workflows"  # workflows only these tests import
WORKFLOW_FILES = ["analyze-notes-webhook", "daily-telemetry-digest", "alert-explainer", "weekly-notes-digest"]


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
        {"id": "mnCredInfluxRead", "name": "InfluxDB read token", "type": "httpHeaderAuth",
         "data": {"name": "Authorization", "value": "Token read-token-for-n8n-tests"}},  # InfluxDB 1.x: ignored
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


def workflow_env(influxdb: InfluxDB1 | None, receiver: Receiver) -> dict[str, str]:
    """Our workflows' settings, as the production entry point's environment gives them (stage_workflows);
    without ``influxdb`` (a workflow that reads none) the InfluxDB settings keep the files' defaults."""
    env = {"MATHNOTES_NOTIFY_URL": receiver.url, "MATHNOTES_CHAT_MODEL": "deepseek-chat"}
    if influxdb is not None:
        env.update({"MATHNOTES_INFLUX_URL": influxdb.url, "MATHNOTES_INFLUX_DB": DB})
    return env


def make_home(
    folder: Path, binary: Path, tarball: Path, creds: list[dict[str, Any]], workflows: list[Path]
) -> tuple[N8nHome, dict[str, dict[str, Any]]]:
    home = N8nHome(folder, binary, {})
    home.install_package(tarball)
    home.import_credentials(creds)
    imported = {path.stem: home.import_workflow(path) for path in workflows}
    return home, imported


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
