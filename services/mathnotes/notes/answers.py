"""What the library keeps of an answer beside it: its text, formulas, words, title, step verdicts.

Pure; everything here takes the answer object as the vision API returned it, and copes with any JSON
(an imported note may hold anything): :func:`body_of` (the searchable Markdown), :func:`formulas_of`,
:func:`words_of` (the ``words`` column), :func:`derive_title` (first heading or first line, math kept,
at most 80 characters) and :func:`verdict_counts`. :mod:`.model` re-exports them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from . import text

__all__ = ["UNTITLED", "body_of", "derive_title", "formulas_of", "verdict_counts", "words_of"]

UNTITLED = "Untitled page"
MAX_DERIVED_TITLE = 80
MAX_FORMULAS = 200  # formulas indexed per note
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def body_of(answer: Any) -> str:
    """The searchable text of an answer: its Markdown (or, without any, the structured statements)."""
    if not isinstance(answer, Mapping):
        return ""
    markdown = answer.get("markdown")
    if isinstance(markdown, str) and markdown.strip():
        return markdown
    return "\n\n".join(p["statement"] for p in _problems(answer) if isinstance(p.get("statement"), str))


def formulas_of(answer: Any) -> list[str]:
    """The answer's formulas, each once, in order: ``latex``, then the structured problems' and steps'."""
    if not isinstance(answer, Mapping):
        return []
    found: list[str] = []
    candidates: list[Any] = _list(answer.get("latex"))
    for problem in _problems(answer):
        candidates += _list(problem.get("latex"))
        candidates += [step.get("latex") for step in _list(problem.get("steps")) if isinstance(step, Mapping)]
    for latex in candidates:
        if isinstance(latex, str) and latex.strip() and latex.strip() not in found:
            found.append(latex.strip())
            if len(found) == MAX_FORMULAS:
                break
    return found


def words_of(title: str, body: str) -> str:
    """The ``words`` column: :func:`text.tokens` of the title and body, joined by spaces."""
    return " ".join(text.tokens(f"{title}\n{body}"))


def verdict_counts(answer: Any) -> tuple[int, int]:
    """``(checked, wrong)``: structured steps with a verdict other than ``unchecked``, and the incorrect ones."""
    checked = wrong = 0
    for problem in _problems(answer):
        steps = problem.get("steps")
        for step in steps if isinstance(steps, list) else []:
            verdict = step.get("verdict") if isinstance(step, Mapping) else None
            if isinstance(verdict, str) and verdict != "unchecked":
                checked += 1
                wrong += verdict == "incorrect"
    return checked, wrong


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _problems(answer: Any) -> list[Mapping[str, Any]]:
    structured = answer.get("structured") if isinstance(answer, Mapping) else None
    problems = structured.get("problems") if isinstance(structured, Mapping) else None
    return [p for p in problems if isinstance(p, Mapping)] if isinstance(problems, list) else []


# --- titles ------------------------------------------------------------------------------------------------

_HEADING = re.compile(r" {0,3}#{1,6}[ \t]+(.*)")
_MARKERS = re.compile(r" {0,3}(?:>[ \t]?|[-*+][ \t]+|[0-9]{1,9}[.)][ \t]+)+")


def derive_title(answer: Any) -> str:
    """The first heading of the answer's Markdown, else its first line; math kept, at most 80 characters."""
    lines = body_of(answer)[:20_000].splitlines()
    headings = [m.group(1) for line in lines if (m := _HEADING.fullmatch(line.rstrip()))]
    for line in [*headings, *lines]:
        title = _clean_line(line)
        if any(c.isalnum() for c in title):  # not a rule (---) or a lone $$
            return _shorten(title)
    return UNTITLED


def _clean_line(line: str) -> str:
    markers = _MARKERS.match(line)
    line = _CONTROL.sub(" ", line[markers.end() :] if markers else line).strip().rstrip("#").strip()
    spans = text.math_spans(line)
    parts, last = [], 0
    for start, end in [*spans, (len(line), len(line))]:
        parts += [re.sub(r"\*\*|__|`", "", line[last:start]), line[start:end]]
        last = end
    return " ".join("".join(parts).split())


def _shorten(title: str) -> str:
    if len(title) <= MAX_DERIVED_TITLE:
        return title
    cut = MAX_DERIVED_TITLE - 1
    inside = [start for start, end in text.math_spans(title) if start < cut < end]
    if inside and inside[0] > 0:
        cut = inside[0]  # never cut a formula in two
    elif not inside and (space := title.rfind(" ", cut - 20, cut + 1)) > 0:
        cut = space
    return title[:cut].rstrip() + "…"
