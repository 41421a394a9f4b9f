"""Bound variables renamed where that is safe, so ``\\int_0^1 t^2\\,dt`` meets ``\\int_0^1 x^2\\,dx``.

Pure; part of :func:`~mathnotes.notes.formulas.normalize` (which runs the other rules first). The
variable of an integral's one differential ``d<var>`` becomes ``x``; the index of a ``\\sum`` or
``\\prod`` declared as ``_{k=...}`` or ``_k`` becomes ``i``. Only when all of these hold:

- the canonical name appears nowhere in the formula (no capture; so at most one rename per name);
- the variable appears nowhere but in the declaration and the body: an integrand runs from the limits
  to its differential (or, with the differential first or inside a fraction, to a ``+``/``-`` outside
  brackets), a summand from the limits to a relation or a ``+``/``-`` outside brackets;
- the integral has exactly one ``d<var>`` before the next relation or integral sign;
- no integral, sum, limit or other binding operator is inside the body.

A variable is a Latin letter other than ``d``, or a Greek letter command other than ``\\pi``. The
first :data:`MAX_BINDERS` signs are looked at. Renaming repeats until nothing changes (at most three
rounds: a rename leaves its canonical name behind, which blocks every later one of the same name), so
the result is a fixed point and :func:`~mathnotes.notes.formulas.normalize` stays idempotent.
"""

from __future__ import annotations

from collections.abc import Iterator

from .latex import Group, Item, script_pair, token_of

__all__ = ["MAX_BINDERS", "rename_bound"]

MAX_BINDERS = 16  # integrals and sums looked at in one formula

INTEGRALS = frozenset({"\\int", "\\oint"})
SUMS = frozenset({"\\sum", "\\prod"})
CANONICAL = {**dict.fromkeys(INTEGRALS, "x"), **dict.fromkeys(SUMS, "i")}
BINDING = INTEGRALS | SUMS | {"\\iint", "\\iiint", "\\oiint", "\\coprod", "\\bigcup", "\\bigcap", "\\lim"}
BINDING |= {"\\limsup", "\\liminf", "\\max", "\\min", "\\sup", "\\inf", "\\bigoplus", "\\bigotimes"}
CUTS = frozenset(
    {"=", "<", ">", "&", ",", ";", "\\\\", "\\le", "\\ge", "\\ne", "\\approx", "\\equiv", "\\sim", "\\simeq"}
    | {"\\cong", "\\propto", "\\to", "\\gets", "\\Rightarrow", "\\Leftarrow", "\\Leftrightarrow", "\\iff"}
    | {"\\implies", "\\impliedby", "\\mapsto", "\\ll", "\\gg", "\\in", "\\notin", "\\subset", "\\subseteq"}
)
TERM_SIGNS = frozenset({"+", "-", "\\pm", "\\mp"})
OPENING = frozenset({"(", "[", "\\{", "\\langle", "\\lceil", "\\lfloor"})
CLOSING = frozenset({")", "]", "\\}", "\\rangle", "\\rceil", "\\rfloor"})
GREEK = frozenset(
    "\\" + name
    for name in (
        "alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu nu xi "
        "rho varrho sigma varsigma tau upsilon phi varphi chi psi omega"
    ).split()
)


def _lists(tree: list[Item]) -> Iterator[list[Item]]:
    todo = [tree]
    while todo:
        current = todo.pop()
        yield current
        todo.extend(item.items for item in reversed(current) if isinstance(item, Group))


def _count(items: list[Item], tok: str) -> int:
    return sum(_count(item.items, tok) if isinstance(item, Group) else item == tok for item in items)


def _contains(items: list[Item], tokens: frozenset[str]) -> bool:
    return any(_contains(item.items, tokens) if isinstance(item, Group) else item in tokens for item in items)


def _replace(items: list[Item], old: str, new: str) -> None:
    for i, item in enumerate(items):
        if isinstance(item, Group):
            _replace(item.items, old, new)
        elif item == old:
            items[i] = new


def _is_var(item: Item | None) -> bool:
    return isinstance(item, str) and (
        (len(item) == 1 and item.isascii() and item.isalpha() and item != "d") or item in GREEK
    )


def _differentials(items: list[Item], lo: int, hi: int, found: list[tuple[list[Item], int]]) -> None:
    """Every ``d<var>`` in ``items[lo:hi]`` and its groups (stops once two are found)."""
    for i in range(lo, hi):
        if len(found) > 1:
            return
        item = items[i]
        if isinstance(item, Group):
            _differentials(item.items, 0, len(item.items), found)
        elif item == "d" and i + 1 < hi and _is_var(items[i + 1]):
            if i + 2 >= len(items) or token_of(items[i + 2]) not in {"_", "^", "'"}:
                found.append((items, i))


def _term_end(items: list[Item], start: int, end: int) -> int:
    """Where a summand (or an integrand led by its differential) ends: a ``+``/``-`` outside brackets."""
    depth = 0
    for i in range(start, end):
        tok = token_of(items[i])
        if tok in OPENING:
            depth += 1
        elif tok in CLOSING:
            depth = max(0, depth - 1)
        elif tok in TERM_SIGNS and depth == 0 and i > start:
            return i
    return end


def rename_bound(tree: list[Item]) -> None:
    binders: list[tuple[list[Item], int]] = []
    for items in _lists(tree):
        binders += [(items, i) for i, item in enumerate(items) if token_of(item) in CANONICAL]
        if len(binders) >= MAX_BINDERS:
            break
    for _ in range(4):  # a rename leaves its canonical name in the formula, so at most one per name
        changed = False
        for items, i in binders[:MAX_BINDERS]:
            changed |= _rename_one(tree, items, i)
        if not changed:
            break


def _rename_one(tree: list[Item], items: list[Item], i: int) -> bool:
    sign = token_of(items[i])
    start = i + 1
    limits = []
    while script_pair(items, start):
        limits.append(start)
        start += 2
    end = start
    while (
        end < len(items)
        and token_of(items[end]) not in CUTS
        and not (sign in INTEGRALS and token_of(items[end]) in INTEGRALS)
    ):
        end += 1
    declared: tuple[list[Item], int] | None = None
    if sign in INTEGRALS:
        found: list[tuple[list[Item], int]] = []
        _differentials(items, start, end, found)
        if len(found) != 1:
            return False
        where, d = found[0]
        var = token_of(where[d + 1])
        stop = d + 2 if where is items and d > start else _term_end(items, start, end)
    else:
        at = next((j + 1 for j in limits if items[j] == "_"), None)
        sub = items[at] if at is not None else None
        if at is not None and _is_var(sub):
            var, declared = token_of(sub), (items, at)
        elif isinstance(sub, Group) and len(sub.items) > 1 and _is_var(sub.items[0]) and sub.items[1] == "=":
            var, declared = token_of(sub.items[0]), (sub.items, 0)
        else:
            return False
        stop = _term_end(items, start, end)
    canonical = CANONICAL[sign]
    body = items[start:stop]
    if var == canonical or _count(tree, canonical) or _contains(body, BINDING):
        return False
    if _count(tree, var) != _count(body, var) + (declared is not None):
        return False  # the name is used outside: leave it
    for j in range(start, stop):
        item = items[j]
        if isinstance(item, Group):
            _replace(item.items, var, canonical)
        elif item == var:
            items[j] = canonical
    if declared is not None:
        declared[0][declared[1]] = canonical
    return True
