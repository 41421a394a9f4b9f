"""The API blueprint: ``POST /api/vision/analyze`` and ``GET /api/vision/schema``.

Analyze reads a JSON body, a multipart ``file`` part or a raw image body, runs the analyzer and
answers the answer object, or Server-Sent Events (text deltas, then one ``answer`` or ``error``
event) with ``stream``. Errors before the first byte are the app's JSON errors with their status.
Each analyze request is accounted once (:class:`~.accounting.Accounting`) however it ends. Each
answer is kept in the notes library (unless ``save`` is false or ``NOTES_ENABLED`` is off) before it
is sent, and carries its ``note_id`` (``null`` when not kept), in the JSON answer and the ``answer`` event.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Iterator
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request, stream_with_context
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge

from ..common.httpapi import request_id
from .accounting import CLIENT_CLOSED, Accounting
from .analyzer import Outcome
from .answer import STRUCTURED_SCHEMA
from .errors import RequestError, VisionError
from .guards import client_key
from .inputs import AnalyzeRequest, parse_fields
from .state import VisionState

__all__ = ["bp", "read_request"]

bp = Blueprint("api", __name__, url_prefix="/api/vision")

Run = Generator[str | dict[str, Any], None, None]


@bp.get("/schema")
def schema() -> ResponseReturnValue:
    return jsonify(STRUCTURED_SCHEMA)


@bp.post("/analyze")
def analyze() -> ResponseReturnValue:
    state = VisionState.of(current_app)
    g.outcome = outcome = state.accounting.begin()
    req, data = read_request()
    outcome.task = req.task
    run = _noted(state, req, outcome, state.analyzer.run(req, data, outcome))
    if not req.stream:
        result: dict[str, Any] = {}
        for item in run:
            if isinstance(item, dict):
                result = item
        return jsonify(result)
    first = next(run)  # errors before the first byte still answer as JSON with their status
    g.deferred = True  # the stream accounts for itself
    accounting = state.accounting
    resp = Response(
        stream_with_context(_events(first, run, outcome, accounting)),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
    resp.call_on_close(lambda: accounting.end(outcome, CLIENT_CLOSED))  # a stream never started
    return resp


def _noted(state: VisionState, req: AnalyzeRequest, outcome: Outcome, run: Run) -> Run:
    """``run``, its answer given a ``note_id``: the note is queued (never waiting on the database) first."""
    key = client_key(state.settings)
    try:
        for item in run:
            if isinstance(item, dict):
                note_id = state.notes.save(req, item, key, outcome.thumbnail) if state.notes else None
                item["note_id"] = note_id
            yield item
    finally:
        run.close()


@bp.after_request
def _account(resp: Response) -> Response:
    """A plain analyze answer (or its error) is accounted when its response is made."""
    if "outcome" in g and not g.get("deferred"):
        VisionState.of(current_app).accounting.end(g.outcome, resp.status_code)
    return resp


def _events(first: str | dict[str, Any], run: Run, outcome: Outcome, accounting: Accounting) -> Iterator[str]:
    status = CLIENT_CLOSED  # until the answer or an error event is out
    item: str | dict[str, Any] | None = first
    sent_delta = False
    try:
        while item is not None:
            if isinstance(item, dict):
                if not sent_delta and item.get("markdown"):
                    yield _sse("delta", {"text": item["markdown"]})
                yield _sse("answer", item)
                status = 200
                break
            sent_delta = True
            yield _sse("delta", {"text": item})
            item = next(run, None)
    except VisionError as err:
        status = err.status  # recorded even if the client is gone before the event
        yield _sse("error", {"error": {"code": err.code, "message": err.message, "request_id": request_id()}})
    finally:
        run.close()
        accounting.end(outcome, status)


def _sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def whole_body() -> bytes:
    """The request body, or 413 ``payload_too_large`` past ``VISION_MAX_BODY_BYTES``.

    A declared length is judged before the body is read (``guards``); a body of unknown length
    (chunked) is read up to one byte past the limit (``MAX_CONTENT_LENGTH``), which tells.
    """
    data = request.get_data()
    limit = current_app.config["SETTINGS"].max_body_bytes
    if len(data) > limit:
        raise RequestError("payload_too_large", f"the request body is over the limit of {limit} bytes", 413)
    return data


def read_request() -> tuple[AnalyzeRequest, bytes | None]:
    """The analyze request from a JSON body, a multipart form or a raw image body."""
    mime = request.mimetype or ""
    try:
        if mime == "multipart/form-data":
            upload = request.files.get("file")
            fields = {k: v for k, v in request.form.items()}
            data = upload.read() if upload is not None else None
            if upload is not None and not data:
                raise RequestError("empty_image", "the file part is empty")
            return parse_fields(fields, has_file=data is not None), data
        if mime.startswith("image/") or mime == "application/octet-stream":
            data = whole_body()
            if not data:
                raise RequestError("empty_image", "the request body is empty")
            return parse_fields(dict(request.args.items()), has_file=True), data
        raw = whole_body()
        if mime == "application/json" or mime.endswith("+json") or raw.lstrip()[:1] == b"{":
            try:
                body = json.loads(raw)
            except ValueError as err:
                raise RequestError("invalid_json", f"the body is not valid JSON: {err}") from None
            if not isinstance(body, dict):
                raise RequestError("invalid_json", "the body must be a JSON object")
            return parse_fields(body), None
    except RequestEntityTooLarge:
        raise
    except BadRequest as err:
        raise RequestError("invalid_body", err.description or "the request body cannot be read") from None
    raise RequestError(
        "unsupported_media_type",
        "send application/json, multipart/form-data with a 'file' part, or an image body (image/jpeg, ...)",
        415,
    )
