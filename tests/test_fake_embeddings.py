"""The fake model's ``/v1/embeddings``: OpenAI's shape, deterministic vectors that put texts sharing words nearer,
scripted failures apart from the chat's, and what the notes library's own client gets from it."""

from __future__ import annotations

import math

import hypothesis.strategies as st
import openai
import pytest
import requests
from hypothesis import given, settings

from mathnotes.notes.embeddings import Embedder, EmbeddingError
from tests.support.fake_embeddings import cosine, embedder, tokens, vector
from tests.support.fake_openai import FakeOpenAI, Reply

NOTES = [
    "Integration by parts: the integral of x e^x",
    "Eigenvalues and eigenvectors of a 2x2 matrix",
    "分部积分法 求 x e^x 的积分",
    "矩阵的特征值与特征向量",
]


def _client(model: FakeOpenAI, timeout: float = 5) -> openai.OpenAI:
    return openai.OpenAI(base_url=model.base_url, api_key="sk-test", max_retries=0, timeout=timeout)


def _nearest(query: str, vectors: list[list[float]], dimensions: int) -> int:
    q = vector(query, dimensions)
    return max(range(len(vectors)), key=lambda i: cosine(q, vectors[i]))


def test_openai_sdk_gets_unit_vectors_in_order_with_usage(model: FakeOpenAI) -> None:
    answer = _client(model).embeddings.create(model="text-embedding-v4", input=NOTES, dimensions=256)
    assert [item.index for item in answer.data] == [0, 1, 2, 3]
    vectors = [item.embedding for item in answer.data]  # the SDK asked for base64 and decoded it
    assert all(len(v) == 256 and math.isclose(math.fsum(x * x for x in v), 1, rel_tol=1e-5) for v in vectors)
    assert vectors == [pytest.approx(vector(text, 256), abs=1e-6) for text in NOTES]  # float32 on the wire
    assert answer.model == "text-embedding-v4" and answer.usage.prompt_tokens == sum(len(tokens(t)) for t in NOTES)
    # texts sharing words are nearer, in English and in Chinese (character bigrams)
    assert _nearest("integration by parts", vectors, 256) == 0
    assert _nearest("eigenvalues of a matrix", vectors, 256) == 1
    assert _nearest("分部积分", vectors, 256) == 2
    assert _nearest("特征值", vectors, 256) == 3
    # recorded apart from the chat requests
    assert model.requests == []
    assert [r["body"]["input"] for r in model.embedding_requests] == [NOTES]


def test_plain_json_request_gets_float_vectors_of_the_default_size(model: FakeOpenAI) -> None:
    resp = requests.post(f"{model.base_url}/embeddings", json={"model": "m", "input": "one note"}, timeout=5)
    assert resp.status_code == 200
    data = resp.json()["data"]
    assert len(data) == 1 and data[0]["embedding"] == vector("one note") and len(data[0]["embedding"]) == 1024


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": "x"}, "model"),
        ({"model": "m", "input": ""}, "input"),
        ({"model": "m", "input": []}, "input"),
        ({"model": "m", "input": ["ok", 3]}, "input"),
        ({"model": "m", "input": "x", "dimensions": 0}, "dimensions"),
        ({"model": "m", "input": "x", "dimensions": True}, "dimensions"),
        ({"model": "m", "input": "x", "encoding_format": "int8"}, "encoding_format"),
    ],
)
def test_bad_requests_are_refused_as_openai_does(model: FakeOpenAI, body: dict[str, object], param: str) -> None:
    resp = requests.post(f"{model.base_url}/embeddings", json=body, timeout=5)
    assert resp.status_code == 400 and resp.json()["error"]["param"] == param


def test_scripted_failures_reach_the_client_and_leave_chat_replies_alone(model: FakeOpenAI) -> None:
    model.script(Reply(content="for the chat"))
    model.script_embeddings(Reply(status=429, headers={"Retry-After": "3"}), Reply(status=500), Reply(delay=2))
    client = _client(model, timeout=1)
    with pytest.raises(openai.RateLimitError) as rate:
        client.embeddings.create(model="m", input="x")
    assert rate.value.response.headers["Retry-After"] == "3"
    with pytest.raises(openai.InternalServerError):
        client.embeddings.create(model="m", input="x")
    with pytest.raises(openai.APITimeoutError):
        client.embeddings.create(model="m", input="x")
    assert len(client.embeddings.create(model="m", input="x").data) == 1  # the script is used up: vectors again
    chat = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert chat.choices[0].message.content == "for the chat"
    assert len(model.embedding_requests) == 4 and len(model.requests) == 1


def test_scripts_and_records_over_http_for_other_processes(model: FakeOpenAI) -> None:
    queued = requests.post(f"{model.base_url[:-3]}/_fake/script_embeddings", json=[{"status": 503}], timeout=5)
    assert queued.json() == {"queued": 1}
    assert (
        requests.post(f"{model.base_url}/embeddings", json={"model": "m", "input": "a"}, timeout=5).status_code == 503
    )
    recorded = requests.get(f"{model.base_url[:-3]}/_fake/embedding_requests", timeout=5).json()
    assert [r["body"]["input"] for r in recorded] == ["a"]


def test_the_notes_library_client_gets_the_same_vectors(model: FakeOpenAI) -> None:
    embedder = Embedder(model.base_url, "sk-test", "text-embedding-v4", 1024, timeout_s=5)
    texts = [f"note {i} about limits" for i in range(12)]  # over one batch of 10
    assert embedder.embed(texts) == [pytest.approx(vector(t), abs=1e-12) for t in texts]
    assert [len(r["body"]["input"]) for r in model.embedding_requests] == [10, 2]
    model.script_embeddings(Reply(malformed=True))
    with pytest.raises(EmbeddingError):
        embedder.embed(["x"])


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=300), st.integers(min_value=1, max_value=64))
def test_every_text_gets_the_same_unit_vector_every_time(text: str, dimensions: int) -> None:
    v = vector(text, dimensions)
    assert len(v) == dimensions and math.isclose(math.fsum(x * x for x in v), 1, rel_tol=1e-9)
    assert v == vector(text, dimensions)


def test_sharing_more_words_is_nearer() -> None:
    query = vector("taylor series of sin x")
    closer = [vector(t) for t in ("taylor series of sin x", "taylor series of cos x", "taylor polynomial", "matrix")]
    scores = [cosine(query, v) for v in closer]
    assert scores == sorted(scores, reverse=True) and scores[0] == pytest.approx(1.0) and scores[-1] < 0.2


def _reversed_space(text: str, dimensions: int) -> list[float]:
    return vector(text, dimensions)[::-1]


def test_the_server_answers_in_another_space_when_given_one() -> None:
    """``--embedder module:function`` (bench.notes puts notes and queries in a real model's space this way)."""
    assert embedder("tests.support.fake_embeddings:vector") is vector
    spec = f"{__name__}:_reversed_space"
    with FakeOpenAI(embed=embedder(spec)) as other:
        got = _client(other).embeddings.create(model="m", input=NOTES[:2], dimensions=64).data
    assert [item.embedding for item in got] == [pytest.approx(_reversed_space(t, 64), abs=1e-6) for t in NOTES[:2]]
    assert got[0].embedding != pytest.approx(vector(NOTES[0], 64), abs=1e-6)
