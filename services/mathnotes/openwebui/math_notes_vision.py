"""
title: Math Notes Vision
author: Math Notes Suite
version: 0.1.0
license: MIT
description: Read a photo of maths notes (attached, or a URL) via the Math Notes vision API; Markdown + LaTeX.
requirements: requests
"""

from __future__ import annotations

import asyncio
import importlib
import re
from collections.abc import Awaitable, Callable
from typing import Any

import requests
from pydantic import BaseModel, Field

TASKS = ("transcribe", "solve", "check", "explain", "describe")
LANGUAGES = ("auto", "zh", "en")
EventEmitter = Callable[[dict[str, Any]], Awaitable[None]]
USABLE_URL = re.compile(r"^(data:image/|https?://)")
FILE_CONTENT_URL = re.compile(r"^/api/v1/files/([^/?#]+)/content(?:[/?#]|$)")
FILE_ID = re.compile(r"[\w.-]{1,128}")
# where an image comes from: ("url", a data: or http(s) URL) or ("file", an Open WebUI file id)
ImageRef = tuple[str, str]


# --- pure helpers ---------------------------------------------------------------


def images_in_messages(messages: list[dict[str, Any]] | None) -> list[str]:
    """Image URLs (data: or http) of the chat's messages, newest last (OpenAI content parts)."""
    found: list[str] = []
    for message in messages or []:
        content = message.get("content")
        if not isinstance(content, list):
            continue
        for part in content:
            if isinstance(part, dict) and part.get("type") == "image_url":
                image = part.get("image_url")
                url = image.get("url") if isinstance(image, dict) else image
                if isinstance(url, str) and url:
                    found.append(url)
    return found


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def url_ref(url: str) -> ImageRef | None:
    """A data:/http(s) URL as it is, an Open WebUI file (a bare id or ``/api/v1/files/<id>/content``) by id."""
    url = url.strip()
    if USABLE_URL.match(url):
        return ("url", url)
    in_url = FILE_CONTENT_URL.match(url)
    file_id = in_url.group(1) if in_url else url
    return ("file", file_id) if FILE_ID.fullmatch(file_id) else None


def file_image_ref(entry: dict[str, Any]) -> ImageRef | None:
    """Where an entry of ``__files__`` keeps its image, as Open WebUI 0.12 sends it.

    An upload is ``{"type": "file", "id": <file id>, "url": <file id>, "content_type": "image/png",
    "file": {"id", "filename", "meta": {"content_type", …}}}`` (the UI), or just ``{"type": "file", "id"}``
    (the API); ``url`` may also be ``/api/v1/files/<id>/content``, a data URL or an http(s) URL. Files that
    say they are not images (a PDF) are skipped; an upload of unknown type is tried.
    """
    file = _dict(entry.get("file"))
    mime = str(entry.get("content_type") or _dict(file.get("meta")).get("content_type") or "")
    if mime and not mime.startswith("image/"):
        return None
    url = entry.get("url")
    from_url = url_ref(url) if isinstance(url, str) else None
    if from_url is not None and from_url[0] == "url":
        return from_url
    file_id = entry.get("id") or file.get("id")
    if isinstance(file_id, str) and FILE_ID.fullmatch(file_id):
        return ("file", file_id)
    return from_url


def image_refs(
    image_url: str, messages: list[dict[str, Any]] | None, files: list[dict[str, Any]] | None
) -> list[ImageRef]:
    """Candidates in order of preference: an explicit URL, the newest image in the chat, the newest uploads.

    Open WebUI hands the tool the chat's images as data URLs; one it could not read (a file the user may
    not see) stays a file id and is looked up like an upload, access check included.
    """
    if image_url.strip():
        return [("url", image_url.strip())]
    found = [url_ref(url) for url in reversed(images_in_messages(messages))]
    found += [file_image_ref(entry) for entry in reversed(files or []) if isinstance(entry, dict)]
    return [ref for ref in found if ref is not None]


def render_answer(answer: dict[str, Any]) -> str:
    """The vision answer as Markdown Open WebUI renders ($…$ and $$…$$ are KaTeX), the API's ``notes``
    (what limited the answer: a task the offline backend cannot do, an answer cut short) as a quote the
    user sees, and a one-line footer."""
    markdown = str(answer.get("markdown") or "").strip() or "_The page appears to be empty._"
    raw_notes = answer.get("notes")
    notes = [str(note).strip() for note in raw_notes if str(note).strip()] if isinstance(raw_notes, list) else []
    limits = "".join(f"\n\n> **Note:** {note}" for note in notes)
    footer = [str(answer.get("model") or "?")]
    if answer.get("cached"):
        footer.append("cached")
    timings = answer.get("timings")
    if isinstance(timings, dict) and isinstance(timings.get("total_ms"), (int, float)):
        footer.append(f"{timings['total_ms'] / 1000:.1f} s")
    return f"{markdown}{limits}\n\n<sub>Math Notes vision · {' · '.join(footer)}</sub>"


def describe_error(status: int, body: Any) -> str:
    """One readable line for an API error answer ``{"error": {"code", "message", "request_id"}}``."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        rid = f" (request {error['request_id']})" if error.get("request_id") else ""
        return f"{error.get('code', 'error')}: {error.get('message', '')}{rid}"
    return f"HTTP {status}"


# --- I/O: an upload read through Open WebUI (module functions: every method of Tools becomes a tool) ---


async def image_from_upload(file_id: str, user: dict[str, Any] | None) -> str | None:
    """An uploaded image as a data URL, read by Open WebUI's own resolver: the one that turns an attached
    image into what the model sees (its storage backend, and only for the file's owner, an admin or a
    holder of a read grant). None outside Open WebUI, without a user, or when the file is not an image."""
    if not user:
        return None
    try:
        resolve = importlib.import_module("open_webui.utils.files").get_image_base64_from_file_id
        user_model = importlib.import_module("open_webui.models.users").UserModel
    except (ImportError, AttributeError):
        return None
    data_url = await resolve(file_id, user=user_model.model_validate(user))
    return data_url if isinstance(data_url, str) and data_url.startswith("data:image/") else None


async def find_image(
    image_url: str,
    messages: list[dict[str, Any]] | None,
    files: list[dict[str, Any]] | None,
    user: dict[str, Any] | None,
) -> str | None:
    """The image to analyse: the first candidate of :func:`image_refs` that resolves."""
    for kind, value in image_refs(image_url, messages, files):
        image = value if kind == "url" else await image_from_upload(value, user)
        if image:
            return image
    return None


# --- the tool ---------------------------------------------------------------------


class Tools:
    class Valves(BaseModel):
        VISION_URL: str = Field(
            default="http://vision:3001",
            description="Base URL of the Math Notes vision API (the service, or the nginx front door)",
        )
        API_KEY: str = Field(default="", description="Bearer key from VISION_API_KEYS (empty when the API is open)")
        DEFAULT_LANGUAGE: str = Field(default="auto", description="Answer language: auto, zh or en")
        TIMEOUT_S: float = Field(default=180.0, description="Seconds to wait for an answer")

    def __init__(self) -> None:
        self.valves = self.Valves()
        # True: the answer is a source, never text glued onto the user's message. Open WebUI 0.12 (native
        # function calling) ignores it; 0.6's prompt-based calling turned the message, attached image and
        # all, into plain text when it was False.
        self.citation = True

    async def analyze_math_image(
        self,
        task: str = "transcribe",
        image_url: str = "",
        prompt: str = "",
        language: str = "",
        __messages__: list[dict[str, Any]] | None = None,
        __files__: list[dict[str, Any]] | None = None,
        __user__: dict[str, Any] | None = None,
        __event_emitter__: EventEmitter | None = None,
    ) -> str:
        """
        Read a photo of handwritten or printed maths (the image attached to the chat, or an image URL) and
        return it as Markdown with LaTeX. Use it whenever the user shares a picture of maths notes, homework,
        a whiteboard or a textbook page, or asks to transcribe, solve, check or explain one.
        :param task: transcribe (copy the notes), solve, check (mark each step), explain (teach it) or describe
        :param image_url: an http(s) image URL; leave empty to use the image attached to the chat
        :param prompt: extra instructions, e.g. "only problem 3"
        :param language: answer language: zh, en or auto (empty uses the tool's default)
        """

        async def status(description: str, done: bool = False) -> None:
            if __event_emitter__ is not None:
                await __event_emitter__({"type": "status", "data": {"description": description, "done": done}})

        task = (task or "transcribe").strip().lower()
        if task not in TASKS:
            await status(f"Unknown task {task!r}", done=True)
            return f"Unknown task {task!r}; use one of: {', '.join(TASKS)}."
        language = (language or self.valves.DEFAULT_LANGUAGE or "auto").strip().lower()
        if language not in LANGUAGES:
            language = "auto"
        image = await find_image(image_url, __messages__, __files__, __user__)
        if image is None:
            await status("No image found", done=True)
            return "No image found: attach a photo of the notes to the chat, or give an image URL."
        body: dict[str, Any] = {"image": image, "task": task, "language": language, "format": "markdown"}
        if prompt.strip():
            body["prompt"] = prompt.strip()
        headers = {"Authorization": f"Bearer {self.valves.API_KEY}"} if self.valves.API_KEY else {}
        url = f"{self.valves.VISION_URL.rstrip('/')}/api/vision/analyze"
        await status(f"Reading the notes ({task})…")
        try:
            response = await asyncio.to_thread(
                requests.post, url, json=body, headers=headers, timeout=self.valves.TIMEOUT_S
            )
        except requests.RequestException as err:
            await status("The vision service is unreachable", done=True)
            return f"The Math Notes vision service at {self.valves.VISION_URL} could not be reached: {err}"
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if response.status_code >= 400 or not isinstance(answer, dict):
            message = describe_error(response.status_code, answer)
            await status(f"Vision failed: {message}", done=True)
            return f"The vision service could not analyse the image — {message}"
        await status("Done", done=True)
        return render_answer(answer)
