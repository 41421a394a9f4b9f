"""search_notes' pure parts, from the tool's source as Open WebUI loads it: how a query becomes the
``GET /api/notes`` parameters, and how an answer becomes Markdown the chat renders (KaTeX ``$…$``)."""

from __future__ import annotations

import re
import sys
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mathnotes.notes.text import query_terms, snippet

from .tools import load_tool

TOOL = sys.modules[type(load_tool("math_notes_vision")[0]).__module__]
DOLLARS = re.compile(r"(?<!\\)\$")


def test_a_query_is_words_a_formula_or_both() -> None:
    params = TOOL.search_params
    assert params("integration by parts", limit=5) == {"q": "integration by parts", "limit": "5"}
    assert params("  \\int_0^1 x^2 dx ") == {"formula": "\\int_0^1 x^2 dx", "limit": "5"}
    assert params("x^2") == {"formula": "x^2", "limit": "5"}
    assert params("特征值") == {"q": "特征值", "limit": "5"}
    # $…$ among words: the formula goes as formula=, the words around it as q=
    assert params("area under $\\int_0^1 x^2 dx$ please", limit=3) == {
        "formula": "\\int_0^1 x^2 dx",
        "q": "area under please",
        "limit": "3",
    }
    assert params("$$\\frac{a}{b}$$") == {"formula": "\\frac{a}{b}", "limit": "5"}
    # an explicit mode wins
    assert params("x^2 notes", "words") == {"q": "x^2 notes", "mode": "words", "limit": "5"}
    assert params("eigenvalues", "Meaning") == {"q": "eigenvalues", "mode": "meaning", "limit": "5"}
    assert params("the $a^2+b^2$ page", "formula") == {"formula": "a^2+b^2", "mode": "formula", "limit": "5"}
    assert params("a^2+b^2", "formula") == {"formula": "a^2+b^2", "mode": "formula", "limit": "5"}
    assert params("x", "auto") == {"q": "x", "limit": "5"}
    with pytest.raises(ValueError, match="unknown mode 'regex'"):
        params("x", "regex")
    with pytest.raises(ValueError, match="say what to look for"):
        params("   ")
    # cut to what a request line holds percent-encoded, never inside a character
    assert len(params("a" * 50_000)["q"]) == TOOL.MAX_QUERY_BYTES == 2000
    assert params("数" * 10_000)["q"] == "数" * 666


@pytest.mark.parametrize(
    ("sent", "wanted"),
    [(0, 5), ("", 5), (3, 3), ("3", 3), (" 7 ", 7), ("2.0", 2), (2.9, 2), (500, 20), ("-4", 1)],
)
def test_limit_takes_numbers_and_numbers_in_strings(sent: object, wanted: int) -> None:
    """0 or empty: the tool's default (5 here); out of range: cut to 1..20."""
    assert TOOL.limit_value(sent, 5) == wanted


@pytest.mark.parametrize("sent", ["five", "nan", "inf", True, [3], {"n": 1}])
def test_limit_refuses_what_is_not_a_number(sent: object) -> None:
    with pytest.raises(ValueError, match="limit must be a number"):
        TOOL.limit_value(sent, 5)


def test_snippets_become_one_line_of_markdown() -> None:
    plain = TOOL.plain_snippet
    assert plain("we use <mark>integration</mark> by\n parts &amp; more") == "we use **integration** by parts & more"
    assert plain("&lt;b&gt; is not HTML") == "<b> is not HTML"
    # Markdown block marks at line starts would make a heading or a list inside the quote: dropped
    assert plain("# <mark>Sums</mark>\n\n- one\n  2. two\n&gt; three #4 - 5") == "**Sums** one two three #4 - 5"
    # math stays math: no bold inside it, $$ display math inline
    assert plain("<mark>area</mark> $$\\int_0^1 x^2 dx$$ is") == "**area** $\\int_0^1 x^2 dx$ is"
    assert plain("<mark>x</mark> and $<mark>x</mark>^2$") == "**x** and $x^2$"
    # the excerpt cut a formula (the cut end shows …): its orphan $ goes, at the start or at the end
    assert plain("…x^2 dx$ is the <mark>area</mark> of $y$") == "…x^2 dx is the **area** of $y$"
    assert plain("the <mark>area</mark> is $y$ or $\\int_0^1 x^2…") == "the **area** is $y$ or \\int_0^1 x^2…"
    # cut at both ends: the reading that keeps LaTeX inside $…$
    cut_twice = "…x^2 dx$ is the <mark>area</mark> of $\\frac{1}{3}$ and more…"
    assert plain(cut_twice) == "…x^2 dx is the **area** of $\\frac{1}{3}$ and more…"
    cut_twice = "…the <mark>area</mark> is $\\frac{1}{3}$ of $\\int_0^1 x^2…"
    assert plain(cut_twice) == "…the **area** is $\\frac{1}{3}$ of \\int_0^1 x^2…"
    assert plain("costs \\$5 and $x$") == "costs \\$5 and $x$"
    assert plain("") == ""


@given(st.text(alphabet=st.sampled_from(list("ab $\\<>/&;mark\x01\x02\n特")), max_size=300))
def test_snippets_are_always_balanced(snippet: str) -> None:
    out = TOOL.plain_snippet(snippet)
    assert len(DOLLARS.findall(out)) % 2 == 0
    assert "\x01" not in out and "\x02" not in out and "\n" not in out


def summary(**fields: Any) -> dict[str, Any]:
    note = {
        "id": "0123456789abcdef0123456789abcdef", "title": "Area under a parabola", "tags": ["calculus"],
        "task": "solve", "language": "en", "source": "openwebui", "created_at": "2026-03-01T14:05:09+00:00",
        "updated_at": "2026-03-01T14:05:09+00:00", "has_image": True,
        "snippet": "the <mark>area</mark> is $\\int_0^1 x^2 dx$", "formulas": ["\\int_0^1 x^2 dx", "\\frac{1}{3}"],
        "score": 0.03, "matched": ["words", "formula"],
    }  # fmt: skip
    return {**note, **fields}


def test_a_page_of_notes_renders_with_titles_dates_math_and_links() -> None:
    page = {"notes": [summary()], "next_cursor": None, "modes": ["words", "formula"], "took_ms": 3.2}
    out = TOOL.render_notes(page, "https://notes.example.com/")
    assert out.splitlines()[0] == "1 note found (searched by words, formula)."
    assert "### 1. Area under a parabola" in out
    assert "2026-03-01 14:05 UTC · solve · `calculus` · matched by words, formula" in out
    assert "[open the note](https://notes.example.com/#note=0123456789abcdef0123456789abcdef)" in out
    assert "> the **area** is $\\int_0^1 x^2 dx$" in out
    assert "Formulas: $\\int_0^1 x^2 dx$ · $\\frac{1}{3}$" in out
    # without PUBLIC_URL: the id, no link; a time in another zone is shown in UTC
    other = summary(created_at="2026-03-01T22:05:00+08:00", formulas=["x" * 301], snippet="", tags=[])
    out = TOOL.render_notes({"notes": [other], "modes": ["formula"], "next_cursor": "abc"}, "")
    assert "2026-03-01 14:05 UTC · solve · matched by words, formula · note `0123456789abcdef0123456789abcdef`" in out
    assert "](" not in out and "Formulas" not in out and "> " not in out  # a formula too long to show is left out
    assert "More match" in out.splitlines()[0]
    assert TOOL.render_notes({"notes": [], "modes": ["words"]}, "") == "No notes match (searched by words)."


def test_a_saved_analysis_links_to_its_note() -> None:
    answer = {"markdown": "$x$", "model": "m", "note_id": "ab" * 16}
    assert TOOL.render_answer(answer, "https://n.test").endswith(f"· [saved](https://n.test/#note={'ab' * 16})</sub>")
    assert TOOL.render_answer(answer).endswith("m · saved</sub>")
    assert TOOL.render_answer({**answer, "note_id": None}).endswith("Math Notes vision · m</sub>")


@pytest.mark.parametrize(
    ("query", "width", "bold"),
    [("integration parts", 160, True), ("x", 160, False), ("handy", 140, True), ("", 120, False)],
)
def test_snippets_of_the_library_keep_their_maths(query: str, width: int, bold: bool) -> None:
    """Real snippets (the library's own ``snippet``: cut ends show …, hits may fall inside a formula): what
    the chat shows between $…$ is always a piece of one of the page's formulas, never prose."""
    formulas = ["\\int u\\,dv = uv - \\int v\\,du", "u = x", "dv = e^x dx"]
    body = "We use ${}$ with ${}$ and ${}$. ".format(*formulas) * 3 + "Integration by parts is handy."
    out = TOOL.plain_snippet(snippet(body, query_terms(query), width))
    spans = DOLLARS.split(out)[1::2]
    assert spans and all(any(span.strip("…") in formula for formula in formulas) for span in spans), out
    assert "<mark>" not in out and ("**" in out) == bold  # "x" is found only inside formulas: no bold there
