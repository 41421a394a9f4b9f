"""Ways in (drop, paste, huge photos), stopping a stream, Chinese UI text, and the page's own modules."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import requests
from selenium.webdriver.common.by import By

from tests.support.fake_openai import Reply

from .helpers import DESKTOP, MATH_ANSWER, PHONE, OpenPage, Page, math_note, run_module

# builds a File from base64 PNG bytes and fires a drop or paste event carrying it
SEND_FILE = """
const [b64, how] = arguments;
const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
const file = new File([bytes], 'pasted.png', {type: 'image/png'});
const dt = new DataTransfer();
dt.items.add(file);
if (how === 'drop') {
  const target = document.getElementById('drop');
  for (const type of ['dragenter', 'dragover', 'drop'])
    target.dispatchEvent(new DragEvent(type, {dataTransfer: dt, bubbles: true, cancelable: true}));
} else {
  document.dispatchEvent(new ClipboardEvent('paste', {clipboardData: dt, bubbles: true, cancelable: true}));
}
"""


def test_dropped_and_pasted_images_are_analyzed(open_page: OpenPage, tmp_path: Path) -> None:
    page = open_page(viewport=DESKTOP)
    for i, how in enumerate(("drop", "paste")):
        note = math_note(tmp_path / f"{how}.png", size=(900 + i * 10, 360))  # not the same image: no cache hit
        png = base64.b64encode(note.read_bytes()).decode()
        page.model.script(Reply(content=f"{how}: $a^2 + b^2 = c^2$"))
        page.js(SEND_FILE, png, how)
        page.wait(lambda d: d.find_element(By.ID, "submit").is_enabled(), f"the {how}ped image")
        assert page.find("#preview").is_displayed() and "pasted.png" in page.text("#image-info")
        page.find("#task").send_keys("Check my work")
        page.analyze()
        assert page.text("#answer").startswith(f"{how}:")
        assert page.js("return document.querySelectorAll('#answer .katex').length") == 1
        sent = page.model.requests[-1]["body"]["messages"]
        assert any(p["type"] == "image_url" for p in sent[-1]["content"])


def received_bytes(page: Page) -> float:
    metrics = requests.get(f"{page.service.url}/metrics", timeout=10).text
    found = re.search(r'vision_image_bytes_total\{direction="received"\} ([0-9.e+]+)', metrics)
    return float(found.group(1)) if found else 0.0


def test_huge_photo_is_downscaled_before_upload(open_page: OpenPage, tmp_path: Path) -> None:
    page = open_page(viewport=PHONE)
    huge = math_note(tmp_path / "huge.jpg", size=(4000, 3000), noise=True)  # 12 MP, like a phone photo
    page.choose(huge)
    assert page.find("#drop").get_attribute("data-upload") == "shrunk"
    info = page.text("#image-info")
    assert "4000\u00d73000" in info and "made smaller before upload" in info
    width, height = map(int, re.search("\u2192 (\\d+)\u00d7(\\d+)", info).groups())  # type: ignore[union-attr]
    assert width * height <= 4_000_000 and abs(width / height - 4 / 3) < 0.01
    before = received_bytes(page)
    page.analyze()
    assert "The note reads" in page.text("#answer")
    assert 0 < received_bytes(page) - before < huge.stat().st_size / 2


def test_stop_keeps_the_partial_answer(open_page: OpenPage, tmp_path: Path) -> None:
    page = open_page(viewport=PHONE)
    page.model.script(Reply(content=MATH_ANSWER * 3, chunk_delay=0.2))
    page.choose(math_note(tmp_path / "note.png"))
    page.click("#submit")
    page.wait(lambda d: "The note" in d.find_element(By.ID, "answer").text, "the first words")
    page.click("#stop")
    page.wait(lambda d: d.find_element(By.ID, "status").text == "Stopped.", "the stop")
    assert "The note" in page.text("#answer") and page.find("#submit").is_enabled()
    assert page.js("return localStorage.getItem('mathnotes.history.v1')") is None


def test_chinese_ui_follows_the_browser_language(open_page: OpenPage, tmp_path: Path) -> None:
    # a one-hour window: the second request is refused however slowly the first one went
    page = open_page(
        {"RATE_LIMIT_MAX_REQUESTS": "1", "RATE_LIMIT_WINDOW_MS": "3600000"}, viewport=PHONE, accept_language="zh-CN,zh"
    )
    assert page.js("return document.documentElement.lang") == "zh-CN"
    assert page.driver.title == "数学笔记" and page.find("#submit").text == "开始识别"
    labels = page.js("return [...document.querySelectorAll('label')].map(l => l.textContent.trim())")
    assert {"拍照", "选择图片", "任务", "回答语言", "API 密钥"} <= set(labels)
    page.choose(math_note(tmp_path / "note.png"))
    page.analyze()
    page.analyze()
    # the wait counts down with the clock, so only its form is checked here: whole minutes within the window
    notice = re.fullmatch(r"请求太频繁了。请在 (\d+) 分钟后重试。", page.text("#notice"))
    assert notice is not None, page.text("#notice")
    assert 1 <= int(notice.group(1)) <= 60
    page.screenshot("phone-zh-rate-limited", full=True)
    # and the words for fixed waits, in the page's Chinese
    words = run_module(
        page, "return [59, 60, 61, 3600].map((s) => errors.describeError(429, {code: 'rate_limited'}, s));"
    )
    assert words == [
        "请求太频繁了。请在 59 秒后重试。",
        "请求太频繁了。请在 1 分钟后重试。",
        "请求太频繁了。请在 2 分钟后重试。",
        "请求太频繁了。请在 60 分钟后重试。",
    ]


def test_every_control_has_an_accessible_name(open_page: OpenPage) -> None:
    page = open_page(viewport=PHONE)
    unnamed = page.js(
        """
        return [...document.querySelectorAll('input, select, button, textarea')].filter(el => {
          const labelled = el.labels && [...el.labels].some(l => l.textContent.trim());
          return !(labelled || el.getAttribute('aria-label') || el.textContent.trim());
        }).map(el => el.outerHTML);
        """
    )
    assert unnamed == []
    assert page.js("return document.querySelector('meta[name=viewport]').content").startswith("width=device-width")
    overflow = page.js("return document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, "nothing may stick out sideways on a 390 px phone"
