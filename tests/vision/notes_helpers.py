"""Helpers of the notes library tests: two client keys, a page, and a client that adds, waits for and finds notes.

A note is made the way users make one: ``POST /api/vision/analyze`` with the fake model scripted to read
the page as the Markdown the test wants; the library writes it in the background, so :meth:`NotesClient.add`
waits (bounded) until ``GET /api/notes/{id}`` answers.
"""

from __future__ import annotations

import functools
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.servers import wait_until

from .helpers import data_url, encode, render_text

__all__ = ["KEY_A", "KEY_B", "NOTE_WAIT_S", "NotesClient", "page_jpeg"]

KEY_A = "key-alice-0123456789abcdef"
KEY_B = "key-bob-fedcba9876543210"
NOTE_WAIT_S = 20.0  # a queued note is written within this (the writer takes it at once when the database is up)


@functools.cache
def page_jpeg() -> bytes:
    """A photographed page (rendered text), large enough that its thumbnail is a shrunk copy."""
    return encode(render_text(["∫₀¹ x² dx = ⅓", "分部积分", "eigenvalues"], size=(1800, 1200), font_size=90))


def bearer(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


class NotesClient:
    def __init__(self, client: FlaskClient, model: FakeOpenAI) -> None:
        self.client = client
        self.model = model

    def request(self, method: str, path: str, key: str | None = KEY_A, **kwargs: Any) -> TestResponse:
        return self.client.open(path, method=method, headers=bearer(key), **kwargs)

    def analyze(self, markdown: str | None = None, key: str | None = KEY_A, **fields: Any) -> dict[str, Any]:
        """One analyze of the page read as ``markdown``; the answer (asserted 200)."""
        if markdown is not None:
            self.model.script(Reply(content=markdown))
        body = {"image": data_url(page_jpeg()), "cache": False, **fields}
        resp = self.request("POST", "/api/vision/analyze", key, json=body)
        assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
        answer: dict[str, Any] = resp.get_json()
        return answer

    def wait(self, note_id: str, key: str | None = KEY_A, timeout: float = NOTE_WAIT_S) -> dict[str, Any]:
        """The note once it is written (``GET /api/notes/{id}``), waiting at most ``timeout`` seconds."""
        found: dict[str, Any] = {}

        def written() -> bool:
            resp = self.request("GET", f"/api/notes/{note_id}", key)
            if resp.status_code == 200:
                found.update(resp.get_json())
            return resp.status_code == 200

        assert wait_until(written, timeout), f"note {note_id} was not written within {timeout} s"
        return found

    def add(self, markdown: str, key: str | None = KEY_A, **fields: Any) -> str:
        """A note of ``key`` reading ``markdown``, written; its id."""
        note_id = self.analyze(markdown, key, **fields)["note_id"]
        assert isinstance(note_id, str) and len(note_id) == 32
        self.wait(note_id, key)
        return note_id

    def search(self, key: str | None = KEY_A, **params: Any) -> dict[str, Any]:
        resp = self.request("GET", "/api/notes", key, query_string=params)
        assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
        page: dict[str, Any] = resp.get_json()
        return page

    def ids(self, key: str | None = KEY_A, **params: Any) -> list[str]:
        return [n["id"] for n in self.search(key, **params)["notes"]]
