"""POST /api/vision/analyze against the fake model: the simplest request, bodies, answers, streaming."""

from __future__ import annotations

import base64
import io
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jsonschema
import pytest
from flask.testing import FlaskClient
from PIL import Image

from mathnotes.vision.answer import STRUCTURED_SCHEMA
from tests.support.fake_openai import FakeOpenAI, Reply

from .helpers import API_KEY, AppFactory, b64, data_url, encode, render_text

URL = "/api/vision/analyze"


def sse_events(text: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def test_simplest_request_works_exactly_as_written(client: FlaskClient, model: FakeOpenAI, note_jpeg: bytes) -> None:
    resp = client.post(URL, json={"image": data_url(note_jpeg), "prompt": "Transcribe these notes"})
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["backend"] == "openai" and body["model"] == "qwen3-vl-plus" and body["task"] == "transcribe"
    assert body["markdown"].startswith("The note reads: $x^2 + 2x + 1 = (x+1)^2$")
    assert body["latex"] == ["x^2 + 2x + 1 = (x+1)^2", "\\int_0^1 x\\,dx = \\frac{1}{2}"]
    assert body["structured"] is None and body["cached"] is False
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"] > 0
    assert set(body["timings"]) == {"preprocess_ms", "upstream_ms", "total_ms"}
    assert body["image"]["width"] == 900 and body["image"]["bytes_received"] == len(note_jpeg)
    assert body["image"]["bytes_upstream"] > 0
    assert resp.headers["X-Request-ID"]

    (sent,) = model.requests
    assert sent["headers"]["authorization"] == f"Bearer {API_KEY}"
    request = sent["body"]
    assert request["model"] == "qwen3-vl-plus"
    assert request["max_tokens"] == 4096 and request["temperature"] == 0.1
    assert "stream" not in request and "enable_thinking" not in request and "vl_high_resolution_images" not in request
    system, user = request["messages"]
    assert system["role"] == "system" and "Transcribe" in system["content"]
    image_part, text_part = user["content"]
    assert image_part["image_url"]["url"].startswith("data:image/")
    assert text_part == {"type": "text", "text": "Transcribe these notes"}
    sent_image = Image.open(io.BytesIO(base64.b64decode(image_part["image_url"]["url"].split(",", 1)[1])))
    assert sent_image.size == (900, 300)


def test_bare_base64_and_raw_image_body_and_multipart(client: FlaskClient, model: FakeOpenAI, note_jpeg: bytes) -> None:
    assert client.post(URL, json={"image": b64(note_jpeg), "cache": False}).status_code == 200
    raw = client.post(f"{URL}?task=solve&cache=false", data=note_jpeg, content_type="image/jpeg")
    assert raw.status_code == 200 and raw.get_json()["task"] == "solve"
    form = client.post(
        URL,
        data={"file": (io.BytesIO(note_jpeg), "note.jpg"), "task": "check", "language": "zh", "cache": "false"},
        content_type="multipart/form-data",
    )
    assert form.status_code == 200, form.get_json()
    assert form.get_json()["task"] == "check"
    assert "✅" in model.requests[-1]["body"]["messages"][0]["content"]
    assert "中文" in model.requests[-1]["body"]["messages"][0]["content"]
    assert len(model.requests) == 3


def test_json_body_without_content_type_is_read(client: FlaskClient, note_jpeg: bytes) -> None:
    body = json.dumps({"image": b64(note_jpeg)})
    resp = client.post(URL, data=body, content_type="application/x-www-form-urlencoded")
    assert resp.status_code == 200


def test_invalid_requests_get_precise_errors(client: FlaskClient, model: FakeOpenAI, note_jpeg: bytes) -> None:
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"data": b"{not json", "content_type": "application/json"}, 400, "invalid_json"),
        ({"json": [1, 2]}, 400, "invalid_json"),
        ({"json": {}}, 400, "invalid_request"),
        ({"json": {"image": b64(note_jpeg), "task": "paint"}}, 400, "invalid_request"),
        ({"json": {"image": b64(note_jpeg), "language": "fr"}}, 400, "invalid_request"),
        ({"json": {"image": b64(note_jpeg), "stream": "maybe"}}, 400, "invalid_request"),
        ({"json": {"image": b64(note_jpeg), "tsak": "solve"}}, 400, "invalid_request"),
        ({"json": {"image": 42}}, 400, "invalid_request"),
        ({"json": {"image": "not base64 !!"}}, 400, "invalid_base64"),
        ({"json": {"image": b64(b"hello world, no image")}}, 415, "unsupported_image_format"),
        ({"json": {"image": b64(note_jpeg[:600])}}, 400, "truncated_image"),
        ({"data": b"plain words", "content_type": "text/plain"}, 415, "unsupported_media_type"),
        ({"data": {"task": "solve"}, "content_type": "multipart/form-data"}, 400, "invalid_request"),
        ({"data": b"", "content_type": "image/png"}, 400, "empty_image"),
    ]
    for kwargs, status, code in cases:
        resp = client.post(URL, **kwargs)
        assert resp.status_code == status, (kwargs, resp.get_json())
        error = resp.get_json()["error"]
        assert error["code"] == code, (kwargs, error)
        assert error["request_id"] == resp.headers["X-Request-ID"]
    assert model.requests == []
    problems = client.post(URL, json={"task": "paint", "format": "xml"}).get_json()["error"]["details"]["problems"]
    assert len(problems) == 3


def test_every_error_has_the_json_shape(client: FlaskClient) -> None:
    for method, path, status in [("GET", "/nope", 404), ("GET", URL, 405), ("DELETE", "/health", 405)]:
        resp = client.open(path, method=method)
        assert resp.status_code == status
        assert set(resp.get_json()["error"]) >= {"code", "message", "request_id"}


def test_format_json_returns_schema_valid_structured(client: FlaskClient, model: FakeOpenAI, note_jpeg: bytes) -> None:
    model.script(Reply(content='{"problems": [{"statement": "Solve $x+1=2$", "steps": ["x = 1"], "answer": "1"}]}'))
    resp = client.post(URL, json={"image": b64(note_jpeg), "task": "solve", "format": "json"})
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    jsonschema.validate(body["structured"], STRUCTURED_SCHEMA)
    assert body["structured"]["problems"][0]["answer"] == "1"
    assert "Solve $x+1=2$" in body["markdown"] and body["latex"] == ["x+1=2"]
    assert "ONE JSON object" in model.requests[0]["body"]["messages"][0]["content"]


def test_format_json_asks_again_then_fails_clearly(client: FlaskClient, model: FakeOpenAI, note_jpeg: bytes) -> None:
    model.script(Reply(content="Sorry, here is prose."), Reply(content='{"problems": []}'))
    ok = client.post(URL, json={"image": b64(note_jpeg), "format": "json"})
    assert ok.status_code == 200 and ok.get_json()["structured"] == {"problems": []}
    retry = model.requests[1]["body"]["messages"]
    assert retry[-2] == {"role": "assistant", "content": "Sorry, here is prose."}
    assert "not valid for the required JSON shape" in retry[-1]["content"]
    assert ok.get_json()["usage"]["total_tokens"] > 0

    model.reset()
    model.default = Reply(content="still prose")
    bad = client.post(URL, json={"image": b64(note_jpeg), "format": "json", "cache": False})
    assert bad.status_code == 502
    assert bad.get_json()["error"]["code"] == "invalid_model_output"
    assert "no JSON object" in bad.get_json()["error"]["message"]
    assert len(model.requests) == 2


def test_streaming_sends_deltas_then_one_answer(client: FlaskClient, model: FakeOpenAI, note_jpeg: bytes) -> None:
    resp = client.post(URL, json={"image": b64(note_jpeg), "stream": True})
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/event-stream")
    events = sse_events(resp.get_data(as_text=True))
    kinds = [kind for kind, _ in events]
    assert kinds[-1] == "answer" and set(kinds[:-1]) == {"delta"} and len(kinds) > 3
    answer = events[-1][1]
    assert "".join(data["text"] for kind, data in events if kind == "delta") == answer["markdown"]
    assert answer["latex"] and answer["usage"]["total_tokens"] > 0
    request = model.requests[0]["body"]
    assert request["stream"] is True and request["stream_options"] == {"include_usage": True}

    cached = sse_events(client.post(URL, json={"image": b64(note_jpeg), "stream": True}).get_data(as_text=True))
    assert [k for k, _ in cached] == ["delta", "answer"] and cached[1][1]["cached"] is True
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'vision_requests_total{model="qwen3-vl-plus",status="200",task="transcribe"} 2.0' in metrics
    assert "vision_requests_in_flight 0.0" in metrics


def test_streaming_error_before_first_token_is_a_json_error(
    make_app: AppFactory, model: FakeOpenAI, note_jpeg: bytes
) -> None:
    _app, client = make_app({"VISION_RETRIES": "0"})
    model.script(Reply(status=500))
    resp = client.post(URL, json={"image": b64(note_jpeg), "stream": True})
    assert resp.status_code == 502 and resp.get_json()["error"]["code"] == "upstream_unavailable"


def test_enable_thinking_streams_upstream_even_for_plain_requests(
    make_app: AppFactory, model: FakeOpenAI, note_jpeg: bytes
) -> None:
    _app, client = make_app({"VISION_ENABLE_THINKING": "true", "VISION_HIGH_RESOLUTION": "true"})
    resp = client.post(URL, json={"image": b64(note_jpeg)})
    assert resp.status_code == 200 and resp.get_json()["markdown"].startswith("The note reads")
    request = model.requests[0]["body"]
    assert request["stream"] is True and request["enable_thinking"] is True
    assert request["vl_high_resolution_images"] is True


def test_large_photo_is_downscaled_before_upload(client: FlaskClient, model: FakeOpenAI) -> None:
    big = encode(render_text(["big page"], (4000, 3000), 120), "JPEG", quality=95)
    body = client.post(URL, json={"image": b64(big)}).get_json()
    assert body["image"]["width"] * body["image"]["height"] <= 2_621_440
    assert (body["image"]["source_width"], body["image"]["source_height"]) == (4000, 3000)
    assert body["image"]["bytes_upstream"] < body["image"]["bytes_received"]


def test_health_and_ready_answer(client: FlaskClient) -> None:
    notes = {"writer": True, "database": True, "queue_depth": 0, "backend": "sqlite"}  # the notes library's writer
    health = client.get("/health").get_json()
    assert health == {"status": "ok", "service": "vision", "backend": "openai", "notes": notes}
    ready = client.get("/ready")
    assert ready.status_code == 200 and ready.get_json()["checks"]["cache"] == "ok"
    assert ready.get_json()["checks"]["notes"] == "ok"


class _BreaksMidStream(BaseHTTPRequestHandler):
    """A model endpoint that streams two pieces of text, then drops the connection."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for piece in ("First ", "line"):
            chunk = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m",
                     "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}  # fmt: skip
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()
        self.wfile.write(b"data: {broken")
        self.wfile.flush()
        self.connection.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def breaking_model() -> Iterator[str]:
    """The base URL of a model endpoint that breaks off mid-stream (:class:`_BreaksMidStream`)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _BreaksMidStream)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_failure_after_the_first_delta_is_one_error_event(
    make_app: AppFactory, breaking_model: str, note_jpeg: bytes
) -> None:
    _app, client = make_app({"DASHSCOPE_BASE_URL": breaking_model, "VISION_RETRIES": "2"})
    resp = client.post(URL, json={"image": b64(note_jpeg), "stream": True})
    assert resp.status_code == 200
    events = sse_events(resp.get_data(as_text=True))
    assert [kind for kind, _ in events] == ["delta", "delta", "error"]
    assert events[-1][1]["error"]["code"] == "upstream_bad_response"
    assert events[-1][1]["error"]["request_id"] == resp.headers["X-Request-ID"]
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'vision_requests_total{model="none",status="502",task="transcribe"} 1.0' in metrics


@pytest.mark.parametrize(("fmt", "name"), [("WEBP", "webp"), ("HEIF", "heic"), ("GIF", "gif"), ("PNG", "png")])
def test_every_format_through_multipart(client: FlaskClient, model: FakeOpenAI, fmt: str, name: str) -> None:
    page = encode(render_text(["$a+b$"], (400, 200)), fmt)
    resp = client.post(URL, data={"file": (io.BytesIO(page), f"p.{name}")}, content_type="multipart/form-data")
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["image"]["format"] == name
    sent = model.requests[-1]["body"]["messages"][1]["content"][0]["image_url"]["url"]
    assert sent.startswith(("data:image/jpeg;base64,", "data:image/png;base64,"))


def test_a_sideways_phone_photo_reaches_the_model_upright(client: FlaskClient, model: FakeOpenAI) -> None:
    stored = Image.new("RGB", (400, 200), "white")  # stored landscape, EXIF says: turn 90° clockwise
    stored.paste((0, 0, 0), (0, 0, 200, 200))
    exif = Image.Exif()
    exif[0x0112] = 6
    resp = client.post(URL, json={"image": b64(encode(stored, "JPEG", exif=exif.tobytes()))})
    assert resp.status_code == 200
    url = model.requests[0]["body"]["messages"][1]["content"][0]["image_url"]["url"]
    sent = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("L")
    assert sent.size == (200, 400)
    assert sent.getpixel((100, 50)) < 60 and sent.getpixel((100, 350)) > 200


def test_backend_can_be_forced_to_ocr_with_a_key_set(make_app: AppFactory) -> None:
    _app, client = make_app({"VISION_BACKEND": "ocr"})
    assert client.get("/health").get_json()["backend"] == "ocr"


@pytest.mark.parametrize("stream", [False, True])
def test_an_answer_cut_at_max_tokens_says_so_and_is_not_cached(
    client: FlaskClient, model: FakeOpenAI, note_jpeg: bytes, stream: bool
) -> None:
    cut = "The note reads: $x^2 + 2x"
    model.script(Reply(content=cut, finish_reason="length"), Reply(content="The whole note: $x^2 + 2x + 1$"))
    first = client.post(URL, json={"image": b64(note_jpeg), "stream": stream})
    answer = sse_events(first.get_data(as_text=True))[-1][1] if stream else first.get_json()
    assert first.status_code == 200 and answer["markdown"] == cut
    assert answer["notes"] == ["the answer was cut at VISION_MAX_TOKENS (4096 tokens)"]
    again = client.post(URL, json={"image": b64(note_jpeg)}).get_json()
    assert again["cached"] is False and again["markdown"] == "The whole note: $x^2 + 2x + 1$"
    assert "notes" not in again and len(model.requests) == 2


@pytest.mark.parametrize(("size", "code"), [((1, 49_999_999), "image_too_long"), ((200, 41_000), "image_aspect_ratio")])
def test_extreme_shapes_get_a_precise_400_not_a_500(
    client: FlaskClient, model: FakeOpenAI, size: tuple[int, int], code: str
) -> None:
    """Real PNGs (a 1 x 49,999,999 one used to take 26 s and end in a 500 from the JPEG encoder)."""
    png = encode(Image.new("L", size, 255), "PNG")
    resp = client.post("/api/vision/analyze", data=png, content_type="image/png")
    assert resp.status_code == 400
    error = resp.get_json()["error"]
    assert error["code"] == code and f"{size[0]}x{size[1]}" in error["message"]
    assert model.requests == []
