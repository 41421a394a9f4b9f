"""Auth, rate limits, CORS, the body limit, the answer cache, /metrics and /openapi.json."""

from __future__ import annotations

import io
import logging

import jsonschema
import pytest
from flask import abort

from tests.support.fake_openai import FakeOpenAI, Reply

from .helpers import AppFactory, b64

URL = "/api/vision/analyze"


def test_bearer_keys_guard_the_api_but_not_health(make_app: AppFactory, note_jpeg: bytes) -> None:
    _app, client = make_app({"VISION_API_KEYS": "client-key-1,client-key-2"})
    body = {"image": b64(note_jpeg)}
    denied = client.post(URL, json=body)
    assert denied.status_code == 401 and denied.get_json()["error"]["code"] == "unauthorized"
    assert denied.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.post(URL, json=body, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.post(URL, json=body, headers={"Authorization": "Bearer client-key-2"}).status_code == 200
    assert client.post(URL, json=body, headers={"X-API-Key": "client-key-1"}).status_code == 200
    assert client.get("/health").status_code == 200 and client.get("/metrics").status_code == 200


def test_open_api_logs_a_warning(make_app: AppFactory, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        make_app()
    assert "VISION_API_KEYS is empty" in caplog.text


def test_rate_limit_per_key_or_ip_with_headers(make_app: AppFactory, note_jpeg: bytes) -> None:
    _app, client = make_app(
        {"RATE_LIMIT_MAX_REQUESTS": "2", "RATE_LIMIT_WINDOW_MS": "60000", "VISION_API_KEYS": "k1,k2"}
    )
    body = {"image": b64(note_jpeg)}
    first = client.post(URL, json=body, headers={"Authorization": "Bearer k1"})
    assert first.headers["RateLimit-Limit"] == "2" and first.headers["RateLimit-Remaining"] == "1"
    assert first.headers["RateLimit-Policy"] == "2;w=60"
    assert client.post(URL, json=body, headers={"Authorization": "Bearer k1"}).status_code == 200
    third = client.post(URL, json=body, headers={"Authorization": "Bearer k1"})
    assert third.status_code == 429 and third.get_json()["error"]["code"] == "rate_limited"
    assert 1 <= int(third.headers["Retry-After"]) <= 60
    assert third.headers["RateLimit-Remaining"] == "0" and int(third.headers["RateLimit-Reset"]) <= 60
    assert client.post(URL, json=body, headers={"Authorization": "Bearer k2"}).status_code == 200  # its own bucket
    # unauthenticated callers are counted per IP, and failed attempts count too
    for _ in range(2):
        assert client.post(URL, json=body, environ_base={"REMOTE_ADDR": "10.9.8.7"}).status_code == 401
    assert client.post(URL, json=body, environ_base={"REMOTE_ADDR": "10.9.8.7"}).status_code == 429
    assert client.get("/health").status_code == 200  # not limited
    assert "vision_rate_limited_total 2.0" in client.get("/metrics").get_data(as_text=True)


def test_forwarded_for_counts_only_behind_a_trusted_proxy(make_app: AppFactory, note_jpeg: bytes) -> None:
    body = {"image": b64(note_jpeg)}
    _app, direct = make_app({"RATE_LIMIT_MAX_REQUESTS": "1"})
    assert direct.post(URL, json=body, headers={"X-Forwarded-For": "1.1.1.1"}).status_code == 200
    assert direct.post(URL, json=body, headers={"X-Forwarded-For": "2.2.2.2"}).status_code == 429
    _app, proxied = make_app({"RATE_LIMIT_MAX_REQUESTS": "1", "VISION_TRUSTED_PROXIES": "1"})
    assert proxied.post(URL, json=body, headers={"X-Forwarded-For": "1.1.1.1"}).status_code == 200
    assert proxied.post(URL, json=body, headers={"X-Forwarded-For": "2.2.2.2"}).status_code == 200
    assert proxied.post(URL, json=body, headers={"X-Forwarded-For": "1.1.1.1"}).status_code == 429


def test_cors_origins(make_app: AppFactory, note_jpeg: bytes) -> None:
    _app, client = make_app({"CORS_ORIGINS": "https://notes.example.cn"})
    pre = client.options(
        URL,
        headers={"Origin": "https://notes.example.cn", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization,content-type"},
    )  # fmt: skip
    assert pre.status_code == 204
    assert pre.headers["Access-Control-Allow-Origin"] == "https://notes.example.cn"
    assert "POST" in pre.headers["Access-Control-Allow-Methods"]
    assert "Authorization" in pre.headers["Access-Control-Allow-Headers"]
    ok = client.post(URL, json={"image": b64(note_jpeg)}, headers={"Origin": "https://notes.example.cn"})
    assert ok.headers["Access-Control-Allow-Origin"] == "https://notes.example.cn"
    assert "X-Request-ID" in ok.headers["Access-Control-Expose-Headers"]
    other = client.post(URL, json={"image": b64(note_jpeg)}, headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    pre_other = client.options(URL, headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert "Access-Control-Allow-Origin" not in pre_other.headers


def test_body_limit_is_413_json_before_parsing(make_app: AppFactory, model: FakeOpenAI) -> None:
    _app, client = make_app({"VISION_MAX_BODY_BYTES": "4096"})
    big = b"x" * 10_000
    for kwargs in (
        {"data": b'{"image": "' + big + b'"}', "content_type": "application/json"},
        {"data": {"file": (io.BytesIO(big), "a.jpg")}, "content_type": "multipart/form-data"},
        {"data": big, "content_type": "image/jpeg"},
    ):
        resp = client.post(URL, **kwargs)
        assert resp.status_code == 413
        error = resp.get_json()["error"]
        assert error["code"] == "payload_too_large" and "4096" in error["message"]
    assert model.requests == []


def test_a_413_werkzeug_raises_has_the_same_name(make_app: AppFactory) -> None:
    """The shared mapping of werkzeug's HTTP errors says ``payload_too_large`` too (one name per status)."""
    app, client = make_app()
    app.add_url_rule("/too-large", "too_large", lambda: abort(413), methods=["POST"])
    resp = client.post("/too-large", data=b"x")
    assert resp.status_code == 413
    assert resp.get_json()["error"]["code"] == "payload_too_large"


def test_cache_hits_identical_requests_and_can_be_bypassed(client: object, model: FakeOpenAI, note_jpeg: bytes) -> None:
    from flask.testing import FlaskClient

    assert isinstance(client, FlaskClient)
    body = {"image": b64(note_jpeg), "task": "solve", "prompt": "p"}
    first = client.post(URL, json=body).get_json()
    second = client.post(URL, json=body).get_json()
    assert first["cached"] is False and second["cached"] is True
    assert second["markdown"] == first["markdown"] and second["id"] != first["id"]
    assert len(model.requests) == 1
    client.post(URL, json={**body, "task": "explain"})
    client.post(URL, json={**body, "prompt": "other"})
    client.post(URL, json={**body, "cache": False})
    assert len(model.requests) == 4
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'vision_cache_lookups_total{result="hit"} 1.0' in metrics
    assert 'vision_cache_lookups_total{result="miss"} 3.0' in metrics


def test_failures_are_not_cached(client: object, model: FakeOpenAI, note_jpeg: bytes) -> None:
    from flask.testing import FlaskClient

    assert isinstance(client, FlaskClient)
    model.script(Reply(status=400))
    assert client.post(URL, json={"image": b64(note_jpeg)}).status_code == 502
    assert client.post(URL, json={"image": b64(note_jpeg)}).get_json()["cached"] is False


def test_metrics_cover_requests_latency_tokens_and_bytes(make_app: AppFactory, note_jpeg: bytes) -> None:
    _app, client = make_app()
    client.post(URL, json={"image": b64(note_jpeg), "task": "explain"})
    client.post(URL, json={"image": "!!"})
    client.post(URL, data=b"{", content_type="application/json")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'vision_requests_total{model="qwen3-vl-plus",status="200",task="explain"} 1.0' in text
    assert 'vision_requests_total{model="none",status="400",task="transcribe"} 1.0' in text
    assert 'vision_requests_total{model="none",status="400",task="unknown"} 1.0' in text
    assert 'vision_request_duration_seconds_count{cached="false",task="explain"} 1.0' in text
    assert 'vision_tokens_total{kind="prompt",model="qwen3-vl-plus"}' in text
    assert 'vision_image_bytes_total{direction="received"}' in text
    assert "vision_upstream_duration_seconds_bucket" in text and "vision_preprocess_duration_seconds_bucket" in text
    assert "vision_requests_in_flight 0.0" in text


def test_openapi_document_is_valid_and_complete(make_app: AppFactory) -> None:
    _app, client = make_app({"VISION_API_KEYS": "k"})
    doc = client.get("/openapi.json").get_json()
    assert doc["openapi"].startswith("3.1")
    for schema in doc["components"]["schemas"].values():
        jsonschema.Draft202012Validator.check_schema(schema)
    assert set(doc["paths"]) >= {"/api/vision/analyze", "/health", "/ready", "/metrics", "/openapi.json"}
    post = doc["paths"]["/api/vision/analyze"]["post"]
    assert set(post["requestBody"]["content"]) == {"application/json", "multipart/form-data", "image/*"}
    assert {"200", "400", "401", "413", "422", "429", "502", "504"} <= set(post["responses"])
    assert post["security"] == [{"bearer": []}]
    schema = client.get("/api/vision/schema").get_json()
    assert schema == doc["components"]["schemas"]["Structured"]
