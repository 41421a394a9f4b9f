"""The fixtures are real servers: each one is exercised through its real protocol, and none outlives pytest."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import openai
import paho.mqtt.client as mqtt
import pytest
from influxdb_client import InfluxDBClient, Point
from influxdb_client.client.write_api import SYNCHRONOUS

from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.servers import InfluxDB1, Mosquitto, VictoriaMetrics, wait_until

from .procfs import descendants, stat

REPO = Path(__file__).resolve().parents[1]


def test_message_round_trips_through_mosquitto(mosquitto: Mosquitto) -> None:
    got: list[tuple[str, bytes, int]] = []
    arrived, subscribed = threading.Event(), threading.Event()

    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="smoke-sub")
    sub.on_message = lambda _c, _u, msg: (got.append((msg.topic, msg.payload, msg.qos)), arrived.set())
    sub.on_subscribe = lambda *_: subscribed.set()
    sub.connect(mosquitto.host, mosquitto.port)
    sub.subscribe("smoke/#", qos=1)
    sub.loop_start()
    assert subscribed.wait(10), "no SUBACK"
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="smoke-pub")
    pub.connect(mosquitto.host, mosquitto.port)
    pub.loop_start()
    pub.publish("smoke/a/b", b"21.5", qos=1).wait_for_publish(5)
    assert arrived.wait(5)
    for client in (sub, pub):
        client.loop_stop()
        client.disconnect()
    assert got == [("smoke/a/b", b"21.5", 1)]


def test_points_come_back_from_influxql(influxdb: InfluxDB1) -> None:
    influxdb.create_database("smoke")
    influxdb.write(
        "smoke",
        [
            "temp,site=s1,device=d1 value=21.5 1700000000000000000",
            "temp,site=s1,device=d2 value=19 1700000001000000000",
        ],
    )
    rows = influxdb.values('SELECT "value", "device" FROM "temp" ORDER BY time', db="smoke")
    assert [r[1:] for r in rows] == [[21.5, "d1"], [19, "d2"]]
    mean = influxdb.values('SELECT mean("value") FROM "temp" WHERE "site" = \'s1\'', db="smoke")
    assert mean[0][1] == pytest.approx(20.25)


def test_influxdb_client_v2_writes_land_in_victoria_metrics(victoria: VictoriaMetrics) -> None:
    with InfluxDBClient(url=victoria.url, token="unused", org="mathnotes") as client:
        write = client.write_api(write_options=SYNCHRONOUS)
        write.write(
            bucket="telemetry",
            record=[
                Point("smoke").tag("device", "d1").field("value", 1.5).time(1_700_000_000_000_000_000),
                Point("smoke").tag("device", "d1").field("value", 2.5).time(1_700_000_060_000_000_000),
            ],
        )
    series = [s for s in victoria.export('{__name__="smoke_value"}') if s["metric"].get("device") == "d1"]
    assert len(series) == 1
    assert series[0]["values"] == [1.5, 2.5]
    assert series[0]["timestamps"] == [1_700_000_000_000, 1_700_000_060_000]


def test_openai_sdk_gets_plain_and_streamed_completions(model: FakeOpenAI) -> None:
    client = openai.OpenAI(base_url=model.base_url, api_key="sk-test", max_retries=0)
    plain = client.chat.completions.create(model="qwen3-vl-plus", messages=[{"role": "user", "content": "hi"}])
    assert plain.choices[0].message.content == model.responder({})
    assert plain.usage is not None and plain.usage.total_tokens > 0

    model.script(Reply(content="streamed $a^2$ answer"))
    stream = client.chat.completions.create(
        model="qwen3-vl-plus",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces, usage = [], None
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        usage = chunk.usage or usage
    assert len(pieces) > 1 and "".join(pieces) == "streamed $a^2$ answer"
    assert usage is not None and usage.completion_tokens > 0
    assert [r["body"]["model"] for r in model.requests] == ["qwen3-vl-plus", "qwen3-vl-plus"]
    assert model.requests[0]["headers"]["authorization"] == "Bearer sk-test"


def test_fake_model_scripted_errors_reach_the_sdk(model: FakeOpenAI) -> None:
    client = openai.OpenAI(base_url=model.base_url, api_key="sk-test", max_retries=0, timeout=2)
    messages = [{"role": "user", "content": "x"}]
    model.script(
        Reply(status=429, headers={"Retry-After": "7"}),
        Reply(status=503),
        Reply(malformed=True),
        Reply(drop=True),
        Reply(delay=3),
    )
    with pytest.raises(openai.RateLimitError) as rate:
        client.chat.completions.create(model="m", messages=messages)  # type: ignore[arg-type]
    assert rate.value.response.headers["Retry-After"] == "7"
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="m", messages=messages)  # type: ignore[arg-type]
    with pytest.raises(json.JSONDecodeError):
        client.chat.completions.create(model="m", messages=messages)  # type: ignore[arg-type]
    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model="m", messages=messages)  # type: ignore[arg-type]
    with pytest.raises(openai.APITimeoutError):
        client.chat.completions.create(model="m", messages=messages)  # type: ignore[arg-type]
    assert len(model.requests) == 5


# --- servers do not outlive a stopped pytest -----------------------------------------------------------------

HOLDING_TEST = '''
import os
import time
from pathlib import Path


def test_hold(mosquitto, influxdb, victoria, postgres, front):
    """Every kind of fixture server is up (front: nginx, vision, ingest); then wait to be stopped."""
    Path(os.environ["HOLD_READY_FILE"]).write_text("ready")
    time.sleep(600)  # held until the outer test signals this pytest (600 s: only a ceiling); nothing to wait on
'''


def _descendants(root: int) -> dict[int, tuple[str, str]]:
    """{pid: (start time, command line)} of every live process below ``root``."""
    found: dict[int, tuple[str, str]] = {}
    for pid in descendants(root):
        if (fields := stat(pid)) is not None:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            found[pid] = (fields[19], cmd.strip())
    return found


def _still_running(procs: dict[int, tuple[str, str]]) -> list[str]:
    """The processes of ``procs`` still running (the same start time: not a reused pid; zombies count as gone)."""
    alive = []
    for pid, (started, cmd) in procs.items():
        fields = stat(pid)
        if fields is not None and fields[0] not in "ZX" and fields[19] == started:
            alive.append(f"{pid} {cmd}")
    return alive


@pytest.fixture
def holding_pytest(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A child pytest whose one test holds every kind of fixture server, once they are all up (killed
    afterwards if the test left it running)."""
    (tmp_path / "test_hold.py").write_text(HOLDING_TEST)
    ready = tmp_path / "ready"
    child = subprocess.Popen(
        [
            sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.conftest",
            "-p", "tests.deploy.conftest", f"--basetemp={tmp_path / 'basetemp'}", str(tmp_path / "test_hold.py"),
        ],
        cwd=REPO, env={**os.environ, "HOLD_READY_FILE": str(ready)}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True,  # a signal for the child is not one for this pytest
    )  # fmt: skip
    try:
        assert wait_until(lambda: ready.exists() or child.poll() is not None, 180), "the servers never came up"
        assert child.poll() is None, (child.stdout.read() if child.stdout else b"").decode()
        yield child
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_fixture_servers_stop_with_a_stopped_pytest(
    holding_pytest: subprocess.Popen[bytes], sig: signal.Signals
) -> None:
    child = holding_pytest
    servers = _descendants(child.pid)
    # the first words of each command line: "…/python …/mathnotes-vision", "nginx: master process …/nginx"
    names = {Path(word).name for _, cmd in servers.values() for word in cmd.split()[:4]}
    assert {
        "mosquitto",
        "influxd",
        "victoria-metrics",
        "postgres",
        "nginx",
        "mathnotes-vision",
        "mathnotes-ingest",
    } <= names
    os.kill(child.pid, sig)
    output = child.communicate(timeout=120)[0].decode(errors="replace")
    assert child.returncode == (2 if sig == signal.SIGTERM else -signal.SIGKILL), output  # 2: pytest interrupted
    # a generous ceiling, not a timing claim: the servers drain and exit on their own SIGTERM
    wait_until(lambda: not _still_running(servers), 60, 0.2)
    assert _still_running(servers) == [], output[-3000:]
