"""search_notes, loaded as Open WebUI loads it, against the real vision service and its notes library
(SQLite; meaning search through the fake model's embeddings). The pages are saved the way a chat saves
them: read by the tool's own ``analyze_math_image``, which the fake model answers."""

from __future__ import annotations

import asyncio
import base64
import re
from typing import Any

import pytest
import requests

from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.servers import ServiceProcess

from .tools import PERSONAL_KEY, PUBLIC_URL, VISION_KEY, Events, load_tool, note_id_in, photo, wait_for_note

PAGES = {
    "parts": "# Integration by parts\n\nWe use $\\int u\\,dv = uv - \\int v\\,du$ with $u = x$ and $dv = e^x dx$.",
    "area": "# Area under a parabola\n\nThe area is $\\int_{0}^{1} x^{2}\\,\\mathrm{d}x = \\frac{1}{3}$.",
    "eigen": "# 特征值\n\n矩阵的特征值满足 $\\det(A - \\lambda I) = 0$。",
}
PRIVATE = "# Private diary of telescoping sums\n\n$\\sum_{k=1}^{n} (a_{k+1} - a_k) = a_{n+1} - a_1$"
IMAGE = "data:image/png;base64," + base64.b64encode(photo()).decode()


def tool(vision: ServiceProcess, **valves: Any) -> Any:
    tools, _ = load_tool("math_notes_vision")
    tools.valves = tools.Valves(
        **{"VISION_URL": vision.url, "API_KEY": VISION_KEY, "TIMEOUT_S": 30, "PUBLIC_URL": PUBLIC_URL, **valves}
    )
    return tools


def personal(tools: Any, key: str = PERSONAL_KEY) -> dict[str, Any]:
    """``__user__`` as Open WebUI 0.12 passes it to a tool with user valves."""
    return {"id": "u-1", "name": "Student", "role": "user", "valves": tools.UserValves(API_KEY=key)}


def save_page(fake: FakeOpenAI, tools: Any, markdown: str, user: dict[str, Any] | None = None) -> str:
    """Read a page through the tool (the fake model answers ``markdown``); the saved note's id."""
    fake.script(Reply(content=markdown))
    out = asyncio.run(tools.analyze_math_image(task="transcribe", image_url=IMAGE, __user__=user))
    assert out.startswith(markdown), out
    return note_id_in(out)


@pytest.fixture(scope="module")
def library(vision: ServiceProcess, fake_model: FakeOpenAI) -> dict[str, str]:
    """The three pages in the tool key's (shared) library, one more in the personal key's: their ids."""
    tools = tool(vision)
    ids = {name: save_page(fake_model, tools, markdown) for name, markdown in PAGES.items()}
    ids["private"] = save_page(fake_model, tools, PRIVATE, personal(tools))
    for name, note_id in ids.items():
        note = wait_for_note(vision.url, PERSONAL_KEY if name == "private" else VISION_KEY, note_id)
        assert note["source"] == "openwebui"  # analyze_math_image says who sent the page
    return ids


def search(tools: Any, query: str, **kwargs: Any) -> str:
    return str(asyncio.run(tools.search_notes(query, **kwargs)))


def titles(out: str) -> list[str]:
    return re.findall(r"^### \d+\. (.+)$", out, re.M)


def link(note_id: str) -> str:
    return f"[open the note]({PUBLIC_URL}#note={note_id})"


def test_words_find_the_page_with_its_title_date_snippet_and_link(
    vision: ServiceProcess, library: dict[str, str]
) -> None:
    events = Events()
    out = asyncio.run(tool(vision).search_notes("integration by parts", __event_emitter__=events))
    assert titles(out)[0] == "Integration by parts", out
    first = out.split("### 2.")[0]
    assert link(library["parts"]) in first
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC · transcribe · matched by [a-z, ]*words", first), first
    assert "> **Integration** **by** **parts** We use $\\int u\\,dv = uv - \\int v\\,du$ with $u = x$ and" in first
    assert "Formulas: $\\int u\\,dv = uv - \\int v\\,du$ · $u = x$ · $dv = e^x dx$" in first
    assert events.statuses()[0] == ("Searching the notes…", False)
    assert events.statuses()[-1][1] is True and events.statuses()[-1][0].endswith("found")


def test_a_formula_finds_the_page_written_another_way(vision: ServiceProcess, library: dict[str, str]) -> None:
    """The page has ``\\int_{0}^{1} x^{2}\\,\\mathrm{d}x``; the query is how one types it quickly."""
    out = search(tool(vision), "\\int_0^1 x^2 dx")
    assert "searched by formula)" in out.splitlines()[0]
    assert titles(out)[0] == "Area under a parabola"
    assert link(library["area"]) in out.split("### 2.")[0]
    assert "$\\int_{0}^{1} x^{2}\\,\\mathrm{d}x = \\frac{1}{3}$" in out
    # a formula among words ($…$): both run, and the page found both ways comes first
    out = search(tool(vision), "area $\\int_0^1 x^2 dx$")
    assert titles(out)[0] == "Area under a parabola"
    assert re.search(r"matched by (words, formula|formula, words)", out.split("### 2.")[0])


def test_chinese_words_and_meaning(vision: ServiceProcess, library: dict[str, str]) -> None:
    out = search(tool(vision), "特征值")
    assert titles(out)[0] == "特征值" and link(library["eigen"]) in out.split("### 2.")[0]
    # meaning alone: the embeddings put "parabola area" nearest the page that shares those words
    out = search(tool(vision), "parabola area", mode="meaning")
    assert "(searched by meaning)" in out.splitlines()[0]
    assert titles(out)[0] == "Area under a parabola"
    assert "matched by meaning" in out.split("### 2.")[0]


def test_limit_as_a_number_or_a_string(vision: ServiceProcess, library: dict[str, str]) -> None:
    tools = tool(vision)
    query = "\\int x dx = u"  # near the parts page's formulas, then the parabola's integral
    everything = titles(search(tools, query, limit=20))
    assert everything == ["Integration by parts", "Area under a parabola"]
    one = search(tools, query, limit="1")  # what a model sends when it quotes the number
    assert titles(one) == everything[:1] and "More match" in one.splitlines()[0]
    assert titles(search(tools, query, limit=1.0)) == everything[:1]
    assert search(tools, query, limit="many") == "Cannot search: limit must be a number, not 'many'."
    assert titles(search(tool(vision, SEARCH_LIMIT=1), query)) == everything[:1]  # the valve's default


def test_each_key_searches_only_its_own_library(vision: ServiceProcess, library: dict[str, str]) -> None:
    tools = tool(vision)
    mine = personal(tools)
    out = asyncio.run(tools.search_notes("telescoping sums", __user__=mine))
    assert titles(out) == ["Private diary of telescoping sums"] and link(library["private"]) in out
    # the shared key does not see it, and the personal key sees none of the shared pages
    assert "telescoping" not in search(tools, "telescoping sums diary")
    assert "telescoping" not in search(tools, "\\sum_{k=1}^{n} (a_{k+1} - a_k)")
    theirs = asyncio.run(tools.search_notes("integration by parts", __user__=mine))
    assert "Integration by parts" not in theirs
    assert requests.get(
        f"{vision.url}/api/notes/{library['private']}", headers={"Authorization": f"Bearer {VISION_KEY}"}, timeout=10
    ).json()["error"]["code"] == "note_not_found"  # fmt: skip
    # a user valve left empty (or a user without valves) means the tool's key
    shared = asyncio.run(tools.search_notes("integration by parts", __user__=personal(tools, key="")))
    assert titles(shared)[0] == "Integration by parts"


def test_without_the_shared_library_a_personal_key_is_needed(
    vision: ServiceProcess, fake_model: FakeOpenAI, library: dict[str, str]
) -> None:
    tools = tool(vision, SHARED_LIBRARY=False)
    out = search(tools, "integration by parts")
    assert out == "Searching notes needs your own Math Notes key: set API_KEY in this tool's user valves."
    # a page is still read, but not saved anywhere
    fake_model.script(Reply(content="# Unsaved page\n\n$x = 1$"))
    read = asyncio.run(tools.analyze_math_image(image_url=IMAGE))
    assert read.startswith("# Unsaved page")
    assert "[saved]" not in read and "· saved" not in read  # the answer's note_id is null: the API kept nothing
    assert fake_model.requests[-1]["body"]["messages"]  # the model did read it
    # with a personal key, both work as before
    mine = personal(tools)
    assert titles(asyncio.run(tools.search_notes("telescoping", __user__=mine))) == [
        "Private diary of telescoping sums"
    ]


def test_errors_come_back_as_one_sentence(vision: ServiceProcess, library: dict[str, str]) -> None:
    events = Events()
    out = asyncio.run(tool(vision, API_KEY="wrong-key").search_notes("x^2", __event_emitter__=events))
    assert out.startswith("The vision service could not search the notes — unauthorized:") and "(request " in out
    assert events.statuses()[-1][1] is True
    assert search(tool(vision), "x", mode="regex").startswith("Cannot search: unknown mode 'regex'")
    assert search(tool(vision), "  ") == "Cannot search: say what to look for: words, or a formula in LaTeX."
    unreachable = search(tool(vision, VISION_URL="http://127.0.0.1:9", TIMEOUT_S=5), "x")
    assert unreachable.startswith("The Math Notes vision service at http://127.0.0.1:9 could not be reached")
    # hostile input is answered: 10,000 CJK characters, regex-like text, huge LaTeX (cut to 2,000 bytes)
    for query in ("数" * 10_000, "(a+)+$" * 500, "\\frac{" * 2000):
        assert re.match(r"No notes match|[1-3] notes? found", search(tool(vision), query))


def test_no_notes_without_a_query_match(vision: ServiceProcess, library: dict[str, str]) -> None:
    out = search(tool(vision), "zebra quaternion", mode="words")
    assert out == "No notes match (searched by words)."
