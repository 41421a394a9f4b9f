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

__all__ = ["FIELDS", "MAX_PROMPT_CHARS", "AnalyzeRequest", "InvalidRequest", "image_kind", "parse_fields"]

MAX_PROMPT_CHARS = 4000
FIELDS = ("image", "prompt", "task", "language", "format", "stream", "cache")


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
    )
