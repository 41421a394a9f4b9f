"""The formula index's pure core: normal forms, keys, tokens, n-grams, the score (formulas, bound, latex).

What must meet meets (spacing, ``\\dfrac``, ``\\left(``, braces, bound variables), what differs stays apart
(a different power, limit, order, or a renaming that would capture a free variable), and the guarantees
hold for any string: idempotent, total, at most MAX_FORMULA_CHARS long, and only the cut is ever read.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mathnotes.notes import formulas
from mathnotes.notes.formulas import MAX_FORMULA_CHARS, grams, key, normalize, similarity, tokens
from mathnotes.notes.latex import MAX_DEPTH, parse, serialize, tokenize

SAME = [
    pytest.param(
        [
            r"\int_0^1 x^2 dx",
            r"\int_{0}^{1} x^{2}\,\mathrm{d}x",
            r"\int_0^1 x^2\, dx",
            r"\int^1_0 x^2 dx",
            r"\displaystyle\int\limits_{0}^{1} {x}^{2} \; \mathrm d x",
            r"\int_0^1 t^2\,dt",
            r"\int_{0}^{1}\theta^{2}\,\text{d}\theta",
        ],
        id="definite-integral",
    ),
    pytest.param([r"\int \frac{dx}{1+x^2}", r"\int\dfrac{\mathrm{d}u}{1+u^{2}}"], id="differential-in-a-fraction"),
    pytest.param([r"\int dx\, x^2", r"\int d t\; t^{2}"], id="differential-first"),
    pytest.param([r"\dfrac{a}{b}", r"\frac{a}{b}", r"\tfrac a b", r"\frac ab", r"\cfrac{a}{b}"], id="fractions"),
    pytest.param([r"\frac{1}{2}", r"\tfrac12", r"\dfrac 1 2"], id="digit-fractions"),
    pytest.param([r"\left( x \right)", "(x)", r"\bigl( x \bigr)", r"\left ( x \right )"], id="parentheses"),
    pytest.param([r"\left[ x \right]", "[x]"], id="brackets"),
    pytest.param([r"\left\{ x \right\}", r"\{x\}", r"\lbrace x \rbrace"], id="braces"),
    pytest.param([r"\left| x \right|", "|x|", r"\lvert x \rvert", r"\vert x\vert"], id="bars"),
    pytest.param([r"\left.\frac{df}{dx}\right|_{x=0}", r"\frac{df}{dx}\Big|_{x=0}"], id="invisible-left"),
    pytest.param([r"\sum_{k=1}^n k", r"\sum_{i=1}^n i", r"\sum_{j=1}^{n} j", r"\sum\limits_{k=1}^{n}k"], id="sums"),
    pytest.param([r"\sum_{n=0}^\infty \frac{x^n}{n!}", r"\sum_{k=0}^{\infty}\dfrac{x^{k}}{k!}"], id="series"),
    pytest.param([r"\prod_{k=1}^{n} k", r"\prod_{m=1}^n m"], id="product-index"),
    pytest.param([r"\sum_k a_k", r"\sum_{j} a_{j}"], id="sum-bare-index"),
    pytest.param([r"e^{i\pi}+1=0", r"\mathrm{e}^{i\pi} + 1 = 0"], id="upright-e"),
    pytest.param([r"x \leq y", r"x\le y", r"x \leqslant y"], id="synonyms"),
    pytest.param([r"f'(x)", r"f^{\prime}(x)", r"f^\prime(x)"], id="prime"),
    pytest.param([r"x_{1}^{2}", r"x^2_1", r"x^{2}_{1}"], id="script-order"),
    pytest.param([r"\sqrt{2}", r"\sqrt 2", r"\sqrt2"], id="sqrt"),
    pytest.param([r"a = b \quad (1)", r"a=b(1)", r"a = b \tag{x} (1)", r"a\!=\!b~(1)"], id="spacing"),
]


@pytest.mark.parametrize("variants", SAME)
def test_ways_of_writing_one_formula_share_a_key(variants: list[str]) -> None:
    assert len({key(v) for v in variants}) == 1, [normalize(v) for v in variants]


DIFFERENT = [
    (r"x^2", r"x^3"),
    (r"\int_0^1 x^2 dx", r"\int_0^2 x^2 dx"),
    (r"\int_0^1 x^2 dx", r"\int_0^1 x^3 dx"),
    ("a/b", "b/a"),
    (r"\frac{a}{b}", r"\frac{b}{a}"),
    (r"\frac{a+b}{c}", r"\frac{a}{b+c}"),
    (r"x_{12}", "x_12"),  # x_12 is x_{1}2 to TeX
    (r"\sqrt[3]{x}", r"\sqrt{x}"),
    (r"\sum_{k=1}^n k", r"\sum_{k=1}^n k^2"),
    (r"\sum_{k=1}^n k", r"\sum_{k=1}^n n"),
    (r"\int_0^1 x t\,dt", r"\int_0^1 x^2\,dx"),  # renaming t to x would capture the free x
    (r"\int_0^1 x t\,dt", r"\int_0^1 x x\,dx"),
    (r"\int_0^1 t\,dt \cdot t", r"\int_0^1 x\,dx \cdot x"),  # the last t is free
    (r"\sum_{k=1}^n a_k + k", r"\sum_{i=1}^n a_i + i"),  # the summand may end at the +
    (r"\int_0^1 x^2 dy", r"\int_0^1 x^2 dx"),
    (r"x \le y", r"x < y"),
    (r"\{x\}", "{x}"),
]


@pytest.mark.parametrize(("one", "other"), DIFFERENT)
def test_different_formulas_keep_different_keys(one: str, other: str) -> None:
    assert key(one) != key(other), (normalize(one), normalize(other))


@pytest.mark.parametrize(
    ("latex", "kept"),
    [
        (r"\int_0^1 x t\,dt", "dt"),  # x is taken
        (r"\int_0^x f(t)\,dt", "dt"),  # x is the free upper limit
        (r"\int_0^t t\,dt", "dt"),  # t is also used outside its integrand
        (r"\int_0^1\int_0^1 f(s,t)\,ds\,dt", "dsdt"),  # two differentials: no guessing
        (r"\sum_{k=1}^{n} a_k + k", "a_k+k"),
        (r"\sum_{k=1}^{n} \sum_{j=1}^{k} a_j", "_{k=1}"),  # a sum inside: the outer index stays
        (r"\sum_{k=0}^n e^{ik}", "_{k=0}"),  # i is the imaginary unit here
    ],
)
def test_bound_variables_keep_their_names_when_renaming_is_not_safe(latex: str, kept: str) -> None:
    assert kept in normalize(latex)


@pytest.mark.parametrize(
    ("latex", "normal"),
    [
        (r"\int_{0}^{1} x^{2}\,\mathrm{d}x", r"\int_0^1x^2dx"),
        (r"\int_0^{2\pi} \sin\theta \, d\theta", r"\int_0^{2\pi}\sin xdx"),
        (r"\dfrac{a}{b}", r"\frac ab"),
        (r"\left( x \right)", "(x)"),
        (r"\sum_{k=1}^n k^2", r"\sum_{i=1}^ni^2"),
        (r"\sum_{k=1}^{n} \sum_{j=1}^{k} a_j", r"\sum_{k=1}^n\sum_{i=1}^ka_i"),  # the inner one is renamed
        (r"\sqrt[3]{x+1}", r"\sqrt[3]{x+1}"),
        (r"{x}^{2}", "x^2"),
        (r"\hspace{1em}x\vphantom{y}", "x"),
        ("", ""),
    ],
)
def test_normal_forms(latex: str, normal: str) -> None:
    assert normalize(latex) == normal


def test_tokens_are_commands_characters_and_numbers_of_the_normal_form() -> None:
    assert tokens(r"\frac{x^{10}}{2} + \alpha") == ["\\frac", "{", "x", "^", "{", "10", "}", "}", "2", "+", "\\alpha"]
    assert tokens(r"\dfrac{a}{b}") == tokens(r"\tfrac a b") == ["\\frac", "a", "b"]
    assert tokens("") == []


def test_grams_are_the_one_to_three_token_runs() -> None:
    assert grams("x^2") == {"x", "^", "2", "x ^", "^ 2", "x ^ 2"}
    assert grams("x^2", n=1) == {"x", "^", "2"}
    assert grams(r"x^{2}") == grams("x^2")
    assert grams("") == set()


def test_similarity_ranks_the_same_formula_first_then_a_near_one_then_unrelated_ones() -> None:
    query = grams(r"\int_0^1 x^2 dx")
    notes = {
        "unrelated-euler": r"e^{i\pi} + 1 = 0",
        "same-written-differently": r"\int_{0}^{1} x^{2}\,\mathrm{d}x",
        "unrelated-fraction": r"\frac{a}{b}",
        "near-cube": r"\int_0^1 x^3 dx",
        "unrelated-sum": r"\sum_{k=1}^n k",
    }
    scores = {name: similarity(query, grams(latex)) for name, latex in notes.items()}
    ranked = sorted(scores, key=lambda name: -scores[name])
    assert ranked[:2] == ["same-written-differently", "near-cube"]
    assert scores["same-written-differently"] == 1.0
    assert scores["near-cube"] > 0.5 > max(scores[n] for n in ranked[2:])
    assert scores["unrelated-fraction"] == 0.0


def test_similarity_favours_a_note_holding_the_query_among_other_formulas() -> None:
    query = grams(r"\int_0^1 x^2 dx")
    alone = grams(r"\int_0^1 x^3 dx")
    among = grams(r"\int_0^1 x^2 dx") | grams(r"\sum_{k=1}^n k") | grams(r"\frac{a}{b} = c")
    assert similarity(query, among) > similarity(query, alone)
    assert similarity(set(), among) == similarity(query, set()) == 0.0


# --- guarantees for any input -------------------------------------------------------------------------------

VOCABULARY = [
    *(r"\int", r"\oint", r"\sum", r"\prod", r"\lim", r"\frac", r"\dfrac", r"\tfrac", r"\cfrac", r"\sqrt", r"\binom"),
    *(r"\left", r"\right", r"\bigl", r"\Big", r"\mathrm", r"\text", r"\hspace", r"\label", r"\vec", r"\displaystyle"),
    *(r"\limits", r"\prime", r"\alpha", r"\theta", r"\pi", r"\le", r"\leq", r"\lvert", r"\{", r"\}", r"\to", r"\in"),
    *(r"\,", r"\;", r"\!", r"\ ", "\\\\", "\\", "~", "_", "^", "{", "}", "(", ")", "[", "]", ".", "'", "*", "|"),
    *("d", "e", "x", "t", "k", "i", "j", "n", "a", "b", "=", "+", "-", ",", "0", "1", "2", " ", "\n", "é", "积"),
    *("%", "&", "$", "#"),
]
latexish = st.lists(st.sampled_from(VOCABULARY), max_size=60).map("".join)
anything = st.one_of(latexish, st.text(max_size=300))


@settings(max_examples=400, deadline=None)
@given(anything)
def test_normalize_is_idempotent_total_and_never_longer_than_the_cut(text: str) -> None:
    normal = normalize(text)
    assert normalize(normal) == normal
    assert len(normal) <= MAX_FORMULA_CHARS
    assert re.fullmatch(r"[0-9a-f]{40}", key(text))
    assert key(normal) == key(text)
    assert len(grams(text)) <= 3 * len(tokens(text))


@settings(max_examples=30, deadline=None)
@given(st.lists(st.sampled_from(VOCABULARY), min_size=1, max_size=20).map("".join), st.integers(1, 400))
def test_huge_input_is_read_only_up_to_the_cut(unit: str, repeats: int) -> None:
    huge = unit * (50_000 // len(unit) + 1) + "x" * repeats  # what follows the cut never matters
    normal = normalize(huge)
    assert normal == normalize(huge[:MAX_FORMULA_CHARS])
    assert len(normal) <= MAX_FORMULA_CHARS
    assert normalize(normal) == normal
    assert len(tokens(huge)) <= MAX_FORMULA_CHARS


def test_a_formula_whose_normal_form_would_grow_past_the_cut_is_cut_shorter() -> None:
    # x^\alpha_bc -> x_b^\alpha c: sorting the scripts needs a space after \alpha
    grows = r"x^\alpha_bc" * 400
    assert len(formulas._normalize(grows[:MAX_FORMULA_CHARS])) > MAX_FORMULA_CHARS
    normal = normalize(grows)
    assert len(normal) <= MAX_FORMULA_CHARS
    assert normalize(normal) == normal


def test_nesting_deeper_than_the_parser_takes_is_kept_token_for_token() -> None:
    deep = "{" * (MAX_DEPTH + 1) + r"\frac{a}{b}" + "}" * (MAX_DEPTH + 1)
    assert parse(tokenize(deep)) is None
    assert normalize(deep) == deep
    shallow = "{" * (MAX_DEPTH - 1) + r"\dfrac{a}{b}" + "}" * (MAX_DEPTH - 1)
    assert r"\frac ab" in normalize(shallow)


@pytest.mark.parametrize("text", ["{a", "a}", "}{", "{{a}", "x^", "\\", r"\frac", "_^", "{x^{2}"])
def test_unbalanced_input_gets_a_stable_form(text: str) -> None:
    normal = normalize(text)
    assert normalize(normal) == normal


@settings(max_examples=300, deadline=None)
@given(anything)
def test_a_tree_survives_writing_and_reading_back(text: str) -> None:
    tree = parse(tokenize(text))
    if tree is not None:
        assert parse(tokenize(serialize(tree))) == tree
