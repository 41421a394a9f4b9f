"""``GET /openapi.json``: the OpenAPI 3.1 description of the vision API."""

from __future__ import annotations

from typing import Any

from ..common.openapi import ERROR_SCHEMA, PLAIN_OK, error_responses, metrics_path, openapi_path
from .answer import STRUCTURED_SCHEMA
from .inputs import MAX_TAG_CHARS, MAX_TAGS, MAX_TITLE_CHARS, SOURCES
from .notes_openapi import NOTES_SCHEMAS, notes_paths
from .prompts import FORMATS, LANGUAGES, TASKS
from .settings import VisionSettings

__all__ = ["openapi_document"]

_FIELDS: dict[str, Any] = {
    "prompt": {"type": "string", "maxLength": 4000, "description": "extra instruction added to the task preset"},
    "task": {"type": "string", "enum": list(TASKS), "default": "transcribe"},
    "language": {"type": "string", "enum": list(LANGUAGES), "default": "auto"},
    "format": {"type": "string", "enum": list(FORMATS), "default": "markdown", "description": "json adds structured"},
    "stream": {"type": "boolean", "default": False, "description": "answer as Server-Sent Events"},
    "cache": {"type": "boolean", "default": True, "description": "false bypasses the answer cache"},
    "save": {"type": "boolean", "default": True, "description": "keep the answer in the notes library"},
    "title": {"type": "string", "maxLength": MAX_TITLE_CHARS, "description": "the note's title (default: derived)"},
    "source": {"type": "string", "enum": list(SOURCES), "default": "api", "description": "who sends the page"},
    "keep_image": {"type": "boolean", "default": True, "description": "keep a thumbnail with the note"},
}
_TAGS_JSON = {
    "type": "array",
    "maxItems": MAX_TAGS,
    "items": {"type": "string", "maxLength": MAX_TAG_CHARS},
    "description": "the note's tags",
}
_TAGS_FORM = {"type": "string", "description": f"the note's tags, comma-separated (at most {MAX_TAGS})"}

_ANSWER = {
    "type": "object",
    "required": ["id", "model", "backend", "task", "markdown", "latex", "usage", "timings", "cached", "image"],
    "properties": {
        "id": {"type": "string"},
        "object": {"const": "vision.analysis"},
        "created": {"type": "integer"},
        "model": {"type": "string"},
        "backend": {"enum": ["openai", "ocr"]},
        "task": {"enum": list(TASKS)},
        "language": {"enum": list(LANGUAGES)},
        "format": {"enum": list(FORMATS)},
        "markdown": {"type": "string", "description": "math in $...$ and $$...$$"},
        "latex": {"type": "array", "items": {"type": "string"}},
        "structured": {"oneOf": [{"$ref": "#/components/schemas/Structured"}, {"type": "null"}]},
        "usage": {
            "type": "object",
            "properties": {k: {"type": "integer"} for k in ("prompt_tokens", "completion_tokens", "total_tokens")},
        },
        "timings": {
            "type": "object",
            "properties": {k: {"type": "number"} for k in ("preprocess_ms", "upstream_ms", "total_ms")},
        },
        "cached": {"type": "boolean"},
        "image": {
            "type": "object",
            "properties": {
                "width": {"type": ["integer", "null"]},
                "height": {"type": ["integer", "null"]},
                "format": {"type": ["string", "null"]},
                "bytes_received": {"type": "integer"},
                "bytes_upstream": {"type": "integer"},
            },
        },
        "notes": {"type": "array", "items": {"type": "string"}},
        "note_id": {
            "type": ["string", "null"],
            "description": "the note the answer was saved as (GET /api/notes/{id}); null when not saved",
        },
    },
}


_ERROR_TEXT = {
    400: "invalid request or image (code says which)",
    401: "missing or wrong API key",
    413: "body or image too large",
    415: "unsupported body or image type",
    422: "the provider's content inspection refused the image",
    429: "rate limited (Retry-After)",
    502: "the model failed or rejected the API key",
    503: "the model is rate-limiting or OCR failed",
    504: "the model did not answer in time",
}


def openapi_document(settings: VisionSettings) -> dict[str, Any]:
    json_body = {
        "type": "object",
        "required": ["image"],
        "additionalProperties": False,
        "properties": {
            "image": {"type": "string", "minLength": 1, "description": "https URL, data URL or bare base64"},
            **_FIELDS,
            "tags": _TAGS_JSON,
        },
    }
    form_body = {
        "type": "object",
        "required": ["file"],
        "properties": {"file": {"type": "string", "format": "binary"}, **_FIELDS, "tags": _TAGS_FORM},
    }
    ok = {
        "description": "the answer (or, with stream=true, SSE: delta events, then one answer event)",
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/Answer"}},
            "text/event-stream": {"schema": {"type": "string"}},
        },
    }
    plain = PLAIN_OK
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "mathnotes-vision",
            "version": "1.0.0",
            "description": "Photos of math notes to Markdown + LaTeX (Qwen-VL on an OpenAI-compatible endpoint, "
            "or offline OCR). Limits: body "
            f"{settings.max_body_bytes} bytes; {settings.rate_limit_max_requests} requests per "
            f"{settings.rate_limit_window_ms // 1000} s.",
        },
        "components": {
            "schemas": {
                "Error": ERROR_SCHEMA,
                "Answer": _ANSWER,
                "Structured": STRUCTURED_SCHEMA,
                **(NOTES_SCHEMAS if settings.notes_enabled else {}),
            },
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "paths": {
            "/api/vision/analyze": {
                "post": {
                    "operationId": "analyze",
                    "summary": "Read a photo of math notes",
                    "security": [{"bearer": []}] if settings.api_keys else [],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": json_body},
                            "multipart/form-data": {"schema": form_body},
                            "image/*": {"schema": {"type": "string", "format": "binary"}},
                        },
                    },
                    "responses": {"200": ok, **error_responses(_ERROR_TEXT)},
                }
            },
            "/api/vision/schema": {
                "get": {
                    "operationId": "structuredSchema",
                    "summary": "JSON schema of structured",
                    "responses": {"200": plain},
                },
            },
            "/health": {"get": {"operationId": "health", "summary": "liveness", "responses": {"200": plain}}},
            "/ready": {
                "get": {
                    "operationId": "ready",
                    "summary": "the backend (model endpoint or OCR) and cache can answer",
                    "responses": {"200": plain, "503": plain},
                }
            },
            **(notes_paths(bool(settings.api_keys)) if settings.notes_enabled else {}),
            "/metrics": metrics_path(),
            "/openapi.json": openapi_path(),
        },
    }
