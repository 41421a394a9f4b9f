"""The webhook workflows in a running n8n, against our real vision and ingest services and the fake model."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.servers import InfluxDB1

from .harness import N8nServer, Receiver
from .support import DB, WEBHOOK_AUTH, note_photo, request_image

pytestmark = pytest.mark.usefixtures("n8n")

Running = tuple[N8nServer, dict[str, dict[str, Any]]]


def webhook(n8n: Running, path: str) -> str:
    return f"{n8n[0].url}/webhook/{path}"


def post_ours(n8n: Running, path: str, **kw: Any) -> requests.Response:
    """POST to one of our webhooks with the header their header auth requires (the "Math Notes webhook key")."""
    headers = {**WEBHOOK_AUTH, **kw.pop("headers", {})}
    return requests.post(webhook(n8n, path), headers=headers, **kw)


@pytest.mark.parametrize("path", ["math-notes/analyze", "math-notes/alert"])
@pytest.mark.parametrize("auth", [None, "Bearer not-the-token", "webhook-token-for-n8n-tests"])
def test_our_webhooks_answer_403_without_the_token(
    n8n: Running, model: FakeOpenAI, notify: Receiver, path: str, auth: str | None
) -> None:
    headers = {"Authorization": auth} if auth else {}
    files = {"file": ("note.jpg", note_photo(), "image/jpeg")}
    resp = requests.post(webhook(n8n, path), headers=headers, files=files, timeout=30)
    assert resp.status_code == 403, resp.text
    assert model.requests == [] and notify.received == []  # no tokens spent, nothing forwarded


def test_analyze_photo_answers_markdown(n8n: Running, model: FakeOpenAI) -> None:
    model.script(Reply(content="Solving: $x^2 + 2x + 1 = (x+1)^2$, so $$x = -1$$"))
    photo = note_photo()
    resp = post_ours(
        n8n,
        "math-notes/analyze",
        params={"task": "solve", "language": "en"},
        files={"file": ("note.jpg", photo, "image/jpeg")},
        timeout=60,
    )
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"].startswith("text/markdown")
    assert resp.text == "Solving: $x^2 + 2x + 1 = (x+1)^2$, so $$x = -1$$"
    assert resp.headers["X-Model"] == "qwen3-vl-plus"
    assert resp.headers["X-Analysis-Id"]
    [call] = model.requests
    assert request_image(call).startswith("data:image/jpeg;base64,")
    assert call["headers"]["authorization"] == "Bearer sk-n8n-tests"


def test_analyze_without_photo_answers_a_clean_error(n8n: Running, model: FakeOpenAI) -> None:
    resp = post_ours(n8n, "math-notes/analyze", json={"hello": "no photo"}, timeout=60)
    assert resp.status_code == 400
    error = resp.json()["error"]
    assert error["code"] and "binary" in error["message"].lower()
    assert model.requests == []


def test_analyze_passes_the_vision_error_code_and_status(n8n: Running, model: FakeOpenAI) -> None:
    resp = post_ours(
        n8n,
        "math-notes/analyze",
        params={"task": "paint"},
        files={"file": ("note.jpg", note_photo(), "image/jpeg")},
        timeout=60,
    )
    assert resp.status_code == 400
    error = resp.json()["error"]
    assert error["code"].startswith("invalid"), error
    assert "task" in error["message"] and error["request_id"]
    assert model.requests == []


def test_analyze_reports_a_failing_model_as_an_upstream_error(n8n: Running, model: FakeOpenAI) -> None:
    model.script(*[Reply(status=500)] * 4)
    resp = post_ours(n8n, "math-notes/analyze", files={"file": ("note.jpg", note_photo(), "image/jpeg")}, timeout=60)
    assert resp.status_code == 502
    error = resp.json()["error"]
    assert error["code"] == "upstream_unavailable" and error["message"] and error["request_id"]


def test_alert_explainer_notifies_with_the_models_explanation(
    n8n: Running, model: FakeOpenAI, notify: Receiver
) -> None:
    model.script(Reply(content="Freezer temperature is above its limit. Check the door seal and the compressor."))
    alert = {"site": "lab", "device": "freezer-2", "measurement": "temperature", "value": -12.5,
             "threshold": -18, "state": "alert", "ts": "2026-11-23T02:00:00Z"}  # fmt: skip
    resp = post_ours(n8n, "math-notes/alert", json=alert, timeout=30)
    assert resp.status_code == 202
    [note] = notify.wait_for(1)
    body = note["body"]
    assert body["text"] == "Freezer temperature is above its limit. Check the door seal and the compressor."
    assert body["alert"]["device"] == "freezer-2" and body["alert"]["value"] == "-12.5"
    assert "[alert] freezer-2 temperature = -12.5" in body["title"]
    [call] = model.requests
    assert call["body"]["model"] == "deepseek-chat"
    prompt = " ".join(str(m.get("content")) for m in call["body"]["messages"])
    assert "freezer-2" in prompt and "-12.5" in prompt and "threshold: -18" in prompt


def test_telemetry_node_writes_all_items_in_one_request(n8n: Running, influxdb: InfluxDB1) -> None:
    readings = [
        {"site": "n8n-lab", "device": "probe-1", "temperature": 21.5, "humidity": 40, "ts": 1763860000000},
        {"site": "n8n-lab", "device": "probe-2", "temperature": 19.0, "humidity": 55, "ts": 1763860000000},
        {"site": "n8n-lab", "device": "probe-1", "temperature": 21.75, "humidity": 41, "ts": 1763860060000},
    ]
    resp = requests.post(webhook(n8n, "test/telemetry"), json={"readings": readings}, timeout=60)
    assert resp.status_code == 200, resp.text
    [answer] = resp.json() if isinstance(resp.json(), list) else [resp.json()]
    assert answer["accepted"] == 3 and answer["points"] == 3
    rows = influxdb.values(
        "SELECT temperature, humidity, device FROM environment WHERE site = 'n8n-lab' AND source = 'n8n'", DB
    )
    assert sorted((r[3], r[1], r[2]) for r in rows) == [
        ("probe-1", 21.5, 40), ("probe-1", 21.75, 41), ("probe-2", 19.0, 55)
    ]  # fmt: skip


def test_telemetry_node_rejects_an_item_without_numbers(n8n: Running) -> None:
    readings = [{"site": "n8n-lab", "device": "probe-9", "note": "no numbers here"}]
    resp = requests.post(webhook(n8n, "test/telemetry"), json={"readings": readings}, timeout=60)
    assert resp.status_code == 422
    body = resp.json()
    [item] = body if isinstance(body, list) else [body]
    assert item["error"]["code"] == "invalid_item" and "numeric" in item["error"]["message"]


def test_vision_node_reads_an_image_url_with_options(n8n: Running, model: FakeOpenAI, receiver: Receiver) -> None:
    model.script(Reply(content="第 3 题 $x = -1$"))
    url = receiver.serve("/page.jpg", note_photo(), "image/jpeg")
    body = {"url": url, "task": "check", "prompt": "only problem 3"}
    resp = requests.post(webhook(n8n, "test/vision-url"), json=body, timeout=60)
    assert resp.status_code == 200, resp.text
    answer = resp.json()
    assert answer["task"] == "check" and answer["markdown"] == "第 3 题 $x = -1$"
    assert answer["latex"] == ["x = -1"] and answer["cached"] is False and answer["image"]
    [call] = model.requests
    assert request_image(call).startswith("data:image/")  # fetched by the vision service, sent inline
    assert "only problem 3" in json.dumps(call["body"]["messages"], ensure_ascii=False)


def test_vision_node_continue_on_fail_outputs_the_api_error(n8n: Running, model: FakeOpenAI) -> None:
    body = {"url": "http://169.254.169.254/latest/meta-data/photo.jpg", "task": "transcribe", "prompt": ""}
    resp = requests.post(webhook(n8n, "test/vision-url"), json=body, timeout=60)
    assert resp.status_code == 200, resp.text
    item = resp.json()
    assert item["error"]["code"] == "blocked_address" and item["error"]["status"] == 400
    assert item["error"]["request_id"] and item["message"].startswith("blocked_address: ")
    assert model.requests == []


def test_analyze_accepts_a_raw_image_body(n8n: Running, model: FakeOpenAI) -> None:
    model.script(Reply(content="Raw body read."))
    resp = post_ours(
        n8n,
        "math-notes/analyze",
        data=note_photo(),
        headers={"Content-Type": "image/jpeg"},
        timeout=60,
    )
    assert resp.status_code == 200, resp.text
    assert resp.text == "Raw body read."
    assert request_image(model.requests[0]).startswith("data:image/jpeg;base64,")


def test_analyze_answers_502_when_the_vision_api_is_unreachable(n8n: Running, model: FakeOpenAI) -> None:
    resp = post_ours(n8n, "test/analyze-unreachable", files={"file": ("n.jpg", note_photo(), "image/jpeg")}, timeout=60)
    assert resp.status_code == 502
    error = resp.json()["error"]
    assert error["code"] == "unreachable" and "127.0.0.1:9" in error["message"]
    assert model.requests == []


def test_alert_is_still_notified_when_the_model_fails(n8n: Running, model: FakeOpenAI, notify: Receiver) -> None:
    model.script(*[Reply(status=500)] * 6)
    alert = {"site": "lab", "device": "pump-1", "measurement": "pressure", "value": 9.1,
             "threshold": 8, "state": "alert", "ts": "2026-11-23T02:10:00Z"}  # fmt: skip
    resp = post_ours(n8n, "math-notes/alert", json=alert, timeout=30)
    assert resp.status_code == 202
    [note] = notify.wait_for(1, timeout=120)
    assert note["body"]["text"].startswith("(The chat model could not explain this alert:")
    assert note["body"]["alert"]["device"] == "pump-1" and "[alert] pump-1 pressure = 9.1" in note["body"]["title"]
    assert len(model.requests) >= 1
