"""The Library facade on real SQLite and PostgreSQL + pgvector, with the fake model's embeddings.

Saving goes through the real writer thread; a test waits for the note to arrive (``arrived``), never
for a time. Faults (a database killed mid-stream, a locked SQLite file) are in ``test_library_faults.py``.
"""

from __future__ import annotations

import io
import itertools
import json
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from mathnotes.notes.db import NotesConfig
from mathnotes.notes.errors import InvalidNote, InvalidQuery, NotFound
from mathnotes.notes.library import Library
from mathnotes.notes.model import SearchQuery
from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.servers import wait_until

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc)
JPEG = b"\xff\xd8\xff\xe0 a small jpeg"
X = "\\int x e^x dx"


def ticking() -> Callable[[], datetime]:
    """A clock one minute later at every call, so creation order is the order of saves."""
    counter = itertools.count()
    return lambda: T0 + timedelta(minutes=next(counter))


def answer(markdown: str, *latex: str, task: str = "solve") -> dict[str, Any]:
    return {"task": task, "language": "en", "model": "qwen-vl", "markdown": markdown, "latex": list(latex)}


def open_library(config: NotesConfig) -> Library:
    library = Library(config, clock=ticking())
    library.start()
    return library


@pytest.fixture
def library(notes_backend: NotesConfig) -> Iterator[Library]:
    library = open_library(notes_backend)
    yield library
    library.close()


@pytest.fixture
def meaning_library(notes_backend: NotesConfig, model: FakeOpenAI) -> Iterator[Library]:
    config = replace(notes_backend, embedding_base_url=model.base_url, embedding_api_key="sk-test")
    library = open_library(config)
    yield library
    library.close()


def arrived(library: Library, owner: str, *ids: str | None) -> None:
    assert all(ids), "every save returned an id"
    assert wait_until(lambda: all(library.store.get(i, owner) for i in ids if i), 60), "notes never arrived"


def search(library: Library, owner: str = "key:a", **params: str) -> Any:
    return library.search(SearchQuery.from_params(params), owner)


def test_a_saved_note_can_be_read_listed_patched_and_deleted(library: Library) -> None:
    note_id = library.save(
        answer("# Eigenvalues\nof $A$", "Av=\\lambda v"), "key:a", "page", tags=("la",), image_jpeg=JPEG
    )
    arrived(library, "key:a", note_id)
    assert note_id is not None
    note = library.get(note_id, "key:a")
    assert (note.title, note.tags, note.source, note.task, note.has_image) == (
        "Eigenvalues",
        ("la",),
        "page",
        "solve",
        True,
    )
    assert library.image(note_id, "key:a") == (JPEG, "image/jpeg")
    page = search(library)
    assert [n.id for n in page.notes] == [note_id] and page.modes == [] and page.next_cursor is None
    patched = library.patch(note_id, "key:a", title="Spectra", tags=("exam",))
    assert (patched.title, patched.tags) == ("Spectra", ("exam",)) and patched.updated_at > patched.created_at
    library.delete(note_id, "key:a")
    with pytest.raises(NotFound):
        library.get(note_id, "key:a")


def test_images_are_kept_only_when_allowed_and_small_enough(notes_backend: NotesConfig) -> None:
    library = open_library(replace(notes_backend, image_max_bytes=len(JPEG)))
    try:
        small = library.save(answer("a"), "key:a", image_jpeg=JPEG)
        large = library.save(answer("b"), "key:a", image_jpeg=JPEG + b"!")
        arrived(library, "key:a", small, large)
        assert small and large
        assert library.get(small, "key:a").has_image and not library.get(large, "key:a").has_image
        with pytest.raises(NotFound):
            library.image(large, "key:a")
    finally:
        library.close()


def test_fusion_puts_the_note_both_modes_found_first(library: Library) -> None:
    a = library.save(
        answer("integration by parts and many other words about series limits and sums", X), "key:a", title="A"
    )
    b = library.save(
        answer("integration by parts, integration by parts", "\\sin^2 x + \\cos^2 x = 1"), "key:a", title="B"
    )
    c = library.save(answer("a page about something else", "\\int x\\,e^{x}\\,\\mathrm{d}x"), "key:a", title="C")
    arrived(library, "key:a", a, b, c)
    words = search(library, q="integration by parts", mode="words")
    formula = search(library, formula=X, mode="formula")
    assert [n.id for n in words.notes] == [b, a]  # B says it most
    assert [n.id for n in formula.notes] == [c, a]  # both exact; the newest first
    fused = search(library, q="integration by parts", formula=X)
    assert fused.modes == ["words", "formula"]
    assert fused.notes[0].id == a and fused.notes[0].matched == ("words", "formula")
    assert {n.id: n.matched for n in fused.notes[1:]} == {b: ("words",), c: ("formula",)}
    assert fused.notes[0].score > fused.notes[1].score
    assert "<mark>integration</mark>" in fused.notes[0].snippet and fused.notes[0].formulas == (X,)


def test_snippets_read_the_markdown_as_text(library: Library) -> None:
    note = library.save(answer("## **Integration** by parts\n\n- pick $u = x$\n> then `dv`"), "key:a")
    arrived(library, "key:a", note)
    [found] = search(library, q="integration").notes
    assert found.snippet == "<mark>Integration</mark> by parts pick $u = x$ then dv"


def test_a_formula_inside_q_is_searched_as_a_formula(library: Library) -> None:
    a = library.save(answer("area", "\\int_{0}^{1} x^{2}\\,\\mathrm{d}x"), "key:a")
    arrived(library, "key:a", a)
    page = search(library, q="$\\int_0^1 x^2 dx$")
    assert page.modes == ["formula"] and [n.id for n in page.notes] == [a]


def test_pages_follow_their_cursor_to_the_end(library: Library) -> None:
    ids = [library.save(answer(f"matrix number {i}"), "key:a") for i in range(25)]
    arrived(library, "key:a", *ids)
    for params in ({"q": "matrix"}, {}):
        seen: list[str] = []
        cursor: str | None = ""
        while cursor is not None and len(seen) < 100:
            page = search(library, limit="10", **params, **({"cursor": cursor} if cursor else {}))
            seen += [n.id for n in page.notes]
            cursor = page.next_cursor
        assert sorted(seen) == sorted(i for i in ids if i) and len(seen) == 25, params
        if not params:
            assert seen == list(reversed(ids))  # the listing: newest first


def test_every_search_with_a_query_is_logged(library: Library) -> None:
    arrived(library, "key:a", library.save(answer("matrix"), "key:a"))
    search(library, q="matrix")
    search(library)  # the newest-first listing is not a search
    with library.db.connection() as conn:
        rows = conn.execute("SELECT owner, modes, results FROM search_log").fetchall()
    assert [tuple(r) for r in rows] == [("key:a", "words", 1)]


def test_meaning_search_uses_the_embedding_model(meaning_library: Library, model: FakeOpenAI) -> None:
    library = meaning_library
    p = library.save(answer("eigenvalues of a symmetric matrix are real"), "key:a", title="P")
    q = library.save(answer("the derivative of sine is cosine"), "key:a", title="Q")
    r = library.save(answer("integration by parts formula"), "key:a", title="R")
    arrived(library, "key:a", p, q, r)
    assert wait_until(lambda: not library.store.missing_embeddings(10), 60)
    page = search(library, q="symmetric matrices and their eigenvalues", mode="meaning")
    assert page.modes == ["meaning"] and page.notes[0].id == p
    assert search(library, q="eigenvalues").modes == ["words", "meaning"]
    sent = model.embedding_requests[-1]["body"]
    assert (sent["model"], sent["dimensions"]) == ("text-embedding-v4", 1024)


def test_a_failed_embedding_is_backfilled_and_a_failed_query_vector_drops_the_mode(
    meaning_library: Library, model: FakeOpenAI
) -> None:
    library = meaning_library
    model.script_embeddings(Reply(status=500))
    note_id = library.save(answer("eigenvalues everywhere"), "key:a")
    arrived(library, "key:a", note_id)
    assert wait_until(lambda: len(model.embedding_requests) >= 1, 30)
    assert [i for i, _ in library.store.missing_embeddings(10)] == [note_id]
    assert library.backfill() is False  # done: nothing more to give a vector
    assert library.store.missing_embeddings(10) == []
    model.script_embeddings(Reply(status=503))
    page = search(library, q="eigenvalues")
    assert page.modes == ["words"] and [n.id for n in page.notes] == [note_id]
    assert search(library, q="eigenvalues", mode="meaning").notes[0].id == note_id


def test_meaning_asked_for_without_a_model_is_an_invalid_query(library: Library) -> None:
    with pytest.raises(InvalidQuery, match="embedding model"):
        search(library, q="anything", mode="meaning")


def test_a_second_owner_cannot_read_search_change_or_delete_the_first_owners_notes(meaning_library: Library) -> None:
    library = meaning_library
    mine = library.save(answer("private eigenvalues", "Av=2v"), "key:a", title="Mine", image_jpeg=JPEG)
    arrived(library, "key:a", mine)
    assert mine and wait_until(lambda: not library.store.missing_embeddings(10), 60)
    for attempt in (
        lambda: library.get(mine, "key:b"),
        lambda: library.image(mine, "key:b"),
        lambda: library.patch(mine, "key:b", title="Theirs"),
        lambda: library.delete(mine, "key:b"),
    ):
        with pytest.raises(NotFound) as caught:
            attempt()
        assert caught.value.code == "note_not_found"
    for params in ({"q": "private eigenvalues"}, {"formula": "Av=2v"}, {"q": "eigenvalues", "mode": "meaning"}, {}):
        assert search(library, "key:b", **params).notes == [], params
    assert b"".join(library.export("key:b")) == b""
    note = library.get(mine, "key:a")
    assert note.title == "Mine" and library.image(mine, "key:a") == (JPEG, "image/jpeg")


HOSTILE = [
    {"q": "积分" * 5000},  # 10 kB of CJK
    {"q": "(a+)+$ .* [^x] \\d{1000} %_% ' OR 1=1 -- \" NEAR( * AND : ^ \\"},
    {"q": "integration* OR parts NOT x AND (a | !b) & c:d <-> e"},
    {"q": "a" * 10000},
    {"formula": "\\frac{" * 1666},
    {"formula": "x^" * 5000},
    {"formula": "{" * 5000 + "}" * 5000},
    {"q": "%", "formula": "%_\\%"},
    {"q": "inte\x00gration", "formula": "\x00", "tag": "\x00t"},  # NUL: PostgreSQL refuses it in text
]


@pytest.mark.parametrize("params", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_queries_are_answered_in_bounded_time(meaning_library: Library, params: dict[str, str]) -> None:
    library = meaning_library
    ids = [library.save(answer(f"integration by parts 积分 {i} %_", "\\frac{a}{b}", "x^2"), "key:a") for i in range(5)]
    arrived(library, "key:a", *ids)
    started = time.monotonic()
    page = search(library, **params)
    assert time.monotonic() - started < 15  # bounded: the ceilings (2 s a statement, 3 s the vector) plus slack
    assert all(n.id in ids for n in page.notes)
    for n in page.notes:  # the snippet's only tags are the marks
        assert "<" not in n.snippet.replace("<mark>", "").replace("</mark>", "")


def test_export_and_import_carry_every_note_across_libraries(library: Library, tmp_path: Path) -> None:
    ids = [
        library.save(answer("# One\n$x$", "x"), "key:a", tags=("t1",), image_jpeg=JPEG),
        library.save(answer("# 第二页\n积分"), "key:a", source="cli"),
    ]
    arrived(library, "key:a", *ids)
    lines = b"".join(library.export("key:a")).decode().splitlines()
    assert [json.loads(line)["id"] for line in lines] == ids
    target = open_library(NotesConfig(notes_dir=str(tmp_path / "other")))
    try:
        assert target.import_("key:b", lines) == (2, 0)
        assert target.import_("key:b", lines) == (0, 2)
        for note_id in ids:
            assert note_id is not None
            before, after = library.get(note_id, "key:a"), target.get(note_id, "key:b")
            assert replace(after, owner="key:a") == before
        assert target.image(ids[0] or "", "key:b") == (JPEG, "image/jpeg")
        assert [n.id for n in search(target, "key:b", q="积分").notes] == [ids[1]]
    finally:
        target.close()


def test_the_markdown_export_is_a_zip_of_files_with_front_matter(library: Library) -> None:
    note_id = library.save(answer("# Green's theorem\n$\\oint P\\,dx$"), "key:a", tags=("calc",))
    arrived(library, "key:a", note_id)
    archive = zipfile.ZipFile(io.BytesIO(b"".join(library.export("key:a", "markdown"))))
    (name,) = archive.namelist()
    assert name == f"2026-03-01-green-s-theorem-{(note_id or '')[:8]}.md"
    _, front, body = archive.read(name).decode().split("---\n", 2)
    meta = yaml.safe_load(front)
    assert (meta["id"], meta["title"], meta["tags"]) == (note_id, "Green's theorem", ["calc"])
    assert body.strip() == "# Green's theorem\n$\\oint P\\,dx$"
    with pytest.raises(InvalidQuery):
        library.export("key:a", "pdf")


def test_an_import_with_a_bad_line_names_it_and_imports_nothing(library: Library) -> None:
    good = json.dumps({"answer": answer("fine")})
    lines = [good, "", "{not json", json.dumps({"id": "X" * 32, "answer": {}}), json.dumps({"tags": "one"})]
    with pytest.raises(InvalidNote) as caught:
        library.import_("key:a", lines)
    assert caught.value.problems == [
        "line 3: not a JSON object",
        "line 4: id must be 32 lowercase hex characters",
        "line 5: answer must be an object (the analyze answer)",
        "line 5: tags must be a list of at most 20 strings of 1 to 40",
    ]
    assert search(library).notes == []


@pytest.mark.parametrize("note_id", ["", "x", "0" * 31 + "\x00", "%" * 32, "0" * 33, "\uff41" * 32])
def test_an_id_that_cannot_be_a_note_is_not_found(library: Library, note_id: str) -> None:
    """Ids are 32 lowercase hex digits; anything else (a NUL, full-width letters) is 404 before any statement."""
    for attempt in (
        lambda: library.get(note_id, "key:a"),
        lambda: library.image(note_id, "key:a"),
        lambda: library.patch(note_id, "key:a", title="t"),
        lambda: library.delete(note_id, "key:a"),
    ):
        with pytest.raises(NotFound):
            attempt()
