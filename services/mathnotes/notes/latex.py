"""LaTeX read the way TeX reads it, for the formula index: tokens, brace groups, and back to text.

Pure. :func:`tokenize` splits a formula into TeX tokens: a command (``\\frac``: a backslash and
ASCII letters), a control symbol (``\\,``, ``\\{``; a backslash and any whitespace is the control
space ``"\\ "``), or one character; whitespace between tokens is dropped (math mode ignores it) and
digits stay single characters, since ``x_12`` is ``x_{1}2`` to TeX. :func:`parse` nests the tokens in
:class:`Group` s by their braces (a stray ``}`` or a ``{`` that never closes stays a plain character)
and :func:`serialize` writes a tree back, with a space only where TeX needs one (after a command,
before a letter), so ``parse(tokenize(serialize(t)))`` is ``t`` again. Nesting is bounded by
:data:`MAX_DEPTH`: deeper input has no tree (``parse`` gives ``None``), so nothing here recurses
without bound.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import TypeAlias

__all__ = [
    "MAX_DEPTH",
    "SCRIPTS",
    "Group",
    "Item",
    "is_command",
    "join",
    "parse",
    "script_pair",
    "serialize",
    "stream",
    "token_of",
    "tokenize",
]

MAX_DEPTH = 64  # brace groups nested deeper than this get no tree
SCRIPTS = ("_", "^")

_TOKEN = re.compile(r"\\(?:[A-Za-z]+|.)?|\s+|.", re.S)


class Group:
    """One ``{...}``: its items are tokens (``str``) and groups."""

    __slots__ = ("items",)

    def __init__(self, items: list[Item] | None = None) -> None:
        self.items: list[Item] = items if items is not None else []

    def __repr__(self) -> str:
        return f"Group({self.items!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Group) and self.items == other.items

    __hash__ = None  # type: ignore[assignment]  # mutable


Item: TypeAlias = "str | Group"


def tokenize(text: str) -> list[str]:
    """The TeX tokens of ``text``, whitespace dropped; ``"\\"`` alone only at the very end."""
    tokens = []
    for tok in _TOKEN.findall(text):
        if tok[0].isspace():
            continue
        if tok[0] == "\\" and len(tok) == 2 and tok[1].isspace():
            tok = "\\ "
        tokens.append(tok)
    return tokens


def is_command(tok: str) -> bool:
    """``\\frac``-like: a backslash and ASCII letters (a space must separate it from a following letter)."""
    return len(tok) > 1 and tok[0] == "\\" and tok[1].isascii() and tok[1].isalpha()


def parse(tokens: Iterable[str]) -> list[Item] | None:
    """The tokens nested by their braces; ``None`` when groups nest deeper than :data:`MAX_DEPTH`."""
    stack: list[list[Item]] = [[]]
    for tok in tokens:
        if tok == "{":
            if len(stack) > MAX_DEPTH:
                return None
            stack.append([])
        elif tok == "}":
            if len(stack) == 1:
                stack[0].append("}")  # a stray closing brace is a character
            else:
                inner = stack.pop()
                stack[-1].append(Group(inner))
        else:
            stack[-1].append(tok)
    while len(stack) > 1:  # a brace that never closes is a character; what followed it stays in place
        inner = stack.pop()
        stack[-1].append("{")
        stack[-1].extend(inner)
    return stack[0]


def stream(items: list[Item]) -> Iterator[str]:
    """The tokens of a tree, braces included, in order (no recursion deeper than the tree)."""
    for item in items:
        if isinstance(item, Group):
            yield "{"
            yield from stream(item.items)
            yield "}"
        else:
            yield item


def join(tokens: Iterable[str]) -> str:
    """Tokens back to text, with a space only between a command and a letter."""
    parts: list[str] = []
    previous = ""
    for tok in tokens:
        if is_command(previous) and tok[:1].isascii() and tok[:1].isalpha():
            parts.append(" ")
        parts.append(tok)
        previous = tok
    return "".join(parts)


def serialize(items: list[Item]) -> str:
    """A tree back to text; :func:`parse` of its :func:`tokenize` is the same tree."""
    return join(stream(items))


def token_of(item: Item | None) -> str:
    """The token, or ``""`` for a group or nothing (a group is not hashable: never look one up in a set)."""
    return item if isinstance(item, str) else ""


def script_pair(items: list[Item], i: int) -> bool:
    """Is ``items[i]`` a ``_`` or ``^`` with its argument after it (not another script sign or a brace)?"""
    return (
        i + 1 < len(items)
        and token_of(items[i]) in SCRIPTS
        and token_of(items[i + 1]) not in {"_", "^", "{", "}", "\\"}
    )
