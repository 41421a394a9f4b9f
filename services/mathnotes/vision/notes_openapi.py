"""The notes routes of ``GET /openapi.json`` (``/api/notes…``): paths and schemas, merged by :mod:`.openapi`."""

from __future__ import annotations

from typing import Any

from ..common.openapi import error_responses
from .inputs import MAX_TAG_CHARS, MAX_TAGS, MAX_TITLE_CHARS, SOURCES
from .prompts import LANGUAGES, TASKS

__all__ = ["NOTES_SCHEMAS", "notes_paths"]

MODES = ("auto", "words", "formula", "meaning")
MATCHED = ("words", "formula", "meaning")
MAX_LIMIT = 100

_TAGS: dict[str, Any] = {
    "type": "array",
    "maxItems": MAX_TAGS,
    "items": {"type": "string", "minLength": 1, "maxLength": MAX_TAG_CHARS},
}
_COMMON: dict[str, Any] = {
    "id": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
    "title": {"type": "string"},
    "tags": {"type": "array", "items": {"type": "string"}},
    "source": {"enum": list(SOURCES)},
    "task": {"enum": list(TASKS)},
    "language": {"enum": list(LANGUAGES)},
    "created_at": {"type": "string", "format": "date-time"},
    "updated_at": {"type": "string", "format": "date-time"},
    "has_image": {"type": "boolean"},
}
_NOTE = {
    "type": "object",
    "required": [*_COMMON, "model", "answer"],
    "properties": {
        **_COMMON,
        "model": {"type": "string"},
        "answer": {"$ref": "#/components/schemas/Answer"},
    },
}
_SUMMARY = {
    "type": "object",
    "required": [*_COMMON, "snippet", "formulas", "score", "matched"],
    "properties": {
        **_COMMON,
        "snippet": {"type": "string", "description": "HTML-escaped excerpt, matched words in <mark>…</mark>"},
        "formulas": {"type": "array", "maxItems": 3, "items": {"type": "string"}, "description": "first LaTeX"},
        "score": {"type": "number", "description": "fused rank score (reciprocal-rank fusion); 0 without a query"},
        "matched": {"type": "array", "items": {"enum": list(MATCHED)}},
    },
}
_PAGE = {
    "type": "object",
    "required": ["notes", "next_cursor", "modes", "took_ms"],
    "properties": {
        "notes": {"type": "array", "items": {"$ref": "#/components/schemas/NoteSummary"}},
        "next_cursor": {"type": ["string", "null"], "description": "pass as cursor for the next page"},
        "modes": {"type": "array", "items": {"enum": list(MATCHED)}, "description": "the modes that ran"},
        "took_ms": {"type": "number"},
    },
}
NOTES_SCHEMAS: dict[str, Any] = {"Note": _NOTE, "NoteSummary": _SUMMARY, "NotesPage": _PAGE}

_ERRORS = {
    400: "invalid query or body (invalid_query, invalid_request, invalid_json)",
    401: "missing or wrong API key",
    404: "no such note for this key (note_not_found)",
    413: "body too large",
    429: "rate limited (Retry-After)",
    503: "the notes database is unreachable (notes_unavailable)",
}


def _query(name: str, schema: dict[str, Any], text: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": text}


_SEARCH_PARAMS = [
    _query("q", {"type": "string", "maxLength": 10000}, "words (any language; Chinese is matched by characters)"),
    _query("formula", {"type": "string", "maxLength": 10000}, "LaTeX, matched after normalisation"),
    _query("mode", {"enum": list(MODES), "default": "auto"}, "auto: every mode that applies"),
    _query("tag", {"type": "string", "maxLength": MAX_TAG_CHARS}, "only notes with this tag"),
    _query("task", {"enum": list(TASKS)}, "only notes of this task"),
    _query("since", {"type": "string"}, "ISO 8601 time or epoch seconds (created at or after)"),
    _query("until", {"type": "string"}, "ISO 8601 time or epoch seconds (created before)"),
    _query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 20}, "notes per page"),
    _query("cursor", {"type": "string", "maxLength": 1000}, "next_cursor of the previous page"),
]
_SEARCH_BODY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {param["name"]: {**param["schema"], "description": param["description"]} for param in _SEARCH_PARAMS},
}
_SEARCH_BODY["properties"]["since"] = {"type": ["string", "number"], "description": "as the query parameter"}
_SEARCH_BODY["properties"]["until"] = {"type": ["string", "number"], "description": "as the query parameter"}
_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}, "description": "a note id"}


def _json(ref: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}


def notes_paths(secured: bool) -> dict[str, Any]:
    """The ``paths`` entries of the notes routes; ``secured`` when VISION_API_KEYS is set."""
    security: list[dict[str, list[str]]] = [{"bearer": []}] if secured else []
    errors = error_responses(_ERRORS)
    note = {"description": "the note", "content": _json("Note")}
    patch_body = {
        "type": "object",
        "additionalProperties": False,
        "properties": {"title": {"type": "string", "minLength": 1, "maxLength": MAX_TITLE_CHARS}, "tags": _TAGS},
    }
    import_ok = {
        "type": "object",
        "required": ["imported", "skipped"],
        "properties": {"imported": {"type": "integer"}, "skipped": {"type": "integer"}},
    }
    return {
        "/api/notes": {
            "get": {
                "operationId": "searchNotes",
                "summary": "Search the caller's notes by words, formula and meaning (newest first without a query)",
                "security": security,
                "parameters": _SEARCH_PARAMS,
                "responses": {"200": {"description": "ranked notes", "content": _json("NotesPage")}, **errors},
            }
        },
        "/api/notes/search": {
            "post": {
                "operationId": "searchNotesByBody",
                "summary": "The same search with its parameters in a JSON body (for queries longer than a URL)",
                "security": security,
                "requestBody": {"required": True, "content": {"application/json": {"schema": _SEARCH_BODY}}},
                "responses": {"200": {"description": "ranked notes", "content": _json("NotesPage")}, **errors},
            }
        },
        "/api/notes/export": {
            "get": {
                "operationId": "exportNotes",
                "summary": "Every note of the caller: JSON Lines (with image_b64) or a zip of Markdown files",
                "security": security,
                "parameters": [_query("format", {"enum": ["jsonl", "markdown"], "default": "jsonl"}, "file format")],
                "responses": {
                    "200": {
                        "description": "the export",
                        "content": {
                            "application/x-ndjson": {"schema": {"type": "string"}},
                            "application/zip": {"schema": {"type": "string", "format": "binary"}},
                        },
                    },
                    **errors,
                },
            }
        },
        "/api/notes/import": {
            "post": {
                "operationId": "importNotes",
                "summary": "Add the notes of a JSON Lines export (a note whose id is already there is skipped)",
                "security": security,
                "requestBody": {
                    "required": True,
                    "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
                },
                "responses": {
                    "200": {"description": "counts", "content": {"application/json": {"schema": import_ok}}},
                    **errors,
                },
            }
        },
        "/api/notes/{id}": {
            "get": {
                "operationId": "getNote",
                "summary": "One note with its whole answer",
                "security": security,
                "parameters": [_ID],
                "responses": {"200": note, **errors},
            },
            "patch": {
                "operationId": "updateNote",
                "summary": "Change a note's title or tags",
                "security": security,
                "parameters": [_ID],
                "requestBody": {"required": True, "content": {"application/json": {"schema": patch_body}}},
                "responses": {"200": note, **errors},
            },
            "delete": {
                "operationId": "deleteNote",
                "summary": "Delete a note",
                "security": security,
                "parameters": [_ID],
                "responses": {"204": {"description": "deleted"}, **errors},
            },
        },
        "/api/notes/{id}/image": {
            "get": {
                "operationId": "noteImage",
                "summary": "The note's thumbnail",
                "security": security,
                "parameters": [_ID],
                "responses": {
                    "200": {
                        "description": "JPEG",
                        "content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}},
                    },
                    **errors,
                },
            }
        },
    }
