"""``GET /openapi.json``: the OpenAPI 3.1 description of the ingest HTTP API."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from ..common.openapi import ERROR_SCHEMA, PLAIN_OK, error_responses, metrics_path, openapi_path
from .settings import IngestSettings

__all__ = ["openapi_document"]

_ERROR_TEXT = {
    400: "items rejected (nothing was written; details lists the first 100 with their reasons, then a "
    "'more' entry counting the rest), bad JSON or line protocol",
    401: "missing or wrong API key",
    413: "body too large (payload_too_large) or too many items (too_many_items)",
    415: "neither JSON nor line protocol",
    422: "InfluxDB refused some points (a field-type conflict…): details name each item (array index or line "
    "number) with InfluxDB's reason; the other points were written",
    503: "InfluxDB is unreachable and the disk spool is full, or the write queue is full (Retry-After)",
}

_LINE_PROTOCOL = {
    "type": "string",
    "description": "InfluxDB line protocol, one point per line; a line without a timestamp gets the receive time",
    "example": "temperature,site=lab,device=env-01 value=21.5 1700000000000000000",
}


def _envelope() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(resources.files(__package__).joinpath("envelope.schema.json").read_text())
    for key in ("$schema", "$id"):
        schema.pop(key, None)
    return schema


def openapi_document(settings: IngestSettings) -> dict[str, Any]:
    accepted = {
        "description": "accepted: written to InfluxDB, or held in the disk spool until InfluxDB is back",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["accepted", "outcome"],
                    "properties": {
                        "accepted": {"type": "integer"},
                        "outcome": {
                            "enum": ["written", "spooled"],
                            "description": "spooled: InfluxDB is unavailable; the points are in the disk spool",
                        },
                    },
                }
            }
        },
    }
    envelopes = {
        "oneOf": [
            {"$ref": "#/components/schemas/Envelope"},
            {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/Envelope"}},
        ]
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "mathnotes-ingest",
            "version": "1.0.0",
            "description": "Telemetry into InfluxDB over HTTP (the same validation and writer as MQTT). "
            f"Body limit {settings.max_body_bytes} bytes and {settings.max_items} items; tags come from the "
            "envelope, measurement "
            "from the envelope or line protocol.",
        },
        "components": {
            "schemas": {"Error": ERROR_SCHEMA, "Envelope": _envelope()},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "paths": {
            "/api/ingest": {
                "post": {
                    "operationId": "ingest",
                    "summary": "Write one envelope, an array of envelopes, or line protocol",
                    "security": [{"bearer": []}] if settings.api_keys else [],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": envelopes},
                            "text/plain": {"schema": _LINE_PROTOCOL},
                        },
                    },
                    "responses": {"202": accepted, **error_responses(_ERROR_TEXT)},
                }
            },
            "/health": {
                "get": {
                    "operationId": "health",
                    "summary": "broker connection, InfluxDB reachability, spool depth",
                    "responses": {"200": PLAIN_OK, "503": PLAIN_OK},
                }
            },
            "/metrics": metrics_path(),
            "/openapi.json": openapi_path(),
        },
    }
