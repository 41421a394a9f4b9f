"""``mathnotes-vision analyze PHOTO`` and the telemetry queue's bounds."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import jsonschema
import pytest

from mathnotes.common.settings import MqttTarget
from mathnotes.vision.metrics import VisionMetrics
from mathnotes.vision.telemetry import Telemetry, envelope
from tests.support.fake_openai import FakeOpenAI
from tests.support.servers import RunService, ServiceProcess, console_script, free_port, wait_until

from .helpers import AppFactory, b64, encode, render_text, service_env


def run_cli(args: list[str], env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``mathnotes-vision ARGS`` in ``cwd`` (default: a new temporary folder, where ./notes-data goes)."""
    full = {"PATH": "/usr/bin:/bin", "VISION_TELEMETRY": "false", "ENV_FILE": "/nonexistent", **env}
    with tempfile.TemporaryDirectory(prefix="vision-cli-") as scratch:
        return subprocess.run([console_script("mathnotes-vision"), *args], env=full, capture_output=True, text=True,
                              timeout=120, cwd=cwd or scratch)  # fmt: skip


def test_cli_analyze_prints_the_markdown_in_process(tmp_path: Path, model: FakeOpenAI) -> None:
    photo = tmp_path / "note.png"
    photo.write_bytes(encode(render_text(["2x = 4"]), "PNG"))
    env = {"DASHSCOPE_API_KEY": "sk-cli", "DASHSCOPE_BASE_URL": model.base_url}
    result = run_cli(["analyze", str(photo), "--task", "solve", "--language", "en"], env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith("The note reads: $x^2 + 2x + 1 = (x+1)^2$")
    assert "solve each one" in model.requests[0]["body"]["messages"][0]["content"]

    as_json = run_cli(["analyze", str(photo), "--json", "--format", "json"], env)
    assert as_json.returncode == 1 and "invalid_model_output" in as_json.stderr  # the fake answers prose

    missing = run_cli(["analyze", str(tmp_path / "nope.jpg")], env)
    assert missing.returncode == 1 and "cannot read" in missing.stderr
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff" + b"\x00" * 50)
    bad = run_cli(["analyze", str(broken)], env)
    assert bad.returncode == 1 and "corrupt_image" in bad.stderr


@pytest.fixture
def keyed_service(run_service: RunService, model: FakeOpenAI) -> ServiceProcess:
    """The real service with one client key, ``cli-key``."""
    return run_service("mathnotes-vision", service_env(model, VISION_API_KEYS="cli-key"))


def test_cli_analyze_against_a_server(tmp_path: Path, keyed_service: ServiceProcess) -> None:
    proc = keyed_service
    photo = tmp_path / "note.jpg"
    photo.write_bytes(encode(render_text(["y = 3"])))
    ok = run_cli(["analyze", str(photo), "--server", proc.url, "--api-key", "cli-key", "--json"], {})
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["model"] == "qwen3-vl-plus"
    denied = run_cli(["analyze", str(photo), "--server", proc.url], {})
    assert denied.returncode == 1 and "unauthorized" in denied.stderr


def test_cli_help_lists_every_setting() -> None:
    result = run_cli(["--help"], {})
    assert result.returncode == 0
    for name in ("DASHSCOPE_API_KEY", "VISION_MODEL", "RATE_LIMIT_WINDOW_MS", "VISION_MAX_PIXELS", "REDIS_URL"):
        assert name in result.stdout


def test_full_telemetry_queue_drops_and_counts_without_blocking() -> None:
    metrics = VisionMetrics()
    nobody = MqttTarget("127.0.0.1", free_port(), tls=False)
    telemetry = Telemetry(nobody, "lab", metrics, maxsize=3)  # not started: nothing drains the queue
    for i in range(10):
        telemetry.record({"status": 200, "task": "transcribe", "latency_ms": i})
    assert telemetry.publisher.queue.qsize() == 3
    assert metrics.telemetry.labels(result="dropped")._value.get() == 7


def test_envelope_splits_tags_and_fields() -> None:
    point = envelope({"status": 200, "task": "solve", "cached": True, "latency_ms": 12.5, "usage": None}, ts=1.5)
    assert point == {
        "ts": 1500,
        "tags": {"status": "200", "task": "solve", "cached": "true"},
        "fields": {"latency_ms": 12.5, "count": 1},
    }


def test_requests_do_not_wait_for_an_absent_broker(make_app: AppFactory, model: FakeOpenAI, note_jpeg: bytes) -> None:
    _app, client = make_app({"VISION_TELEMETRY": "true", "MQTT_URL": f"mqtt://127.0.0.1:{free_port()}"})
    for _ in range(3):
        assert client.post("/api/vision/analyze", json={"image": b64(note_jpeg), "cache": False}).status_code == 200

    def dropped() -> bool:
        text = client.get("/metrics").get_data(as_text=True)
        return 'vision_telemetry_points_total{result="dropped"} 3.0' in text

    assert wait_until(dropped, 15)


def test_telemetry_points_satisfy_the_ingest_envelope_schema() -> None:
    schema_path = Path(__file__).resolve().parents[2] / "services/mathnotes/ingest/envelope.schema.json"
    validator = jsonschema.Draft202012Validator(json.loads(schema_path.read_text()))
    point = envelope(
        {"status": 502, "task": "check", "model": "none", "backend": "openai", "cached": False, "latency_ms": 3.5,
         "prompt_tokens": 0, "completion_tokens": 0, "bytes_received": 10, "bytes_upstream": 0}
    )  # fmt: skip
    assert list(validator.iter_errors(point)) == []
