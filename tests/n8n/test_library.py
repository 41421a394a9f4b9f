"""The Math Notes Library node in a running n8n against the real vision service (notes library on SQLite):
search, get and delete behind test webhooks, the analyze fields of the Vision node, and the node as an AI
Agent's tool driven by the fake model."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import requests

from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.servers import ServiceProcess

from .harness import N8nServer, Receiver
from .notes import fetch_note, import_copies, save_note, wait_for_note
from .support import WEBHOOK_AUTH, note_photo

pytestmark = pytest.mark.usefixtures("n8n")

Running = tuple[N8nServer, dict[str, dict[str, Any]]]

EIGEN = "The eigenvalues of $A$ solve $\\det(A - \\lambda I) = 0$, so $\\lambda_1 = 2$ and $\\lambda_2 = 3$."
INTEGRAL = "# Area under a parabola\n\n$$\\int_{0}^{1} x^{2}\\,\\mathrm{d}x = \\frac{1}{3}$$"
PARTS = "Integration by parts: $\\int u\\,dv = uv - \\int v\\,du$, here $u = x$, $dv = e^x dx$."


def call(n8n: Running, operation: str, **body: Any) -> Any:
    """POST to the test webhook in front of one Library node; its items (one for get/delete)."""
    resp = requests.post(f"{n8n[0].url}/webhook/test/notes/{operation}", json=body, timeout=120)
    assert resp.status_code == 200, resp.text
    return resp.json()


def found(items: Any) -> list[dict[str, Any]]:
    """The notes of a search answer (a search without results outputs one empty item: alwaysOutputData)."""
    items = items if isinstance(items, list) else [items]
    return [item for item in items if item]


@pytest.fixture
def topic() -> str:
    """A tag of this test's own, so notes saved by other tests never match."""
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def three_notes(vision: ServiceProcess, model: FakeOpenAI, topic: str) -> dict[str, str]:
    return {
        "eigen": save_note(vision, model, EIGEN, title="Eigenvalues of a 2x2 matrix", tags=[topic, "algebra"]),
        "integral": save_note(vision, model, INTEGRAL, title="Area under a parabola", tags=[topic, "calculus"]),
        "parts": save_note(vision, model, PARTS, title="Integration by parts", tags=[topic, "calculus"]),
    }


def test_search_by_words_and_by_formula(n8n: Running, three_notes: dict[str, str], topic: str) -> None:
    by_words = found(call(n8n, "search", q="eigenvalues", tag=topic, mode="words"))
    assert [n["id"] for n in by_words] == [three_notes["eigen"]]
    [eigen] = by_words
    assert eigen["title"] == "Eigenvalues of a 2x2 matrix" and set(eigen["tags"]) == {topic, "algebra"}
    assert "<mark>eigenvalues</mark>" in eigen["snippet"].lower() and "words" in eigen["matched"]
    assert eigen["source"] == "api" and eigen["task"] == "transcribe"

    # the formula as typed matches the note's \int_{0}^{1} x^{2}\,\mathrm{d}x after normalisation
    by_formula = found(call(n8n, "search", formula="\\int_0^1 x^2 dx", tag=topic, mode="formula"))
    assert by_formula[0]["id"] == three_notes["integral"] and "formula" in by_formula[0]["matched"]
    assert by_formula[0]["formulas"][0].replace(" ", "").startswith("\\int_{0}^{1}x^{2}")

    tagged = found(call(n8n, "search", tag="calculus", q="integration parts", mode="words"))
    assert three_notes["parts"] in [n["id"] for n in tagged]
    assert found(call(n8n, "search", q="eigenvalues", tag="calculus", mode="words")) == []


def test_limit_return_all_and_since(n8n: Running, vision: ServiceProcess, model: FakeOpenAI, topic: str) -> None:
    """105 imported notes a day apart: a limit gives that many, Return All follows next_cursor over two pages
    (100 per page), and Created After keeps the notes from that day on."""
    template = save_note(vision, model, PARTS, title="Template", tags=["template"])
    start = datetime(2025, 3, 1, 12, tzinfo=timezone.utc)
    copies = [
        {"title": f"Bulk note {i}", "tags": [topic], "created_at": (start - timedelta(days=i)).isoformat()}
        for i in range(105)
    ]
    ids = import_copies(vision, template, copies)

    assert len(found(call(n8n, "search", tag=topic, limit=7))) == 7
    every = found(call(n8n, "search-all", tag=topic))
    assert sorted(n["id"] for n in every) == sorted(ids)
    assert [n["title"] for n in every[:3]] == ["Bulk note 0", "Bulk note 1", "Bulk note 2"]  # newest first
    since = found(call(n8n, "search-all", tag=topic, since="2025-02-19T00:00:00Z"))
    assert sorted(n["title"] for n in since) == sorted(f"Bulk note {i}" for i in range(11))


def test_get_returns_the_whole_note_and_delete_removes_it(
    n8n: Running, vision: ServiceProcess, three_notes: dict[str, str]
) -> None:
    note = call(n8n, "get", id=three_notes["parts"])
    assert note["id"] == three_notes["parts"] and note["title"] == "Integration by parts"
    assert note["answer"]["markdown"] == PARTS and note["answer"]["task"] == "transcribe"
    assert note["has_image"] is True and note["model"]

    assert call(n8n, "delete", id=three_notes["parts"].upper()) == {"id": three_notes["parts"], "deleted": True}
    assert fetch_note(vision, three_notes["parts"]).status_code == 404
    for operation in ("get", "delete"):
        item = call(n8n, operation, id=three_notes["parts"])
        assert item["error"]["code"] == "note_not_found" and item["error"]["status"] == 404, item
        assert item["error"]["request_id"] and item["message"].startswith("note_not_found: ")
    assert fetch_note(vision, three_notes["eigen"]).status_code == 200  # only that note went


def test_a_malformed_note_id_is_refused_by_the_node(n8n: Running, three_notes: dict[str, str]) -> None:
    item = call(n8n, "delete", id="../export")
    assert item["error"]["code"] == "invalid_input" and "is not a note id" in item["message"]
    assert item["error"]["status"] is None  # never sent


def test_the_vision_node_saves_a_note_with_title_tags_and_source_n8n(
    n8n: Running, vision: ServiceProcess, model: FakeOpenAI, receiver: Receiver
) -> None:
    url = receiver.serve("/library-page.jpg", note_photo(), "image/jpeg")
    model.script(Reply(content="$e^{i\\pi} + 1 = 0$"), Reply(content="not kept"))
    body = {"url": url, "task": "explain", "prompt": "", "title": "Euler's identity", "tags": "complex, week 3"}
    answer = requests.post(f"{n8n[0].url}/webhook/test/vision-url", json=body, timeout=60).json()
    note = wait_for_note(vision, answer["note_id"])
    assert note["title"] == "Euler's identity" and note["tags"] == ["complex", "week 3"]
    assert note["source"] == "n8n" and note["task"] == "explain" and note["answer"]["markdown"] == answer["markdown"]

    unsaved = requests.post(f"{n8n[0].url}/webhook/test/vision-url", json={**body, "save": False}, timeout=60).json()
    assert unsaved["markdown"] == "not kept" and unsaved["note_id"] is None


def test_the_analyze_webhook_answers_the_note_id(n8n: Running, vision: ServiceProcess, model: FakeOpenAI) -> None:
    model.script(Reply(content="Completing the square: $x^2 + 2x + 1 = (x+1)^2$"))
    resp = requests.post(
        f"{n8n[0].url}/webhook/math-notes/analyze",
        params={"task": "solve", "title": "Completing the square", "tags": "algebra,webhook"},
        files={"file": ("note.jpg", note_photo(), "image/jpeg")},
        headers=WEBHOOK_AUTH,
        timeout=60,
    )
    assert resp.status_code == 200, resp.text
    note = wait_for_note(vision, resp.headers["X-Note-Id"])
    assert note["title"] == "Completing the square" and note["tags"] == ["algebra", "webhook"]
    assert note["source"] == "n8n" and note["task"] == "solve" and note["answer"]["markdown"] == resp.text


def test_an_ai_agent_searches_the_notes_with_the_library_tool(
    n8n: Running, vision: ServiceProcess, model: FakeOpenAI
) -> None:
    word = f"zq{uuid.uuid4().hex[:10]}"  # a word only this note has
    note_id = save_note(vision, model, f"The {word} method: ${word}(x) = x^2$.", title=f"On {word}", tags=["agent"])
    model.script(
        Reply(tool_calls=[{"name": "Search_notes", "arguments": {"words": word}}]),
        Reply(content=f"You wrote about {word} this week."),
    )
    asked = len(model.requests)
    question = {"question": f"What did I write about {word}?"}
    resp = requests.post(f"{n8n[0].url}/webhook/test/notes/agent", json=question, timeout=120)
    assert resp.status_code == 200, resp.text
    assert resp.json()["output"] == f"You wrote about {word} this week."
    first, second = model.requests[asked:]
    [tool] = [t for t in first["body"]["tools"] if t["function"]["name"] == "Search_notes"]
    assert "words" in tool["function"]["parameters"]["properties"]
    [result] = [m for m in second["body"]["messages"] if m.get("role") == "tool"]
    content = result["content"] if isinstance(result["content"], str) else json.dumps(result["content"])
    assert note_id in content and f"On {word}" in content
