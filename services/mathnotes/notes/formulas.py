"""Formula search's pure core: one normal form per formula, its tokens, symbol n-grams and a score.

:func:`normalize` rewrites a LaTeX formula so that ways of writing the same thing meet, and keeps
different formulas apart. Each rule is one TeX reads the same way (conservative):

- spacing goes: whitespace, ``\\,`` ``\\;`` ``\\:`` ``\\!`` ``\\ `` ``~`` ``\\quad``, ``\\hspace{..}``,
  and what only changes the look: ``\\displaystyle``, ``\\limits``, ``\\left``/``\\right``/``\\big..``
  (the delimiter stays; ``\\left.`` goes whole), ``\\label{..}``, ``\\tag{..}``;
- synonyms meet: ``\\dfrac``/``\\tfrac``/``\\cfrac`` → ``\\frac``, ``\\leq`` → ``\\le``, ``\\lvert`` → ``|``,
  ``\\lbrace`` → ``\\{`` and the like; ``\\mathrm{d}``/``\\text{d}`` → ``d`` (and ``e``);
- braces around a single-token argument go: ``x^{2}`` → ``x^2``, ``\\frac{a}{b}`` → ``\\frac ab`` (TeX
  hands a macro the same argument either way), so ``\\tfrac a b`` meets ``\\frac{a}{b}``;
- ``x^{a}_{b}`` → ``x_b^a``; ``^\\prime`` → ``'``;
- bound variables are renamed where that is safe (:mod:`~mathnotes.notes.bound`): the ``d<var>`` of an
  integral → ``x``, the index of a ``\\sum``/``\\prod`` (``_{k=...}`` or ``_k``) → ``i``.

The result is idempotent (``normalize(normalize(s)) == normalize(s)``), total (any string), at most
:data:`MAX_FORMULA_CHARS` long, and the work is bounded by that cut. :func:`key` is the exact-match key
(SHA-1 of the normal form); :func:`grams` the symbol n-grams :func:`similarity` scores by.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection

from .bound import rename_bound
from .latex import SCRIPTS, Group, Item, join, parse, script_pair, serialize, token_of, tokenize

__all__ = ["MAX_FORMULA_CHARS", "grams", "key", "normalize", "similarity", "tokens"]

MAX_FORMULA_CHARS = 2000  # a longer formula is cut to this before anything else
NOTE_EXTRA_WEIGHT = 0.2  # how much a note's grams the query lacks lower the score (the query's own: 1)

_big = ("\\big", "\\Big", "\\bigg", "\\Bigg")
SIZES = frozenset({"\\left", "\\right", "\\middle", *(b + s for b in _big for s in ("", "l", "r", "m"))})
DROP = frozenset(
    {"\\,", "\\;", "\\:", "\\!", "\\>", "\\ ", "\\/", "~", "\\quad", "\\qquad", "\\enspace", "\\enskip"}
    | {"\\thinspace", "\\medspace", "\\thickspace", "\\negthinspace", "\\negmedspace", "\\negthickspace"}
    | {"\\displaystyle", "\\textstyle", "\\scriptstyle", "\\scriptscriptstyle", "\\limits", "\\nolimits"}
    | {"\\nonumber", "\\notag", "\\allowbreak"}
)
DROP_WITH_ARGUMENT = frozenset(
    {"\\hspace", "\\mspace", "\\vspace", "\\phantom", "\\hphantom", "\\vphantom", "\\label", "\\tag"}
)
SYNONYMS = {
    "\\dfrac": "\\frac",
    "\\tfrac": "\\frac",
    "\\cfrac": "\\frac",
    "\\dbinom": "\\binom",
    "\\tbinom": "\\binom",
    "\\leq": "\\le",
    "\\leqslant": "\\le",
    "\\geq": "\\ge",
    "\\geqslant": "\\ge",
    "\\neq": "\\ne",
    "\\rightarrow": "\\to",
    "\\leftarrow": "\\gets",
    "\\wedge": "\\land",
    "\\vee": "\\lor",
    "\\lnot": "\\neg",
    "\\ast": "*",
    "\\intop": "\\int",
    "\\lvert": "|",
    "\\rvert": "|",
    "\\vert": "|",
    "\\lVert": "\\|",
    "\\rVert": "\\|",
    "\\Vert": "\\|",
    "\\lbrace": "\\{",
    "\\rbrace": "\\}",
    "\\lbrack": "[",
    "\\rbrack": "]",
    "\\lparen": "(",
    "\\rparen": ")",
}
FONTS = frozenset({"\\mathrm", "\\mathit", "\\mathup", "\\text", "\\textrm", "\\textit", "\\textup", "\\operatorname"})
UPRIGHT = frozenset({"d", "e"})  # \mathrm{d}x is dx, \mathrm{e}^x is e^x
ONE_ARGUMENT = FONTS | {
    *("\\sqrt", "\\vec", "\\hat", "\\bar", "\\tilde", "\\dot", "\\ddot", "\\check", "\\breve", "\\acute"),
    *("\\grave", "\\widehat", "\\widetilde", "\\overline", "\\underline", "\\overrightarrow", "\\overleftarrow"),
    *("\\mathbf", "\\mathbb", "\\mathcal", "\\mathfrak", "\\mathscr", "\\mathsf", "\\mathtt", "\\boldsymbol"),
    *("\\bm", "\\textbf", "\\textsf", "\\texttt", "\\boxed"),
}
TWO_ARGUMENTS = frozenset({"\\frac", "\\binom", "\\overset", "\\underset", "\\stackrel"})
# never an unbraced argument: TeX's special characters, and commands whose own arguments would change
KEEP_BRACED = frozenset({"{", "}", "#", "%", "^", "_", "&", "~", "$", "\\", "\\\\", "\\ ", "'", "[", "]"}) | (
    ONE_ARGUMENT | TWO_ARGUMENTS | DROP_WITH_ARGUMENT | SIZES | {"\\cfrac"}
)


def normalize(latex: str) -> str:
    """The normal form of a formula (see the module's rules); never longer than :data:`MAX_FORMULA_CHARS`."""
    out = _normalize(latex[:MAX_FORMULA_CHARS])
    if len(out) > MAX_FORMULA_CHARS:  # sorting scripts can add a separating space: at most one per 5 chars
        out = _normalize(latex[: MAX_FORMULA_CHARS * 3 // 4])
    return out


def key(latex: str) -> str:
    """The exact-match key: SHA-1 (hex) of the normal form."""
    return hashlib.sha1(normalize(latex).encode("utf-8", "surrogatepass"), usedforsecurity=False).hexdigest()


def tokens(latex: str) -> list[str]:
    """The tokens of the normal form: commands, single characters (braces too) and numbers (digit runs)."""
    out: list[str] = []
    digits = False
    for tok in tokenize(normalize(latex)):
        if tok == "\\ ":
            continue
        is_digit = len(tok) == 1 and "0" <= tok <= "9"
        if is_digit and digits:
            out[-1] += tok
        else:
            out.append(tok)
        digits = is_digit
    return out


def grams(latex: str, n: int = 3) -> set[str]:
    """The symbol n-grams of :func:`tokens`, for every length 1..n, tokens joined by a space."""
    toks = tokens(latex)
    found: set[str] = set()
    for size in range(1, max(1, n) + 1):
        found.update(" ".join(toks[i : i + size]) for i in range(len(toks) - size + 1))
    return found


def similarity(query_grams: Collection[str], note_grams: Collection[str]) -> float:
    """How well a note's grams match a query's, in [0, 1]: 1 for the same grams, 0 for none shared.

    A Tversky index over grams weighted by their length (a trigram says more than a lone ``x``): the
    shared weight over itself plus the query's unmatched weight plus :data:`NOTE_EXTRA_WEIGHT` times the
    note's unmatched weight, so a note holding the query among other formulas still scores high.
    """
    query, note = set(query_grams), set(note_grams)
    shared = _weight(query & note)
    if not shared:
        return 0.0
    score = shared / (shared + _weight(query - note) + NOTE_EXTRA_WEIGHT * _weight(note - query))
    return min(1.0, max(0.0, score))


def _weight(found: set[str]) -> int:
    return sum(gram.count(" ") + 1 for gram in found)


# --- rewriting -------------------------------------------------------------------------------------------


def _normalize(text: str) -> str:
    toks = tokenize(text)
    tree = parse(toks)
    if tree is None:  # nested too deep to rewrite safely: the tokens as they are
        return join(toks)
    tree = _tidy(tree)
    rename_bound(tree)
    return serialize(tree)


def _tidy(items: list[Item]) -> list[Item]:
    """The rewriting rules, inner groups first (depth is bounded by the parser)."""
    items = [Group(_tidy(item.items)) if isinstance(item, Group) else item for item in items]
    items = _clean(items)
    for _ in range(8):  # each round removes something or settles; two are usual
        before = items
        items = _primes(_sort_scripts(_unbrace_arguments(_upright(items))))
        if items == before:
            break
    return items


def _clean(items: list[Item]) -> list[Item]:
    """Spacing and looks dropped, synonyms replaced."""
    out: list[Item] = []
    i, n = 0, len(items)
    while i < n:
        item, tok = items[i], token_of(items[i])
        i += 1
        if tok in DROP:
            continue
        if tok in SIZES:
            if i < n and items[i] == ".":  # \left. is no delimiter at all
                i += 1
            continue
        if tok in DROP_WITH_ARGUMENT:
            if i < n and items[i] == "*":
                i += 1
            if i < n and isinstance(items[i], Group):
                i += 1
            continue
        if tok == "\\cfrac" and i < n and items[i] == "[":  # its optional argument: leave it be
            out.append(item)
            continue
        out.append(SYNONYMS.get(tok, item) if tok else item)
    return out


def _upright(items: list[Item]) -> list[Item]:
    """``\\mathrm{d}`` / ``\\mathrm d`` / ``\\text{d}`` → ``d`` (and ``e``)."""
    out: list[Item] = []
    i = 0
    while i < len(items):
        item = items[i]
        if token_of(item) in FONTS and i + 1 < len(items):
            arg = items[i + 1]
            letter = arg.items[0] if isinstance(arg, Group) and len(arg.items) == 1 else arg
            if token_of(letter) in UPRIGHT:
                out.append(letter)
                i += 2
                continue
        out.append(item)
        i += 1
    return out


def _unbraced(item: Item) -> Item:
    if isinstance(item, Group) and len(item.items) == 1:
        inner = item.items[0]
        if isinstance(inner, str) and inner not in KEEP_BRACED:
            return inner
    return item


def _alnum(item: Item) -> bool:
    return isinstance(item, str) and len(item) == 1 and item.isascii() and item.isalnum()


def _unbrace_arguments(items: list[Item]) -> list[Item]:
    """Single-token arguments of scripts and known commands lose their braces, and so does a lone letter or digit."""
    out = list(items)
    for i, item in enumerate(out):
        if isinstance(item, Group) and len(item.items) == 1 and _alnum(item.items[0]):
            out[i] = item = item.items[0]  # {x}^2 is x^2
        tok = token_of(item)
        count = 1 if tok in SCRIPTS or tok in ONE_ARGUMENT else 2 if tok in TWO_ARGUMENTS else 0
        if tok == "\\sqrt" and i + 1 < len(out) and out[i + 1] == "[":
            continue  # \sqrt[n]{x}: an optional argument first
        for j in range(i + 1, min(i + 1 + count, len(out))):
            out[j] = _unbraced(out[j])
    return out


def _sort_scripts(items: list[Item]) -> list[Item]:
    """``x^a_b`` → ``x_b^a``: in a run of scripts, subscripts first (a stable sort)."""
    out: list[Item] = []
    i = 0
    while i < len(items):
        if not script_pair(items, i):
            out.append(items[i])
            i += 1
            continue
        run: list[tuple[Item, Item]] = []
        while script_pair(items, i):
            run.append((items[i], items[i + 1]))
            i += 2
        run.sort(key=lambda pair: pair[0] != "_")
        for op, arg in run:
            out += [op, arg]
    return out


def _primes(items: list[Item]) -> list[Item]:
    """``^\\prime`` → ``'``."""
    out: list[Item] = []
    i = 0
    while i < len(items):
        if items[i] == "^" and i + 1 < len(items) and items[i + 1] == "\\prime":
            out.append("'")
            i += 2
        else:
            out.append(items[i])
            i += 1
    return out
