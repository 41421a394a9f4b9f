"""The history from the server's notes library: two analysed pages, search by words and by formula, a note
opened with its thumbnail and rendered maths, rename and delete, the local copy when the library cannot answer,
and snippets and titles that try to inject markup. Real service, real library (SQLite), real Chromium."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from tests.support.fake_openai import Reply
from tests.support.postgres import Postgres
from tests.support.servers import StartServer

from .helpers import DESKTOP, PHONE, OpenPage, Page, math_note, run_module

CALCULUS = (
    "## Integration by parts\n\n"
    "We compute $\\int_{0}^{1} x^{2}\\,\\mathrm{d}x = \\frac{1}{3}$ with the power rule.\n\n"
    "$$\\int u\\,dv = uv - \\int v\\,du$$"
)
ALGEBRA = (
    "## Eigenvalues\n\n"
    "The eigenvalues of $A$ solve $\\det(A - \\lambda I) = 0$; here $\\lambda^2 - 5\\lambda + 6 = 0$, "
    "so $\\lambda = 2$ or $\\lambda = 3$."
)
HOSTILE = (
    '# <img src=x onerror="window.pwned=1">Spectra\n\n'
    "The <script>window.pwned=2</script> eigenvalues <b>bold</b> &amp; <mark>fake</mark> "
    '<a href="javascript:window.pwned=3">x</a> and more eigenvalues.'
)

ITEMS = """
return [...document.querySelectorAll('#history-list .history-item')].map(b => ({
  id: b.dataset.id, source: b.dataset.source, title: b.querySelector('strong').textContent,
  when: b.querySelector('.when').textContent, snippet: b.querySelector('.snippet').innerHTML,
  marks: [...b.querySelectorAll('.snippet mark')].map(m => m.textContent),
  tags: [...b.querySelectorAll('.history-text *')].map(e => e.tagName.toLowerCase()),
  formula: b.querySelectorAll('.formula .katex').length, matched: (b.dataset.matched || '').split(' ').filter(Boolean),
  img: b.querySelector('img').hidden ? null : b.querySelector('img').src,
  imgWidth: b.querySelector('img').naturalWidth,
}));
"""


def api(page: Page, path: str, key: str = "", **params: str) -> Any:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    resp = requests.get(f"{page.service.url}/api/{path}", params=params, headers=headers, timeout=10)
    resp.raise_for_status()
    return resp.json()


def wait_saved(page: Page, count: int, key: str = "") -> list[dict[str, Any]]:
    """The library's notes once it holds ``count`` (its writer saves a moment after the answer)."""
    page.wait(lambda d: len(api(page, "notes", key)["notes"]) >= count, f"{count} notes in the library")
    notes: list[dict[str, Any]] = api(page, "notes", key)["notes"]
    return notes


def analyze(page: Page, tmp_path: Path, content: str, name: str) -> None:
    page.model.script(Reply(content=content))
    page.choose(math_note(tmp_path / f"{name}.png"))
    page.analyze()
    page.wait(lambda d: d.find_element(By.ID, "status").text == "Done.", f"the answer to {name}")


THUMBNAIL_SHOWN = "const i = document.getElementById('note-image');return !i.hidden && i.complete && i.naturalWidth > 0"
GENERATION = "return Number(document.getElementById('history').dataset.generation || 0)"
SEARCHED = """
const h = document.getElementById('history');
const answered = h.getAttribute('aria-busy') === 'false' && Number(h.dataset.generation) > arguments[0];
return answered ? h.dataset.searched : null;
"""


MODES = {"auto": "Auto", "words": "Words", "formula": "Formula", "meaning": "Meaning"}


def search(page: Page, text: str, mode: str = "auto") -> dict[str, str]:
    """Type ``text`` in the search box like a user and wait for its answer; the parameters the page sent."""
    before = page.js(GENERATION)
    page.find("#history-mode").send_keys(MODES[mode])
    box = page.find("#history-q")
    box.clear()
    box.send_keys(text + Keys.ENTER)
    typed = text.strip()

    def done(_: object) -> tuple[dict[str, str]] | None:
        asked = page.js(SEARCHED, before)
        if asked is None:
            return None
        params: dict[str, str] = json.loads(asked)
        values = [v for k, v in params.items() if k != "mode"]
        if not typed:
            match = params == {}
        else:
            match = values in ([typed], [typed.strip("$").strip()]) and params.get("mode", "auto") == mode
        return (params,) if match else None

    found: tuple[dict[str, str]] = page.wait(done, f"the search for {text!r}")
    return found[0]


def show_history(page: Page) -> None:
    """Open the history (a wide screen has it open from the start) and ask the library afresh."""
    if not page.find("#history").is_displayed():
        page.click("#history-toggle")
    page.wait(lambda d: d.execute_script(SEARCHED, 0) == "{}", "the history")
    search(page, "")


def items(page: Page) -> list[dict[str, Any]]:
    return list(page.js(ITEMS))


def sent_queries(page: Page) -> list[str]:
    return list(page.js("return performance.getEntriesByType('resource').map(e => e.name)"
                        ".filter(n => n.includes('/api/notes?'))"))  # fmt: skip


def test_history_comes_from_the_library_on_another_browser(open_page: OpenPage, tmp_path: Path) -> None:
    phone = open_page({}, viewport=PHONE)
    analyze(phone, tmp_path, CALCULUS, "calculus")
    analyze(phone, tmp_path, ALGEBRA, "algebra")
    notes = wait_saved(phone, 2)
    assert [n["title"] for n in notes] == ["Eigenvalues", "Integration by parts"]
    assert {api(phone, f"notes/{n['id']}")["source"] for n in notes} == {"page"}  # the page says who sent it
    assert all(n["has_image"] for n in notes)

    # a fresh browser (nothing kept locally) on a desktop: the history column is the library's
    desk = open_page(service=phone.service, viewport=DESKTOP)
    assert desk.js("return localStorage.getItem('mathnotes.history.v1')") is None
    show_history(desk)
    assert desk.find("#history").get_attribute("data-source") == "library"
    assert desk.text("#history-source").startswith("Your library on the server")
    assert not desk.find("#history-clear").is_displayed()  # Clear empties a browser's copy, not the library
    desk.wait(lambda d: all(i["imgWidth"] > 0 for i in items(desk)), "the thumbnails")
    listed = items(desk)
    assert [i["title"] for i in listed] == ["Eigenvalues", "Integration by parts"]
    assert [i["id"] for i in listed] == [n["id"] for n in notes]
    assert all(i["source"] == "library" and i["img"].startswith("blob:") for i in listed)
    assert listed[0]["when"].startswith("Transcribe · ")
    desk.screenshot("desktop-library")

    # the phone that made them lists the same notes, with the thumbnails it kept
    show_history(phone)
    mine = items(phone)
    assert [i["id"] for i in mine] == [n["id"] for n in notes]
    assert all(i["img"].startswith("data:image/jpeg") for i in mine)
    phone.screenshot("phone-library")


def test_search_by_words_and_by_formula(open_page: OpenPage, tmp_path: Path) -> None:
    page = open_page({}, viewport=DESKTOP)
    analyze(page, tmp_path, CALCULUS, "calculus")
    analyze(page, tmp_path, ALGEBRA, "algebra")
    wait_saved(page, 2)
    show_history(page)

    # words (and meaning: the fake model's vectors put every note somewhere, the right one first)
    assert search(page, "eigenvalues") == {"q": "eigenvalues"}
    found = items(page)
    assert found[0]["title"] == "Eigenvalues" and "words" in found[0]["matched"]
    assert found[0]["marks"] and all(m.lower() == "eigenvalues" for m in found[0]["marks"])
    assert set(found[0]["tags"]) <= {"strong", "span", "mark"}
    assert all(i["matched"] == ["meaning"] and not i["marks"] for i in found[1:])
    assert "q=eigenvalues" in sent_queries(page)[-1]
    page.screenshot("desktop-search-words")

    # written differently from the note ($\int_{0}^{1} x^{2}\,\mathrm{d}x$): found by its normal form
    assert search(page, "\\int_0^1 x^2 dx") == {"formula": "\\int_0^1 x^2 dx"}
    found = items(page)
    assert found[0]["title"] == "Integration by parts" and found[0]["matched"] == ["formula"]
    assert found[0]["formula"] == 1  # the matched note's first formula, rendered
    assert "formula=" in sent_queries(page)[-1] and "q=" not in sent_queries(page)[-1]
    page.screenshot("desktop-search-formula")
    assert search(page, "$\\lambda^2 - 5\\lambda + 6 = 0$") == {"formula": "\\lambda^2 - 5\\lambda + 6 = 0"}
    assert items(page)[0]["title"] == "Eigenvalues"

    # the toggle overrides the guess and runs that mode only
    assert search(page, "power rule", mode="words") == {"q": "power rule", "mode": "words"}
    assert [(i["title"], i["matched"]) for i in items(page)] == [("Integration by parts", ["words"])]
    assert search(page, "x^2", mode="words") == {"q": "x^2", "mode": "words"}
    assert search(page, "eigenvalues", mode="meaning") == {"q": "eigenvalues", "mode": "meaning"}
    found = items(page)
    assert found[0]["title"] == "Eigenvalues" and {m for i in found for m in i["matched"]} == {"meaning"}
    assert search(page, "zebra crossing", mode="words") == {"q": "zebra crossing", "mode": "words"}
    assert items(page) == [] and page.text("#history-empty") == "No notes match."


def test_opening_a_note_shows_its_page_and_rendered_maths(open_page: OpenPage, tmp_path: Path) -> None:
    first = open_page({}, viewport=PHONE)
    analyze(first, tmp_path, CALCULUS, "calculus")
    analyze(first, tmp_path, ALGEBRA, "algebra")
    notes = wait_saved(first, 2)
    page = open_page(service=first.service, viewport=PHONE)  # nothing of it in this browser
    show_history(page)
    page.click(f'#history-list .history-item[data-id="{notes[1]["id"]}"]')
    page.wait(lambda d: d.execute_script(THUMBNAIL_SHOWN), "the thumbnail")
    assert str(page.find("#note-image").get_attribute("src")).startswith("blob:")
    assert page.text("#note-title") == "Integration by parts"
    assert not page.find("#note-title").is_displayed()  # the answer's own heading says it already
    assert page.text("#status").startswith("Answer from")
    assert page.find("#answer h2").text == "Integration by parts"
    math = page.js("const a = document.getElementById('answer');"
                   "return [a.querySelectorAll('.katex').length, a.querySelectorAll('.katex-display').length,"
                   " a.querySelectorAll('.katex-error').length]")  # fmt: skip
    assert math == [2, 1, 0]
    page.screenshot("phone-library-note", full=True)

    # rename, then delete (a second press), both in the library
    page.click("#note-rename")
    box = page.find("#rename-input")
    assert box.get_attribute("value") == "Integration by parts"
    box.clear()
    box.send_keys("Calculus <b>page</b> 1")
    page.find("#rename-form button[value=ok]").click()
    page.wait(lambda d: d.find_element(By.ID, "status").text == "Renamed.", "the rename")
    assert api(page, f"notes/{notes[1]['id']}")["title"] == "Calculus <b>page</b> 1"
    assert page.find("#note-title").text == "Calculus <b>page</b> 1"  # shown, as text
    page.click("#note-delete")
    assert page.find("#note-delete").text == "Delete? Press again"
    assert requests.get(f"{page.service.url}/api/notes/{notes[1]['id']}", timeout=10).status_code == 200
    page.click("#note-delete")
    page.wait(lambda d: d.find_element(By.ID, "status").text == "Deleted from your library.", "the delete")
    gone = requests.get(f"{page.service.url}/api/notes/{notes[1]['id']}", timeout=10)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "note_not_found"
    page.wait(lambda d: [i["id"] for i in items(page)] == [notes[0]["id"]], "the list without it")
    assert not page.find("#note-actions").is_displayed()

    # a link to a note (the Open WebUI tool writes <PUBLIC_URL>/#note=<id>) opens it
    page.driver.get("about:blank")
    page.driver.get(f"{page.service.url}/#note={notes[0]['id']}")
    page.wait(lambda d: d.find_element(By.ID, "answer").text.startswith("Eigenvalues"), "the linked note")
    page.wait(lambda d: d.execute_script(THUMBNAIL_SHOWN), "its thumbnail")


def test_offline_the_local_copy_is_shown_and_says_so(open_page: OpenPage, tmp_path: Path) -> None:
    page = open_page({}, viewport=DESKTOP)
    analyze(page, tmp_path, CALCULUS, "calculus")
    wait_saved(page, 1)
    show_history(page)
    assert page.find("#history").get_attribute("data-source") == "library"

    page.service.stop()  # the server is gone; the page stays loaded
    search(page, "")
    history = page.find("#history")
    assert history.get_attribute("data-source") == "local" and history.get_attribute("data-reason") == "offline"
    assert page.text("#history-source") == "Offline: showing the answers kept in this browser."
    local = items(page)
    assert len(local) == 1 and local[0]["source"] == "local" and local[0]["img"].startswith("data:image/jpeg")
    assert search(page, "integration") == {"q": "integration"} and len(items(page)) == 1
    search(page, "eigenvalues")
    assert items(page) == [] and page.text("#history-empty") == "No notes match."
    search(page, "")
    page.screenshot("desktop-history-offline")
    page.click("#history-list .history-item")
    assert page.find("#answer h2").text == "Integration by parts"
    assert page.js("return document.querySelectorAll('#answer .katex').length") == 2
    assert page.text("#status").startswith("Answer from")


def test_library_down_the_local_copy_is_shown_until_it_returns(
    open_page: OpenPage, start_server: StartServer, tmp_path: Path
) -> None:
    """The library on a PostgreSQL of this test's own: stopped, reads are 503 notes_unavailable."""
    postgres = start_server(Postgres(tmp_path / "postgres"))
    page = open_page({"DATABASE_URL": postgres.create_database()}, viewport=DESKTOP)
    analyze(page, tmp_path, CALCULUS, "calculus")
    wait_saved(page, 1)
    show_history(page)
    assert [i["source"] for i in items(page)] == ["library"]

    postgres.stop()
    down = requests.get(f"{page.service.url}/api/notes", timeout=30)
    assert down.status_code == 503 and down.json()["error"]["code"] == "notes_unavailable"
    search(page, "integration")
    assert page.find("#history").get_attribute("data-reason") == "unavailable"
    assert page.text("#history-source") == (
        "The library is unavailable right now: showing the answers kept in this browser."
    )
    assert [(i["source"], i["title"]) for i in items(page)] == [("local", "Transcribe")]
    page.screenshot("desktop-history-library-down")

    postgres.start()
    page.wait(lambda d: requests.get(f"{page.service.url}/api/notes", timeout=30).ok, "the library back")
    search(page, "integration by parts")
    assert page.find("#history").get_attribute("data-source") == "library"
    assert [i["title"] for i in items(page)] == ["Integration by parts"]


def test_a_refused_key_falls_back_to_the_local_copy(open_page: OpenPage, tmp_path: Path) -> None:
    page = open_page({"VISION_API_KEYS": "key-one,key-two"}, viewport=DESKTOP)
    page.js("localStorage.setItem('mathnotes.apiKey', 'key-one')")
    analyze(page, tmp_path, CALCULUS, "calculus")
    wait_saved(page, 1, key="key-one")
    assert api(page, "notes", key="key-two")["notes"] == []  # the other key's library is empty

    page.js("localStorage.setItem('mathnotes.apiKey', 'revoked-key')")
    show_history(page)
    search(page, "")
    assert page.find("#history").get_attribute("data-reason") == "key"
    assert page.text("#history-source").startswith("The library needs a valid API key")
    assert [i["source"] for i in items(page)] == ["local"]
    page.click("#history-key")
    page.find("#key-input").send_keys("key-one")
    page.find("#key-form button[value=ok]").click()
    page.wait(lambda d: d.find_element(By.ID, "history").get_attribute("data-source") == "library", "the library")
    assert [i["source"] for i in items(page)] == ["library"]


def test_hostile_titles_and_snippets_stay_text(open_page: OpenPage, tmp_path: Path) -> None:
    page = open_page({}, viewport=DESKTOP)
    analyze(page, tmp_path, HOSTILE, "hostile")
    (note,) = wait_saved(page, 1)
    show_history(page)
    search(page, "eigenvalues")
    (found,) = items(page)
    assert found["title"].startswith('<img src=x onerror="window.pwned=1">')
    assert set(found["tags"]) <= {"strong", "span", "mark"}
    assert found["marks"] and all(m == "eigenvalues" for m in found["marks"])
    text = page.js("return document.querySelector('#history-list .snippet').textContent")
    assert "<script>" in text and "<mark>fake</mark>" in text  # the note's own tags are its text
    title = "<script>window.pwned=4</script><img src=x onerror=window.pwned=5>"
    resp = requests.patch(f"{page.service.url}/api/notes/{note['id']}", json={"title": title}, timeout=10)
    assert resp.status_code == 200
    search(page, "spectra")
    assert [i["title"] for i in items(page)] == [title]
    page.click("#history-list .history-item")
    page.wait(lambda d: d.find_element(By.ID, "note-title").text == title, "the note's title")
    injected = "#history .history-text *:not(strong, span, mark), #note-title *, #answer img, script:not([src])"
    assert page.js("return document.querySelectorAll(arguments[0]).length", injected) == 0
    assert page.js("return window.pwned === undefined")

    # whatever a broken server or proxy sends, only <mark> survives
    out = run_module(
        page,
        r"""
        const s = await import('./assets/js/search.js');
        const raw = ['<img src=x onerror="window.pwned=6"><mark>ok</mark><script>window.pwned=7</script>',
          '<mark onclick="window.pwned=8">a</mark> <MARK>b</MARK> </mark></mark> <mark>open',
          'a &lt; b &amp;&amp; c &#60;tag&#62; & d <svg/onload=window.pwned=9>', '<<mark>>x<</mark>>'];
        return raw.map((r) => {
          const html = s.safeSnippet(r);
          const div = document.createElement('div');
          div.innerHTML = html;
          document.body.append(div);
          const tags = [...div.querySelectorAll('*')].map((e) => e.tagName.toLowerCase() +
            [...e.attributes].map((a) => ' ' + a.name).join(''));
          const text = div.textContent;
          div.remove();
          return {html, tags, text};
        });
        """,
    )
    assert out[0]["tags"] == ["mark"] and out[0]["text"].startswith('<img src=x onerror="window.pwned=6">ok<script>')
    assert out[1]["tags"] == ["mark"] and out[1]["html"].endswith("<mark>open</mark>")
    assert '<mark onclick="window.pwned=8">' in out[1]["text"]
    assert out[2]["tags"] == [] and out[2]["text"] == "a < b && c <tag> & d <svg/onload=window.pwned=9>"
    assert out[3]["tags"] == ["mark"] and out[3]["text"] == "<>x<>"
    assert page.js("return window.pwned === undefined")


def test_query_kind_is_told_from_what_was_typed(open_page: OpenPage) -> None:
    page = open_page(viewport=DESKTOP)
    out = run_module(
        page,
        r"""
        const s = await import('./assets/js/search.js');
        const cases = ['eigenvalues of A', '积分 换元', 'x^2', 'a_1', '\\frac12', '{x}', '$x+1$', '$$ y $$',
          '$5 and $6', '  ', '$$'];
        return {
          auto: cases.map((c) => s.searchParams(c)),
          words: s.searchParams('x^2', 'words'),
          formula: s.searchParams('$x + 1$', 'formula'),
          meaning: s.searchParams('my notes on eigenvalues', 'meaning'),
          long: s.searchParams('x'.repeat(5000)).q.length,
        };
        """,
    )
    assert out["auto"] == [
        {"q": "eigenvalues of A"},
        {"q": "积分 换元"},
        {"formula": "x^2"},
        {"formula": "a_1"},
        {"formula": "\\frac12"},
        {"formula": "{x}"},
        {"formula": "x+1"},
        {"formula": "y"},
        {"q": "$5 and $6"},
        {},
        {"q": "$$"},
    ]
    assert out["words"] == {"q": "x^2", "mode": "words"} and out["formula"] == {"formula": "x + 1", "mode": "formula"}
    assert out["meaning"] == {"q": "my notes on eigenvalues", "mode": "meaning"} and out["long"] == 2000
