"""The real ``mathnotes-vision`` process (gunicorn): telemetry to Mosquitto, 413 over a socket, drain on SIGTERM."""

from __future__ import annotations

import json
import queue
import signal
import threading
from collections.abc import Iterator
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import requests

from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.servers import Mosquitto, RunService, ServiceProcess, wait_until

from .helpers import b64, service_env


@pytest.fixture
def points(mosquitto: Mosquitto) -> Iterator[queue.Queue[dict[str, Any]]]:
    """What the service publishes under ``telemetry/lab/vision/#``, subscribed before the test begins."""
    received: queue.Queue[dict[str, Any]] = queue.Queue()
    ready = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.on_connect = lambda c, *_: (c.subscribe("telemetry/lab/vision/#", qos=1), None)[1]
    client.on_subscribe = lambda *_: ready.set()
    client.on_message = lambda _c, _u, msg: received.put({"topic": msg.topic, **json.loads(msg.payload)})
    client.connect(mosquitto.host, mosquitto.port)
    client.loop_start()
    assert ready.wait(10)
    yield received
    client.loop_stop()
    client.disconnect()


@pytest.fixture
def telemetry_service(run_service: RunService, mosquitto: Mosquitto, model: FakeOpenAI) -> ServiceProcess:
    """The real service publishing telemetry to Mosquitto for site ``lab``, with a 200 kB body limit."""
    return run_service(
        "mathnotes-vision",
        {"DASHSCOPE_API_KEY": "sk-proc-secret-key", "DASHSCOPE_BASE_URL": model.base_url,
         "MQTT_URL": mosquitto.url, "SITE": "lab", "VISION_MAX_BODY_BYTES": "200000"},
    )  # fmt: skip


@pytest.fixture
def two_workers(run_service: RunService, model: FakeOpenAI) -> ServiceProcess:
    """The real service with two workers and 4 requests per rate-limit window."""
    return run_service("mathnotes-vision", service_env(model, VISION_WORKERS="2", RATE_LIMIT_MAX_REQUESTS="4"))


def chunked(data: bytes, size: int = 16384) -> Iterator[bytes]:
    """``data`` sent with ``Transfer-Encoding: chunked``: no Content-Length to judge it by."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


def test_a_chunked_body_over_the_limit_is_413_not_cut(telemetry_service: ServiceProcess, model: FakeOpenAI) -> None:
    """gunicorn passes a chunked body on; werkzeug would cut it at the limit and the rest went unnoticed."""
    url = f"{telemetry_service.url}/api/vision/analyze"
    for mime, body in (
        ("image/jpeg", b"\xff" * 300_000),
        ("application/json", b'{"image": "' + b"A" * 300_000 + b'"}'),
    ):
        resp = requests.post(url, data=chunked(body), headers={"Content-Type": mime}, timeout=30)
        assert resp.status_code == 413, (mime, resp.text)
        assert resp.json()["error"]["code"] == "payload_too_large" and "200000" in resp.json()["error"]["message"]
    at_limit = requests.post(url, data=chunked(b"\xff" * 200_000), headers={"Content-Type": "image/jpeg"}, timeout=30)
    assert at_limit.status_code == 415 and at_limit.json()["error"]["code"] == "unsupported_image_format"
    assert model.requests == []


def test_process_publishes_telemetry_and_drains_on_sigterm(
    telemetry_service: ServiceProcess, points: queue.Queue[dict[str, Any]], model: FakeOpenAI, note_jpeg: bytes
) -> None:
    proc, received = telemetry_service, points
    ready = requests.get(f"{proc.url}/ready", timeout=10)
    assert ready.status_code == 200 and ready.json()["backend"] == "openai"
    resp = requests.post(f"{proc.url}/api/vision/analyze", json={"image": b64(note_jpeg)}, timeout=30)
    assert resp.status_code == 200 and resp.json()["latex"]
    point = received.get(timeout=15)
    assert point["topic"] == "telemetry/lab/vision/requests"
    assert point["tags"] == {
        "status": "200", "task": "transcribe", "model": "qwen3-vl-plus", "backend": "openai", "cached": "false"
    }  # fmt: skip
    assert point["fields"]["bytes_received"] == len(note_jpeg) and point["fields"]["prompt_tokens"] > 0
    assert point["fields"]["latency_ms"] > 0 and isinstance(point["ts"], int)

    too_big = requests.post(
        f"{proc.url}/api/vision/analyze", data=b"\xff" * 1_000_000,
        headers={"Content-Type": "image/jpeg"}, timeout=30,
    )  # fmt: skip
    assert too_big.status_code == 413 and too_big.json()["error"]["code"] == "payload_too_large"

    metrics = requests.get(f"{proc.url}/metrics", timeout=5).text
    assert 'vision_requests_total{model="qwen3-vl-plus",status="200",task="transcribe"} 1.0' in metrics

    model.script(Reply(delay=2.0, content="slow but complete"))
    result: dict[str, Any] = {}
    slow = threading.Thread(
        target=lambda: result.update(
            resp=requests.post(
                f"{proc.url}/api/vision/analyze", json={"image": b64(note_jpeg), "cache": False}, timeout=30
            )
        )
    )
    slow.start()
    assert wait_until(lambda: len(model.requests) == 2, 15)  # the slow request is with the model
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    slow.join(10)
    assert result["resp"].status_code == 200 and result["resp"].json()["markdown"] == "slow but complete"
    log = proc.log_text()
    assert "sk-proc-secret-key" not in log
    statuses = []
    while not received.empty():
        statuses.append(received.get()["tags"]["status"])
    assert "200" in statuses  # the drained request's point was flushed before exit


def test_workers_share_cache_limits_and_metrics(
    two_workers: ServiceProcess, model: FakeOpenAI, note_jpeg: bytes
) -> None:
    proc = two_workers
    statuses, cached = [], []
    for _ in range(8):  # a new connection each time: the kernel spreads them over both workers
        resp = requests.post(
            f"{proc.url}/api/vision/analyze",
            json={"image": b64(note_jpeg)},
            headers={"Connection": "close"},
            timeout=30,
        )
        statuses.append(resp.status_code)
        if resp.status_code == 200:
            cached.append(resp.json()["cached"])
    assert statuses == [200] * 4 + [429] * 4
    assert cached == [False, True, True, True] and len(model.requests) == 1
    for _ in range(4):  # whichever worker answers the scrape, it reports every worker's counts
        metrics = requests.get(f"{proc.url}/metrics", headers={"Connection": "close"}, timeout=5).text
        assert 'vision_requests_total{model="qwen3-vl-plus",status="200",task="transcribe"} 4.0' in metrics
        assert "vision_rate_limited_total 4.0" in metrics
    assert proc.stop() == 0


def test_a_stop_signal_landing_while_a_worker_boots_is_kept() -> None:
    """gunicorn's child runs the master's copied handler until its own are set: that SIGTERM must not be lost."""
    from types import SimpleNamespace

    from mathnotes.vision.serving import _post_fork

    pending: queue.SimpleQueue[int] = queue.SimpleQueue()
    pending.put(signal.SIGCHLD)
    pending.put(signal.SIGTERM)  # arrived after fork, queued by the copied master handler
    worker = SimpleNamespace(alive=True)
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)}
    try:
        _post_fork(SimpleNamespace(SIG_QUEUE=pending), worker)
        assert worker.alive is False
        worker.alive = True
        signal.raise_signal(signal.SIGTERM)  # and one arriving before gunicorn's own handlers
        assert worker.alive is False
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
