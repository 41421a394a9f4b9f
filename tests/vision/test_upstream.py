"""Every upstream error path against the fake model: retries, Retry-After, fallbacks, DashScope errors."""

from __future__ import annotations

import dataclasses
import email.utils
import logging

import pytest

from mathnotes.common.settings import ConfigError, load
from mathnotes.vision.metrics import VisionMetrics
from mathnotes.vision.settings import VisionSettings
from mathnotes.vision.upstream import Completion, Upstream, UpstreamError, retry_after_seconds
from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.servers import free_port

from .helpers import API_KEY, AppFactory, Settings, Sleeps, b64

URL = "/api/vision/analyze"


def complete(upstream: Upstream) -> Completion:
    """The whole answer to one plain (not streamed) call, as the analyzer asks for it."""
    items = list(upstream.stream([{"role": "user", "content": "image here"}], client_streams=False))
    assert isinstance(items[-1], Completion)
    return items[-1]


@pytest.fixture
def photo(note_jpeg: bytes) -> dict[str, object]:
    return {"image": b64(note_jpeg), "cache": False}


def test_429_is_retried_after_retry_after(make_app: AppFactory, model: FakeOpenAI, photo: dict[str, object]) -> None:
    sleeps = Sleeps()
    _app, client = make_app(sleeps=sleeps)
    model.script(Reply(status=429, headers={"Retry-After": "3"}), Reply(status=503), Reply(content="$1+1$"))
    resp = client.post(URL, json=photo)
    assert resp.status_code == 200 and resp.get_json()["latex"] == ["1+1"]
    assert len(model.requests) == 3
    assert sleeps[0] >= 3.0 and sleeps[1] < 3.0
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'vision_upstream_errors_total{kind="rate_limited",model="qwen3-vl-plus"} 1.0' in metrics
    assert 'vision_upstream_errors_total{kind="server_error",model="qwen3-vl-plus"} 1.0' in metrics
    assert 'vision_upstream_retries_total{model="qwen3-vl-plus"} 2.0' in metrics


def test_backoff_grows_with_jitter(make_settings: Settings, model: FakeOpenAI) -> None:
    sleeps = Sleeps()
    upstream = Upstream(make_settings({"VISION_RETRIES": "4", "VISION_BACKOFF_S": "1"}), VisionMetrics(), sleep=sleeps)
    model.default = Reply(status=502)
    with pytest.raises(UpstreamError) as err:
        complete(upstream)
    assert err.value.status == 502 and err.value.code == "upstream_unavailable"
    assert len(sleeps) == 4 and len(model.requests) == 5
    assert all(0 <= s <= 2**i for i, s in enumerate(sleeps))


@pytest.mark.parametrize(
    ("reply", "status", "code"),
    [
        (Reply(status=429, headers={"Retry-After": "0"}), 503, "upstream_rate_limited"),
        (Reply(status=500), 502, "upstream_unavailable"),
        (Reply(drop=True), 502, "upstream_unavailable"),
        (Reply(malformed=True), 502, "upstream_bad_response"),
        (Reply(content=""), 502, "upstream_bad_response"),
        (Reply(status=400, body={"error": {"message": "image too small", "code": "invalid_parameter"}}), 502,
         "upstream_bad_request"),
        (Reply(status=404), 502, "upstream_bad_request"),
    ],
)  # fmt: skip
def test_exhausted_failures_map_to_clear_errors(
    make_app: AppFactory, model: FakeOpenAI, photo: dict[str, object], reply: Reply, status: int, code: str
) -> None:
    _app, client = make_app({"VISION_RETRIES": "1"}, sleeps=Sleeps())
    model.default = reply
    resp = client.post(URL, json=photo)
    assert resp.status_code == status, resp.get_json()
    error = resp.get_json()["error"]
    assert error["code"] == code
    retried = code not in ("upstream_bad_request",)
    assert len(model.requests) == (2 if retried else 1)
    assert [a["model"] for a in error["details"]["attempts"]] == ["qwen3-vl-plus"] * len(model.requests)
    if code == "upstream_rate_limited":
        assert resp.headers["Retry-After"] == "1"


def test_timeout_per_attempt(make_app: AppFactory, model: FakeOpenAI, photo: dict[str, object]) -> None:
    _app, client = make_app({"VISION_TIMEOUT_S": "0.3", "VISION_RETRIES": "1"}, sleeps=Sleeps())
    model.script(Reply(delay=1.0), Reply(content="second try"))
    ok = client.post(URL, json=photo)
    assert ok.status_code == 200 and ok.get_json()["markdown"] == "second try"
    model.reset()
    model.default = Reply(delay=1.0)
    late = client.post(URL, json=photo)
    assert late.status_code == 504 and late.get_json()["error"]["code"] == "upstream_timeout"


def test_total_budget_stops_retrying(make_app: AppFactory, model: FakeOpenAI, photo: dict[str, object]) -> None:
    _app, client = make_app(
        {"VISION_TIMEOUT_S": "0.4", "VISION_TOTAL_TIMEOUT_S": "0.6", "VISION_RETRIES": "5"}, sleeps=Sleeps()
    )
    model.default = Reply(delay=1.0)
    resp = client.post(URL, json=photo)
    assert resp.status_code == 504
    assert len(model.requests) <= 2


def test_401_says_key_rejected_and_never_shows_it(
    make_app: AppFactory, model: FakeOpenAI, photo: dict[str, object], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    _app, client = make_app()
    model.default = Reply(
        status=401, body={"error": {"message": f"Incorrect API key provided: {API_KEY}", "code": "invalid_api_key"}}
    )
    resp = client.post(URL, json=photo)
    assert resp.status_code == 502
    assert resp.get_json()["error"]["code"] == "upstream_auth"
    assert resp.get_json()["error"]["message"] == "upstream rejected the API key"
    assert API_KEY not in resp.get_data(as_text=True)
    assert API_KEY not in caplog.text
    assert len(model.requests) == 1  # not retried


@pytest.mark.parametrize(
    "body",
    [
        {"error": {"message": "Input data may contain inappropriate content.", "type": "data_inspection_failed",
                   "code": "data_inspection_failed"}},
        {"code": "DataInspectionFailed", "message": "Input data may contain inappropriate content.", "request_id": "x"},
    ],
)  # fmt: skip
def test_data_inspection_failed_is_422_and_not_sent_elsewhere(
    make_app: AppFactory, model: FakeOpenAI, photo: dict[str, object], body: dict[str, object], second_model: FakeOpenAI
) -> None:
    _app, client = make_app({"VISION_FALLBACK_MODELS": f"qwen-vl-max@{second_model.base_url}"})
    model.default = Reply(status=400, body=body)
    resp = client.post(URL, json=photo)
    assert resp.status_code == 422
    assert resp.get_json()["error"]["code"] == "content_rejected"
    assert "DataInspectionFailed" in resp.get_json()["error"]["message"]
    assert second_model.requests == []


def test_fallback_models_each_with_their_own_endpoint_and_key(
    make_app: AppFactory, model: FakeOpenAI, photo: dict[str, object], second_model: FakeOpenAI
) -> None:
    sleeps = Sleeps()
    _app, client = make_app(
        {
            "VISION_RETRIES": "1",
            "VISION_FALLBACK_MODELS": f"qwen-vl-max, Qwen2.5-VL-7B@{second_model.base_url}",
            "VISION_FALLBACK_API_KEYS": ",vllm-key-123",
        },
        sleeps=sleeps,
    )
    model.default = Reply(status=503)
    second_model.default = Reply(content="from vllm $y$")
    resp = client.post(URL, json=photo)
    assert resp.status_code == 200
    assert resp.get_json()["model"] == "Qwen2.5-VL-7B" and resp.get_json()["latex"] == ["y"]
    assert [r["body"]["model"] for r in model.requests] == ["qwen3-vl-plus"] * 2 + ["qwen-vl-max"] * 2
    assert {r["headers"]["authorization"] for r in model.requests} == {f"Bearer {API_KEY}"}
    assert second_model.requests[0]["headers"]["authorization"] == "Bearer vllm-key-123"
    metrics = client.get("/metrics").get_data(as_text=True)
    assert "vision_upstream_fallbacks_total 2.0" in metrics


def test_long_retry_after_moves_on_to_the_next_model_at_once(
    make_app: AppFactory, model: FakeOpenAI, photo: dict[str, object], second_model: FakeOpenAI
) -> None:
    sleeps = Sleeps()
    _app, client = make_app({"VISION_FALLBACK_MODELS": f"backup@{second_model.base_url}"}, sleeps=sleeps)
    model.default = Reply(status=429, headers={"Retry-After": "120"})
    resp = client.post(URL, json=photo)
    assert resp.status_code == 200 and resp.get_json()["model"] == "backup"
    assert sleeps == [] and len(model.requests) == 1


def test_auth_failure_on_primary_falls_back(
    make_app: AppFactory, model: FakeOpenAI, photo: dict[str, object], second_model: FakeOpenAI
) -> None:
    _app, client = make_app({"VISION_FALLBACK_MODELS": f"backup@{second_model.base_url}"})
    model.default = Reply(status=401)
    resp = client.post(URL, json=photo)
    assert resp.status_code == 200 and resp.get_json()["model"] == "backup"


@pytest.mark.parametrize(
    "env",
    [
        {"VISION_MODEL": "deepseek-chat"},
        {"VISION_FALLBACK_MODELS": "deepseek-reasoner"},
        {"VISION_FALLBACK_MODELS": "some-model@https://api.deepseek.com/v1"},
    ],
)
def test_deepseek_is_refused_at_start_up(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as err:
        load(VisionSettings, {"DASHSCOPE_API_KEY": "k", **env}, env_file="/nonexistent")
    assert "takes no images" in str(err.value)


def test_a_deepseek_model_never_receives_an_image(
    make_settings: Settings, model: FakeOpenAI, second_model: FakeOpenAI
) -> None:
    settings = dataclasses.replace(
        make_settings({"VISION_RETRIES": "0"}), fallback_models=(("deepseek-chat", second_model.base_url),)
    )
    model.default = Reply(status=500)
    with pytest.raises(UpstreamError):
        complete(Upstream(settings, VisionMetrics(), sleep=Sleeps()))
    assert second_model.requests == [] and len(model.requests) == 1


def test_retry_after_forms() -> None:
    assert retry_after_seconds({"retry-after": "7"}) == 7.0
    assert retry_after_seconds({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    now = 1_700_000_000.0  # a fixed "now": the answer must not depend on how fast this line runs
    later = email.utils.formatdate(now + 30, usegmt=True)
    assert retry_after_seconds({"retry-after": later}, now=now) == 30.0
    assert retry_after_seconds({"retry-after": email.utils.formatdate(now - 5, usegmt=True)}, now=now) == 0.0
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({}) is None


def test_ready_probes_each_model_endpoint(make_app: AppFactory, model: FakeOpenAI) -> None:
    _app, client = make_app({"VISION_FALLBACK_MODELS": f"backup@http://127.0.0.1:{free_port()}/v1"})
    ready = client.get("/ready")
    assert ready.status_code == 200
    assert ready.get_json()["checks"]["upstream"] == {"qwen3-vl-plus": "ok", "backup": "connection"}
    _app, down = make_app({"DASHSCOPE_BASE_URL": f"http://127.0.0.1:{free_port()}/v1"})
    not_ready = down.get("/ready")
    assert not_ready.status_code == 503 and not_ready.get_json()["status"] == "not_ready"


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"VISION_FALLBACK_MODELS": "a", "VISION_FALLBACK_API_KEYS": "k1,k2"}, "more keys than"),
        ({"VISION_FETCH_ALLOW_NETWORKS": "localhost"}, "VISION_FETCH_ALLOW_NETWORKS: expected CIDR"),
        ({"VISION_FALLBACK_MODELS": "m@ftp://x"}, "VISION_FALLBACK_MODELS: expected an http"),
        ({"VISION_BACKEND": "gpu"}, "VISION_BACKEND: expected one of auto, openai, ocr"),
    ],
)
def test_bad_settings_are_one_clear_line(env: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        load(VisionSettings, env, env_file="/nonexistent")
    assert needle in str(err.value) and "\n" not in str(err.value)
