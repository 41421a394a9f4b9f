"""Open WebUI tools loaded as Open WebUI loads them.

:func:`load_tool` mirrors ``open_webui.utils.plugin.load_tool_module_by_id``: the file's
frontmatter is read, its source is exec'd into a fresh module registered in ``sys.modules``,
and ``Tools()`` is instantiated. :func:`tool_specs` mirrors ``open_webui.utils.tools``'s
``get_tool_specs``: one pydantic model per public method from its signature, type hints and
``:param`` docstring lines, turned into an OpenAI function spec.
"""

from __future__ import annotations

import inspect
import io
import re
import sys
import time
import types
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, get_type_hints

import requests
from PIL import Image, ImageDraw
from pydantic import BaseModel, Field, create_model

from mathnotes.openwebui import TOOL_FILES

__all__ = [
    "ANSWER",
    "CHAT_MODEL",
    "INGEST_KEY",
    "PERSONAL_KEY",
    "PUBLIC_URL",
    "STUDENT",
    "TOOL_IDS",
    "VISION_KEY",
    "Events",
    "extract_frontmatter",
    "function_model",
    "load_tool",
    "note_id_in",
    "photo",
    "tool_outputs",
    "tool_specs",
    "wait_for_note",
]

VISION_KEY = "vision-key-for-openwebui-tests"  # the vision service's VISION_API_KEYS in these tests: the tool's
PERSONAL_KEY = "personal-key-for-openwebui-tests"  # and one user's own key (the tool's user valve)
PUBLIC_URL = "https://notes.mathnotes.test/"  # the tool's PUBLIC_URL valve: links to notes start with it
INGEST_KEY = "ingest-key-for-openwebui-tests"
CHAT_MODEL = "mathnotes-chat"  # the model Open WebUI lists from its (fake) OpenAI connection
TOOL_IDS = {"math_notes_vision": "math_notes_vision", "telemetry": "mathnotes_telemetry"}  # README's ids
STUDENT = {"email": "student@mathnotes.test", "password": "Passw0rd-student"}


def extract_frontmatter(content: str) -> dict[str, str]:
    lines = content.splitlines()
    if not lines or lines[0].strip() != '"""':
        return {}
    found: dict[str, str] = {}
    for line in lines[1:]:
        if '"""' in line:
            break
        match = re.match(r"^\s*([a-z_]+):\s*(.*)\s*$", line, re.I)
        if match:
            found[match.group(1).strip()] = match.group(2).strip()
    return found


def load_tool(name: str) -> tuple[Any, dict[str, str]]:
    """(Tools instance, frontmatter) exactly the way Open WebUI loads a tool's source."""
    content = Path(TOOL_FILES[name]).read_text(encoding="utf-8")
    module_name = f"tool_{name}_{uuid.uuid4().hex[:6]}"
    module = types.ModuleType(module_name)
    sys.modules[module_name] = module
    module.__dict__["__file__"] = str(TOOL_FILES[name])
    exec(compile(content, str(TOOL_FILES[name]), "exec"), module.__dict__)
    return module.Tools(), extract_frontmatter(content)


def _description(doc: str | None) -> str:
    lines: list[str] = []
    for line in (doc or "").strip().split("\n"):
        line = line.strip()
        if line.startswith((":param", ":return")):
            break
        lines.append(line)
    return "\n".join(lines)


def _param_docs(doc: str | None) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in (doc or "").splitlines():
        match = re.match(r":param (\w+):\s*(.+)", line.strip())
        if match and not match.group(1).startswith("__"):
            found[match.group(1)] = match.group(2)
    return found


def function_model(func: Callable[..., Any]) -> type[BaseModel]:
    hints = get_type_hints(func)
    docs = _param_docs(func.__doc__)
    fields: dict[str, Any] = {}
    for name, param in inspect.signature(func).parameters.items():
        default = param.default if param.default is not param.empty else ...
        hint = hints.get(name, Any)
        fields[name] = (hint, Field(default, description=docs[name])) if name in docs else (hint, default)
    model = create_model(func.__name__, **fields)  # dunder names are dropped by pydantic, as in Open WebUI
    model.__doc__ = _description(func.__doc__)
    return model


def tool_specs(tools: object) -> list[dict[str, Any]]:
    specs = []
    for attr in dir(tools):
        func = getattr(tools, attr)
        if attr.startswith("__") or not callable(func) or inspect.isclass(func):
            continue
        model = function_model(func)
        schema = model.model_json_schema()
        params = {k: v for k, v in schema.items() if k not in ("title", "description")}
        specs.append({"name": attr, "description": model.__doc__ or "", "parameters": params})
    return specs


class Events(list[dict[str, Any]]):
    """An ``__event_emitter__`` that keeps what the tool emitted."""

    async def __call__(self, event: dict[str, Any]) -> None:
        self.append(event)

    def statuses(self) -> list[tuple[str, bool]]:
        return [(e["data"]["description"], e["data"]["done"]) for e in self if e["type"] == "status"]


def tool_outputs(body: dict[str, Any]) -> list[str]:
    """The text of every ``role: tool`` message in a chat completion request, in order."""
    out: list[str] = []
    for message in body.get("messages") or []:
        if message.get("role") != "tool":
            continue
        content = message.get("content")
        if isinstance(content, list):
            content = "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
        out.append(str(content or ""))
    return out


# the answer the fake model gives for the test photo, and the photo
ANSWER = "Transcribed: $\\frac{a}{b} + c$\n\n$$\\sum_{k=1}^{n} k = \\frac{n(n+1)}{2}$$"


def photo() -> bytes:
    img = Image.new("RGB", (480, 160), "white")
    ImageDraw.Draw(img).text((20, 60), "sum k = n(n+1)/2", fill="black")
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def note_id_in(output: str) -> str:
    """The id of the note an analysis was saved as, from the link in the tool's footer."""
    [note_id] = re.findall(r"\[saved\]\(" + re.escape(PUBLIC_URL.rstrip("/")) + r"/#note=([0-9a-f]{32})\)", output)
    return str(note_id)


def wait_for_note(vision_url: str, key: str, note_id: str, deadline_s: float = 30.0) -> dict[str, Any]:
    """The note once the library's writer thread has stored it (saving never holds up an analysis)."""
    end = time.monotonic() + deadline_s
    while True:
        resp = requests.get(f"{vision_url}/api/notes/{note_id}", headers={"Authorization": f"Bearer {key}"}, timeout=10)
        if resp.status_code == 200 or time.monotonic() > end:
            assert resp.status_code == 200, resp.text
            return dict(resp.json())
        time.sleep(0.05)
