"""The notes library through the vision API, on SQLite and PostgreSQL: saving, reading, editing, privacy,
export and import, hostile input. Search itself is in test_notes_search.py."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from PIL import Image

from tests.support.fake_openai import DEFAULT_CONTENT

from .helpers import AppFactory, b64
from .notes_helpers import KEY_A, KEY_B, NotesClient, bearer, page_jpeg

PAGE = "# Quadratic equations\n\nSolve $x^2 - 5x + 6 = 0$: the roots are $x = 2$ and $x = 3$."


def test_an_analyzed_page_is_kept_as_a_note_with_its_thumbnail(notes: NotesClient) -> None:
    answer = notes.analyze(PAGE, tags=["algebra", " week 3 ", "algebra"], source="page")
    note = notes.wait(answer["note_id"])
    assert note["id"] == answer["note_id"]
    assert note["title"] == "Quadratic equations"  # derived: the first heading
    assert note["tags"] == ["algebra", "week 3"] and note["source"] == "page"
    assert (note["task"], note["language"], note["model"]) == ("transcribe", "auto", "qwen3-vl-plus")
    assert note["answer"] == {k: v for k, v in answer.items() if k != "note_id"}  # the answer as returned
    assert note["has_image"] is True

    image = notes.request("GET", f"/api/notes/{note['id']}/image")
    assert image.status_code == 200 and image.mimetype == "image/jpeg"
    assert len(image.data) <= 150_000
    thumb = Image.open(io.BytesIO(image.data))
    assert thumb.format == "JPEG" and max(thumb.size) <= 1024
    assert thumb.size[0] * 1200 == thumb.size[1] * 1800  # the page's shape (1800x1200), shrunk


def test_a_title_the_caller_gives_and_an_answer_without_an_image(notes: NotesClient) -> None:
    note = notes.wait(notes.analyze(PAGE, title="  My   homework ", keep_image=False)["note_id"])
    assert note["title"] == "My homework" and note["has_image"] is False
    missing = notes.request("GET", f"/api/notes/{note['id']}/image")
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "note_not_found"


def test_save_false_saves_nothing(notes: NotesClient) -> None:
    assert notes.analyze(PAGE, save=False)["note_id"] is None
    kept = notes.add(DEFAULT_CONTENT)  # written after the first would have been: the queue keeps order
    assert notes.ids() == [kept]


def test_a_cached_answer_is_saved_as_a_note_too(notes: NotesClient) -> None:
    first = notes.analyze(PAGE, cache=True)
    again = notes.analyze(cache=True)
    assert again["cached"] is True and again["note_id"] not in (None, first["note_id"])
    assert notes.wait(again["note_id"])["answer"]["markdown"] == first["markdown"]
    assert set(notes.ids()) == {first["note_id"], again["note_id"]}


def test_the_streamed_answer_event_carries_the_note_id(notes: NotesClient) -> None:
    notes.model.script()
    resp = notes.request("POST", "/api/vision/analyze", json={"image": b64(page_jpeg()), "stream": True})
    assert resp.status_code == 200 and resp.mimetype == "text/event-stream"
    events = [block for block in resp.get_data(as_text=True).split("\n\n") if block.startswith("event: answer")]
    answer = json.loads(events[0].split("data: ", 1)[1])
    assert notes.wait(answer["note_id"])["answer"]["markdown"] == answer["markdown"]


def test_multipart_and_raw_bodies_take_the_note_fields_too(notes: NotesClient) -> None:
    form = {"file": (io.BytesIO(page_jpeg()), "page.jpg"), "tags": "geometry, proofs", "title": "Form", "cache": "0"}
    resp = notes.request("POST", "/api/vision/analyze", data=form, content_type="multipart/form-data")
    assert notes.wait(resp.get_json()["note_id"])["tags"] == ["geometry", "proofs"]
    raw = notes.request(
        "POST",
        "/api/vision/analyze",
        data=page_jpeg(),
        content_type="image/jpeg",
        query_string={"source": "nodered", "save": "true", "cache": "false"},
    )
    assert notes.wait(raw.get_json()["note_id"])["source"] == "nodered"


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"tags": ["x" * 41]}, "each tag must be at most 40 characters"),
        ({"tags": [str(i) for i in range(21)]}, "at most 20 tags"),
        ({"tags": [1, 2]}, "tags must be a list of strings"),
        ({"title": "t" * 201}, "title must be at most 200 characters"),
        ({"source": "email"}, "source must be one of api, page, n8n, nodered, openwebui, cli"),
        ({"save": "maybe"}, "save must be true or false"),
        ({"keep_image": 3}, "keep_image must be true or false"),
    ],
)
def test_bad_note_fields_are_refused_before_anything_runs(notes: NotesClient, fields: dict, problem: str) -> None:
    resp = notes.request("POST", "/api/vision/analyze", json={"image": b64(page_jpeg()), **fields})
    assert resp.status_code == 400 and resp.get_json()["error"]["code"] == "invalid_request"
    assert any(p.startswith(problem) for p in resp.get_json()["error"]["details"]["problems"]), resp.get_json()
    assert notes.model.requests == []


def test_patch_delete_export_import_round_trip(notes: NotesClient) -> None:
    first = notes.add(PAGE, tags=["algebra"])
    second = notes.add("Second page: $e^{i\\pi} + 1 = 0$")

    patched = notes.request("PATCH", f"/api/notes/{first}", json={"title": "Roots", "tags": ["exam", "algebra"]})
    assert patched.status_code == 200
    body = patched.get_json()
    assert (body["title"], body["tags"]) == ("Roots", ["exam", "algebra"]) and body["updated_at"] > body["created_at"]
    assert notes.ids(tag="exam") == [first] and notes.ids(q="roots", mode="words")[0] == first
    untouched = notes.request("PATCH", f"/api/notes/{first}", json={"tags": []}).get_json()
    assert (untouched["title"], untouched["tags"]) == ("Roots", [])

    exported = notes.request("GET", "/api/notes/export", query_string={"format": "jsonl"})
    assert exported.status_code == 200 and exported.mimetype == "application/x-ndjson"
    lines = [json.loads(line) for line in exported.get_data(as_text=True).splitlines()]
    assert [line["id"] for line in lines] == [first, second]  # oldest first
    assert lines[0]["image_b64"] and lines[0]["answer"]["markdown"] == PAGE

    markdown = notes.request("GET", "/api/notes/export", query_string={"format": "markdown"})
    assert markdown.status_code == 200 and markdown.mimetype == "application/zip"
    with zipfile.ZipFile(io.BytesIO(markdown.data)) as archive:
        names = archive.namelist()
        assert len(names) == 2 and all(n.endswith(".md") for n in names)
        text = archive.read(next(n for n in names if first[:8] in n)).decode()
    assert text.startswith("---\n") and '"Roots"' in text and PAGE in text

    for note_id in (first, second):
        assert notes.request("DELETE", f"/api/notes/{note_id}").status_code == 204
        assert notes.request("GET", f"/api/notes/{note_id}").status_code == 404
    assert notes.request("DELETE", f"/api/notes/{first}").status_code == 404
    assert notes.ids() == []

    body_jsonl = exported.get_data()
    imported = notes.request("POST", "/api/notes/import", data=body_jsonl, content_type="application/x-ndjson")
    assert imported.status_code == 200 and imported.get_json() == {"imported": 2, "skipped": 0}
    again = notes.request("POST", "/api/notes/import", data=body_jsonl, content_type="application/x-ndjson")
    assert again.get_json() == {"imported": 0, "skipped": 2}
    restored = notes.request("GET", f"/api/notes/{first}").get_json()
    assert (restored["title"], restored["answer"]["markdown"], restored["has_image"]) == ("Roots", PAGE, True)
    assert notes.request("GET", f"/api/notes/{first}/image").data == notes_image(lines[0])
    assert notes.ids(q="roots", mode="words") == [first]  # imported notes are searchable again


def notes_image(line: dict) -> bytes:
    import base64

    return base64.b64decode(line["image_b64"])


def test_a_second_key_cannot_read_search_change_or_delete_the_first_keys_notes(notes: NotesClient) -> None:
    note_id = notes.add(PAGE, key=KEY_A)
    for method, path, kwargs in [
        ("GET", f"/api/notes/{note_id}", {}),
        ("GET", f"/api/notes/{note_id}/image", {}),
        ("PATCH", f"/api/notes/{note_id}", {"json": {"title": "mine now"}}),
        ("DELETE", f"/api/notes/{note_id}", {}),
    ]:
        resp = notes.request(method, path, KEY_B, **kwargs)
        assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "note_not_found", (method, path)
    assert notes.ids(KEY_B) == [] and notes.ids(KEY_B, q="quadratic") == []
    assert notes.request("GET", "/api/notes/export", KEY_B).get_data() == b""
    note = notes.request("GET", f"/api/notes/{note_id}", KEY_A).get_json()
    assert note["title"] == "Quadratic equations"  # untouched
    assert notes.ids(KEY_A) == [note_id]
    # the owner is a key id, never the key: not in the note, the export or an error
    export = notes.request("GET", "/api/notes/export", KEY_A).get_data(as_text=True)
    assert KEY_A not in export and "owner" not in note


def test_no_key_no_notes_and_the_guards_apply(notes: NotesClient) -> None:
    for method, path in [("GET", "/api/notes"), ("GET", "/api/notes/export"), ("POST", "/api/notes/import")]:
        resp = notes.request(method, path, key=None)
        assert resp.status_code == 401 and resp.get_json()["error"]["code"] == "unauthorized"
    wrong = notes.request("GET", "/api/notes", key="not-a-key")
    assert wrong.status_code == 401
    preflight = notes.client.options(
        "/api/notes/0123", headers={"Origin": "https://x.example", "Access-Control-Request-Method": "PATCH"}
    )
    assert preflight.status_code == 204


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code"),
    [
        ("GET", "/api/notes", {"query_string": {"mode": "fuzzy"}}, 400, "invalid_query"),
        ("GET", "/api/notes", {"query_string": {"limit": "0"}}, 400, "invalid_query"),
        ("GET", "/api/notes", {"query_string": {"limit": "101"}}, 400, "invalid_query"),
        ("GET", "/api/notes", {"query_string": {"since": "yesterday"}}, 400, "invalid_query"),
        ("GET", "/api/notes", {"query_string": {"cursor": "!!!"}}, 400, "invalid_query"),
        ("GET", "/api/notes", {"query_string": {"task": "dance"}}, 400, "invalid_query"),
        ("GET", "/api/notes", {"query_string": {"mode": "formula", "q": "plain words"}}, 400, "invalid_query"),
        ("GET", "/api/notes/export", {"query_string": {"format": "pdf"}}, 400, "invalid_query"),
        ("GET", "/api/notes/0123456789abcdef0123456789abcdef", {}, 404, "note_not_found"),
        ("GET", "/api/notes/not-an-id/image", {}, 404, "note_not_found"),
        ("PATCH", "/api/notes/0123456789abcdef0123456789abcdef", {"json": {"title": "x"}}, 404, "note_not_found"),
        ("PATCH", "/api/notes/0123456789abcdef0123456789abcdef", {"json": {"owner": "x"}}, 400, "invalid_request"),
        ("PATCH", "/api/notes/0123456789abcdef0123456789abcdef", {"json": {"title": ""}}, 400, "invalid_request"),
        ("PATCH", "/api/notes/0123456789abcdef0123456789abcdef", {"json": ["x"]}, 400, "invalid_request"),
        ("PATCH", "/api/notes/0123456789abcdef0123456789abcdef", {"data": b"{nope"}, 400, "invalid_request"),
        ("POST", "/api/notes/import", {"data": b"not json\n"}, 400, "invalid_request"),
        ("POST", "/api/notes/import", {"data": b"\xff\xfe"}, 400, "invalid_request"),
        ("POST", "/api/notes/import", {"data": b'{"title": "no answer"}\n'}, 400, "invalid_request"),
        ("PUT", "/api/notes", {}, 405, "method_not_allowed"),
        ("POST", "/api/notes/search", {"data": b"[1]"}, 400, "invalid_query"),
        ("POST", "/api/notes/search", {"json": {"q": "x", "sort": "new"}}, 400, "invalid_query"),
        ("POST", "/api/notes/search", {"json": {"q": ["x"]}}, 400, "invalid_query"),
        ("POST", "/api/notes/search", {"json": {"limit": 0}}, 400, "invalid_query"),
    ],
)
def test_bad_requests_get_precise_errors(
    notes: NotesClient, method: str, path: str, kwargs: dict, status: int, code: str
) -> None:
    resp = notes.request(method, path, **kwargs)
    assert resp.status_code == status, resp.get_data(as_text=True)[:300]
    assert resp.get_json()["error"]["code"] == code


HOSTILE = [
    {"formula": "\\frac{" * 1600},  # unbalanced, nested: 9,600 characters of LaTeX
    {"formula": "x^{" * 3400},  # over the 10,000 character limit: refused (400 invalid_query)
    {"formula": "\\int" * 2400 + "$$$\\\\\\" * 10},
    {"q": "(a+)+$" * 300, "mode": "words"},  # regex-like: never compiled
    {"q": ".*[(?<=x)\\1{99999}" * 200},
    {"q": "积分微分矩阵特征值" * 1100},  # 10 kB of CJK, 9,900 characters
    {"q": "$" * 5000},
    {"q": "\x00\x01 \ud7ff"},
    {"tag": "'; DROP TABLE notes; --"},
    {"q": "x' OR '1'='1", "formula": "%_\\%"},
]


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("params", HOSTILE, ids=[f"hostile{i}" for i in range(len(HOSTILE))])
def test_hostile_queries_are_answered_and_the_library_keeps_serving(
    notes: NotesClient, params: dict, method: str
) -> None:
    kept = notes.add(PAGE)
    if method == "GET":
        resp = notes.request("GET", "/api/notes", query_string=params)
    else:  # the same parameters as a JSON body (POST /api/notes/search)
        resp = notes.request("POST", "/api/notes/search", json=params)
    assert resp.status_code in (200, 400), resp.get_data(as_text=True)[:300]
    body = resp.get_json()
    assert ("notes" in body) if resp.status_code == 200 else body["error"]["code"] == "invalid_query"
    assert notes.ids(q="quadratic", mode="words") == [kept]  # still there, still found


def test_the_library_off_saves_nothing_and_has_no_routes(make_app: AppFactory) -> None:
    _app, client = make_app({"NOTES_ENABLED": "false"})
    answer = client.post("/api/vision/analyze", json={"image": b64(page_jpeg())}).get_json()
    assert answer["note_id"] is None
    assert client.get("/api/notes").status_code == 404
    assert not any(p.startswith("/api/notes") for p in client.get("/openapi.json").get_json()["paths"])
    assert "notes" not in client.get("/health").get_json()


def test_without_keys_the_library_is_one_shared_space(make_app: AppFactory) -> None:
    _app, client = make_app()  # no VISION_API_KEYS
    notes = NotesClient(client, model=None)  # type: ignore[arg-type]
    note_id = notes.analyze(key=None)["note_id"]
    notes.wait(note_id, key=None)
    assert notes.ids(key=None) == [note_id]
    assert notes.ids(key="any-bearer-at-all") == [note_id]  # an unknown bearer is nobody in particular: shared
    assert client.get("/api/notes", headers=bearer(KEY_A)).status_code == 200
