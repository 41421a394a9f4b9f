"""The notes blueprint: the caller's notes library at ``/api/notes``.

``GET /api/notes`` (search, or newest first; ``POST /api/notes/search`` takes the same parameters as a
JSON body, for a query longer than a URL may be: gunicorn and nginx refuse request lines over 8 KB),
``GET /api/notes/export``, ``POST /api/notes/import``,
``GET``/``PATCH``/``DELETE /api/notes/{id}`` and ``GET /api/notes/{id}/image``. The guards of ``/api/``
apply (body limit, rate limit, bearer key); the owner is the caller's key id
(:func:`~mathnotes.notes.model.owner_of`: ``key:`` + 16 hex of its SHA-256, ``shared`` when no keys are
configured), so another key's note is answered 404 like a missing one. Every refusal is a
:class:`~mathnotes.notes.errors.NotesError` (or vision's ``RequestError`` for the body), mapped to the
JSON error shape by the app. Registered only when ``NOTES_ENABLED``.
"""

from __future__ import annotations

import json
import time
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from ..notes.errors import InvalidNote, InvalidQuery
from ..notes.library import Library
from ..notes.model import SearchQuery, owner_of
from .api import whole_body
from .guards import client_key
from .inputs import parse_tags, parse_title
from .prompts import TASKS
from .state import VisionState

__all__ = ["bp"]

bp = Blueprint("notes", __name__, url_prefix="/api/notes")

EXPORT_TYPES = {"jsonl": "application/x-ndjson", "markdown": "application/zip"}


def _library() -> tuple[Library, str]:
    """The library and the caller's owner id."""
    state = VisionState.of(current_app)
    assert state.notes is not None  # the blueprint is registered only with the library
    return state.notes.library, owner_of(client_key(state.settings))


SEARCH_FIELDS = ("q", "formula", "mode", "tag", "task", "since", "until", "limit", "cursor")


@bp.get("")
def search() -> ResponseReturnValue:
    return _search({k: v for k, v in request.args.items()})


@bp.post("/search")
def search_by_body() -> ResponseReturnValue:
    return _search(_search_fields(whole_body()))


def _search_fields(raw: bytes) -> dict[str, str]:
    """The search parameters of a JSON body, as strings (``limit`` and times may be numbers)."""
    try:
        body: Any = json.loads(raw or b"{}")
    except ValueError:
        raise InvalidQuery("the body must be a JSON object of search parameters", "body") from None
    if not isinstance(body, dict):
        raise InvalidQuery("the body must be a JSON object of search parameters", "body")
    unknown = sorted(str(k) for k in body if k not in SEARCH_FIELDS)
    if unknown:
        raise InvalidQuery(f"unknown parameter(s): {', '.join(unknown)}", unknown[0])
    fields: dict[str, str] = {}
    for name, value in body.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise InvalidQuery(f"{name} must be a string", name)
        if not isinstance(value, str) and name not in ("limit", "since", "until"):
            raise InvalidQuery(f"{name} must be a string", name)
        fields[name] = value if isinstance(value, str) else repr(value)
    return fields


def _search(params: dict[str, str]) -> ResponseReturnValue:
    library, owner = _library()
    query = SearchQuery.from_params(params, TASKS)
    started = time.perf_counter()
    page = library.search(query, owner)
    VisionState.of(current_app).metrics.notes_search.labels(mode=_mode_label(page.modes)).observe(
        time.perf_counter() - started
    )
    return jsonify(page.to_json())


def _mode_label(modes: list[str]) -> str:
    """``fused`` when more than one mode ran, the mode when one did, ``recent`` for newest first."""
    return "fused" if len(modes) > 1 else modes[0] if modes else "recent"


@bp.get("/export")
def export() -> ResponseReturnValue:
    library, owner = _library()
    fmt = (request.args.get("format") or "jsonl").strip().lower()
    if fmt not in EXPORT_TYPES:
        raise InvalidQuery("format must be jsonl or markdown", "format")
    name = f"notes.{'jsonl' if fmt == 'jsonl' else 'zip'}"
    return Response(
        library.export(owner, fmt),
        mimetype=EXPORT_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@bp.post("/import")
def import_notes() -> ResponseReturnValue:
    library, owner = _library()
    body = whole_body()  # 413 past VISION_MAX_BODY_BYTES
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidNote(["the body is not UTF-8 JSON Lines (the export's jsonl format)"]) from None
    imported, skipped = library.import_(owner, text.splitlines())
    return jsonify({"imported": imported, "skipped": skipped})


@bp.get("/<note_id>")
def get(note_id: str) -> ResponseReturnValue:
    library, owner = _library()
    return jsonify(library.get(note_id, owner).to_json())


@bp.get("/<note_id>/image")
def image(note_id: str) -> ResponseReturnValue:
    library, owner = _library()
    data, mime = library.image(note_id, owner)
    return Response(data, mimetype=mime, headers={"Cache-Control": "private, max-age=86400"})


@bp.patch("/<note_id>")
def patch(note_id: str) -> ResponseReturnValue:
    library, owner = _library()
    title, tags = _patch_fields(whole_body())
    return jsonify(library.patch(note_id, owner, title=title, tags=tags).to_json())


@bp.delete("/<note_id>")
def delete(note_id: str) -> ResponseReturnValue:
    library, owner = _library()
    library.delete(note_id, owner)
    return Response(status=204)


def _patch_fields(raw: bytes) -> tuple[str | None, tuple[str, ...] | None]:
    """``title`` and ``tags`` of a PATCH body (None: unchanged), checked as analyze checks them."""
    try:
        body: Any = json.loads(raw or b"{}")
    except ValueError:
        raise InvalidNote(["the body must be a JSON object with title and/or tags"]) from None
    if not isinstance(body, dict):
        raise InvalidNote(["the body must be a JSON object with title and/or tags"])
    problems: list[str] = []
    unknown = sorted(str(k) for k in body if k not in ("title", "tags"))
    if unknown:
        problems.append(f"unknown field(s): {', '.join(unknown)}; only title and tags can change")
    title = parse_title(body.get("title"), problems) if "title" in body else None
    if "title" in body and title is None and not problems:
        problems.append("title must not be empty")
    tags = parse_tags(body["tags"], problems) if "tags" in body and body["tags"] is not None else None
    if "tags" in body and body["tags"] is not None and not isinstance(body["tags"], list):
        problems.append("tags must be a list of strings")
    if problems:
        raise InvalidNote(problems)
    return title, tags
