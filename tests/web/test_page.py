"""The phone page in a real headless Chromium against the real vision service and the fake model."""

from __future__ import annotations

from pathlib import Path

import requests
from selenium.webdriver.common.by import By

from tests.support.fake_openai import Reply

from .helpers import DESKTOP, MATH_ANSWER, PHONE, OpenPage, Page, math_note

# records the answer's text while the page is still busy streaming, before the final answer
WATCH_STREAM = """
window.__partials = [];
new MutationObserver(() => {
  if (document.body.classList.contains('busy')) window.__partials.push(document.getElementById('answer').textContent);
}).observe(document.getElementById('answer'), {childList: true, subtree: true, characterData: true});
"""


def answer_math(page: Page) -> dict[str, int]:
    return dict(
        page.js(
            "const a = document.getElementById('answer');"
            "return {katex: a.querySelectorAll('.katex').length, display: a.querySelectorAll('.katex-display').length,"
            " mathml: a.querySelectorAll('math').length, errors: a.querySelectorAll('.katex-error').length};"
        )
    )


def test_photo_streams_in_and_math_is_rendered(open_page: OpenPage, tmp_path: Path) -> None:
    page = open_page(viewport=PHONE)
    page.model.script(Reply(content=MATH_ANSWER, chunk_delay=0.03))
    assert page.js("return document.documentElement.lang") == "en"
    assert page.find("#camera").get_attribute("capture") is not None
    assert page.find("#camera").get_attribute("accept") == "image/*"

    page.choose(math_note(tmp_path / "note.png"))
    assert page.find("#preview").is_displayed()
    page.js(WATCH_STREAM)
    page.analyze()

    # on a phone the answer card scrolls up under the header to be watched
    page.wait(lambda d: d.execute_script("return document.querySelector('.output').getBoundingClientRect().top < 120"),
              "the answer card to scroll into view")  # fmt: skip
    page.screenshot("phone-answer")
    partials = [p for p in page.js("return window.__partials") if p.strip()]
    final = page.text("#answer")
    assert partials and len(partials[0]) < len(final), "the answer should appear piece by piece"
    assert "The note reads" in final and page.text("#status") == "Done."
    math = answer_math(page)
    assert math["katex"] >= 4 and math["display"] == 1 and math["mathml"] >= 4 and math["errors"] == 0
    annotations = page.js("return [...document.querySelectorAll('#answer annotation')].map(a => a.textContent)")
    assert "x^2 + 2x + 1 = 0" in annotations and "\\int_0^1 x\\,dx = \\frac{1}{2}" in annotations
    assert page.find("#answer h2").text == "Transcription"
    page.driver.execute_cdp_cmd(
        "Browser.grantPermissions",
        {"origin": page.service.url, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]},
    )
    page.click("#copy-latex")
    page.wait(lambda d: d.find_element(By.ID, "status").text == "Copied.", "the copy")
    clipboard = page.driver.execute_async_script("navigator.clipboard.readText().then(arguments[0])")
    assert clipboard.splitlines() == ["x^2 + 2x + 1 = 0", "(x+1)^2 = 0", "\\int_0^1 x\\,dx = \\frac{1}{2}", "x = -1"]
    page.click("#copy-md")
    page.wait(
        lambda d: d.execute_async_script("navigator.clipboard.readText().then(arguments[0])") == MATH_ANSWER,
        "the Markdown on the clipboard",
    )
    assert "qwen3-vl-plus" in page.text("#meta")

    sent = page.model.requests[-1]["body"]
    assert sent["stream"] is True
    image = next(p for p in sent["messages"][-1]["content"] if p["type"] == "image_url")
    assert image["image_url"]["url"].startswith("data:image/")
    page.screenshot("phone-answer-full", full=True)


def test_history_survives_a_reload_and_reopens(open_page: OpenPage, tmp_path: Path) -> None:
    page = open_page({}, viewport=DESKTOP)  # a library of its own: this test's one answer
    page.model.script(Reply(content=MATH_ANSWER))
    page.choose(math_note(tmp_path / "note.jpg"))
    page.find("#task").send_keys("Solve")
    page.analyze()
    assert answer_math(page)["katex"] >= 4
    # the library writes the note a moment after the answer; the list after the reload is then settled
    notes = f"{page.service.url}/api/notes"
    page.wait(lambda d: len(requests.get(notes, timeout=10).json()["notes"]) == 1, "the note in the library")

    page.driver.refresh()
    page.wait(lambda d: d.execute_script("return document.body.dataset.ready === 'true'"), "the reloaded page")
    assert page.text("#answer") == "The answer appears here as it is written."
    if not page.find("#history").is_displayed():
        page.find("#history-toggle").click()
    items = page.driver.find_elements(By.CSS_SELECTOR, "#history-list .history-item")
    assert len(items) == 1 and "Solve" in items[0].text
    assert items[0].find_element(By.TAG_NAME, "img").get_attribute("src").startswith("data:image/jpeg")
    items[0].click()
    assert "The note reads" in page.text("#answer")
    assert answer_math(page)["katex"] >= 4
    assert page.text("#status").startswith("Answer from")
    page.screenshot("desktop-history")
    page.driver.execute_cdp_cmd(
        "Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]}
    )
    assert page.js("return getComputedStyle(document.body).backgroundColor") == "rgb(18, 20, 23)"
    page.screenshot("desktop-history-dark")
