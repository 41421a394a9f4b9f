"""The Math Notes vision tool against the real vision service (and the fake model behind it)."""

from __future__ import annotations

import asyncio
import base64
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.servers import ServiceProcess

from .tools import ANSWER, VISION_KEY, Events, load_tool, photo


def tool(vision: ServiceProcess, key: str = VISION_KEY) -> Any:
    tools, _ = load_tool("math_notes_vision")
    tools.valves = tools.Valves(VISION_URL=vision.url, API_KEY=key, TIMEOUT_S=30)
    return tools


def sent_image(model: FakeOpenAI) -> str:
    [call] = model.requests
    for message in call["body"]["messages"]:
        if isinstance(message.get("content"), list):
            for part in message["content"]:
                if part.get("type") == "image_url":
                    return str(part["image_url"]["url"])
    raise AssertionError("no image sent to the model")


def test_analyses_the_image_attached_to_the_chat(vision: ServiceProcess, model: FakeOpenAI) -> None:
    model.script(Reply(content=ANSWER))
    url = "data:image/png;base64," + base64.b64encode(photo()).decode()
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "what does it say?"},
                                     {"type": "image_url", "image_url": {"url": url}}]},
    ]  # fmt: skip
    events = Events()
    call = tool(vision).analyze_math_image(task="transcribe", __messages__=messages, __event_emitter__=events)
    out = asyncio.run(call)
    assert out.startswith(ANSWER)
    assert "Math Notes vision · qwen3-vl-plus" in out
    assert events.statuses()[0] == ("Reading the notes (transcribe)…", False)
    assert events.statuses()[-1] == ("Done", True)
    assert sent_image(model).startswith("data:image/")


def test_notes_of_the_offline_backend_reach_the_user(offline_vision: ServiceProcess) -> None:
    """No model key: the OCR backend only transcribes, and the answer tells the user why "solve" did not solve."""
    url = "data:image/png;base64," + base64.b64encode(photo()).decode()
    out = asyncio.run(tool(offline_vision).analyze_math_image(task="solve", image_url=url))
    assert "\n\n> **Note:** the offline OCR backend only transcribes text; task 'solve'" in out
    assert "Math Notes vision · rapidocr" in out
    plain = asyncio.run(tool(offline_vision).analyze_math_image(task="transcribe", image_url=url))
    assert "**Note:**" not in plain


def test_an_answer_cut_short_says_so(vision: ServiceProcess, model: FakeOpenAI) -> None:
    model.script(Reply(content="Step 1: $x = ", finish_reason="length"))
    url = "data:image/png;base64," + base64.b64encode(photo()).decode()
    out = asyncio.run(tool(vision).analyze_math_image(task="explain", image_url=url))
    assert out.startswith("Step 1: $x =")
    assert "> **Note:** the answer was cut at VISION_MAX_TOKENS" in out


@pytest.fixture
def image_host() -> Iterator[str]:
    data = photo()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/notes.png"
    server.shutdown()
    server.server_close()


def test_analyses_an_image_url(vision: ServiceProcess, model: FakeOpenAI, image_host: str) -> None:
    model.script(Reply(content="A page of sums."))
    out = asyncio.run(tool(vision).analyze_math_image(task="describe", image_url=image_host))
    assert out.startswith("A page of sums.")
    assert len(model.requests) == 1


def test_reports_api_errors_in_words(vision: ServiceProcess, model: FakeOpenAI) -> None:
    events = Events()
    url = "data:image/png;base64," + base64.b64encode(photo()).decode()
    out = asyncio.run(tool(vision, key="wrong-key").analyze_math_image(image_url=url, __event_emitter__=events))
    assert out.startswith("The vision service could not analyse the image — unauthorized:")
    assert "(request " in out
    assert events.statuses()[-1][1] is True
    assert model.requests == []


def test_without_an_image_asks_for_one(vision: ServiceProcess, model: FakeOpenAI) -> None:
    out = asyncio.run(tool(vision).analyze_math_image(__messages__=[{"role": "user", "content": "solve it"}]))
    assert out.startswith("No image found")
    assert asyncio.run(tool(vision).analyze_math_image(task="paint")).startswith("Unknown task 'paint'")
    assert model.requests == []


def test_unreachable_service_is_reported(model: FakeOpenAI) -> None:
    tools, _ = load_tool("math_notes_vision")
    tools.valves = tools.Valves(VISION_URL="http://127.0.0.1:9", TIMEOUT_S=5)
    out = asyncio.run(tools.analyze_math_image(image_url="https://example.invalid/x.png"))
    assert out.startswith("The Math Notes vision service at http://127.0.0.1:9 could not be reached")


def test_image_choice_prefers_the_url_then_the_newest_chat_image_then_uploads() -> None:
    tools, _ = load_tool("math_notes_vision")
    refs = sys.modules[type(tools).__module__].image_refs
    old, new = "data:image/png;base64,AAAA", "data:image/jpeg;base64,BBBB"
    messages = [
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": old}}]},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": [{"type": "text", "text": "this"}, {"type": "image_url", "image_url": new}]},
    ]
    # __files__ entries as Open WebUI 0.12 sends them: the UI's upload item, the API's bare reference
    ui_item = {
        "type": "file",
        "id": "f-ui",
        "url": "f-ui",
        "content_type": "image/png",
        "file": {"id": "f-ui", "filename": "scan.png", "meta": {"content_type": "image/png"}},
    }
    pdf = {"type": "file", "id": "f-pdf", "url": "f-pdf", "file": {"meta": {"content_type": "application/pdf"}}}
    files: list[dict[str, Any]] = [ui_item, {"type": "file", "id": "f-api"}, pdf]  # fmt: skip
    assert refs(" https://x.test/a.png ", messages, files) == [("url", "https://x.test/a.png")]
    assert refs("", messages, files) == [("url", new), ("url", old), ("file", "f-api"), ("file", "f-ui")]
    assert refs("", [], [{"type": "image", "url": old}]) == [("url", old)]
    assert refs("", [], [{"type": "file", "url": "/api/v1/files/f-9/content"}]) == [("file", "f-9")]
    assert refs("", [{"role": "user", "content": "text only"}], [pdf]) == []
    # an image Open WebUI could not inline stays a file id in the messages, and is looked up like an upload
    unread = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "f-other"}}]}]
    assert refs("", unread, None) == [("file", "f-other")]
    assert refs("", [], [{"type": "file", "id": "../../etc/passwd"}]) == []


def test_uploads_are_not_read_outside_open_webui() -> None:
    """Without Open WebUI's resolver (or a user) an upload id leads to no image, never to a guess."""
    tools, _ = load_tool("math_notes_vision")
    module = sys.modules[type(tools).__module__]
    assert asyncio.run(module.image_from_upload("f-1", {"id": "u", "role": "user"})) is None
    assert asyncio.run(module.image_from_upload("f-1", None)) is None
    out = asyncio.run(tools.analyze_math_image(__files__=[{"type": "file", "id": "f-1"}], __user__={"id": "u"}))
    assert out.startswith("No image found")
