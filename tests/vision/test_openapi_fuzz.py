"""schemathesis against /openapi.json: generated requests never make our code answer 5xx."""

from __future__ import annotations

import json

import pytest
import schemathesis

from tests.support.fake_openai import DEFAULT_CONTENT, FakeOpenAI
from tests.support.openapi_fuzz import assert_json_error, fuzz_operation, missing_from_spec

from .helpers import AppFactory, b64
from .notes_helpers import page_jpeg as note_page

OPERATIONS = [
    ("POST", "/api/vision/analyze", 150),
    ("GET", "/api/vision/schema", 5),
    ("GET", "/health", 5),
    ("GET", "/ready", 5),
    ("GET", "/metrics", 5),
    ("GET", "/openapi.json", 5),
]


# POST /api/notes/import takes JSON Lines: the generated strings go as they are (text)
schemathesis.serializer.alias("application/x-ndjson", "text/plain")

NOTES_OPERATIONS = [
    ("GET", "/api/notes", 120),
    ("POST", "/api/notes/search", 60),
    ("GET", "/api/notes/export", 10),
    ("POST", "/api/notes/import", 60),
    ("GET", "/api/notes/{id}", 20),
    ("GET", "/api/notes/{id}/image", 10),
    ("PATCH", "/api/notes/{id}", 60),
    ("DELETE", "/api/notes/{id}", 10),
]


@pytest.mark.parametrize(("method", "path", "examples"), OPERATIONS)
def test_generated_requests_get_no_5xx_from_our_code(
    make_app: AppFactory, model: FakeOpenAI, method: str, path: str, examples: int
) -> None:
    _fuzz(make_app, model, {}, method, path, examples)


@pytest.mark.parametrize(("method", "path", "examples"), NOTES_OPERATIONS)
def test_generated_notes_requests_get_no_5xx_on_either_database(
    make_app: AppFactory, model: FakeOpenAI, notes_env: dict[str, str], method: str, path: str, examples: int
) -> None:
    _fuzz(make_app, model, notes_env, method, path, examples)


def _fuzz(make_app: AppFactory, model: FakeOpenAI, env: dict[str, str], method: str, path: str, examples: int) -> None:
    # the stand-in answers like a good model: JSON when the JSON preset asks for it, Markdown otherwise
    model.responder = lambda body: (
        '{"problems": []}' if "ONE JSON object" in json.dumps(body.get("messages", "")) else DEFAULT_CONTENT
    )
    app, client = make_app({**env, "RATE_LIMIT_MAX_REQUESTS": "1000000000", "VISION_RETRIES": "0"})
    if path.startswith("/api/notes"):  # something to find, change and export
        assert client.post("/api/vision/analyze", json={"image": b64(note_page())}).status_code == 200

    def check(case: schemathesis.Case, response: schemathesis.Response) -> None:
        if response.status_code >= 500:  # only the model's failures may be 5xx, and this model does not fail
            pytest.fail(f"{case.method} {case.path} -> {response.status_code}: {response.text[:300]}")
        if response.status_code >= 400:
            assert_json_error(response)

    assert fuzz_operation(app, method, path, examples, check)


def test_the_spec_loads_and_lists_every_route(make_app: AppFactory) -> None:
    app, _client = make_app()
    assert missing_from_spec(app, [(m, p) for m, p, _ in OPERATIONS + NOTES_OPERATIONS]) == set()
