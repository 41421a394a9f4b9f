"""schemathesis against a Flask app's own OpenAPI document, in-process (the WSGI app, no socket).

:func:`fuzz_operation` generates requests, valid and not, for one operation of the app's
``/openapi.json`` and hands each answer to the caller's check; :func:`missing_from_spec` names the
routes a test expects that the document leaves out. Used by tests/ingest/test_http_fuzz.py and
tests/vision/test_openapi_fuzz.py, which keep their own assertions about the answers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis.core.result import Err

__all__ = ["ERROR_KEYS", "SPEC_PATH", "Check", "assert_json_error", "fuzz_operation", "missing_from_spec"]

SPEC_PATH = "/openapi.json"
ERROR_KEYS = frozenset({"code", "message", "request_id"})  # what every JSON error answer of ours carries

# called with each generated request and our app's answer; raises (assert, pytest.fail) when the answer is wrong
Check = Callable[[schemathesis.Case, schemathesis.Response], None]


def fuzz_operation(app: Flask, method: str, path: str, examples: int, check: Check) -> set[int]:
    """Up to ``examples`` generated requests to ``method path`` through ``check``; the status codes seen.

    No deadline and no example database: the answers come from real work (a real InfluxDB, a model
    stand-in), and every run starts from the spec as it is now.
    """
    operation = schemathesis.openapi.from_wsgi(SPEC_PATH, app)[path][method]
    seen: set[int] = set()

    @given(operation.as_strategy())
    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def run(case: schemathesis.Case) -> None:
        response = case.call()
        seen.add(response.status_code)
        check(case, response)

    run()
    assert seen, f"no request was generated for {method} {path}"
    return seen


def assert_json_error(response: schemathesis.Response) -> None:
    """The answer is our JSON error shape: ``{"error": {"code", "message", "request_id", ...}}``."""
    assert set(response.json()["error"]) >= ERROR_KEYS, response.text[:300]


def missing_from_spec(app: Flask, routes: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    """The ``(METHOD, path)`` pairs of ``routes`` the app's OpenAPI document does not list (the
    document leaves itself out, so :data:`SPEC_PATH` is never reported)."""
    listed: set[tuple[str, str]] = set()
    for result in schemathesis.openapi.from_wsgi(SPEC_PATH, app).get_all_operations():
        if isinstance(result, Err):
            raise result.err()  # an operation schemathesis cannot read is a broken document
        listed.add((result.ok().method.upper(), result.ok().path))
    return {(method, path) for method, path in routes if path != SPEC_PATH} - listed
