"""The Library node's query building and the Vision node's notes fields (compiled JavaScript, run with node)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .harness import call_export

NOTES = "nodes/MathNotesLibrary/notes.js"
FIELDS = "nodes/MathNotesVision/note-fields.js"
EMPTY = {"query": "", "formula": "", "filters": {}, "limit": 50}


@pytest.fixture(autouse=True)
def built(n8n_tarball: Path) -> None:
    """The package is built (the tarball fixture runs ``n8n-node build``)."""


def test_an_empty_search_asks_for_the_newest_notes_with_the_limit_only() -> None:
    assert call_export(NOTES, "searchQuery", EMPTY) == {"limit": 50}


def test_search_settings_become_the_apis_query_parameters() -> None:
    search = {
        "query": "  integration by parts ",
        "formula": "\\int_0^1 x^2 dx",
        "filters": {"mode": "words", "tag": " calculus ", "task": "solve", "since": "2026-05-04T00:00:00"},
        "limit": 7,
    }
    assert call_export(NOTES, "searchQuery", search, "opaque-cursor") == {
        "q": "integration by parts", "formula": "\\int_0^1 x^2 dx", "mode": "words", "tag": "calculus",
        "task": "solve", "since": "2026-05-04T00:00:00", "limit": 7, "cursor": "opaque-cursor",
    }  # fmt: skip
    auto = {**EMPTY, "filters": {"mode": "auto", "tag": "", "since": "", "until": 1767225600}}
    assert call_export(NOTES, "searchQuery", auto) == {"until": "1767225600", "limit": 50}


@pytest.mark.parametrize("limit", [0, 101, -3])
def test_a_limit_outside_the_apis_range_is_refused(limit: int) -> None:
    assert call_export(NOTES, "searchQuery", {**EMPTY, "limit": limit}) == {
        "error": f"limit must be 1 to 100, not {limit}"
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [("", None), (None, None), (" 2026-05-04T10:00:00Z ", "2026-05-04T10:00:00Z"), (1767225600, "1767225600")],
)
def test_times_are_passed_as_iso_or_epoch(value: Any, expected: str | None) -> None:
    assert call_export(NOTES, "toTime", value) == expected


def test_a_time_that_is_not_one_says_so() -> None:
    assert "is not a time" in call_export(NOTES, "toTime", {"day": 3})["error"]


def test_note_ids_are_32_hex_digits() -> None:
    assert call_export(NOTES, "noteId", " 3F2B9C0E6D1A4B7F8E5C2A9D0B1C4E7F ") == "3f2b9c0e6d1a4b7f8e5c2a9d0b1c4e7f"
    for bad in ["", "../export", "3f2b9c0e", "Integration by parts"]:
        assert "is not a note id" in call_export(NOTES, "noteId", bad)["error"], bad


def test_analyze_sends_source_n8n_and_only_the_note_settings_given() -> None:
    assert call_export(FIELDS, "noteFields", {}) == {"source": "n8n"}
    options = {"save": False, "keepImage": False, "title": "  Week 3 ", "tags": "calculus, , homework ",
               "noteSource": "nodered"}  # fmt: skip
    assert call_export(FIELDS, "noteFields", options) == {
        "source": "nodered", "save": False, "keep_image": False, "title": "Week 3", "tags": ["calculus", "homework"]
    }  # fmt: skip
    kept = {"save": True, "keepImage": True, "title": "", "tags": [" a ", "", "b"]}
    assert call_export(FIELDS, "noteFields", kept) == {"source": "n8n", "tags": ["a", "b"]}
