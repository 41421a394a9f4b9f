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
import base64
import mimetypes
import os
import re
from collections.abc import Awaitable, Callable
from typing import Any

import requests
from pydantic import BaseModel, Field

TASKS = ("transcribe", "solve", "check", "explain", "describe")
LANGUAGES = ("auto", "zh", "en")
EventEmitter = Callable[[dict[str, Any]], Awaitable[None]]


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


def image_from_file(entry: dict[str, Any]) -> str | None:
    """A data URL for an uploaded chat file: its url when usable, else its bytes on Open WebUI's disk."""
    url = entry.get("url")
    if isinstance(url, str) and re.match(r"^(data:image/|https?://)", url):
        return url
    raw_file = entry.get("file")
    file: dict[str, Any] = raw_file if isinstance(raw_file, dict) else {}
    path = file.get("path")
    raw_meta = file.get("meta")
    meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
    mime = str(meta.get("content_type") or entry.get("content_type") or "")
    if not path or not os.path.isfile(path):
        return None
    if not mime:
        mime = mimetypes.guess_type(str(path))[0] or ""
    if not mime.startswith("image/"):
        return None
    with open(path, "rb") as handle:
        return f"data:{mime};base64,{base64.b64encode(handle.read()).decode()}"


def pick_image(image_url: str, messages: list[dict[str, Any]] | None, files: list[dict[str, Any]] | None) -> str | None:
    """The image to analyse: an explicit URL, else the newest image in the chat, else an uploaded image file."""
    if image_url.strip():
        return image_url.strip()
    in_chat = images_in_messages(messages)
    if in_chat:
        return in_chat[-1]
    for entry in reversed(files or []):
        image = image_from_file(entry)
        if image:
            return image
    return None


def render_answer(answer: dict[str, Any]) -> str:
    """The vision answer as Markdown Open WebUI renders ($…$ and $$…$$ are KaTeX), with a one-line footer."""
    markdown = str(answer.get("markdown") or "").strip() or "_The page appears to be empty._"
    notes = [str(answer.get("model") or "?")]
    if answer.get("cached"):
        notes.append("cached")
    timings = answer.get("timings")
    if isinstance(timings, dict) and isinstance(timings.get("total_ms"), (int, float)):
        notes.append(f"{timings['total_ms'] / 1000:.1f} s")
    return f"{markdown}\n\n<sub>Math Notes vision · {' · '.join(notes)}</sub>"


def describe_error(status: int, body: Any) -> str:
    """One readable line for an API error answer ``{"error": {"code", "message", "request_id"}}``."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        rid = f" (request {error['request_id']})" if error.get("request_id") else ""
        return f"{error.get('code', 'error')}: {error.get('message', '')}{rid}"
    return f"HTTP {status}"


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
        self.citation = False

    async def analyze_math_image(
        self,
        task: str = "transcribe",
        image_url: str = "",
        prompt: str = "",
        language: str = "",
        __messages__: list[dict[str, Any]] | None = None,
        __files__: list[dict[str, Any]] | None = None,
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
        image = pick_image(image_url, __messages__, __files__)
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
