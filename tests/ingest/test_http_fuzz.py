"""Fuzz ``POST /api/ingest``: whatever arrives, the answer is 202 or a precise JSON error, never a 500.

The app runs in-process over a started service connected to the session's real Mosquitto and
InfluxDB 1.6, so accepted bodies are really written.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.openapi_fuzz import assert_json_error, fuzz_operation, missing_from_spec
from tests.support.servers import InfluxDB1, Mosquitto

from .helpers import in_process_service


@pytest.fixture(scope="module")
def client(
    mosquitto: Mosquitto, influxdb: InfluxDB1, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FlaskClient]:
    db = f"fuzz_{uuid.uuid4().hex[:6]}"
    spool = tmp_path_factory.mktemp("fuzz-spool")
    extra = {"INGEST_MAX_BODY_BYTES": "4096", "INGEST_FLUSH_MS": "50"}
    with in_process_service(mosquitto, influxdb, db, spool, **extra) as (_service, client):
        yield client


json_values: Any = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
envelopes = st.fixed_dictionaries(
    {"measurement": st.text(max_size=12), "fields": st.dictionaries(st.text(max_size=8), json_values, max_size=3)},
    optional={"ts": json_values, "tags": st.dictionaries(st.text(max_size=8), json_values, max_size=2)},
)
bodies = st.one_of(
    envelopes.map(json.dumps),
    st.lists(envelopes, max_size=3).map(json.dumps),
    json_values.map(lambda v: json.dumps(v, allow_nan=True)),
    st.text(max_size=200),
    st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
    st.just("[" * 5000),
    st.just("x" * 5000),
)
content_types = st.sampled_from(
    ["application/json", "text/plain", "text/plain; charset=utf-8", "application/octet-stream", "image/png", ""]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies, content_type=content_types)
def test_any_body_gets_202_or_a_json_error(client: FlaskClient, body: str, content_type: str) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    resp = client.post("/api/ingest", data=body.encode("utf-8", "surrogatepass"), headers=headers)
    assert resp.status_code in {202, 400, 413, 415}, (resp.status_code, resp.get_data()[:300])
    payload = resp.get_json()
    if resp.status_code == 202:
        assert payload["accepted"] >= 1 and payload["outcome"] == "written"
    else:
        error = payload["error"]
        assert error["code"] and error["message"] and error["request_id"] == resp.headers["X-Request-ID"]


OPERATIONS = [("POST", "/api/ingest", 150), ("GET", "/health", 5), ("GET", "/metrics", 5), ("GET", "/openapi.json", 5)]


@pytest.mark.parametrize(("method", "path", "examples"), OPERATIONS)
def test_requests_generated_from_our_openapi_spec_get_no_5xx(
    client: FlaskClient, method: str, path: str, examples: int
) -> None:
    """schemathesis builds requests (valid and not) from /openapi.json; none may make our code answer 500."""

    def check(case: schemathesis.Case, response: schemathesis.Response) -> None:
        assert response.status_code < 500 or path == "/health", f"{case.path} -> {response.text[:300]}"
        if response.status_code >= 400 and path == "/api/ingest":
            assert_json_error(response)
        if response.status_code == 202:
            assert response.json()["accepted"] >= 1

    seen = fuzz_operation(client.application, method, path, examples, check)
    assert seen
    if path == "/api/ingest":
        assert 202 in seen and 400 in seen  # the generator reached both the writer and the rejections


def test_the_spec_lists_every_route(client: FlaskClient) -> None:
    # the spec leaves itself out (missing_from_spec never names /openapi.json)
    assert missing_from_spec(client.application, [(m, p) for m, p, _ in OPERATIONS]) == set()
