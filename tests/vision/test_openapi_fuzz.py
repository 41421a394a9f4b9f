"""schemathesis against /openapi.json: generated requests never make our code answer 5xx."""

from __future__ import annotations

import json

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.support.fake_openai import DEFAULT_CONTENT, FakeOpenAI

from .helpers import AppFactory

OPERATIONS = [
    ("POST", "/api/vision/analyze", 150),
    ("GET", "/api/vision/schema", 5),
    ("GET", "/health", 5),
    ("GET", "/ready", 5),
    ("GET", "/metrics", 5),
    ("GET", "/openapi.json", 5),
]


@pytest.mark.parametrize(("method", "path", "examples"), OPERATIONS)
def test_generated_requests_get_no_5xx_from_our_code(
    make_app: AppFactory, model: FakeOpenAI, method: str, path: str, examples: int
) -> None:
    # the stand-in answers like a good model: JSON when the JSON preset asks for it, Markdown otherwise
    model.responder = lambda body: (
        '{"problems": []}' if "ONE JSON object" in json.dumps(body.get("messages", "")) else DEFAULT_CONTENT
    )
    app, _client = make_app({"RATE_LIMIT_MAX_REQUESTS": "1000000000", "VISION_RETRIES": "0"})
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    operation = schema[path][method]
    seen: set[int] = set()

    @given(operation.as_strategy())
    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case: schemathesis.Case) -> None:
        response = case.call()
        seen.add(response.status_code)
        if response.status_code >= 500:  # only the model's failures may be 5xx, and this model does not fail
            pytest.fail(f"{case.method} {case.path} -> {response.status_code}: {response.text[:300]}")
        if response.status_code >= 400:
            assert set(response.json()["error"]) >= {"code", "message", "request_id"}

    check()
    assert seen


def test_the_spec_loads_and_lists_every_route(make_app: AppFactory) -> None:
    app, _client = make_app()
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    found = {(op.ok().method.upper(), op.ok().path) for op in schema.get_all_operations()}
    assert {(m, p) for m, p, _ in OPERATIONS if p != "/openapi.json"} <= found
