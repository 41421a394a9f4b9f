"""Compose-style variable interpolation, enough to resolve docker-compose.prod.yml without an engine.

Supports what the Compose Specification defines and our file uses: ``$$`` (a literal ``$``),
``$VAR``, ``${VAR}``, ``${VAR:-default}`` / ``${VAR-default}`` (defaults may nest), and
``${VAR:?message}`` / ``${VAR?message}`` (required). Unset and empty behave as in Compose.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["MissingVariable", "interpolate", "interpolate_tree"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class MissingVariable(ValueError):
    """A ``${VAR:?message}`` whose variable is unset (or empty)."""


def _braced(text: str, start: int) -> int:
    """Index just past the ``}`` closing the ``${`` at ``start``."""
    depth, i = 0, start
    while i < len(text):
        if text.startswith("${", i):
            depth += 1
            i += 2
            continue
        if text[i] == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise ValueError(f"unclosed ${{ in {text!r}")


def _expand(expr: str, env: Mapping[str, str]) -> str:
    match = _NAME.match(expr)
    if not match:
        raise ValueError(f"bad variable expression ${{{expr}}}")
    name, rest = match.group(0), expr[match.end() :]
    value = env.get(name)
    if not rest:
        return value or ""
    for op in (":-", "-", ":?", "?"):
        if rest.startswith(op):
            arg = rest[len(op) :]
            unset = value is None or (op.startswith(":") and value == "")
            if op.endswith("-"):
                return interpolate(arg, env) if unset else str(value)
            if unset:
                raise MissingVariable(f"{name}: {interpolate(arg, env)}")
            return str(value)
    raise ValueError(f"unsupported expression ${{{expr}}}")


def interpolate(text: str, env: Mapping[str, str]) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith("$$", i):
            out.append("$")
            i += 2
        elif text.startswith("${", i):
            end = _braced(text, i)
            out.append(_expand(text[i + 2 : end - 1], env))
            i = end
        elif text[i] == "$" and (match := _NAME.match(text, i + 1)):
            out.append(env.get(match.group(0), ""))
            i = match.end()
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def interpolate_tree(node: Any, env: Mapping[str, str]) -> Any:
    """Interpolate every string value (not keys) of a parsed compose document."""
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, dict):
        return {key: interpolate_tree(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolate_tree(item, env) for item in node]
    return node
