"""Vectors for meaning search: an OpenAI-compatible ``POST {base}/embeddings``.

One request carries at most :data:`BATCH` texts, each cut to :data:`MAX_CHARS`, with ``model``, ``input``
and ``dimensions``; it is bounded by ``timeout_s`` in all and never follows a redirect. The answer is checked
(one vector per input, each of ``dimensions`` finite numbers) and the vectors come back L2-normalised,
so cosine distance and inner product agree. Anything else raises :class:`EmbeddingError`; the caller
leaves the note's vector empty and a later backfill pass tries again. No API key: no embedder, no meaning
mode.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

import requests

__all__ = ["BATCH", "MAX_CHARS", "Embedder", "EmbeddingError"]

BATCH = 10  # DashScope's text-embedding-v4 takes up to 10 inputs per request
MAX_CHARS = 6000  # of one input: well inside the model's 8,192 tokens, for CJK too
MAX_RESPONSE_BYTES = 8 * 1024 * 1024  # 10 vectors of 2,048 numbers as JSON are ~ 0.5 MB


class EmbeddingError(Exception):
    """No usable vectors: the endpoint is down, slow, refused, or answered something else."""


class Embedder:
    def __init__(self, base_url: str, api_key: str, model: str, dimensions: int, timeout_s: float) -> None:
        self.url = base_url.rstrip("/") + "/embeddings"
        self.model = model
        self.dimensions = dimensions
        self.timeout_s = timeout_s
        self._session = requests.Session()
        self._session.headers["Authorization"] = f"Bearer {api_key}"
        self._session.trust_env = False  # no proxy or .netrc from the environment

    def embed(self, texts: list[str], timeout_s: float | None = None) -> list[list[float]]:
        """One unit vector per text (in order), in requests of at most :data:`BATCH` (each within the timeout)."""
        vectors: list[list[float]] = []
        for start in range(0, len(texts), BATCH):
            batch = [t[:MAX_CHARS] or " " for t in texts[start : start + BATCH]]
            vectors += self._request(batch, self.timeout_s if timeout_s is None else timeout_s)
        return vectors

    def _request(self, inputs: list[str], timeout_s: float) -> list[list[float]]:
        body = {"model": self.model, "input": inputs, "dimensions": self.dimensions, "encoding_format": "float"}
        deadline = time.monotonic() + timeout_s
        try:
            with self._session.post(self.url, json=body, timeout=timeout_s, allow_redirects=False, stream=True) as resp:
                if resp.status_code != 200:
                    raise EmbeddingError(f"embeddings endpoint answered HTTP {resp.status_code}")
                chunks, size = [], 0
                for chunk in resp.iter_content(65536):
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > MAX_RESPONSE_BYTES:
                        raise EmbeddingError(f"embeddings answer over {MAX_RESPONSE_BYTES} bytes")
                    if time.monotonic() > deadline:
                        raise EmbeddingError(f"embeddings answer took over {timeout_s:g} s")
                raw = b"".join(chunks)
        except requests.RequestException as err:
            raise EmbeddingError(f"embeddings endpoint unreachable: {type(err).__name__}") from err
        try:
            data = json.loads(raw)
        except ValueError as err:
            raise EmbeddingError("embeddings answer is not JSON") from err
        return self._vectors(data, len(inputs))

    def _vectors(self, data: Any, count: int) -> list[list[float]]:
        items = data.get("data") if isinstance(data, dict) else None
        if not isinstance(items, list) or len(items) != count:
            raise EmbeddingError(f"embeddings answer has no list of {count} vectors")
        ordered: list[list[float] | None] = [None] * count
        for position, item in enumerate(items):
            index = item.get("index", position) if isinstance(item, dict) else None
            vector = item.get("embedding") if isinstance(item, dict) else None
            if not isinstance(index, int) or not 0 <= index < count or not isinstance(vector, list):
                raise EmbeddingError("embeddings answer has an item without index or embedding")
            ordered[index] = unit(vector, self.dimensions)
        if any(v is None for v in ordered):
            raise EmbeddingError("embeddings answer repeats an index")
        return [v for v in ordered if v is not None]


def unit(vector: list[Any], dimensions: int) -> list[float]:
    """``vector`` checked (``dimensions`` finite numbers, not all zero) and scaled to length 1."""
    if len(vector) != dimensions:
        raise EmbeddingError(f"embedding has {len(vector)} dimensions, not {dimensions}")
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in vector):
        raise EmbeddingError("embedding holds something other than finite numbers")
    norm = math.sqrt(math.fsum(float(x) * float(x) for x in vector))
    if norm == 0:
        raise EmbeddingError("embedding is all zeros")
    return [float(x) / norm for x in vector]
