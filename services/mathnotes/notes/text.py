"""Words for full-text search, in English, Chinese and the two mixed: tokens, query terms, snippets.

Pure. :func:`tokens` is the one tokenizer both the stored notes (the ``words`` column) and the queries
go through, so they meet without any database extension: lowercase words of letters and digits
(Unicode NFKC first, so full-width letters and digits are the ASCII ones), and for every run of CJK characters each
character bigram (``分部积分`` → ``分部`` ``部积`` ``积分``; a lone character stays itself). Math
(``$..$``, ``$$..$$``, ``\\(..\\)``, ``\\[..\\]``) is left out: formulas have their own index.
:func:`snippet` is the HTML excerpt a search result shows: escaped, hits in ``<mark>``, taken from the
note's Markdown read as text (:func:`markdown_text`: no ``##``, ``**``, list or quote markers; math kept). Everything is
linear in its input; no user text is ever compiled as a regular expression.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable

__all__ = [
    "MAX_QUERY_CHARS",
    "MAX_QUERY_TERMS",
    "MAX_TERM_CHARS",
    "markdown_text",
    "math_spans",
    "query_terms",
    "snippet",
    "strip_math",
    "tokens",
]

MAX_QUERY_TERMS = 32  # terms of one query
MAX_TERM_CHARS = 64  # a longer word is cut to this (in notes and queries alike)
MAX_QUERY_CHARS = 1000  # a query is read up to here
MAX_SNIPPET_WIDTH = 1000  # characters of a snippet, at most

_CJK_CHARS = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0002ffff"
_CJK = re.compile(f"[{_CJK_CHARS}]")
_RUN = re.compile(f"(?P<cjk>[{_CJK_CHARS}]+)|[^\\W_{_CJK_CHARS}]+")
_OPEN = re.compile(r"\\\$|\$\$|\$|\\\(|\\\[")
_CLOSE = {"$$": "$$", "$": "$", "\\(": "\\)", "\\[": "\\]"}
_SPACE = re.compile(r"\s+")
# Markdown's markers, as a reader does not see them: at a line's start, headings, quotes, list bullets and
# numbers and rules; anywhere, runs of ** __ ~~ and backticks (fences too) (single * and _ stay: LaTeX uses them)
_LINE_MARKS = re.compile(r"^[ \t]*(?:(?:>[ \t]?)+|#{1,6}[ \t]+|[-*+][ \t]+|\d{1,9}[.)][ \t]+|(?:[-*_=][ \t]*){3,}$)",
                         re.MULTILINE)  # fmt: skip
_INLINE_MARKS = re.compile(r"\*\*+|__+|~~|`+")


def math_spans(text: str) -> list[tuple[int, int]]:
    """Where the math of ``text`` is: ``(start, end)`` of each ``$..$``, ``$$..$$``, ``\\(..\\)``, ``\\[..\\]``.

    ``\\$`` is a dollar sign. An opener with no closer after it is text. Linear: a closer that is
    missing once is missing for every later opener of its kind, so it is looked for only once.
    """
    spans: list[tuple[int, int]] = []
    unclosed: set[str] = set()
    at = 0
    while (found := _OPEN.search(text, at)) is not None:
        opener = found.group()
        at = found.end()
        if opener == "\\$" or opener in unclosed:
            continue
        closer = _CLOSE[opener]
        end = text.find(closer, at)
        if end < 0:
            unclosed.add(opener)
            continue
        at = end + len(closer)
        spans.append((found.start(), at))
    return spans


def strip_math(text: str) -> str:
    """``text`` with each math span replaced by a space."""
    parts: list[str] = []
    last = 0
    for start, end in math_spans(text):
        parts += [text[last:start], " "]
        last = end
    parts.append(text[last:])
    return "".join(parts)


def tokens(text: str) -> list[str]:
    """Lowercase words (at most :data:`MAX_TERM_CHARS` each) and CJK bigrams, in order, math left out."""
    out: list[str] = []
    folded = unicodedata.normalize("NFKC", strip_math(text)).lower()
    for match in _RUN.finditer(folded):
        run = match.group()
        if match.group("cjk") is None:
            out.append(run[:MAX_TERM_CHARS])
        elif len(run) == 1:
            out.append(run)
        else:
            out += [run[i : i + 2] for i in range(len(run) - 1)]
    return out


def query_terms(query: str) -> list[str]:
    """The terms of a search: :func:`tokens` of its first :data:`MAX_QUERY_CHARS`, each once, at most 32."""
    terms: list[str] = []
    for term in tokens(query[:MAX_QUERY_CHARS]):
        if term not in terms:
            terms.append(term)
            if len(terms) == MAX_QUERY_TERMS:
                break
    return terms


def markdown_text(markdown: str) -> str:
    """``markdown`` as its reader sees it, for an excerpt: line markers and emphasis runs dropped, the rest
    (words, ``$..$`` math, single ``*`` and ``_``) as written. Linear: two fixed patterns, no backtracking."""
    return _INLINE_MARKS.sub("", _LINE_MARKS.sub("", markdown))


def snippet(body: str, terms: Iterable[str], width: int = 160) -> str:
    """An HTML excerpt of about ``width`` characters around the first hit, every hit in ``<mark>``.

    Hits are found case-insensitively; a word term only as a whole word (``in`` is not marked inside
    ``integration``), a CJK term anywhere. No hit: the beginning. Cut ends show ``…``; whitespace runs
    become one space; everything else is escaped, so the only tags are ``<mark>`` and ``</mark>``.
    """
    width = max(20, min(width, MAX_SNIPPET_WIDTH))
    wanted = sorted({t.lower() for t in terms if t}, key=lambda t: (-len(t), t))[:MAX_QUERY_TERMS]
    low = body.lower()
    if len(low) != len(body):  # a few characters lowercase to two: keep positions aligned
        low = "".join(c.lower() if len(c.lower()) == 1 else c for c in body)
    firsts = [(at, term) for term in wanted if (at := _find(low, term, 0, len(low))) >= 0]
    first, first_term = min(firsts) if firsts else (-1, "")
    if first < 0:
        start, end = 0, min(len(body), width)
    else:
        start = max(0, first - width // 3)
        end = min(len(body), max(start + width, first + len(first_term)))
    hits: list[tuple[int, int]] = []
    for term in wanted:
        at = _find(low, term, start, end)
        while at >= 0:
            hits.append((at, at + len(term)))
            at = _find(low, term, at + len(term), end)
    parts = ["…" if start > 0 else ""]
    position = start
    for a, b in sorted(hits, key=lambda h: (h[0], -h[1])):
        if a < position:
            continue  # overlaps a longer or earlier hit
        parts += [_plain(body[position:a]), "<mark>", html.escape(body[a:b]), "</mark>"]
        position = b
    parts.append(_plain(body[position:end]))
    if end < len(body):
        parts.append("…")
    return "".join(parts)


def _plain(text: str) -> str:
    return html.escape(_SPACE.sub(" ", text))


def _is_word_char(c: str) -> bool:
    return c.isalnum() and not _CJK.match(c)


def _find(low: str, term: str, start: int, stop: int) -> int:
    """The first hit of ``term`` in ``low[start:stop]``: a word term only with no letter or digit either side."""
    whole_word = _is_word_char(term[0]) or _is_word_char(term[-1])
    while (at := low.find(term, start, stop)) >= 0:
        after = at + len(term)
        if not whole_word or (
            (at == 0 or not _is_word_char(low[at - 1])) and (after >= len(low) or not _is_word_char(low[after]))
        ):
            return at
        start = at + 1
    return -1
