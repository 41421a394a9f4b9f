"""What a note is, what a search asks, and the small pure rules around them.

:class:`Note` (one kept answer; :meth:`Note.to_json` is the ``GET /api/notes/{id}`` shape),
:class:`NoteSummary` (one search result), :class:`SearchQuery` (the parameters of ``GET /api/notes``,
checked by :meth:`SearchQuery.from_params`, with its opaque cursor: :func:`encode_cursor`,
:func:`decode_cursor`), :func:`owner_of` (a key's stable id, never the key), :func:`new_id`; and, from
:mod:`.answers`, :func:`derive_title`, :func:`verdict_counts`, :func:`body_of`, :func:`formulas_of`,
:func:`words_of`. Pure: times and keys are passed in (:func:`new_id` only draws a random UUID).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

from . import text
from .answers import UNTITLED, body_of, derive_title, formulas_of, verdict_counts, words_of
from .errors import InvalidQuery
from .formulas import MAX_FORMULA_CHARS

__all__ = [
    "MODES",
    "SEARCH_MODES",
    "UNTITLED",
    "Note",
    "NoteSummary",
    "SearchQuery",
    "body_of",
    "clean",
    "decode_cursor",
    "derive_title",
    "encode_cursor",
    "formulas_of",
    "is_note_id",
    "iso",
    "new_id",
    "owner_of",
    "parse_time",
    "verdict_counts",
    "words_of",
]

MODES = ("words", "formula", "meaning")
SEARCH_MODES = ("auto", *MODES)
DEFAULT_LIMIT, MAX_LIMIT = 20, 100
MAX_Q_CHARS = 10_000
MAX_FILTER_CHARS = 40  # tag, task
MAX_CURSOR_CHARS = 1000
MAX_OFFSET = 10_000  # how deep a search can page
_FORMULA_HINT = re.compile(r"[\\^_={}]")
_DELIMITERS = re.compile(r"^(?:\$\$?|\\[(\[])|(?:\$\$?|\\[)\]])$")


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and ``Z`` (a naive time is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Note:
    """One analysed page kept: the answer as the API returned it and what the library adds."""

    id: str
    owner: str
    title: str
    tags: tuple[str, ...]
    source: str
    task: str
    language: str
    model: str
    answer: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    has_image: bool = False

    def to_json(self) -> dict[str, Any]:
        """The ``GET /api/notes/{id}`` shape (the owner is never shown)."""
        return {
            "id": self.id,
            "title": self.title,
            "tags": list(self.tags),
            "source": self.source,
            "task": self.task,
            "language": self.language,
            "model": self.model,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "has_image": self.has_image,
            "answer": self.answer,
        }


@dataclass
class NoteSummary:
    """One search result."""

    id: str
    title: str
    tags: tuple[str, ...]
    task: str
    language: str
    source: str
    created_at: datetime
    updated_at: datetime
    has_image: bool = False
    snippet: str = ""  # HTML, hits in <mark>
    formulas: tuple[str, ...] = ()  # the first three
    score: float = 0.0
    matched: tuple[str, ...] = ()  # the modes that found it

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "tags": list(self.tags),
            "task": self.task,
            "language": self.language,
            "source": self.source,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "has_image": self.has_image,
            "snippet": self.snippet,
            "formulas": list(self.formulas[:3]),
            "score": self.score,
            "matched": list(self.matched),
        }


@dataclass(frozen=True)
class SearchQuery:
    """The parameters of one search page; ``offset`` comes from the cursor."""

    q: str = ""
    formula: str = ""
    mode: str = "auto"
    tag: str | None = None
    task: str | None = None
    since: datetime | None = None  # created at or after
    until: datetime | None = None  # created before
    limit: int = DEFAULT_LIMIT
    offset: int = 0

    @classmethod
    def from_params(cls, params: Mapping[str, Any], tasks: Collection[str] | None = None) -> SearchQuery:
        """Checked parameters (strings, as in a query string); :class:`InvalidQuery` names the bad one."""
        q = _string(params, "q", MAX_Q_CHARS).strip()
        formula = _string(params, "formula", MAX_Q_CHARS).strip()
        mode = _string(params, "mode", 10).strip().lower() or "auto"
        if mode not in SEARCH_MODES:
            raise InvalidQuery(f"mode must be one of {', '.join(SEARCH_MODES)}", "mode")
        tag = _string(params, "tag", MAX_FILTER_CHARS).strip() or None
        task = _string(params, "task", MAX_FILTER_CHARS).strip() or None
        if task is not None and tasks is not None and task not in tasks:
            raise InvalidQuery(f"task must be one of {', '.join(tasks)}", "task")
        since = _time(params, "since")
        until = _time(params, "until")
        if since is not None and until is not None and since >= until:
            raise InvalidQuery("since must be before until", "since")
        limit_text = _string(params, "limit", 10).strip() or str(DEFAULT_LIMIT)
        if not limit_text.isascii() or not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_LIMIT:
            raise InvalidQuery(f"limit must be an integer from 1 to {MAX_LIMIT}", "limit")
        query = cls(q, formula, mode, tag, task, since, until, int(limit_text))
        cursor = _string(params, "cursor", MAX_CURSOR_CHARS).strip()
        return replace(query, offset=query.cursor_offset(cursor)) if cursor else query

    @property
    def terms(self) -> list[str]:
        """The word terms of ``q`` (:func:`text.query_terms`)."""
        return text.query_terms(self.q)

    @property
    def formula_query(self) -> str:
        """The LaTeX to search for: ``formula``; else the math of ``q`` (``$..$`` spans, or all of it when it
        has no delimiters but looks like LaTeX: a backslash, ``^``, ``_``, ``=`` or a brace)."""
        if self.formula:
            return self.formula[:MAX_FORMULA_CHARS]
        spans = text.math_spans(self.q)
        if spans:
            return " ".join(_DELIMITERS.sub("", self.q[a:b]).strip() for a, b in spans)[:MAX_FORMULA_CHARS]
        if _FORMULA_HINT.search(self.q):
            return self.q.strip()[:MAX_FORMULA_CHARS]
        return ""

    def modes(self, meaning_available: bool) -> list[str]:
        """The modes this search runs, in ``MODES`` order; none (newest first) without ``q`` or ``formula``.

        ``auto``: words when ``q`` has terms, formula when there is LaTeX, meaning when ``q`` is set and an
        embedding model is configured. A mode asked for by name that cannot run is an :class:`InvalidQuery`.
        """
        can = {
            "words": bool(self.terms),
            "formula": bool(self.formula_query),
            "meaning": bool(self.q) and meaning_available,
        }
        if self.mode == "auto":
            return [m for m in MODES if can[m]]
        if not can[self.mode]:
            needs = {"words": "q with words", "formula": "formula (or q) with LaTeX", "meaning": "q"}[self.mode]
            if self.mode == "meaning" and self.q:
                raise InvalidQuery("meaning search needs an embedding model (EMBEDDING_MODEL and a key)", "mode")
            raise InvalidQuery(f"mode={self.mode} needs {needs}", "mode")
        return [self.mode]

    def fingerprint(self) -> str:
        """What fixes the result list (not the page): a cursor is valid only for the same fingerprint."""
        shape = [self.q, self.formula, self.mode, self.tag, self.task, _opt_iso(self.since), _opt_iso(self.until)]
        return hashlib.sha256(json.dumps(shape, ensure_ascii=False).encode("utf-8", "surrogatepass")).hexdigest()[:16]

    def next_cursor(self, more: bool) -> str | None:
        """The cursor of the page after this one (``None`` when nothing follows or paging would go too deep)."""
        offset = self.offset + self.limit
        return encode_cursor(offset, self.fingerprint()) if more and offset <= MAX_OFFSET else None

    def cursor_offset(self, cursor: str) -> int:
        return decode_cursor(cursor, self.fingerprint())


def _opt_iso(moment: datetime | None) -> str | None:
    return iso(moment) if moment is not None else None


def clean(value: Any) -> Any:
    """JSON with every string storable on both backends: no NUL, no lone surrogate."""
    if isinstance(value, str):
        return value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, list):
        return [clean(v) for v in value]
    if isinstance(value, dict):
        return {clean(str(k)): clean(v) for k, v in value.items()}
    return value


def _string(params: Mapping[str, Any], name: str, limit: int) -> str:
    value = params.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidQuery(f"{name} must be a string", name)
    if len(value) > limit:
        raise InvalidQuery(f"{name} is longer than {limit} characters", name)
    cleaned: str = clean(value)  # a NUL would reach the database (PostgreSQL refuses it in text): dropped
    return cleaned


def _time(params: Mapping[str, Any], name: str) -> datetime | None:
    value = _string(params, name, 64).strip()
    if not value:
        return None
    moment = parse_time(value)
    if moment is None:
        raise InvalidQuery(f"{name} must be an ISO 8601 time or epoch seconds", name)
    return moment


def parse_time(value: str) -> datetime | None:
    """An ISO 8601 time (no zone: UTC) or epoch seconds, as an aware UTC datetime; ``None`` if neither."""
    value = value.strip()
    if len(value) > 64:
        return None
    try:
        if re.fullmatch(r"-?[0-9]{1,12}(\.[0-9]{1,9})?", value):
            return datetime.fromtimestamp(float(value), tz=timezone.utc)
        moment = datetime.fromisoformat(value.replace("z", "Z"))
    except (ValueError, OverflowError, OSError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    try:
        return moment.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        return None


def encode_cursor(offset: int, fingerprint: str) -> str:
    """Opaque: URL-safe base64 (no padding) of ``{"o": offset, "f": fingerprint}``."""
    raw = json.dumps({"o": offset, "f": fingerprint}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, fingerprint: str) -> int:
    """The offset of a cursor made for this search; :class:`InvalidQuery` for anything else."""
    if len(cursor) > MAX_CURSOR_CHARS:
        raise InvalidQuery("cursor is not one this server gave", "cursor")
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidQuery("cursor is not one this server gave", "cursor") from None
    if not isinstance(data, dict) or not isinstance(data.get("o"), int) or isinstance(data.get("o"), bool):
        raise InvalidQuery("cursor is not one this server gave", "cursor")
    if data.get("f") != fingerprint:
        raise InvalidQuery("cursor belongs to another search (q, formula, mode or filters changed)", "cursor")
    if not 0 <= data["o"] <= MAX_OFFSET:
        raise InvalidQuery(f"cursor goes deeper than {MAX_OFFSET} results", "cursor")
    return int(data["o"])


def owner_of(key: str | None) -> str:
    """The owner id of a client key: ``key:`` and 16 hex of its SHA-256, or ``shared`` with no keys configured."""
    if key is None:
        return "shared"
    return "key:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:16]


_NOTE_ID = re.compile(r"[0-9a-f]{32}")


def new_id() -> str:
    """A new note id: 32 hex characters (a random UUID)."""
    return uuid.uuid4().hex


def is_note_id(value: object) -> bool:
    """Whether ``value`` can be a note id (:func:`new_id`'s form: 32 lowercase hex characters)."""
    return isinstance(value, str) and _NOTE_ID.fullmatch(value) is not None
