"""Errors from the API in plain words, the offline backend's answer, and the API key asked for once."""

from __future__ import annotations

import re
from pathlib import Path

from selenium.webdriver.common.by import By

from tests.support.fake_openai import Reply

from .helpers import DESKTOP, MATH_ANSWER, PHONE, OpenPage, math_note


def notice(page_text: str) -> str:
    return re.sub(r"\s+", " ", page_text).strip()


def test_rate_limit_is_explained_with_the_wait(open_page: OpenPage, tmp_path: Path) -> None:
    page = open_page({"RATE_LIMIT_MAX_REQUESTS": "1", "RATE_LIMIT_WINDOW_MS": "120000"}, viewport=PHONE)
    page.choose(math_note(tmp_path / "note.png"))
    page.analyze()
    assert "The note reads" in page.text("#answer")
    page.analyze()
    assert page.find("#notice").is_displayed()
    assert page.find("#notice").get_attribute("data-code") == "rate_limited"
    assert notice(page.text("#notice")) == "Too many requests from you. Try again in 2 minutes."
    page.js("document.getElementById('notice').scrollIntoView({block: 'center'})")
    page.screenshot("phone-rate-limited")


def test_model_busy_and_model_down_are_told_apart(open_page: OpenPage, tmp_path: Path) -> None:
    page = open_page({"VISION_RETRIES": "0"}, viewport=DESKTOP)
    page.choose(math_note(tmp_path / "note.png"))
    page.model.script(Reply(status=429, headers={"Retry-After": "7"}, body={"error": {"message": "slow down"}}))
    page.analyze()
    assert notice(page.text("#notice")) == (
        "The AI model is busy (its provider limits requests). Try again in 7 seconds."
    )
    page.model.script(Reply(status=500, body={"error": {"message": "boom"}}))
    page.analyze()
    assert page.find("#notice").get_attribute("data-code") == "upstream_unavailable"
    assert notice(page.text("#notice")) == "The AI model is not available right now. Try again in a minute."
    page.screenshot("desktop-model-unavailable")


def test_image_too_large_for_the_server(open_page: OpenPage, tmp_path: Path) -> None:
    page = open_page({"VISION_MAX_BODY_BYTES": "60000"}, viewport=PHONE)
    big = math_note(tmp_path / "noisy.png", size=(800, 600), noise=True)
    assert big.stat().st_size > 60000
    page.choose(big)
    page.analyze()
    assert notice(page.text("#notice")).startswith("The image is too large for the server.")
    assert page.model.requests == []


def test_offline_backend_answer_is_shown_and_labelled(open_page: OpenPage, tmp_path: Path) -> None:
    page = open_page({"VISION_BACKEND": "ocr", "DASHSCOPE_API_KEY": ""}, viewport=PHONE)
    page.choose(math_note(tmp_path / "note.png"))
    page.find("#task").send_keys("Solve")
    page.analyze()
    assert page.find("#notice").get_attribute("data-kind") == "offline"
    text = notice(page.text("#notice"))
    assert text.startswith("The AI model is not available, so this is the offline text recognition (OCR)")
    assert "Solve for x" in page.text("#answer")
    assert "offline-ocr" in page.text("#meta") or "ocr" in page.text("#meta").lower()
    page.screenshot("phone-offline-answer")


def test_api_key_is_asked_once_and_kept(open_page: OpenPage, tmp_path: Path) -> None:
    page = open_page({"VISION_API_KEYS": "web-key-123"}, viewport=PHONE)
    page.model.default = Reply(content=MATH_ANSWER)
    page.choose(math_note(tmp_path / "note.png"))
    page.click("#submit")
    dialog = page.wait(lambda d: d.find_element(By.ID, "key-dialog"), "the key dialog")
    page.wait(lambda d: dialog.get_attribute("open") is not None, "the key dialog to open")
    page.screenshot("phone-api-key")
    page.find("#key-form button[value=cancel]").click()
    page.wait(lambda d: d.find_element(By.ID, "notice").get_attribute("data-code") == "unauthorized", "the refusal")
    assert notice(page.text("#notice")).startswith("This server needs an API key to answer.")
    page.click("#submit")
    page.wait(lambda d: dialog.get_attribute("open") is not None, "the key dialog again")
    page.find("#key-input").send_keys("wrong-key")
    page.find("#key-form button[value=ok]").click()
    page.wait(lambda d: "not accepted" in dialog.text and dialog.get_attribute("open") is not None, "a second ask")
    page.find("#key-input").send_keys("web-key-123")
    page.find("#key-form button[value=ok]").click()
    page.wait(lambda d: d.execute_script("return !document.body.classList.contains('busy')"), "the answer")
    page.wait(lambda d: "The note reads" in d.find_element(By.ID, "answer").text, "the answer")
    assert page.js("return localStorage.getItem('mathnotes.apiKey')") == "web-key-123"
    assert page.model.requests[-1]["headers"].get("authorization") == "Bearer sk-test"  # never the page's key

    page.driver.refresh()
    page.wait(lambda d: d.execute_script("return document.body.dataset.ready === 'true'"), "the reloaded page")
    page.choose(math_note(tmp_path / "again.png", size=(700, 300)))
    page.analyze()
    assert page.find("#key-dialog").get_attribute("open") is None
    assert "The note reads" in page.text("#answer")
    assert "web-key-123" not in page.js("return document.documentElement.outerHTML")
