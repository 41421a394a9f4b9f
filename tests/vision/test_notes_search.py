"""Search of the notes library through /api/notes, on SQLite and PostgreSQL: words, formula, meaning, fused.

Notes are made by analyzing a page that the fake model reads as the Markdown each test wants; the
fake model's embeddings are a hashed bag of words, so texts sharing words are nearer.
"""

from __future__ import annotations

from tests.support.fake_openai import FakeOpenAI
from tests.support.servers import wait_until

from .notes_helpers import KEY_A, KEY_B, NOTE_WAIT_S, NotesClient

ENGLISH = "# Integration by parts\n\nWe integrate by parts: $\\int u\\,dv = uv - \\int v\\,du$."
# real Chinese punctuation (full-width colon and comma), as a page written in Chinese has it
CHINESE = "# 分部积分法\n\n分部积分公式\uff1a$\\int u\\,dv = uv - \\int v\\,du$\uff0c用于乘积的积分。"
OTHER = "# Trigonometry\n\nThe identity $\\sin^2 x + \\cos^2 x = 1$ holds for every angle."


def test_words_find_english_and_chinese_notes_with_marked_snippets(notes: NotesClient) -> None:
    english, chinese, other = notes.add(ENGLISH), notes.add(CHINESE), notes.add(OTHER)

    page = notes.search(q="integrate parts", mode="words")
    assert page["modes"] == ["words"]
    assert page["notes"][0]["id"] == english and other not in [n["id"] for n in page["notes"]]
    assert "<mark>" in page["notes"][0]["snippet"]
    assert page["notes"][0]["matched"] == ["words"]

    found = notes.search(q="分部积分", mode="words")["notes"]
    assert found[0]["id"] == chinese and english not in [n["id"] for n in found]
    assert "<mark>" in found[0]["snippet"] and found[0]["title"] == "分部积分法"
    assert [n["id"] for n in notes.search(q="乘积", mode="words")["notes"]] == [chinese]
    assert notes.search(q="eigenvalue", mode="words")["notes"] == []


def test_a_formula_written_another_way_finds_its_note(notes: NotesClient) -> None:
    """The issue's example: \\int_0^1 x^2 dx finds \\int_{0}^{1} x^{2}\\,\\mathrm{d}x."""
    target = notes.add("Area under the parabola: $$\\int_{0}^{1} x^{2}\\,\\mathrm{d}x = \\frac{1}{3}$$")
    near = notes.add("A cubic instead: $$\\int_{0}^{2} t^{3}\\,dt = 4$$")
    notes.add(OTHER)

    page = notes.search(formula="\\int_0^1 x^2 dx")
    assert page["modes"] == ["formula"]
    ids = [n["id"] for n in page["notes"]]
    assert ids[0] == target and "formula" in page["notes"][0]["matched"]
    assert near not in ids[:1]
    assert page["notes"][0]["formulas"][0] == "\\int_{0}^{1} x^{2}\\,\\mathrm{d}x = \\frac{1}{3}"
    # LaTeX typed into the words box is searched as a formula too
    assert notes.ids(q="$\\int_0^1 x^2 dx$", mode="formula")[0] == target


def test_meaning_ranks_by_the_embedding_model(notes: NotesClient, model: FakeOpenAI) -> None:
    eigen = notes.add("# Eigenvalues\n\nThe eigenvalues of a matrix are the roots of its characteristic polynomial.")
    trig = notes.add(OTHER)
    # the vector is stored by the writer after the note itself: wait until meaning search sees both
    assert wait_until(lambda: {eigen, trig} <= set(notes.ids(q="trig", mode="meaning")), NOTE_WAIT_S)

    page = notes.search(q="roots of the characteristic polynomial of a matrix", mode="meaning")
    assert page["modes"] == ["meaning"]
    assert [n["id"] for n in page["notes"]][:2] == [eigen, trig]
    assert page["notes"][0]["matched"] == ["meaning"]
    sent = [r["body"] for r in model.embedding_requests]
    assert sent and all(b["model"] == "text-embedding-v4" and b["dimensions"] == 1024 for b in sent)
    assert any("characteristic polynomial" in " ".join(b["input"]) for b in sent)  # the query's own vector
    assert "meaning" in notes.search(q="eigenvalues")["modes"]  # auto runs it when a model is configured


def test_fusion_puts_first_the_note_that_several_modes_found(notes: NotesClient) -> None:
    """Each mode's best match is another note; fused, the note both found comes first."""
    words_best = notes.add("# Eigenvalues of a matrix\n\nEigenvalues: every square matrix has eigenvalues.")
    formula_best = notes.add("Characteristic equation: $\\det(A - \\lambda I) = 0$")
    both = notes.add("Eigenvalues are the $\\lambda$ that make $\\det(A - \\lambda I)$ vanish.")  # close, not exact
    notes.add(OTHER)
    assert wait_until(lambda: len(notes.ids(q="eigenvalues", mode="meaning")) >= 4, NOTE_WAIT_S)

    query = {"q": "eigenvalues matrix", "formula": "\\det(A-\\lambda I)=0"}
    by_words = notes.ids(**query, mode="words")
    by_formula = notes.ids(**query, mode="formula")
    assert by_words[0] == words_best and formula_best not in by_words
    assert by_formula[0] == formula_best and words_best not in by_formula
    assert both in by_words and both in by_formula

    fused = notes.search(**query)
    assert fused["modes"] == ["words", "formula", "meaning"]
    ranked = {n["id"]: n for n in fused["notes"]}
    assert fused["notes"][0]["id"] == both and {"words", "formula"} <= set(ranked[both]["matched"])
    assert "formula" not in ranked[words_best]["matched"] and "words" not in ranked[formula_best]["matched"]
    scores = [n["score"] for n in fused["notes"]]
    assert scores == sorted(scores, reverse=True) and scores[0] > scores[1]


def test_filters_paging_and_newest_first(notes: NotesClient) -> None:
    first = notes.add("Limits: $\\lim_{x \\to 0} \\frac{\\sin x}{x} = 1$", tags=["calculus"])
    second = notes.add(
        "Series: $\\sum_{n=1}^{\\infty} \\frac{1}{n^2} = \\frac{\\pi^2}{6}$", tags=["calculus", "series"]
    )
    third = notes.add(OTHER, task="solve", tags=["trig"])

    newest = notes.search()
    assert [n["id"] for n in newest["notes"]] == [third, second, first] and newest["modes"] == []
    assert notes.ids(tag="calculus") == [second, first]
    assert notes.ids(tag="series") == [second]
    assert notes.ids(task="solve") == [third]
    created = notes.search(limit=3)["notes"][1]["created_at"]  # the second note's time
    assert notes.ids(since=created) == [third, second]
    assert notes.ids(until=created) == [first]

    one = notes.search(limit=1)
    assert [n["id"] for n in one["notes"]] == [third] and one["next_cursor"]
    two = notes.search(limit=1, cursor=one["next_cursor"])
    assert [n["id"] for n in two["notes"]] == [second]
    three = notes.search(limit=1, cursor=two["next_cursor"])
    assert [n["id"] for n in three["notes"]] == [first] and three["next_cursor"] is None
    refused = notes.request("GET", "/api/notes", query_string={"limit": 1, "tag": "trig", "cursor": one["next_cursor"]})
    assert refused.status_code == 400 and refused.get_json()["error"]["code"] == "invalid_query"


def test_search_sees_only_the_callers_notes(notes: NotesClient) -> None:
    mine = notes.add(ENGLISH, key=KEY_A)
    theirs = notes.add(ENGLISH, key=KEY_B)
    for params in ({}, {"q": "integrate parts"}, {"formula": "\\int u\\,dv"}, {"q": "integration", "mode": "meaning"}):
        assert wait_until(lambda p=params: mine in notes.ids(KEY_A, **p), NOTE_WAIT_S)  # type: ignore[misc]
        assert theirs not in notes.ids(KEY_A, **params), params
        assert mine not in notes.ids(KEY_B, **params), params
