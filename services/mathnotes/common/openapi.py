"""OpenAPI 3.1 pieces both services' ``GET /openapi.json`` documents share: the error shape and the plain routes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["ERROR_SCHEMA", "PLAIN_OK", "error_responses", "metrics_path", "openapi_path"]

# the one error body every endpoint answers with (``mathnotes.common.httpapi.error_response``)
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "request_id"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "request_id": {"type": "string"},
                "details": {},
            },
        }
    },
}

PLAIN_OK: dict[str, Any] = {"description": "ok", "content": {"application/json": {"schema": {"type": "object"}}}}


def error_responses(descriptions: Mapping[int, str]) -> dict[str, Any]:
    """Responses for these statuses, each the error body (``#/components/schemas/Error``)."""
    ref = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    return {str(code): {"description": text, "content": ref} for code, text in descriptions.items()}


def metrics_path() -> dict[str, Any]:
    text = {"description": "metrics", "content": {"text/plain": {"schema": {"type": "string"}}}}
    return {"get": {"operationId": "metrics", "summary": "Prometheus text", "responses": {"200": text}}}


def openapi_path() -> dict[str, Any]:
    return {"get": {"operationId": "openapi", "summary": "this document", "responses": {"200": PLAIN_OK}}}
