"""A local stand-in for a cloud model: a real HTTP server speaking OpenAI chat completions.

It answers ``POST /v1/chat/completions`` plainly or, when the request says
``"stream": true``, as Server-Sent Events (``chat.completion.chunk`` deltas,
a usage chunk when ``stream_options.include_usage`` is set, then
``data: [DONE]``). ``GET /v1/models`` lists the models asked for so far, plus
``FakeOpenAI.models`` (ids a client such as Open WebUI must see before its first request).

Behaviour is scripted per request with :class:`Reply`: answer slowly, answer
with a status code and headers (429 + Retry-After, 5xx, 401 …) and a raw body,
answer 200 with malformed JSON, or drop the connection, or call tools
(``Reply(tool_calls=[{"name": "f", "arguments": {...}}])``: ``message.tool_calls``, or streamed as
``delta.tool_calls`` with the arguments split over several chunks, as OpenAI streams them; finish
reason ``tool_calls``). Queued replies are used first, then ``default``. Every request is recorded
(path, headers with lower-cased names, JSON body).

``response_format: {"type": "json_object"}`` is accepted as OpenAI and DashScope do
(400 unless a message mentions JSON); with ``json_mode_supported = False`` the fake
plays a model that refuses the parameter with 400.

``POST /v1/embeddings`` answers deterministic vectors (``tests/support/fake_embeddings.py``: a hashed
bag of words, so texts sharing words are nearer). Its requests are recorded in ``embedding_requests``
and scripted with ``script_embeddings(Reply(...))`` (status, headers, body, delay, drop, malformed), apart
from the chat's: a note's embedding in the background never takes a reply scripted for a chat call.

The same control is available over HTTP for other processes:
``POST /_fake/script`` (a JSON list of replies), ``POST /_fake/script_embeddings``, ``POST /_fake/default``,
``GET /_fake/requests``, ``GET /_fake/embedding_requests``, ``POST /_fake/reset``,
``POST /_fake/json_mode`` (``{"supported": false}``).

    python -m tests.support.fake_openai --port 8000 --delay 1
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support import fake_embeddings

__all__ = ["FakeOpenAI", "Reply"]

DEFAULT_CONTENT = "The note reads: $x^2 + 2x + 1 = (x+1)^2$\n\n$$\\int_0^1 x\\,dx = \\frac{1}{2}$$"


@dataclass
class Reply:
    content: str | None = None
    delay: float = 0.0
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    malformed: bool = False
    drop: bool = False
    chunk_delay: float = 0.0
    finish_reason: str = "stop"  # "length" plays a model cut at max_tokens
    tool_calls: list[dict[str, Any]] | None = None  # [{"name": ..., "arguments": {...} or a JSON string}]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Reply:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _json_mode_refusal(body: dict[str, Any], supported: bool) -> str | None:
    """Why a ``response_format`` would be refused (as OpenAI words it), or None."""
    fmt = body.get("response_format")
    if fmt is None:
        return None
    if not supported:
        return "response_format is not supported by this model"
    if not isinstance(fmt, dict) or fmt.get("type") not in ("json_object", "text"):
        return "response_format.type must be json_object or text"
    if fmt["type"] == "json_object" and "json" not in json.dumps(body.get("messages", "")).lower():
        return "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'."
    return None


def _chunks(text: str, size: int = 8) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _tool_calls(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """OpenAI ``tool_calls`` for ``[{"name", "arguments"}]`` (arguments as a JSON string, as OpenAI sends them)."""
    out = []
    for call in calls:
        arguments = call.get("arguments", {})
        text = arguments if isinstance(arguments, str) else json.dumps(arguments)
        function = {"name": str(call["name"]), "arguments": text}
        out.append({"id": f"call_{uuid.uuid4().hex[:12]}", "type": "function", "function": function})
    return out


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    # headers and body go out in separate writes: with Nagle's algorithm the body waits for the client's
    # delayed ACK of the headers (~40 ms on Linux), a latency no real endpoint adds
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # --- plumbing ---------------------------------------------------------------

    def _read_json(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return {"_unparsed": raw.decode(errors="replace")}

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(raw)

    # --- routes -------------------------------------------------------------------

    def do_GET(self) -> None:
        fake = self.server.fake
        if self.path == "/_fake/requests":
            self._send(200, fake.requests)
        elif self.path == "/_fake/embedding_requests":
            self._send(200, fake.embedding_requests)
        elif self.path.rstrip("/").endswith("/models"):
            asked = {r["body"].get("model", "") for r in fake.requests if isinstance(r["body"], dict)}
            models = sorted(asked | set(fake.models))
            self._send(200, {"object": "list", "data": [{"id": m, "object": "model"} for m in models]})
        else:
            self._send(404, {"error": {"message": "not found", "type": "invalid_request_error"}})

    def do_POST(self) -> None:
        fake = self.server.fake
        body = self._read_json()
        if self.path == "/_fake/reset":
            fake.reset()
            return self._send(200, {"ok": True})
        if self.path == "/_fake/script":
            fake.script(*(Reply.from_json(item) for item in body or []))
            return self._send(200, {"queued": len(body or [])})
        if self.path == "/_fake/script_embeddings":
            fake.script_embeddings(*(Reply.from_json(item) for item in body or []))
            return self._send(200, {"queued": len(body or [])})
        if self.path == "/_fake/default":
            fake.default = Reply.from_json(body or {})
            return self._send(200, {"ok": True})
        if self.path == "/_fake/json_mode":
            fake.json_mode_supported = bool((body or {}).get("supported", True))
            return self._send(200, {"ok": True})
        if self.path.rstrip("/").endswith("/embeddings"):
            fake.record(self.path, {k.lower(): v for k, v in self.headers.items()}, body, embedding=True)
            if not self._scripted(fake.next_reply(embedding=True)):
                status, payload = fake_embeddings.answer(body, fake.embed)
                self._send(status, payload)
            return None
        if not self.path.rstrip("/").endswith("/chat/completions"):
            return self._send(404, {"error": {"message": "not found", "type": "invalid_request_error"}})
        fake.record(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        refusal = _json_mode_refusal(body, fake.json_mode_supported) if isinstance(body, dict) else None
        if refusal:
            return self._send(400, {"error": {"message": refusal, "type": "invalid_request_error",
                                              "param": "response_format", "code": None}})  # fmt: skip
        self._complete(fake.next_reply(), body if isinstance(body, dict) else {})

    def _scripted(self, reply: Reply) -> bool:
        """Play the scripted part of ``reply`` (delay, then a dropped connection, an error or malformed JSON);
        True when that was the whole answer."""
        if reply.delay:
            time.sleep(reply.delay)  # the scripted latency of a slow model, not a wait for anything
        if reply.drop:
            self.close_connection = True
            self.connection.close()
            return True
        if reply.status != 200:
            error = reply.body or {"error": {"message": f"fake error {reply.status}", "type": "fake", "code": None}}
            self._send(reply.status, error, reply.headers)
            return True
        if reply.malformed:
            self._send(200, b'{"id": "chatcmpl-broken", "choices": [', reply.headers)
            return True
        return False

    def _complete(self, reply: Reply, body: dict[str, Any]) -> None:
        if self._scripted(reply):
            return
        calls = _tool_calls(reply.tool_calls) if reply.tool_calls else None
        if reply.content is not None:
            content = reply.content
        else:
            content = "" if calls else self.server.fake.responder(body)
        finish = "tool_calls" if calls and reply.finish_reason == "stop" else reply.finish_reason
        model = str(body.get("model", "fake-model"))
        prompt_tokens = len(json.dumps(body.get("messages", ""))) // 4
        completion_tokens = max(1, len(content) // 4)
        if body.get("stream"):
            usage = _usage(prompt_tokens, completion_tokens)
            return self._stream(reply, model, content, calls, finish, body, usage)
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if calls:
            message.update(content=content or None, tool_calls=calls)
        self._send(
            200,
            {
                "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                "usage": _usage(prompt_tokens, completion_tokens),
            },
            reply.headers,
        )

    def _stream(
        self,
        reply: Reply,
        model: str,
        content: str,
        calls: list[dict[str, Any]] | None,
        finish: str,
        body: dict[str, Any],
        usage: dict[str, int],
    ) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        ident = f"chatcmpl-{uuid.uuid4().hex[:12]}"

        def event(choices: list[dict[str, Any]], extra: dict[str, Any] | None = None) -> None:
            chunk = {"id": ident, "object": "chat.completion.chunk", "created": int(time.time()), "model": model}
            chunk["choices"] = choices
            chunk.update(extra or {})
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()

        event([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
        for piece in _chunks(content) if content or not calls else []:
            if reply.chunk_delay:
                time.sleep(reply.chunk_delay)  # scripted: a model that streams slowly
            event([{"index": 0, "delta": {"content": piece}, "finish_reason": None}])
        for index, call in enumerate(calls or []):
            head = {"index": index, "id": call["id"], "type": "function"}
            head["function"] = {"name": call["function"]["name"], "arguments": ""}
            event([{"index": 0, "delta": {"tool_calls": [head]}, "finish_reason": None}])
            for piece in _chunks(call["function"]["arguments"]):
                part = {"index": index, "function": {"arguments": piece}}
                event([{"index": 0, "delta": {"tool_calls": [part]}, "finish_reason": None}])
        event([{"index": 0, "delta": {}, "finish_reason": finish}])
        if (body.get("stream_options") or {}).get("include_usage"):
            event([], {"usage": usage})
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that time out or hang up (as tests make them) are not errors here

    def __init__(self, addr: tuple[str, int], fake: FakeOpenAI) -> None:
        super().__init__(addr, _Handler)
        self.fake = fake


class FakeOpenAI:
    """The fake model server. ``start()`` binds a free loopback port unless told one."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        responder: Callable[[dict[str, Any]], str] | None = None,
        default: Reply | None = None,
        embed: fake_embeddings.Embed = fake_embeddings.vector,
    ) -> None:
        self.host, self._port = host, port
        self.embed = embed  # text, dimensions -> unit vector: what POST /embeddings answers
        self.responder: Callable[[dict[str, Any]], str] = responder or (lambda _body: DEFAULT_CONTENT)
        self.default = default or Reply()
        self.models: list[str] = []  # always listed by GET /models (kept by reset(), like host and port)
        self.requests: list[dict[str, Any]] = []
        self.embedding_requests: list[dict[str, Any]] = []  # POST /embeddings, apart from the chat's
        self.json_mode_supported = True  # False: refuse response_format with 400
        self._queue: collections.deque[Reply] = collections.deque()
        self._embedding_queue: collections.deque[Reply] = collections.deque()
        self._lock = threading.Lock()
        self._server: _Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def start(self) -> FakeOpenAI:
        self._server = _Server((self.host, self._port), self)
        threading.Thread(target=self._server.serve_forever, name="fake-openai", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.embedding_requests.clear()
            self._queue.clear()
            self._embedding_queue.clear()
            self.default = Reply()
            self.responder = lambda _body: DEFAULT_CONTENT
            self.json_mode_supported = True

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self._queue.extend(replies)

    def script_embeddings(self, *replies: Reply) -> None:
        """Queue replies for the next ``POST /embeddings`` requests (then they answer vectors again)."""
        with self._lock:
            self._embedding_queue.extend(replies)

    def next_reply(self, embedding: bool = False) -> Reply:
        with self._lock:
            if embedding:
                return self._embedding_queue.popleft() if self._embedding_queue else Reply()
            return self._queue.popleft() if self._queue else self.default

    def record(self, path: str, headers: dict[str, str], body: Any, embedding: bool = False) -> None:
        with self._lock:
            (self.embedding_requests if embedding else self.requests).append(
                {"path": path, "headers": headers, "body": body}
            )

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the fake OpenAI-compatible model server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before every answer")
    parser.add_argument(
        "--embedder", default="tests.support.fake_embeddings:vector",
        help="module:function giving a text's vector for POST /embeddings (bench.notes: bench.minilm:vector)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    embed = fake_embeddings.embedder(args.embedder)
    embed("warm up", fake_embeddings.DEFAULT_DIMENSIONS)  # a model it loads is loaded before the first request
    fake = FakeOpenAI(args.host, args.port, default=Reply(delay=args.delay), embed=embed).start()
    print(json.dumps({"base_url": fake.base_url}), flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()
