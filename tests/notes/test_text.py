"""Words for full-text search (notes/text.py): English, Chinese and both mixed; math left out; escaped snippets."""

from __future__ import annotations

import html
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mathnotes.notes.text import (
    MAX_QUERY_TERMS,
    MAX_TERM_CHARS,
    markdown_text,
    math_spans,
    query_terms,
    snippet,
    strip_math,
    tokens,
)


def test_english_words_are_lowercase_letters_and_digits() -> None:
    assert tokens("Integration by Parts, step 2: x_1!") == ["integration", "by", "parts", "step", "2", "x", "1"]


def test_latin_letters_and_full_width_forms_are_words() -> None:
    assert tokens("Café naïve Ÿ") == ["café", "naïve", "ÿ"]
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in "ABC123")  # as Chinese input methods type them
    assert tokens(full_width) == ["abc123"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("分部积分", ["分部", "部积", "积分"]),
        ("积分", ["积分"]),
        ("积", ["积"]),
        ("特征值\uff0c积分\u3002", ["特征", "征值", "积分"]),  # punctuation (full-width comma, stop) ends a run
        ("ひらがなカタカナ", ["ひら", "らが", "がな", "なカ", "カタ", "タカ", "カナ"]),
    ],
)
def test_chinese_and_japanese_runs_become_character_bigrams(text: str, expected: list[str]) -> None:
    assert tokens(text) == expected


def test_mixed_text_with_math_keeps_the_words_and_leaves_the_math_out() -> None:
    text = r"用分部积分 integrate by parts: $\int u\,dv = uv - \int v\,du$ 很重要 $$\sum_k k$$ and \(x^2\) \[y\]"
    assert tokens(text) == ["用分", "分部", "部积", "积分", "integrate", "by", "parts", "很重", "重要", "and"]


def test_math_spans_and_unclosed_openers() -> None:
    assert math_spans("a $x$ b $$y$$ c") == [(2, 5), (8, 13)]
    assert strip_math("costs $5") == "costs $5"  # no closing dollar: text
    assert tokens(r"a \$5 and \$6 b") == ["a", "5", "and", "6", "b"]  # escaped dollars are dollars
    assert strip_math(r"\(x") == r"\(x"


def test_a_long_word_is_cut() -> None:
    assert tokens("a" * 500) == ["a" * MAX_TERM_CHARS]


def test_query_terms_are_distinct_bounded_and_in_order() -> None:
    assert query_terms("Parts by parts BY 积分积分") == ["parts", "by", "积分", "分积"]
    many = query_terms(" ".join(f"w{i}" for i in range(100)))
    assert many == [f"w{i}" for i in range(MAX_QUERY_TERMS)]
    assert len(query_terms("数学笔记" * 2500)) == 4  # 10 kB of CJK: only distinct bigrams
    assert len(query_terms("".join(chr(0x4E00 + i) for i in range(5000)))) == MAX_QUERY_TERMS
    assert query_terms(r"(a+)+$ .* [[[ \ ^(?:x{1,99999})*") == ["a", "x", "1", "99999"]  # no regex is compiled
    assert query_terms("") == []


def test_snippet_marks_hits_and_escapes_html() -> None:
    body = "We use <script>alert(1)</script> integration by Parts & more."
    out = snippet(body, ["parts", "script"])
    assert "<script>" not in out and "</script>" not in out
    assert "&lt;<mark>script</mark>&gt;" in out  # a hit inside escaped text is escaped too
    assert "<mark>Parts</mark>" in out  # found case-insensitively, shown as written
    assert "&amp; more." in out


def test_snippet_marks_whole_words_only_but_cjk_anywhere() -> None:
    assert "<mark>" not in snippet("integration within", ["in"])
    assert snippet("go in now", ["in"]) == "go <mark>in</mark> now"
    assert snippet("这是分部积分法", ["积分"]) == "这是分部<mark>积分</mark>法"
    assert snippet("by parts积分", ["parts"]) == "by <mark>parts</mark>积分"


def test_snippet_centres_on_the_first_hit_of_a_long_body() -> None:
    body = "filler " * 1000 + "the eigenvalue appears here " + "more " * 1000
    out = snippet(body, ["eigenvalue"], width=100)
    assert out.startswith("…") and out.endswith("…")
    assert "<mark>eigenvalue</mark>" in out
    visible = html.unescape(re.sub(r"</?mark>", "", out))
    assert len(visible) <= 100 + 2


def test_snippet_without_a_hit_is_the_beginning() -> None:
    assert snippet("a  short\n\nnote", ["zzz"]) == "a short note"
    assert snippet("x" * 500, [], width=50) == "x" * 50 + "…"
    assert snippet("", ["a"]) == ""


def test_overlapping_hits_mark_the_longer_one() -> None:
    assert snippet("分部积分", ["部积", "分部", "积分"]) == "<mark>分部</mark><mark>积分</mark>"


def test_hostile_bodies_and_terms_stay_bounded() -> None:
    cjk = "数学" * 5000  # 10 kB
    out = snippet(cjk, query_terms(cjk + "微积分"), width=160)
    assert len(html.unescape(re.sub(r"</?mark>", "", out))) <= 162
    regexish = r"(a+)+$" * 2000
    out = snippet(regexish, [r"(a+)+$", ".*", "a"])
    assert len(html.unescape(re.sub(r"</?mark>", "", out))) <= 162


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400), st.lists(st.text(max_size=8), max_size=5), st.integers(-10, 400))
def test_snippet_only_ever_emits_mark_tags(body: str, terms: list[str], width: int) -> None:
    out = snippet(body, terms, width)
    without_marks = re.sub(r"</?mark>", "", out)
    assert "<" not in without_marks and ">" not in without_marks
    assert len(html.unescape(without_marks)) <= max(20, min(width, 1000)) + 64 + 2


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_tokens_are_total_and_lowercase_without_spaces(text: str) -> None:
    for token in tokens(text):
        assert token and token == token.lower()
        assert not any(c.isspace() for c in token)
        assert len(token) <= MAX_TERM_CHARS
    terms = query_terms(text)
    assert len(terms) == len(set(terms)) <= MAX_QUERY_TERMS


def test_an_excerpt_reads_markdown_as_text() -> None:
    note = "## By parts\n\n> **Rule**: `u dv`\n- pick $u = x_1 * y$\n2. then __do__ ~~it~~\n---\n```py\nx\n```"
    assert markdown_text(note) == "By parts\n\nRule: u dv\npick $u = x_1 * y$\nthen do it\n\npy\nx\n"
    excerpt = "By <mark>parts</mark> Rule: u dv pick $u = x_1 * y$ then do it py x "
    assert snippet(markdown_text(note), ["parts"]) == excerpt


@given(st.text(alphabet="#>-*+_=~`$ \t\n1.)ab", max_size=200))
def test_markdown_text_keeps_every_letter_digit_and_dollar(markdown: str) -> None:
    kept = markdown_text(markdown)
    for c in "ab$":
        assert kept.count(c) == markdown.count(c)
    assert len(kept) <= len(markdown)
