"""
title: Math Notes Vision
author: Math Notes Suite
version: 0.2.0
license: MIT
description: Read photos of maths notes via the Math Notes vision API; search the notes library kept from them.
requirements: requests
"""

from __future__ import annotations

import asyncio
import html
import importlib
import math
import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
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
SEARCH_MODES = ("auto", "words", "formula", "meaning")
MAX_RESULTS = 20  # notes per search_notes answer (the API allows 100; this is what a chat can hold)
MAX_QUERY_BYTES = 2000  # UTF-8 bytes of a query: percent-encoded, it fits the API's 8 KiB request line
MAX_FORMULA_CHARS = 300  # longer formulas of a result are left out of the answer
LATEX_HINT = re.compile(r"\\[A-Za-z]+|[\^_{}]")
DOLLAR = re.compile(r"(?<!\\)\$")
BLOCK_MARK = re.compile(r"^[ \t]*(?:#{1,6}[ \t]+|>[ \t]?|[-*+][ \t]+|\d{1,9}[.)][ \t]+)", re.M)
LATEX_MARK = re.compile(r"\\[A-Za-z]+|[\^_{}=]")


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


def render_answer(answer: dict[str, Any], base_url: str = "") -> str:
    """The vision answer as Markdown Open WebUI renders ($…$ and $$…$$ are KaTeX), the API's ``notes``
    (what limited the answer: a task the offline backend cannot do, an answer cut short) as a quote the
    user sees, and a one-line footer (with a link to the saved note when there is one)."""
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
    if isinstance(answer.get("note_id"), str):
        footer.append(f"[saved]({note_link(base_url, answer['note_id'])})" if base_url else "saved")
    return f"{markdown}{limits}\n\n<sub>Math Notes vision · {' · '.join(footer)}</sub>"


def describe_error(status: int, body: Any) -> str:
    """One readable line for an API error answer ``{"error": {"code", "message", "request_id"}}``."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        rid = f" (request {error['request_id']})" if error.get("request_id") else ""
        return f"{error.get('code', 'error')}: {error.get('message', '')}{rid}"
    return f"HTTP {status}"


def limit_value(value: object, default: int) -> int:
    """How many notes to show, from what a model sends: a number or one in a string (``"5"``); 0 or empty
    gives ``default``; cut to 1..MAX_RESULTS. ValueError for anything else."""
    try:
        number = float((value.strip() or 0) if isinstance(value, str) else value)  # type: ignore[arg-type]
        if isinstance(value, bool) or not math.isfinite(number):
            raise ValueError
    except (TypeError, ValueError):
        raise ValueError(f"limit must be a number, not {value!r}") from None
    return max(1, min(MAX_RESULTS, int(number) or default))


def search_params(query: str, mode: str = "", limit: int = 5) -> dict[str, str]:
    """The ``GET /api/notes`` parameters for a tool call. ``auto`` (or empty): ``$…$`` in the query is the
    formula and the words around it are ``q``; a query that looks like LaTeX is the formula; else words.
    ``formula``: the query (its ``$…$`` if it has any) as ``formula``; ``words`` / ``meaning``: ``q``."""
    query = " ".join(str(query or "").split()).encode()[:MAX_QUERY_BYTES].decode(errors="ignore").strip()
    mode = (mode or "auto").strip().lower()
    if mode not in SEARCH_MODES:
        raise ValueError(f"unknown mode {mode!r}; use one of: {', '.join(SEARCH_MODES)}")
    if not query:
        raise ValueError("say what to look for: words, or a formula in LaTeX")
    parts = DOLLAR.split(query.replace("$$", "$"))
    maths = " ".join(p.strip() for p in parts[1::2] if p.strip())
    words = " ".join(" ".join(p.split()) for p in parts[::2] if p.strip())
    params: dict[str, str] = {"limit": str(limit)}
    if mode in ("words", "meaning"):
        params.update(q=query, mode=mode)
    elif mode == "formula":
        params.update(formula=maths or query.replace("$", ""), mode=mode)
    elif maths:
        params.update(formula=maths, **({"q": words} if words else {}))
    elif LATEX_HINT.search(query):
        params["formula"] = query
    else:
        params["q"] = query
    return params


def plain_snippet(snippet: str) -> str:
    """The API's snippet (HTML-escaped, hits in ``<mark>``) as one line of Markdown: hits in **bold**, no
    heading, list or quote marks, ``$…$`` math kept (no bold inside it), a ``$`` whose partner the excerpt
    cut off (``…``) dropped."""
    text = re.sub(r"[\x01\x02]", "", snippet).replace("<mark>", "\x01").replace("</mark>", "\x02")
    text = " ".join(BLOCK_MARK.sub("", html.unescape(text)).split()).replace("$$", "$")
    dollars = [m.start() for m in DOLLAR.finditer(text)]
    if len(dollars) % 2:
        head, tail = (text[:at] + text[at + 1 :] for at in (dollars[0], dollars[-1]))
        if text.startswith("…") != text.endswith("…"):  # cut at one end: the orphan is there
            text = head if text.startswith("…") else tail
        else:  # cut at both ends (or an odd $ in the note): the reading whose maths looks more like maths
            text = head if mathiness(head) > mathiness(tail) else tail
    parts = DOLLAR.split(text)
    for i, part in enumerate(parts):
        parts[i] = part.replace("\x01", "**").replace("\x02", "**") if i % 2 == 0 else re.sub("[\x01\x02]", "", part)
    return "$".join(parts).strip()


def mathiness(text: str) -> int:
    """LaTeX marks (commands, ``^ _ { } =``) inside ``$…$`` minus those outside."""
    return sum(len(LATEX_MARK.findall(part)) * (1 if i % 2 else -1) for i, part in enumerate(DOLLAR.split(text)))


def note_link(base_url: str, note_id: str) -> str:
    """The phone page opened on a note: ``<base>/#note=<id>``."""
    return f"{base_url.rstrip('/')}/#note={note_id}"


def when_created(value: Any) -> str:
    """``2026-03-01 14:05 UTC`` from the API's ISO 8601 time (a time without a zone is UTC)."""
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)[:32]
    moment = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def render_note(number: int, note: dict[str, Any], base_url: str) -> str:
    title = " ".join(str(note.get("title") or "Untitled page").split())
    facts = [when_created(note.get("created_at")), str(note.get("task") or "")]
    tags = note.get("tags")
    if isinstance(tags, list) and tags:
        facts.append(" ".join(f"`{tag}`" for tag in tags if isinstance(tag, str)))
    matched = note.get("matched")
    if isinstance(matched, list) and matched:
        facts.append("matched by " + ", ".join(str(m) for m in matched))
    note_id = str(note.get("id") or "")
    facts.append(f"[open the note]({note_link(base_url, note_id)})" if base_url else f"note `{note_id}`")
    lines = [f"### {number}. {title}", " · ".join(fact for fact in facts if fact)]
    snippet = plain_snippet(str(note.get("snippet") or ""))
    if snippet:
        lines.append(f"> {snippet}")
    raw = note.get("formulas")
    formulas = [" ".join(str(f).replace("$", "").split()) for f in raw] if isinstance(raw, list) else []
    shown = [f"${f}$" for f in formulas if f and len(f) <= MAX_FORMULA_CHARS]
    if shown:
        lines.append("Formulas: " + " · ".join(shown))
    return "\n\n".join(lines)


def render_notes(page: dict[str, Any], base_url: str) -> str:
    """A page of ``GET /api/notes`` as Markdown: a line saying how it was searched, then each note (title,
    date, task, tags, a link to it, the snippet and its first formulas with ``$…$`` for KaTeX)."""
    notes = [note for note in page.get("notes") or [] if isinstance(note, dict)]
    modes = ", ".join(str(m) for m in page.get("modes") or []) or "none"
    if not notes:
        return f"No notes match (searched by {modes})."
    more = " More match: ask for a higher limit or a narrower query." if page.get("next_cursor") else ""
    head = f"{len(notes)} note{'s' if len(notes) != 1 else ''} found (searched by {modes}).{more}"
    return "\n\n".join([head, *(render_note(i, note, base_url) for i, note in enumerate(notes, 1))])


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


def user_key(user: dict[str, Any] | None) -> str:
    """The personal key a user set in the tool's user valves (Open WebUI puts them in ``__user__["valves"]``)."""
    valves = (user or {}).get("valves")
    key = valves.get("API_KEY") if isinstance(valves, dict) else getattr(valves, "API_KEY", "")
    return str(key or "").strip()


async def emit(emitter: EventEmitter | None, description: str, done: bool = False) -> None:
    if emitter is not None:
        await emitter({"type": "status", "data": {"description": description, "done": done}})


async def call_api(
    valves: Any, key: str, request: tuple[str, str, str], emitter: EventEmitter | None, **kwargs: Any
) -> dict[str, Any] | str:
    """The JSON answer of a vision API call, or one sentence saying why there is none (also as the last
    status). ``request``: (method, path, what failed: e.g. "could not analyse the image")."""
    method, path, failed = request
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    url = f"{valves.VISION_URL.rstrip('/')}{path}"
    try:
        response = await asyncio.to_thread(
            requests.request, method, url, headers=headers, timeout=valves.TIMEOUT_S, **kwargs
        )
    except requests.RequestException as err:
        await emit(emitter, "The vision service is unreachable", done=True)
        return f"The Math Notes vision service at {valves.VISION_URL} could not be reached: {err}"
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code >= 400 or not isinstance(body, dict):
        message = describe_error(response.status_code, body)
        await emit(emitter, f"Failed: {message}", done=True)
        return f"The vision service {failed} — {message}"
    return body


# --- the tool ---------------------------------------------------------------------

SECRET: dict[str, Any] = {"input": {"type": "password"}}  # Open WebUI 0.12 masks the field in the valves form


class Tools:
    class Valves(BaseModel):
        VISION_URL: str = Field(
            default="http://vision:3001",
            description="Base URL of the Math Notes vision API (the service, or the nginx front door)",
        )
        API_KEY: str = Field(
            default="",
            description="Bearer key from VISION_API_KEYS (empty when the API is open); its notes library is shared "
            "by every user without a personal key",
            json_schema_extra=SECRET,
        )
        DEFAULT_LANGUAGE: str = Field(default="auto", description="Answer language: auto, zh or en")
        TIMEOUT_S: float = Field(default=180.0, description="Seconds to wait for an answer")
        PUBLIC_URL: str = Field(
            default="",
            description="Address users open the phone page at, e.g. https://DOMAIN/ : links to notes are "
            "<PUBLIC_URL>/#note=<id> (empty: the note ids, no links)",
        )
        SEARCH_LIMIT: int = Field(default=5, description=f"Notes a search returns unless asked (1-{MAX_RESULTS})")
        SHARED_LIBRARY: bool = Field(
            default=True,
            description="Users without a personal key use API_KEY's library (shared by them all). Off: their "
            "pages are read but not saved, and search_notes asks for a personal key",
        )

    class UserValves(BaseModel):
        API_KEY: str = Field(
            default="",
            description="Your own key from VISION_API_KEYS: your pages are saved to, and searched in, your own "
            "notes library (empty: the tool's shared key)",
            json_schema_extra=SECRET,
        )

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

        task = (task or "transcribe").strip().lower()
        if task not in TASKS:
            await emit(__event_emitter__, f"Unknown task {task!r}", done=True)
            return f"Unknown task {task!r}; use one of: {', '.join(TASKS)}."
        language = (language or self.valves.DEFAULT_LANGUAGE or "auto").strip().lower()
        if language not in LANGUAGES:
            language = "auto"
        image = await find_image(image_url, __messages__, __files__, __user__)
        if image is None:
            await emit(__event_emitter__, "No image found", done=True)
            return "No image found: attach a photo of the notes to the chat, or give an image URL."
        body: dict[str, Any] = {"image": image, "task": task, "language": language, "format": "markdown"}
        body.update(source="openwebui", **({"prompt": prompt.strip()} if prompt.strip() else {}))
        key = user_key(__user__)
        if not key and not self.valves.SHARED_LIBRARY:
            body["save"] = False  # no personal library to keep it in
        await emit(__event_emitter__, f"Reading the notes ({task})…")
        request = ("POST", "/api/vision/analyze", "could not analyse the image")
        answer = await call_api(self.valves, key or self.valves.API_KEY, request, __event_emitter__, json=body)
        if isinstance(answer, str):
            return answer
        await emit(__event_emitter__, "Done", done=True)
        return render_answer(answer, self.valves.PUBLIC_URL.strip())

    async def search_notes(
        self,
        query: str,
        mode: str = "auto",
        limit: int = 0,
        __user__: dict[str, Any] | None = None,
        __event_emitter__: EventEmitter | None = None,
    ) -> str:
        """
        Search the user's saved maths notes (every page read by analyze_math_image or the Math Notes apps is
        kept) by words, by formula or by meaning, and return the matching notes with dates, excerpts, formulas
        and links. Use it when the user wants to find, recall or look back at their notes, e.g. "where did I do
        integration by parts?", "find the page with $\\int_0^1 x^2\\,dx$", "my notes on eigenvalues".
        :param query: words (any language) or a LaTeX formula; put a formula among words in $…$
        :param mode: auto (a formula by formula, words by words), words, formula, or meaning (related topics)
        :param limit: how many notes to return, 1 to 20 (0 uses the tool's default)
        """

        key = user_key(__user__)
        if not key and not self.valves.SHARED_LIBRARY:
            await emit(__event_emitter__, "No personal key", done=True)
            return "Searching notes needs your own Math Notes key: set API_KEY in this tool's user valves."
        try:
            params = search_params(query, mode, limit_value(limit, limit_value(self.valves.SEARCH_LIMIT, 5)))
        except ValueError as err:
            await emit(__event_emitter__, str(err), done=True)
            return f"Cannot search: {err}."
        await emit(__event_emitter__, "Searching the notes…")
        request = ("GET", "/api/notes", "could not search the notes")
        page = await call_api(self.valves, key or self.valves.API_KEY, request, __event_emitter__, params=params)
        if isinstance(page, str):
            return page
        found = len(page.get("notes") or [])
        await emit(__event_emitter__, f"{found} note{'s' if found != 1 else ''} found", done=True)
        return render_notes(page, self.valves.PUBLIC_URL.strip())
