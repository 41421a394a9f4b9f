"""Validation of analyze requests, whatever the body type (JSON, multipart form, raw image).

Pure: :func:`parse_fields` takes the decoded fields (JSON values, or form
strings) and returns an :class:`AnalyzeRequest` or raises :class:`InvalidRequest`
listing every problem.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import RequestError
from .prompts import FORMATS, LANGUAGES, TASKS

__all__ = [
    "FIELDS",
    "MAX_PROMPT_CHARS",
    "MAX_TAGS",
    "MAX_TAG_CHARS",
    "MAX_TITLE_CHARS",
    "SOURCES",
    "AnalyzeRequest",
    "InvalidRequest",
    "image_kind",
    "parse_fields",
    "parse_tags",
    "parse_title",
]

MAX_PROMPT_CHARS = 4000
MAX_TITLE_CHARS = 200
MAX_TAGS = 20
MAX_TAG_CHARS = 40
SOURCES = ("api", "page", "n8n", "nodered", "openwebui", "cli")  # who sent the page, as the caller says
FIELDS = (
    "image",
    "prompt",
    "task",
    "language",
    "format",
    "stream",
    "cache",
    "save",
    "title",
    "tags",
    "source",
    "keep_image",
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class InvalidRequest(RequestError):
    """400 ``invalid_request``: the first problem as the message, every one in ``details.problems``."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid_request", problems[0], details={"problems": problems})
        self.problems = problems


@dataclass(frozen=True)
class AnalyzeRequest:
    image: str | None  # URL, data URL or base64 (None when the bytes came as a file)
    prompt: str | None = None
    task: str = "transcribe"
    language: str = "auto"
    format: str = "markdown"
    stream: bool = False
    cache: bool = True
    save: bool = True  # keep the answer in the notes library (when NOTES_ENABLED)
    title: str | None = None  # the note's title (None: derived from the answer)
    tags: tuple[str, ...] = ()
    source: str = "api"
    keep_image: bool = True  # keep a thumbnail with the note (when NOTES_KEEP_IMAGES)


def image_kind(image: str) -> str:
    """``url`` for http(s) URLs, ``data`` for everything base64."""
    return "url" if re.match(r"^https?://", image.strip(), re.I) else "data"


def _flag(name: str, value: Any, problems: list[str], default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"1", "true", "yes", "on", "0", "false", "no", "off"}:
        return value.strip().lower() in {"1", "true", "yes", "on"}
    problems.append(f"{name} must be true or false")
    return default


def _choice(name: str, value: Any, options: tuple[str, ...], problems: list[str]) -> str:
    if value is None or value == "":
        return options[0] if name != "task" else "transcribe"
    if not isinstance(value, str) or value.strip().lower() not in options:
        problems.append(f"{name} must be one of {', '.join(options)}")
        return options[0]
    return value.strip().lower()


def parse_tags(value: Any, problems: list[str]) -> tuple[str, ...]:
    """Tags from a JSON list of strings or one comma-separated string (forms, query strings).

    Each is stripped; empty ones and repeats are dropped; at most :data:`MAX_TAGS` of at most
    :data:`MAX_TAG_CHARS` characters, no control characters. Problems are appended to ``problems``.
    """
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        items: list[Any] = value.split(",")
    elif isinstance(value, list):
        items = value
    else:
        problems.append("tags must be a list of strings (or one comma-separated string)")
        return ()
    tags: list[str] = []
    for item in items:
        if not isinstance(item, str):
            problems.append("tags must be a list of strings (or one comma-separated string)")
            return ()
        tag = item.strip()
        if not tag or tag in tags:
            continue
        if len(tag) > MAX_TAG_CHARS or _CONTROL.search(tag):
            problems.append(f"each tag must be at most {MAX_TAG_CHARS} characters, without control characters")
            return ()
        tags.append(tag)
    if len(tags) > MAX_TAGS:
        problems.append(f"at most {MAX_TAGS} tags")
        return ()
    return tuple(tags)


def parse_title(value: Any, problems: list[str]) -> str | None:
    """A title of at most :data:`MAX_TITLE_CHARS` characters, stripped; empty means none."""
    if value is None:
        return None
    if not isinstance(value, str):
        problems.append("title must be a string")
        return None
    title = " ".join(value.split())  # one line: newlines and tabs become spaces
    if len(title) > MAX_TITLE_CHARS or _CONTROL.search(title):
        problems.append(f"title must be at most {MAX_TITLE_CHARS} characters, without control characters")
        return None
    return title or None


def parse_fields(fields: Mapping[str, Any], *, has_file: bool = False) -> AnalyzeRequest:
    problems: list[str] = []
    unknown = sorted(repr(k) if not isinstance(k, str) else k for k in set(fields) - set(FIELDS))
    if unknown:
        problems.append(f"unknown field(s): {', '.join(unknown)}")
    image = fields.get("image")
    if has_file:
        if image not in (None, ""):
            problems.append("send the image either as the file part or as the image field, not both")
        image = None
    elif image is None or image == "":
        problems.append("image is required: an https URL, a data URL, bare base64, or a multipart 'file' part")
    elif not isinstance(image, str):
        problems.append("image must be a string")
        image = None
    prompt = fields.get("prompt")
    if prompt is not None and not isinstance(prompt, str):
        problems.append("prompt must be a string")
        prompt = None
    elif isinstance(prompt, str) and len(prompt) > MAX_PROMPT_CHARS:
        problems.append(f"prompt is longer than {MAX_PROMPT_CHARS} characters")
    task = _choice("task", fields.get("task"), TASKS, problems)
    language = _choice("language", fields.get("language"), LANGUAGES, problems)
    fmt = _choice("format", fields.get("format"), FORMATS, problems)
    stream = _flag("stream", fields.get("stream"), problems, False)
    cache = _flag("cache", fields.get("cache"), problems, True)
    save = _flag("save", fields.get("save"), problems, True)
    keep_image = _flag("keep_image", fields.get("keep_image"), problems, True)
    title = parse_title(fields.get("title"), problems)
    tags = parse_tags(fields.get("tags"), problems)
    source = _choice("source", fields.get("source"), SOURCES, problems)
    if problems:
        raise InvalidRequest(problems)
    return AnalyzeRequest(
        image=image.strip() if isinstance(image, str) else None,
        prompt=prompt or None,
        task=task,
        language=language,
        format=fmt,
        stream=stream,
        cache=cache,
        save=save,
        title=title,
        tags=tags,
        source=source,
        keep_image=keep_image,
    )
