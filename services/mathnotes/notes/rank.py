"""One ranking out of several: reciprocal-rank fusion of the search modes' rankings. Pure.

Each mode (words, formula, meaning) ranks the notes it finds, best first. A note's fused score is
the sum over the modes that found it of ``1 / (k + rank)`` (rank 1 is the best), with ``k = 60`` as
in Cormack, Clarke and Büttcher's paper: a note found fairly high by two modes beats one found first
by a single mode, and no mode's raw scores need to be comparable with another's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

__all__ = ["RRF_K", "fuse"]

RRF_K = 60


def fuse(rankings: Mapping[str, Sequence[str]], k: int = RRF_K) -> list[tuple[str, float, list[str]]]:
    """``(note id, score, modes that found it)``, best first; equal scores by id, so the order is stable.

    A note listed twice by one mode counts once, at its better rank. The modes of each note are in
    the order of ``rankings``. The score is summed exactly (``math.fsum``), so it does not depend on
    the order the modes come in.
    """
    if k < 0:
        raise ValueError("k must not be negative")
    parts: dict[str, list[float]] = {}
    found_by: dict[str, list[str]] = {}
    for mode, ids in rankings.items():
        seen: set[str] = set()
        for rank, note_id in enumerate(ids, start=1):
            if note_id in seen:
                continue
            seen.add(note_id)
            parts.setdefault(note_id, []).append(1.0 / (k + rank))
            found_by.setdefault(note_id, []).append(mode)
    fused = [(note_id, math.fsum(scores), found_by[note_id]) for note_id, scores in parts.items()]
    fused.sort(key=lambda row: (-row[1], row[0]))
    return fused
