"""Export and import formats of the notes library. Pure (no I/O; times and ids passed in or drawn).

- JSON Lines: one note per line, the ``GET /api/notes/{id}`` shape plus ``image_b64`` (the thumbnail, or
  ``null``) — :func:`jsonl`.
- Markdown: a zip of ``<created date>-<slug>-<id8>.md`` files, each with a YAML front matter (every value
  written as JSON, which YAML reads as it is) and the answer's Markdown — :func:`markdown_zip`, built one
  file at a time so an export of any size streams in bounded memory.
- The disk queue's record of a note on its way to the database (:class:`NewNote`, with its thumbnail):
  :func:`encode_new`, :func:`decode_new`.
- Import: :func:`parse_import` reads JSON Lines (the JSON Lines export, or any subset of its fields but
  ``answer``) into notes of the importing owner, checking each line against :class:`Rules` (the vision
  service passes its own limits and vocabularies); every problem names its line; one bad line refuses
  the whole import (:class:`~mathnotes.notes.errors.InvalidNote`), so an import is all or nothing.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .answers import body_of, derive_title
from .errors import InvalidNote, TooLarge
from .model import Note, is_note_id, iso, parse_time

__all__ = [
    "IMPORT_MAX_NOTES",
    "NewNote",
    "Rules",
    "decode_new",
    "encode_new",
    "jsonl",
    "markdown_name",
    "markdown_text",
    "markdown_zip",
    "parse_import",
]

IMPORT_MAX_NOTES = 10_000  # notes in one import
IMPORT_IMAGE_MAX_BYTES = 5_000_000  # one imported thumbnail (NOTES_IMAGE_MAX_BYTES' upper bound)
MAX_PROBLEMS = 20  # problems listed in one refusal
MAX_MODEL_CHARS = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SLUG = re.compile(r"[^\w]+")


@dataclass(frozen=True)
class Rules:
    """What an imported note may hold; an empty vocabulary accepts any short string."""

    max_title_chars: int = 200
    max_tags: int = 20
    max_tag_chars: int = 40
    sources: tuple[str, ...] = ()
    tasks: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()


@dataclass
class NewNote:
    """A note on its way to the database, with its thumbnail (JPEG) if one is kept."""

    note: Note
    image: bytes | None = None
    image_type: str = "image/jpeg"

    @property
    def size(self) -> int:
        """Roughly the bytes it holds (the memory queue's bound)."""
        return len(self.image or b"") + len(json.dumps(self.note.answer, default=str)) + 200


def encode_new(item: NewNote) -> bytes:
    """One JSON document for the disk queue (the image in base64)."""
    note = item.note
    doc = {**note.to_json(), "owner": note.owner, "image_type": item.image_type}
    doc["image_b64"] = base64.b64encode(item.image).decode() if item.image else None
    return json.dumps(doc, ensure_ascii=False, default=str).encode("utf-8", "replace")


def decode_new(data: bytes) -> NewNote:
    doc = json.loads(data)
    created, updated = parse_time(doc["created_at"]), parse_time(doc["updated_at"])
    if created is None or updated is None:
        raise ValueError("a queued note without its times")
    image = base64.b64decode(doc["image_b64"]) if doc.get("image_b64") else None
    note = Note(
        doc["id"], doc["owner"], doc["title"], tuple(doc["tags"]), doc["source"], doc["task"], doc["language"],
        doc["model"], doc["answer"], created, updated, image is not None,
    )  # fmt: skip
    return NewNote(note, image, doc.get("image_type") or "image/jpeg")


# --- export ----------------------------------------------------------------------------------------------


def jsonl(items: Iterable[tuple[Note, bytes | None]]) -> Iterator[bytes]:
    for note, image in items:
        doc = {**note.to_json(), "image_b64": base64.b64encode(image).decode() if image else None}
        yield json.dumps(doc, ensure_ascii=False).encode() + b"\n"


def markdown_name(note: Note) -> str:
    slug = _SLUG.sub("-", note.title.lower()).strip("-_")[:40].strip("-_") or "note"
    return f"{note.created_at:%Y-%m-%d}-{slug}-{note.id[:8]}.md"


def markdown_text(note: Note) -> str:
    front = {
        "id": note.id,
        "title": note.title,
        "tags": list(note.tags),
        "source": note.source,
        "task": note.task,
        "language": note.language,
        "model": note.model,
        "created_at": iso(note.created_at),
        "updated_at": iso(note.updated_at),
    }
    lines = [f"{k}: {json.dumps(v, ensure_ascii=False)}" for k, v in front.items()]
    return "---\n" + "\n".join(lines) + "\n---\n\n" + body_of(note.answer).rstrip() + "\n"


class _Sink:
    """A write-only stream for :class:`zipfile.ZipFile` whose bytes are taken away as they come."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data, self.parts = b"".join(self.parts), []
        return data


def markdown_zip(items: Iterable[tuple[Note, bytes | None]]) -> Iterator[bytes]:
    sink = _Sink()
    names: set[str] = set()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:  # type: ignore[call-overload]
        for note, _image in items:
            name = markdown_name(note)
            if name in names:
                name = name[:-3] + f"-{note.id}.md"
            names.add(name)
            stamp = note.created_at.timetuple()[:6] if note.created_at.year >= 1980 else (1980, 1, 1, 0, 0, 0)
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, markdown_text(note))
            yield sink.take()
    yield sink.take()


# --- import ----------------------------------------------------------------------------------------------


def parse_import(
    lines: Iterable[str], owner: str, now: datetime, rules: Rules, new_id: Callable[[], str]
) -> list[NewNote]:
    """The notes of a JSON Lines body (blank lines skipped) for ``owner``; InvalidNote naming each bad line."""
    notes: list[NewNote] = []
    problems: list[str] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if len(notes) >= IMPORT_MAX_NOTES:
            raise TooLarge(f"an import holds at most {IMPORT_MAX_NOTES} notes")
        found: list[str] = []
        parsed = _note(line, owner, now, rules, new_id, found)
        problems += [f"line {number}: {p}" for p in found]
        if parsed is not None and not found:
            notes.append(parsed)
        if len(problems) >= MAX_PROBLEMS:
            break
    if problems:
        raise InvalidNote(problems[:MAX_PROBLEMS])
    return notes


def _note(
    line: str, owner: str, now: datetime, rules: Rules, new_id: Callable[[], str], problems: list[str]
) -> NewNote | None:
    try:
        doc: Any = json.loads(line)
    except ValueError:
        problems.append("not a JSON object")
        return None
    if not isinstance(doc, dict):
        problems.append("not a JSON object")
        return None
    answer = doc.get("answer")
    if not isinstance(answer, dict):
        problems.append("answer must be an object (the analyze answer)")
        answer = {}
    note_id = doc.get("id", None)
    if note_id is None:
        note_id = new_id()
    elif not is_note_id(note_id):
        problems.append("id must be 32 lowercase hex characters")
    title = doc.get("title")
    if title is None or title == "":
        title = derive_title(answer)
    elif not _short(title, rules.max_title_chars):
        problems.append(f"title must be a string of at most {rules.max_title_chars} characters")
    tags = doc.get("tags") or []
    if (
        not isinstance(tags, list)
        or len(tags) > rules.max_tags
        or not all(_short(t, rules.max_tag_chars) for t in tags)
    ):
        problems.append(f"tags must be a list of at most {rules.max_tags} strings of 1 to {rules.max_tag_chars}")
        tags = []
    words = {
        "source": (doc.get("source", "api"), rules.sources),
        "task": (doc.get("task", answer.get("task", "transcribe")), rules.tasks),
        "language": (doc.get("language", answer.get("language", "auto")), rules.languages),
        "model": (doc.get("model", answer.get("model", "unknown")), ()),
    }
    for field, (value, allowed) in words.items():
        if not _short(value, MAX_MODEL_CHARS) or (allowed and value not in allowed):
            problems.append(f"{field} must be one of {', '.join(allowed)}" if allowed else f"{field} must be a string")
    created = _time(doc.get("created_at"), now, "created_at", problems)
    updated = _time(doc.get("updated_at"), created, "updated_at", problems)
    image = _image(doc.get("image_b64"), problems)
    if problems:
        return None
    source, task, language, model = (str(words[f][0]) for f in ("source", "task", "language", "model"))
    note = Note(
        note_id, owner, title, tuple(tags), source, task, language, model, answer, created, updated, bool(image)
    )
    return NewNote(note, image)


def _short(value: Any, limit: int) -> bool:
    return isinstance(value, str) and 0 < len(value) <= limit and not _CONTROL.search(value)


def _time(value: Any, default: datetime, field: str, problems: list[str]) -> datetime:
    if value is None:
        return default
    moment = parse_time(value) if isinstance(value, str) else None
    if moment is None:
        problems.append(f"{field} must be an ISO 8601 time")
        return default
    return moment


def _image(value: Any, problems: list[str]) -> bytes | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > IMPORT_IMAGE_MAX_BYTES * 4 // 3 + 4:
        problems.append(f"image_b64 must be base64 of a JPEG of at most {IMPORT_IMAGE_MAX_BYTES} bytes")
        return None
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        problems.append("image_b64 is not base64")
        return None
    if not data.startswith(b"\xff\xd8\xff"):
        problems.append("image_b64 is not a JPEG")
        return None
    return data
