"""Deterministic embeddings for the fake model's ``POST /v1/embeddings`` (pure: no I/O).

A text's vector is a hashed bag of its words: each token (``mathnotes.notes.text.tokens``, the notes
library's own tokenizer: lowercase words, CJK as character bigrams, math left out) adds ±1 at a position
taken from a hash of the token, and the sum is scaled to length 1. Texts that share words are therefore
nearer (higher cosine) than texts that share none, the same text always gets the same vector, and a test
can compute the expected order itself with :func:`vector`. A text with no token at all (only spaces,
punctuation or math) hashes as one token of its own.

:func:`answer` checks a request body the way OpenAI does and returns ``(status, payload)``.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import math
import struct
from collections.abc import Callable
from typing import Any

from mathnotes.notes.text import tokens

__all__ = [
    "DEFAULT_DIMENSIONS", "MAX_DIMENSIONS", "MAX_INPUTS", "Embed", "answer", "cosine", "embedder", "tokens", "vector",
]  # fmt: skip

DEFAULT_DIMENSIONS = 1024  # DashScope text-embedding-v4's default, as EMBEDDING_DIMENSIONS
MAX_DIMENSIONS = 4096
MAX_INPUTS = 2048  # OpenAI's limit of inputs per request


def vector(text: str, dimensions: int = DEFAULT_DIMENSIONS) -> list[float]:
    """The unit vector of ``text``: its tokens hashed into ``dimensions`` signed buckets."""
    sums = [0.0] * dimensions
    for token in tokens(text) or [text.strip()]:
        digest = hashlib.blake2b(token.encode(), digest_size=8).digest()
        bucket = int.from_bytes(digest[:7], "big")
        sums[bucket % dimensions] += 1.0 if digest[7] & 1 else -1.0
    norm = math.sqrt(math.fsum(x * x for x in sums))
    if norm == 0:  # every token cancelled out: rare, but a zero vector has no direction
        sums[0], norm = 1.0, 1.0
    return [x / norm for x in sums]


Embed = Callable[[str, int], list[float]]  # text, dimensions -> unit vector: vector, or another (embedder)


def embedder(spec: str) -> Embed:
    """The function ``module:function`` names, e.g. ``bench.minilm:vector`` (vectors from a real model's space)."""
    module, _, name = spec.partition(":")
    found: Embed = getattr(importlib.import_module(module), name)
    return found


def cosine(a: list[float], b: list[float]) -> float:
    return math.fsum(x * y for x, y in zip(a, b, strict=True))


def _encoded(values: list[float], encoding: str) -> list[float] | str:
    """As OpenAI sends it: a list of floats, or base64 of little-endian float32 (the Python SDK's default)."""
    return values if encoding == "float" else base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()


def _refusal(message: str, param: str) -> tuple[int, dict[str, Any]]:
    return 400, {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": None}}


def answer(body: Any, embed: Embed = vector) -> tuple[int, dict[str, Any]]:
    """The status and JSON payload OpenAI would answer ``body`` of ``POST /v1/embeddings`` with, ``embed``'s vectors."""
    if not isinstance(body, dict) or not isinstance(body.get("model"), str) or not body["model"]:
        return _refusal("you must provide a model parameter", "model")
    inputs = body.get("input")
    if isinstance(inputs, str):
        inputs = [inputs]
    if not isinstance(inputs, list) or not inputs or len(inputs) > MAX_INPUTS:
        return _refusal(f"'input' must be a string or a list of 1 to {MAX_INPUTS} strings", "input")
    if not all(isinstance(text, str) and text for text in inputs):
        return _refusal("'input' items must be non-empty strings", "input")
    dimensions = body.get("dimensions", DEFAULT_DIMENSIONS)
    if isinstance(dimensions, bool) or not isinstance(dimensions, int) or not 1 <= dimensions <= MAX_DIMENSIONS:
        return _refusal(f"'dimensions' must be an integer from 1 to {MAX_DIMENSIONS}", "dimensions")
    encoding = body.get("encoding_format", "float")
    if encoding not in ("float", "base64"):
        return _refusal("'encoding_format' must be 'float' or 'base64'", "encoding_format")
    data = [{"object": "embedding", "index": i, "embedding": _encoded(embed(t, dimensions), encoding)}
            for i, t in enumerate(inputs)]  # fmt: skip
    used = sum(len(tokens(text)) or 1 for text in inputs)
    usage = {"prompt_tokens": used, "total_tokens": used}
    return 200, {"object": "list", "data": data, "model": body["model"], "usage": usage}
