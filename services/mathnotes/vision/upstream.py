"""Calls to the OpenAI-compatible model: ordered fallbacks, retries, DashScope specifics.

:meth:`Upstream.stream` yields text deltas, then one :class:`Completion`. Each model
in the list gets ``1 + retries`` attempts on timeouts, connection errors, 429, 5xx
and malformed answers, with full-jitter exponential backoff or the server's
``Retry-After`` (up to a cap; a longer wait moves on to the next model). Once a
delta has reached the caller nothing is retried. Failures end as
:class:`UpstreamError` with the HTTP status the API answers; the provider's key
never appears in one.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

import openai

from ..common.logs import get_logger
from .errors import VisionError
from .metrics import VisionMetrics
from .settings import ModelTarget, VisionSettings, is_text_only_model

__all__ = ["Completion", "Upstream", "UpstreamError", "classify", "retry_after_seconds"]

log = get_logger("mathnotes.vision.upstream")

RETRYABLE = {"timeout", "connection", "rate_limited", "server_error", "bad_response"}


@dataclass
class Completion:
    text: str
    model: str
    usage: dict[str, int] = field(default_factory=dict)
    attempts: int = 1
    upstream_ms: float = 0.0
    finish_reason: str | None = None  # "length": cut at VISION_MAX_TOKENS


class UpstreamError(VisionError):
    """Every model failed; ``details.attempts`` lists each attempt (model, outcome, status)."""

    def __init__(
        self, code: str, message: str, status: int, attempts: list[dict[str, Any]], headers: dict[str, str]
    ) -> None:
        super().__init__(code, message, status, details={"attempts": attempts}, headers=headers)


@dataclass
class _Failure:
    kind: str
    status: int | None = None
    retry_after: float | None = None


def retry_after_seconds(headers: Any, now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    if headers is None:
        return None
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _is_data_inspection(err: openai.APIStatusError) -> bool:
    body = err.body if isinstance(err.body, dict) else {}
    inner = body.get("error", body) if isinstance(body.get("error", body), dict) else body
    text = " ".join(str(inner.get(k, "")) for k in ("code", "type", "message")) + " " + str(body.get("code", ""))
    text = text.lower().replace("_", "")
    return "datainspectionfailed" in text or "inappropriate content" in text


def classify(err: BaseException) -> _Failure:
    """What kind of failure an exception from the SDK is."""
    if isinstance(err, openai.APITimeoutError):
        return _Failure("timeout")
    if isinstance(err, openai.APIConnectionError):
        return _Failure("connection")
    if isinstance(err, openai.APIStatusError):
        status = err.status_code
        after = retry_after_seconds(err.response.headers)
        if status == 429:
            return _Failure("rate_limited", status, after)
        if status >= 500:
            return _Failure("server_error", status, after)
        if status in (401, 403):
            return _Failure("auth", status)
        if _is_data_inspection(err):
            return _Failure("content_rejected", status)
        return _Failure("bad_request", status)
    return _Failure("bad_response")  # malformed JSON, unexpected shapes


_FINAL = {
    "timeout": (504, "upstream_timeout", "the model did not answer in time"),
    "connection": (502, "upstream_unavailable", "the model endpoint could not be reached"),
    "server_error": (502, "upstream_unavailable", "the model endpoint failed"),
    "rate_limited": (503, "upstream_rate_limited", "the model provider is rate-limiting; try again later"),
    "auth": (502, "upstream_auth", "upstream rejected the API key"),
    "content_rejected": (
        422,
        "content_rejected",
        "the model provider's content inspection (DataInspectionFailed) refused this image",
    ),
    "bad_request": (502, "upstream_bad_request", "the model endpoint refused the request"),
    "bad_response": (502, "upstream_bad_response", "the model endpoint sent an answer that could not be read"),
    "budget": (504, "upstream_timeout", "the model did not answer within the request's time budget"),
}


class Upstream:
    def __init__(
        self,
        settings: VisionSettings,
        metrics: VisionMetrics,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.sleep = sleep
        self.targets = settings.models()
        self._clients: dict[tuple[str, str], openai.OpenAI] = {}
        self._no_json_mode: set[tuple[str, str]] = set()  # (base_url, model) that refused response_format
        self._probe: tuple[float, dict[str, str]] | None = None

    def _client(self, target: ModelTarget) -> openai.OpenAI:
        key = (target.base_url, target.api_key)
        if key not in self._clients:
            self._clients[key] = openai.OpenAI(
                base_url=target.base_url,
                api_key=target.api_key or "EMPTY",
                max_retries=0,
                timeout=self.settings.timeout_s,
            )
        return self._clients[key]

    def json_mode(self, target: ModelTarget) -> bool:
        """Whether a JSON answer is asked of ``target`` with ``response_format: json_object``."""
        s = self.settings
        if s.json_mode == "auto":
            return not s.enable_thinking and (target.base_url, target.model) not in self._no_json_mode
        return s.json_mode == "on"

    def _params(
        self, target: ModelTarget, messages: list[dict[str, Any]], stream: bool, want_json: bool = False
    ) -> dict[str, Any]:
        s = self.settings
        params: dict[str, Any] = {
            "model": target.model,
            "messages": messages,
            "max_tokens": s.max_tokens,
            "temperature": s.temperature,
        }
        if want_json and self.json_mode(target):
            params["response_format"] = {"type": "json_object"}
        extra: dict[str, Any] = {}
        if s.high_resolution:
            extra["vl_high_resolution_images"] = True
        if s.enable_thinking:
            extra["enable_thinking"] = True  # DashScope accepts it only on streaming calls
        if extra:
            params["extra_body"] = extra
        if stream:
            params["stream"] = True
            params["stream_options"] = {"include_usage": True}
        return params

    def probe(self, max_age_s: float = 15.0) -> dict[str, str]:
        """Whether each endpoint answers ``GET /models`` with its key (cached for ``max_age_s``)."""
        now = time.monotonic()
        if self._probe is not None and now - self._probe[0] < max_age_s:
            return self._probe[1]
        results: dict[str, str] = {}
        for target in self.targets:
            try:
                self._client(target).with_options(timeout=3.0).models.list()
                results[target.model] = "ok"
            except Exception as err:
                failure = classify(err)
                results[target.model] = _FINAL[failure.kind][2] if failure.kind == "auth" else failure.kind
        self._probe = (now, results)
        return results

    def stream(
        self,
        messages: list[dict[str, Any]],
        *,
        client_streams: bool = True,
        want_json: bool = False,
    ) -> Iterator[str | Completion]:
        """Text deltas then the Completion; UpstreamError when every model failed."""
        s = self.settings
        deadline = time.monotonic() + s.total_timeout_s
        upstream_streams = client_streams or s.enable_thinking
        attempts: list[dict[str, Any]] = []
        last = _Failure("bad_response")
        for index, target in enumerate(self.targets):
            if is_text_only_model(target.model, target.base_url):
                continue  # DeepSeek takes no images (every call carries one): never send it one
            if index:
                self.metrics.fallbacks.inc()
            for attempt in range(s.retries + 1):
                remaining = deadline - time.monotonic()
                if remaining <= 0.05:
                    last = _Failure("budget")
                    break
                sent_any = False
                started = time.monotonic()
                try:
                    params = self._params(target, messages, upstream_streams, want_json)
                    client = self._client(target).with_options(timeout=min(s.timeout_s, remaining))
                    call = self._json_or_not(target, client, params, upstream_streams, client_streams)
                    while True:
                        try:
                            piece = next(call)
                        except StopIteration as done:
                            text, usage, finish = done.value
                            break
                        sent_any = True  # from here on a failure cannot be retried
                        yield piece
                    if not text.strip():
                        raise ValueError("empty answer")
                    elapsed = (time.monotonic() - started) * 1000
                    self.metrics.upstream_latency.labels(model=target.model).observe(elapsed / 1000)
                    attempts.append({"model": target.model, "outcome": "ok"})
                    yield Completion(text, target.model, usage, len(attempts), round(elapsed, 1), finish)
                    return
                except Exception as err:  # classified below; nothing else escapes
                    failure = classify(err)
                    last = failure
                    attempts.append({"model": target.model, "outcome": failure.kind, "status": failure.status})
                    log.warning(
                        "model attempt failed: %s",
                        failure.kind,
                        extra={"model": target.model, "kind": failure.kind, "status": failure.status,
                               "attempt": attempt + 1, "error": type(err).__name__},
                    )  # fmt: skip
                    self.metrics.upstream_error(target.model, failure.kind)
                    if sent_any:
                        raise self._final(failure, attempts) from None
                    if failure.kind == "content_rejected":
                        raise self._final(failure, attempts) from None
                    if failure.kind not in RETRYABLE or attempt == s.retries:
                        break
                    wait = random.uniform(0, min(10.0, s.backoff_s * (2**attempt)))  # noqa: S311 (jitter)
                    if failure.retry_after is not None:
                        if failure.retry_after > s.retry_after_max_s:
                            break  # too long: the next model may answer now
                        wait = max(wait, failure.retry_after)
                    if deadline - time.monotonic() < wait + 0.05:
                        break
                    self.metrics.upstream_retries.labels(model=target.model).inc()
                    self.sleep(wait)
        raise self._final(last, attempts)

    def _json_or_not(
        self,
        target: ModelTarget,
        client: openai.OpenAI,
        params: dict[str, Any],
        upstream_streams: bool,
        client_streams: bool,
    ) -> Generator[str, None, tuple[str, dict[str, int], str | None]]:
        """One call; in auto mode a 400 to ``response_format`` is asked again without it (nothing was sent on yet)."""
        if "response_format" not in params or self.settings.json_mode != "auto":
            return (yield from self._attempt(client, params, upstream_streams, client_streams))
        try:
            return (yield from self._attempt(client, params, upstream_streams, client_streams))
        except openai.BadRequestError:
            pass
        plain = {k: v for k, v in params.items() if k != "response_format"}
        answer = yield from self._attempt(client, plain, upstream_streams, client_streams)
        self._no_json_mode.add((target.base_url, target.model))  # the refusal was the JSON mode's
        log.info("model refuses response_format json_object: asked without it", extra={"model": target.model})
        return answer

    def _attempt(
        self, client: openai.OpenAI, params: dict[str, Any], upstream_streams: bool, client_streams: bool
    ) -> Generator[str, None, tuple[str, dict[str, int], str | None]]:
        """One call: yields text pieces (when the client streams), returns (text, usage, finish_reason)."""
        if not upstream_streams:
            response = client.chat.completions.create(**params)
            if not response.choices:
                raise ValueError("no choices")
            choice = response.choices[0]
            usage = _usage(response.usage) if response.usage else {}
            return choice.message.content or "", usage, choice.finish_reason
        collected: list[str] = []
        usage = {}
        finish: str | None = None
        with client.chat.completions.create(**params) as chunks:
            for chunk in chunks:
                if chunk.usage is not None:
                    usage = _usage(chunk.usage)
                for choice in chunk.choices or []:
                    finish = choice.finish_reason or finish
                    piece = choice.delta.content if choice.delta else None
                    if piece:
                        collected.append(piece)
                        if client_streams:
                            yield piece
        if finish is None:  # the stream broke off: never pass a partial answer as a whole one
            raise ValueError("the answer stream ended before the model finished")
        return "".join(collected), usage, finish

    def _final(self, failure: _Failure, attempts: list[dict[str, Any]]) -> UpstreamError:
        status, code, message = _FINAL[failure.kind]
        headers = {}
        if failure.kind == "rate_limited":
            headers["Retry-After"] = str(max(1, round(failure.retry_after or 1)))
        return UpstreamError(code, message, status, attempts, headers)


def _usage(usage: Any) -> dict[str, int]:
    return {
        "prompt_tokens": int(getattr(usage, "prompt_tokens", 0) or 0),
        "completion_tokens": int(getattr(usage, "completion_tokens", 0) or 0),
        "total_tokens": int(getattr(usage, "total_tokens", 0) or 0),
    }
