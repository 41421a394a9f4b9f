"""Notes in the real vision service for the n8n tests: saved by analyzing a page (the fake model writes the
answer), read back, and imported with chosen dates through the API's JSON Lines import."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

import requests

from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.servers import ServiceProcess, wait_until

from .support import VISION_KEY, data_url, note_photo

__all__ = ["auth", "fetch_note", "import_copies", "save_note", "wait_for_note"]


def auth(key: str = VISION_KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def fetch_note(vision: ServiceProcess, note_id: str, key: str = VISION_KEY) -> requests.Response:
    return requests.get(f"{vision.url}/api/notes/{note_id}", headers=auth(key), timeout=30)


def wait_for_note(vision: ServiceProcess, note_id: str, key: str = VISION_KEY) -> dict[str, Any]:
    """The note once the library's writer thread has stored it (saving never holds up the analyze)."""
    if not wait_until(lambda: fetch_note(vision, note_id, key).status_code == 200, 30):
        raise AssertionError(f"note {note_id} was not stored within 30 s")
    return dict(fetch_note(vision, note_id, key).json())


def save_note(
    vision: ServiceProcess,
    model: FakeOpenAI,
    markdown: str,
    *,
    title: str,
    tags: Sequence[str],
    key: str = VISION_KEY,
    task: str = "transcribe",
) -> str:
    """Analyze a page whose answer is ``markdown``, saved with ``title`` and ``tags``; returns its note id."""
    model.script(Reply(content=markdown))
    body = {"image": data_url(note_photo()), "task": task, "language": "en", "title": title, "tags": list(tags)}
    resp = requests.post(f"{vision.url}/api/vision/analyze", json=body, headers=auth(key), timeout=60)
    assert resp.status_code == 200, resp.text
    note_id = resp.json()["note_id"]
    assert isinstance(note_id, str) and len(note_id) == 32, resp.text
    wait_for_note(vision, note_id, key)
    return note_id


def import_copies(
    vision: ServiceProcess, template_id: str, copies: Sequence[dict[str, Any]], key: str = VISION_KEY
) -> list[str]:
    """Import notes made from one stored note's export line, each with a new id and the fields in ``copies``
    (``title``, ``tags``, ``created_at``…); returns their ids."""
    resp = requests.get(f"{vision.url}/api/notes/export", params={"format": "jsonl"}, headers=auth(key), timeout=60)
    assert resp.status_code == 200, resp.text
    [template] = [n for n in map(json.loads, resp.text.splitlines()) if n["id"] == template_id]
    template.pop("image_b64", None)  # no thumbnail: keeps the import body small
    template["has_image"] = False
    lines = []
    for fields in copies:
        note = {**template, "id": uuid.uuid4().hex, **fields}
        if "created_at" in fields and "updated_at" not in fields:
            note["updated_at"] = fields["created_at"]
        lines.append(json.dumps(note))
    body = ("\n".join(lines) + "\n").encode()
    headers = {**auth(key), "Content-Type": "application/x-ndjson"}
    resp = requests.post(f"{vision.url}/api/notes/import", data=body, headers=headers, timeout=120)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"imported": len(lines), "skipped": 0}
    return [json.loads(line)["id"] for line in lines]
