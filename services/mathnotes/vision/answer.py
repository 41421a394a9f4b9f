"""The answer's text maths: LaTeX extraction, math delimiters, the ``structured`` JSON schema.

Pure functions. :func:`normalize_math` rewrites ``\\( \\)`` / ``\\[ \\]`` to
``$ $`` / ``$$ $$``; :func:`extract_latex` lists the formulas of a Markdown
answer; :func:`parse_structured` turns a model's JSON reply (fenced or not,
with LaTeX backslashes left unescaped, with synonyms for verdicts) into an
object that validates against :data:`STRUCTURED_SCHEMA`, or raises
:class:`StructuredError` saying what is wrong.
"""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema

from .katex_commands import commands

__all__ = [
    "STRUCTURED_SCHEMA",
    "StructuredError",
    "extract_latex",
    "normalize_math",
    "parse_structured",
    "render_markdown",
]

VERDICTS = ("correct", "incorrect", "partially_correct", "unchecked")
STEP_VERDICTS = ("correct", "incorrect", "unchecked")

STRUCTURED_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://mathnotes.local/schemas/vision-structured.json",
    "title": "Structured math-notes answer",
    "type": "object",
    "required": ["problems"],
    "additionalProperties": False,
    "properties": {
        "problems": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["statement", "latex", "steps", "answer", "verdict"],
                "additionalProperties": False,
                "properties": {
                    "statement": {"type": "string"},
                    "latex": {"type": "array", "items": {"type": "string"}},
                    "steps": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["text", "latex", "verdict"],
                            "additionalProperties": False,
                            "properties": {
                                "text": {"type": "string"},
                                "latex": {"type": "string"},
                                "verdict": {"enum": list(STEP_VERDICTS)},
                            },
                        },
                    },
                    "answer": {"type": ["string", "null"]},
                    "verdict": {"enum": list(VERDICTS)},
                },
            },
        }
    },
}

_VALIDATOR = jsonschema.Draft202012Validator(STRUCTURED_SCHEMA)


class StructuredError(ValueError):
    """The model's reply cannot be made to fit the structured schema."""


# --- math in Markdown -------------------------------------------------------------

_CODE = re.compile(r"```.*?(?:```|\Z)|`[^`\n]*`", re.S)
_MATH = re.compile(
    r"\$\$(?P<display>.+?)\$\$"
    r"|\\\[(?P<bracket>.+?)\\\]"
    r"|\\\((?P<paren>.+?)\\\)"
    r"|(?<![\\$])\$(?P<inline>[^\s$](?:[^$\n]|\\\$)*?(?<![\s\\]))\$(?!\d)"
    r"|(?P<env>\\begin\{(?P<name>equation|align|gather|multline|eqnarray)\*?\}.*?\\end\{(?P=name)\*?\})",
    re.S,
)


def _split_code(markdown: str) -> list[tuple[bool, str]]:
    """(is_code, text) pieces, so math is never looked for inside code."""
    pieces: list[tuple[bool, str]] = []
    last = 0
    for match in _CODE.finditer(markdown):
        pieces.append((False, markdown[last : match.start()]))
        pieces.append((True, match.group(0)))
        last = match.end()
    pieces.append((False, markdown[last:]))
    return pieces


def normalize_math(markdown: str) -> str:
    """Rewrite ``\\(..\\)`` to ``$..$`` and ``\\[..\\]`` to ``$$..$$`` outside code."""
    out = []
    for is_code, text in _split_code(markdown):
        if not is_code:
            text = re.sub(r"\\\[(.+?)\\\]", lambda m: f"$${m.group(1)}$$", text, flags=re.S)
            text = re.sub(r"\\\((.+?)\\\)", lambda m: f"${m.group(1).strip()}$", text, flags=re.S)
        out.append(text)
    return "".join(out)


def extract_latex(markdown: str) -> list[str]:
    """The formulas of ``markdown`` in order of appearance, each once, without delimiters."""
    found: list[str] = []
    for is_code, text in _split_code(markdown):
        if is_code:
            continue
        for match in _MATH.finditer(text):
            formula = next(g for g in match.group("display", "bracket", "paren", "inline", "env") if g is not None)
            formula = formula.strip()
            if formula and formula not in found:
                found.append(formula)
    return found


# --- structured answers -------------------------------------------------------------

_BACKSLASH_WORD = re.compile(r"(?<!\\)((?:\\\\)*)\\([A-Za-z]+)")
_HEX4 = re.compile(r"[0-9A-Fa-f]{4}")


def _is_latex(word: str, after: str) -> bool:
    """Whether ``\\word`` (then ``after``) inside a JSON string is a LaTeX command rather than a JSON escape.

    Every command KaTeX knows counts (:mod:`~mathnotes.vision.katex_commands`), so ``\\boxed``,
    ``\\therefore`` and ``\\neg`` survive although JSON would read ``\\b``, ``\\t`` and ``\\n``.
    The one-letter ones (``\\r``, ``\\u``: accents) only before a brace; ``\\u`` and four hex
    digits is always JSON's.
    """
    if word[0] not in "bfnrtu":
        return True  # not a JSON escape at all: the backslash must be doubled
    if len(word) == 1:
        return word in commands() and after.startswith("{")
    if word[0] == "u" and _HEX4.match(word[1:] + after):
        return False
    return word in commands()


def _escape_latex_backslashes(text: str) -> str:
    def fix(match: re.Match[str]) -> str:
        pairs, word = match.group(1), match.group(2)
        if not _is_latex(word, text[match.end() : match.end() + 1]):
            return match.group(0)  # a real JSON escape such as \n followed by text
        return f"{pairs}\\\\{word}"

    return _BACKSLASH_WORD.sub(fix, text)


def _json_text(reply: str) -> str:
    fenced = re.search(r"```(?:json)?\s*(.*?)```", reply, re.S)
    text = fenced.group(1) if fenced else reply
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        raise StructuredError("the reply contains no JSON object")
    return text[start : end + 1]


def _loads(text: str) -> Any:
    attempts = [_escape_latex_backslashes(text)]
    attempts.append(re.sub(r",\s*([}\]])", r"\1", attempts[0]))  # trailing commas
    last: Exception | None = None
    for candidate in attempts:
        try:
            return json.loads(candidate)
        except ValueError as err:
            last = err
    raise StructuredError(f"the reply is not valid JSON ({last})")


_VERDICT_WORDS = {
    "correct": "correct",
    "right": "correct",
    "true": "correct",
    "ok": "correct",
    "valid": "correct",
    "正确": "correct",
    "对": "correct",
    "✅": "correct",
    "✓": "correct",
    "incorrect": "incorrect",
    "wrong": "incorrect",
    "false": "incorrect",
    "invalid": "incorrect",
    "error": "incorrect",
    "错误": "incorrect",
    "错": "incorrect",
    "❌": "incorrect",
    "✗": "incorrect",
    "partially_correct": "partially_correct",
    "partially correct": "partially_correct",
    "partial": "partially_correct",
    "部分正确": "partially_correct",
}


def _verdict(value: Any, allowed: tuple[str, ...]) -> str:
    if isinstance(value, bool):
        value = "correct" if value else "incorrect"
    word = _VERDICT_WORDS.get(str(value).strip().lower(), "unchecked") if value is not None else "unchecked"
    return word if word in allowed else "unchecked"


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _step(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        return {"text": _text(raw), "latex": "", "verdict": "unchecked"}
    latex = raw.get("latex", "")
    if isinstance(latex, list):
        latex = " ".join(_text(x) for x in latex)
    return {
        "text": _text(raw.get("text", raw.get("step", raw.get("description", "")))),
        "latex": _text(latex),
        "verdict": _verdict(raw.get("verdict", raw.get("correct")), STEP_VERDICTS),
    }


def _problem(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raw = {"statement": _text(raw)}
    statement = _text(raw.get("statement", raw.get("problem", raw.get("question", ""))))
    latex = raw.get("latex")
    if isinstance(latex, str):
        latex = [latex] if latex.strip() else []
    if not isinstance(latex, list):
        latex = extract_latex(statement)
    steps = raw.get("steps") or []
    if not isinstance(steps, list):
        steps = [steps]
    answer = raw.get("answer", raw.get("final_answer"))
    return {
        "statement": statement,
        "latex": [_text(x).strip().strip("$").strip() for x in latex if _text(x).strip()],
        "steps": [_step(s) for s in steps],
        "answer": None if answer is None else _text(answer),
        "verdict": _verdict(raw.get("verdict"), VERDICTS),
    }


def parse_structured(reply: str) -> tuple[dict[str, Any], str | None]:
    """The schema-valid ``structured`` object and the reply's own ``markdown`` field (if any)."""
    data = _loads(_json_text(reply))
    if isinstance(data, list):
        data = {"problems": data}
    if not isinstance(data, dict):
        raise StructuredError("the reply's JSON is not an object")
    problems = data.get("problems")
    if problems is None and any(k in data for k in ("statement", "problem", "steps")):
        problems = [data]
    if not isinstance(problems, list):
        raise StructuredError("the reply has no 'problems' list")
    structured = {"problems": [_problem(p) for p in problems]}
    errors = sorted(_VALIDATOR.iter_errors(structured), key=lambda e: list(e.path))
    if errors:
        where = "/".join(str(p) for p in errors[0].path)
        raise StructuredError(f"{where or 'answer'}: {errors[0].message}")
    markdown = data.get("markdown")
    return structured, markdown if isinstance(markdown, str) and markdown.strip() else None


_MARK = {"correct": "✅ ", "incorrect": "❌ ", "partially_correct": "⚠️ ", "unchecked": ""}


def render_markdown(structured: dict[str, Any]) -> str:
    """A readable Markdown rendering of a structured answer (used when the model gave none)."""
    blocks = []
    for i, problem in enumerate(structured["problems"], 1):
        lines = [f"### {_MARK[problem['verdict']]}Problem {i}", "", problem["statement"]]
        for n, step in enumerate(problem["steps"], 1):
            formula = f" $${step['latex']}$$" if step["latex"] else ""
            lines.append(f"{n}. {_MARK[step['verdict']]}{step['text']}{formula}")
        if problem["answer"]:
            lines += ["", f"**Answer:** {problem['answer']}"]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
