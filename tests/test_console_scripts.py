"""Both console scripts start, answer /health, log one line per request, and drain on SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess

import pytest
import requests

from tests.support.servers import Mosquitto, RunService, console_script


@pytest.mark.parametrize("script", ["mathnotes-vision", "mathnotes-ingest"])
def test_serves_health_logs_requests_and_exits_zero_on_sigterm(
    script: str, run_service: RunService, mosquitto: Mosquitto
) -> None:
    proc = run_service(script, {"LOG_FORMAT": "json", "MQTT_URL": mosquitto.url})
    health = requests.get(f"{proc.url}/health", headers={"X-Request-ID": "smoke-1"}, timeout=5)
    assert health.status_code in (200, 503)
    assert health.headers["X-Request-ID"] == "smoke-1"
    assert health.json()["status"] in {"ok", "degraded"}
    missing = requests.get(f"{proc.url}/no/such/path", timeout=5)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    assert missing.json()["error"]["request_id"] == missing.headers["X-Request-ID"]

    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{script} still running 30 s after SIGTERM; its log:\n{proc.log_text()[-4000:]}")
    assert code == 0, proc.log_text()[-4000:]
    lines = [json.loads(line) for line in proc.log_text().splitlines() if line.startswith("{")]
    logged = [e for e in lines if e.get("logger") == "mathnotes.http" and e.get("request_id") == "smoke-1"]
    assert len(logged) == 1
    assert (logged[0]["method"], logged[0]["path"], logged[0]["status"]) == ("GET", "/health", health.status_code)


@pytest.mark.parametrize(
    ("script", "env", "needle"),
    [
        ("mathnotes-vision", {"PORT": "not-a-port"}, "PORT: expected an integer from 1 to 65535"),
        ("mathnotes-ingest", {"INFLUX_API": "v3"}, "INFLUX_API: expected one of v1, v2"),
        ("mathnotes-ingest", {"MQTT_URL": "broker:1883"}, "MQTT_URL: expected a URL like"),
    ],
)
def test_bad_environment_value_is_one_line_and_exit_2(script: str, env: dict[str, str], needle: str) -> None:
    result = subprocess.run(
        [console_script(script)], env={"PATH": "/usr/bin:/bin", **env}, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], result.stderr
    assert "Traceback" not in result.stderr
