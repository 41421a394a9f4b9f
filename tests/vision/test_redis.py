"""With REDIS_URL, replicas share the answer cache and the rate limits (a real redis-server)."""

from __future__ import annotations

import uuid

from tests.support.fake_openai import FakeOpenAI
from tests.support.servers import free_port

from .helpers import AppFactory, Redis, b64, encode, render_text

URL = "/api/vision/analyze"


def test_two_replicas_share_cache_and_limits(make_app: AppFactory, redis_server: Redis, model: FakeOpenAI) -> None:
    photo = b64(encode(render_text([f"unique {uuid.uuid4().hex[:8]}"])))
    env = {"REDIS_URL": redis_server.url, "RATE_LIMIT_MAX_REQUESTS": "3", "RATE_LIMIT_WINDOW_MS": "60000"}
    _a, first = make_app(env)
    _b, second = make_app(env)
    ip = {"REMOTE_ADDR": f"203.0.113.{uuid.uuid4().int % 250}"}
    one = first.post(URL, json={"image": photo}, environ_base=ip)
    assert one.status_code == 200 and one.get_json()["cached"] is False
    two = second.post(URL, json={"image": photo}, environ_base=ip)
    assert two.status_code == 200 and two.get_json()["cached"] is True
    assert two.get_json()["markdown"] == one.get_json()["markdown"]
    assert len(model.requests) == 1
    assert two.headers["RateLimit-Remaining"] == "1"
    assert first.post(URL, json={"image": photo}, environ_base=ip).status_code == 200
    limited = second.post(URL, json={"image": photo}, environ_base=ip)
    assert limited.status_code == 429 and 1 <= int(limited.headers["Retry-After"]) <= 60
    assert second.get("/ready").get_json()["checks"]["cache"] == "ok"


def test_redis_down_means_misses_and_open_limits_not_errors(make_app: AppFactory, model: FakeOpenAI) -> None:
    _app, client = make_app({"REDIS_URL": f"redis://127.0.0.1:{free_port()}/0", "RATE_LIMIT_MAX_REQUESTS": "1"})
    photo = b64(encode(render_text(["redis down"])))
    for _ in range(3):
        resp = client.post(URL, json={"image": photo})
        assert resp.status_code == 200 and resp.get_json()["cached"] is False
    assert len(model.requests) == 3
    ready = client.get("/ready")
    assert ready.status_code == 503 and ready.get_json()["checks"]["cache"] == "unreachable"
