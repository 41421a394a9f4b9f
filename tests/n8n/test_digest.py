"""The scheduled digest workflow, run with ``n8n execute`` over data written through our ingest service."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests

from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.servers import InfluxDB1, ServiceProcess

from .harness import WORKFLOWS_DIR, Receiver, stage_workflows
from .support import INGEST_KEY, WORKFLOW_FILES, credentials, make_home, workflow_env


def at(day: datetime, hour: int) -> str:
    return (day + timedelta(hours=hour)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def yesterdays_readings(ingest: ServiceProcess) -> None:
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    yesterday = today - timedelta(days=1)
    points = [
        ("boiler-1", {"temperature": 60.0}, at(yesterday, 6)),
        ("boiler-1", {"temperature": 70.0}, at(yesterday, 12)),
        ("boiler-1", {"temperature": 65.0}, at(yesterday, 18)),
        ("room-3", {"temperature": 20.0, "humidity": 40.0}, at(yesterday, 9)),
        ("room-3", {"temperature": 22.0, "humidity": 50.0}, at(yesterday, 21)),
        ("boiler-1", {"temperature": 99.0}, at(today, 0)),  # today: not part of yesterday's digest
        ("boiler-1", {"temperature": -5.0}, at(yesterday - timedelta(days=1), 23)),  # the day before: neither
    ]
    envelopes = [
        {"measurement": "digest_env", "ts": ts, "fields": fields, "tags": {"site": "plant", "device": device}}
        for device, fields, ts in points
    ]
    resp = requests.post(
        f"{ingest.url}/api/ingest", json=envelopes, headers={"Authorization": f"Bearer {INGEST_KEY}"}, timeout=30
    )
    assert resp.status_code == 202 and resp.json()["accepted"] == len(points)


@pytest.mark.usefixtures("yesterdays_readings")
def test_daily_digest_summarises_yesterday_and_posts_it(
    tmp_path: Path,
    n8n_bin: Path,
    n8n_tarball: Path,
    vision: ServiceProcess,
    ingest: ServiceProcess,
    model: FakeOpenAI,
    influxdb: InfluxDB1,
    notify: Receiver,
) -> None:
    model.script(Reply(content="All devices normal. boiler-1 peaked at 70 °C around noon."))
    staged = stage_workflows(tmp_path / "staged", workflow_env(influxdb, notify))
    home, imported = make_home(
        tmp_path / "n8n", n8n_bin, n8n_tarball,
        credentials(vision.url, ingest.url, model.base_url), [staged / "daily-telemetry-digest.json"],
    )  # fmt: skip
    home.execute(imported["daily-telemetry-digest"]["id"])

    [note] = notify.wait_for(1, timeout=10)
    body = note["body"]
    assert body["text"] == "All devices normal. boiler-1 peaked at 70 °C around noon."
    assert body["msgtype"] == "markdown" and body["markdown"]["text"] == body["text"]
    yesterday = (datetime.now(timezone.utc) - timedelta(days=1)).strftime("%Y-%m-%d")
    assert body["title"] == f"Telemetry digest {yesterday}"
    table = body["table"]
    assert "| boiler-1 | digest_env | temperature | 60 | 65 | 70 |" in table
    assert "| room-3 | digest_env | humidity | 40 | 45 | 50 |" in table
    assert "| room-3 | digest_env | temperature | 20 | 21 | 22 |" in table
    assert "99" not in table and "-5" not in table

    [call] = model.requests
    assert call["body"]["model"] == "deepseek-chat"
    assert call["headers"]["authorization"] == "Bearer sk-model-for-n8n-tests"
    prompt = " ".join(str(m.get("content")) for m in call["body"]["messages"])
    assert "| boiler-1 | digest_env | temperature | 60 | 65 | 70 |" in prompt and yesterday in prompt


def test_every_workflow_file_is_exported_with_stable_ids_and_named_credentials_and_no_env() -> None:
    readme = (WORKFLOWS_DIR / "README.md").read_text()
    for name in WORKFLOW_FILES:
        assert f"`{name}.json`" in readme
        text = (WORKFLOWS_DIR / f"{name}.json").read_text()
        assert "$env" not in text, f"{name} reads $env, which n8n 2.x blocks by default"
        workflow = json.loads(text)
        assert len(workflow["id"]) == 16 and workflow["versionId"] and workflow["active"] is False
        for node in workflow["nodes"]:
            for ref in node.get("credentials", {}).values():
                assert ref == {"id": None, "name": ref["name"]}, f"{name}: {node['name']} pins a credential id"
