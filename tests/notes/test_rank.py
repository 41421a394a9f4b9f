"""Reciprocal-rank fusion of the search modes (notes/rank.py)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mathnotes.notes.rank import RRF_K, fuse


def test_three_modes_whose_best_differs_fuse_to_the_note_they_agree_on() -> None:
    # each mode's own favourite is different; "integration-by-parts" is second in all three
    rankings = {
        "words": ["words-only", "integration-by-parts", "eigenvalues"],
        "formula": ["formula-only", "integration-by-parts", "words-only"],
        "meaning": ["meaning-only", "integration-by-parts", "eigenvalues", "formula-only"],
    }
    fused = fuse(rankings)
    assert [note for note, _, _ in fused] == [
        "integration-by-parts",  # 3 x 1/62
        "words-only",  # 1/61 + 1/63
        "formula-only",  # 1/61 + 1/64
        "eigenvalues",  # 1/63 + 1/63
        "meaning-only",  # 1/61
    ]
    scores = {note: score for note, score, _ in fused}
    assert scores["integration-by-parts"] == pytest.approx(3 / 62)
    assert scores["words-only"] == pytest.approx(1 / 61 + 1 / 63)
    assert scores["meaning-only"] == pytest.approx(1 / 61)
    modes = {note: found for note, _, found in fused}
    assert modes["integration-by-parts"] == ["words", "formula", "meaning"]
    assert modes["eigenvalues"] == ["words", "meaning"]
    # no single mode would have put it first
    assert all(ranking[0] != "integration-by-parts" for ranking in rankings.values())


def test_one_mode_keeps_its_order() -> None:
    assert [n for n, _, _ in fuse({"words": ["c", "a", "b"]})] == ["c", "a", "b"]


def test_k_sets_how_much_the_top_ranks_weigh() -> None:
    rankings = {"words": ["a", "b"], "formula": ["c", "a"]}
    assert fuse(rankings, k=60)[0][0] == "a"  # 1/61 + 1/62 beats 1/61
    assert fuse(rankings, k=0)[0][1] == pytest.approx(1 + 1 / 2)
    with pytest.raises(ValueError, match="k"):
        fuse(rankings, k=-1)
    assert RRF_K == 60


def test_ties_are_broken_by_id_and_a_repeat_counts_once() -> None:
    fused = fuse({"words": ["b", "a", "b"], "formula": ["a", "b"]})
    assert [n for n, _, _ in fused] == ["a", "b"]  # equal scores: by id
    assert fused[0][1] == fused[1][1]
    assert fuse({"words": ["x", "x", "x"]}) == [("x", 1 / 61, ["words"])]
    assert fuse({}) == [] == fuse({"words": []})


ids = st.lists(st.sampled_from("abcdefgh"), max_size=8)


@given(st.dictionaries(st.sampled_from(["words", "formula", "meaning"]), ids))
def test_fused_scores_are_the_rrf_sum_sorted_and_do_not_depend_on_mode_order(rankings: dict[str, list[str]]) -> None:
    fused = fuse(rankings)
    for note, score, modes in fused:
        expected = [1 / (60 + r.index(note) + 1) for r in rankings.values() if note in r]
        assert score == math.fsum(expected)
        assert modes == [m for m, r in rankings.items() if note in r]
    assert [(-s, n) for n, s, _ in fused] == sorted((-s, n) for n, s, _ in fused)
    reordered = fuse(dict(reversed(list(rankings.items()))))
    assert [(n, s) for n, s, _ in reordered] == [(n, s) for n, s, _ in fused]
