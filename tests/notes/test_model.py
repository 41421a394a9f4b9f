"""The notes' shapes and pure rules (notes/model.py, answers.py, errors.py): titles, owners, cursors, queries."""

from __future__ import annotations

import base64
import json
import re
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mathnotes.notes import errors
from mathnotes.notes.model import (
    UNTITLED,
    Note,
    NoteSummary,
    SearchQuery,
    body_of,
    decode_cursor,
    derive_title,
    encode_cursor,
    formulas_of,
    iso,
    new_id,
    owner_of,
    parse_time,
    verdict_counts,
    words_of,
)

T0 = datetime(2026, 3, 1, 8, 30, 0, 123456, tzinfo=timezone.utc)


def answer(markdown: str = "", **extra: Any) -> dict[str, Any]:
    return {"task": "solve", "language": "en", "model": "qwen-vl-max", "markdown": markdown, "latex": [], **extra}


@pytest.mark.parametrize(
    ("markdown", "title"),
    [
        ("# Integration by parts\n\nSome text", "Integration by parts"),
        ("Intro line\n\n## Eigenvalues of $A$ ##\nmore", "Eigenvalues of $A$"),  # a heading wins
        ("\n\n  **Solve** $x^2 = 4$ for `x`\nnext", "Solve $x^2 = 4$ for x"),
        ("- first item\n- second", "first item"),
        ("> 1. quoted list", "quoted list"),
        ("$$\n\\int_0^1 x^2\\,dx\n$$", "\\int_0^1 x^2\\,dx"),  # a lone $$ is no title
        ("---\n分部积分法", "分部积分法"),
        ("", UNTITLED),
        ("   \n#\n", UNTITLED),
    ],
)
def test_derive_title(markdown: str, title: str) -> None:
    assert derive_title(answer(markdown)) == title


def test_a_long_title_is_cut_at_a_space_and_never_inside_a_formula() -> None:
    words = "word " * 30
    cut = derive_title(answer(words))
    assert len(cut) <= 80 and cut.endswith("…") and cut == "word " * 15 + "word…"
    math = "Look " * 14 + "$\\int_0^1 x^2 + x^3 + x^4 + x^5\\,dx$ end"
    title = derive_title(answer(math))
    assert title == ("Look " * 14).rstrip() + "…"
    assert len(derive_title(answer("x" * 500))) == 80


def test_titles_come_from_the_statements_without_markdown_and_cope_with_anything() -> None:
    structured = {"problems": [{"statement": "Find $\\lambda$ of $A$", "latex": [], "steps": []}]}
    assert derive_title(answer("", structured=structured)) == "Find $\\lambda$ of $A$"
    for junk in [None, 3, "text", [], {"markdown": 5}, {"structured": {"problems": "x"}}]:
        assert derive_title(junk) == UNTITLED


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=2000))
def test_derive_title_is_total_and_short(markdown: str) -> None:
    title = derive_title(answer(markdown))
    assert 0 < len(title) <= 80
    assert "\n" not in title


def test_owner_is_a_stable_key_id_never_the_key() -> None:
    key = "sk-secret-key-123"
    owner = owner_of(key)
    assert re.fullmatch(r"key:[0-9a-f]{16}", owner)
    assert owner == owner_of(key) != owner_of("another-key")
    assert key not in owner
    assert owner_of(None) == "shared"


def test_new_ids_are_32_hex_and_distinct() -> None:
    made = {new_id() for _ in range(1000)}
    assert len(made) == 1000
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in made)


def test_verdict_counts_count_checked_and_wrong_steps() -> None:
    steps = [{"text": "a", "latex": "", "verdict": v} for v in ("correct", "incorrect", "unchecked", "incorrect")]
    structured = {"problems": [{"statement": "p", "steps": steps}, {"statement": "q", "steps": steps[:1]}]}
    assert verdict_counts(answer(structured=structured)) == (4, 2)
    assert verdict_counts(answer()) == (0, 0)
    assert verdict_counts({"structured": {"problems": [{"steps": ["x", {"verdict": 3}]}, "y"]}}) == (0, 0)


def test_what_the_store_keeps_beside_the_answer() -> None:
    structured = {
        "problems": [
            {"statement": "Solve", "latex": ["x^2=4", " x^2=4 "], "steps": [{"latex": "x=\\pm 2"}, {"latex": ""}]}
        ]
    }
    kept = answer("# Roots\nSolve $x^2=4$.", latex=["x^2=4"], structured=structured)
    assert formulas_of(kept) == ["x^2=4", "x=\\pm 2"]
    assert body_of(kept) == "# Roots\nSolve $x^2=4$."
    assert body_of(answer("", structured=structured)) == "Solve"
    assert words_of("Roots 根", body_of(kept)) == "roots 根 roots solve"
    assert formulas_of(None) == [] and body_of(7) == ""


def test_note_and_summary_json_shapes() -> None:
    note = Note("a" * 32, "key:0123456789abcdef", "T", ("x",), "api", "solve", "en", "m", answer("hi"), T0, T0)
    shown = note.to_json()
    assert "owner" not in shown
    assert shown["created_at"] == "2026-03-01T08:30:00.123Z" and shown["tags"] == ["x"]
    assert json.loads(json.dumps(shown)) == shown
    summary = NoteSummary("a" * 32, "T", (), "solve", "en", "api", T0, T0, formulas=("a", "b", "c", "d"))
    assert summary.to_json()["formulas"] == ["a", "b", "c"]
    assert set(summary.to_json()) == {
        *("id", "title", "tags", "task", "language", "source", "created_at", "updated_at", "has_image"),
        *("snippet", "formulas", "score", "matched"),
    }
    assert iso(datetime(2026, 1, 1)) == "2026-01-01T00:00:00.000Z"  # naive is UTC


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-03-01T08:30:00Z", datetime(2026, 3, 1, 8, 30, tzinfo=timezone.utc)),
        ("2026-03-01T16:30:00+08:00", datetime(2026, 3, 1, 8, 30, tzinfo=timezone.utc)),
        ("2026-03-01", datetime(2026, 3, 1, tzinfo=timezone.utc)),
        ("1772353800", datetime(2026, 3, 1, 8, 30, tzinfo=timezone.utc)),
        ("1772353800.5", datetime(2026, 3, 1, 8, 30, 0, 500000, tzinfo=timezone.utc)),
        ("yesterday", None),
        ("99999999999999999999", None),
        ("999999999999", None),  # far beyond year 9999
        ("", None),
    ],
)
def test_parse_time(value: str, expected: datetime | None) -> None:
    assert parse_time(value) == expected


def test_search_query_from_params() -> None:
    query = SearchQuery.from_params({"q": " 分部积分 parts ", "limit": "5", "since": "2026-01-01", "tag": "calc"})
    assert (query.q, query.limit, query.offset, query.tag) == ("分部积分 parts", 5, 0, "calc")
    assert query.terms == ["分部", "部积", "积分", "parts"]
    assert query.since == datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert SearchQuery.from_params({}) == SearchQuery()


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": "\uff11"}, "limit"),  # a full-width 1 is no number here
        ({"mode": "fuzzy"}, "mode"),
        ({"q": "x" * 10_001}, "q"),
        ({"formula": ["x"]}, "formula"),
        ({"since": "soon"}, "since"),
        ({"since": "2026-02-01", "until": "2026-01-01"}, "since"),
        ({"tag": "t" * 41}, "tag"),
        ({"task": "dance"}, "task"),
        ({"cursor": "not a cursor"}, "cursor"),
    ],
)
def test_bad_search_parameters_are_invalid_queries_naming_the_parameter(params: dict[str, Any], parameter: str) -> None:
    with pytest.raises(errors.InvalidQuery) as caught:
        SearchQuery.from_params(params, tasks=("solve", "transcribe"))
    assert (caught.value.code, caught.value.status, caught.value.details) == (
        "invalid_query",
        400,
        {"parameter": parameter},
    )


def test_modes_that_run() -> None:
    assert SearchQuery(q="eigenvalues").modes(meaning_available=False) == ["words"]
    assert SearchQuery(q="eigenvalues").modes(meaning_available=True) == ["words", "meaning"]
    assert SearchQuery(formula="x^2").modes(True) == ["formula"]
    assert SearchQuery(q=r"$\int_0^1 x^2 dx$").formula_query == r"\int_0^1 x^2 dx"
    assert SearchQuery(q=r"$\int_0^1 x^2 dx$").modes(False) == ["formula"]  # no words outside the math
    mixed = SearchQuery(q=r"parts $\int u\,dv$ and \(x^2\)")
    assert mixed.modes(False) == ["words", "formula"]
    assert mixed.formula_query == r"\int u\,dv x^2"
    assert SearchQuery(q="x^2 + 1").formula_query == "x^2 + 1"
    assert SearchQuery(q="costs $5").formula_query == ""
    assert SearchQuery().modes(True) == []  # newest first
    assert SearchQuery(q="eigen", mode="words").modes(True) == ["words"]
    with pytest.raises(errors.InvalidQuery, match="embedding model"):
        SearchQuery(q="eigen", mode="meaning").modes(False)
    with pytest.raises(errors.InvalidQuery, match="formula"):
        SearchQuery(q="eigen", mode="formula").modes(True)


def test_cursor_round_trip_and_refusals() -> None:
    query = SearchQuery(q="eigen", limit=10)
    cursor = query.next_cursor(more=True)
    assert cursor is not None and re.fullmatch(r"[A-Za-z0-9_-]+", cursor)
    second = SearchQuery.from_params({"q": "eigen", "limit": "10", "cursor": cursor})
    assert second.offset == 10
    assert query.next_cursor(more=False) is None
    with pytest.raises(errors.InvalidQuery, match="another search"):
        SearchQuery.from_params({"q": "other", "cursor": cursor})
    deep = encode_cursor(10**9, query.fingerprint())
    with pytest.raises(errors.InvalidQuery, match="deeper"):
        decode_cursor(deep, query.fingerprint())
    for forged in ["", "!!!!", base64.urlsafe_b64encode(b'{"o": true, "f": "x"}').decode(), "e30", "W10"]:
        with pytest.raises(errors.InvalidQuery):
            decode_cursor(forged, query.fingerprint())


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_any_cursor_is_an_offset_or_an_invalid_query(cursor: str) -> None:
    try:
        offset = decode_cursor(cursor, SearchQuery().fingerprint())
    except errors.InvalidQuery:
        return
    assert 0 <= offset <= 10_000


def test_error_tree() -> None:
    assert issubclass(errors.NotFound, errors.NotesError)
    missing = errors.NotFound()
    assert (missing.code, missing.status, missing.message) == ("note_not_found", 404, "no such note")
    down = errors.Unavailable()
    assert (down.code, down.status, down.headers) == ("notes_unavailable", 503, {"Retry-After": "5"})
    bad = errors.InvalidNote(["title must be a string", "tags must be a list"])
    assert (bad.code, bad.status, bad.message) == ("invalid_request", 400, "title must be a string")
    assert bad.details == {"problems": ["title must be a string", "tags must be a list"]}
    assert errors.TooLarge("import body over 64 MB").status == 413
    assert errors.InvalidQuery("q is empty").details is None
