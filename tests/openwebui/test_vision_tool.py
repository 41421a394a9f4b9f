"""The Math Notes vision tool against the real vision service (and the fake model behind it)."""

from __future__ import annotations

import asyncio
import base64
import io
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw

from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.servers import ServiceProcess

from .tools import VISION_KEY, Events, load_tool

ANSWER = "Transcribed: $\\frac{a}{b} + c$\n\n$$\\sum_{k=1}^{n} k = \\frac{n(n+1)}{2}$$"


def photo() -> bytes:
    img = Image.new("RGB", (480, 160), "white")
    ImageDraw.Draw(img).text((20, 60), "sum k = n(n+1)/2", fill="black")
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


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


def test_reads_an_uploaded_file_from_disk(vision: ServiceProcess, model: FakeOpenAI, tmp_path: Path) -> None:
    model.script(Reply(content="The answer is $42$."))
    upload = tmp_path / "upload-123_homework.png"
    upload.write_bytes(photo())
    files = [{"type": "file", "file": {"path": str(upload), "meta": {"content_type": "image/png"}}}]
    out = asyncio.run(tool(vision).analyze_math_image(task="solve", language="en", __files__=files))
    assert out.startswith("The answer is $42$.")
    prompt = " ".join(str(m["content"]) for m in model.requests[0]["body"]["messages"])
    assert "English" in prompt or "english" in prompt.lower()


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


def test_image_choice_prefers_the_url_then_the_newest_chat_image_then_uploads(tmp_path: Path) -> None:
    tools, _ = load_tool("math_notes_vision")
    module = sys.modules[type(tools).__module__]
    old, new = "data:image/png;base64,AAAA", "data:image/jpeg;base64,BBBB"
    messages = [
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": old}}]},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": [{"type": "text", "text": "this"}, {"type": "image_url", "image_url": new}]},
    ]
    upload = tmp_path / "scan.png"
    upload.write_bytes(photo())
    files: list[dict[str, Any]] = [
        {"type": "file", "file": {"path": str(tmp_path / "notes.pdf"), "meta": {"content_type": "application/pdf"}}},
        {"type": "file", "file": {"path": str(upload)}},  # no content type: guessed from the name
    ]
    assert module.pick_image(" https://x.test/a.png ", messages, files) == "https://x.test/a.png"
    assert module.pick_image("", messages, files) == new
    assert module.pick_image("", [], files).startswith("data:image/png;base64,iVBOR")
    assert module.pick_image("", [], [{"type": "image", "url": old}]) == old
    assert module.pick_image("", [{"role": "user", "content": "text only"}], files[:1]) is None
