"""Prompt presets: one per task, in Chinese or English, for Markdown or JSON answers.

Pure: :func:`build_messages` returns the chat messages for one request. The
caller's own ``prompt`` (the request field of that name) is added as the user's
instruction, on top of the task preset.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["FORMATS", "LANGUAGES", "TASKS", "build_messages", "repair_message", "system_prompt"]

TASKS = ("transcribe", "solve", "check", "explain", "describe")
LANGUAGES = ("auto", "zh", "en")
FORMATS = ("markdown", "json")

_MATH_RULES = (
    "Write mathematics in LaTeX: inline as $...$ and displayed as $$...$$ on their own lines. "
    "Never use \\( \\) or \\[ \\] delimiters. Keep the original numbering of problems."
)

_TASK_TEXT = {
    "transcribe": (
        "Transcribe the handwritten or printed math notes in the image exactly, as Markdown. "
        "Keep the layout (headings, lists, line breaks) and every formula; do not solve or correct anything. "
        "Mark unreadable parts as [illegible]."
    ),
    "solve": (
        "Read the math problem(s) in the image and solve each one. For each problem: restate it, "
        "give the solution step by step, and end with the final answer in bold."
    ),
    "check": (
        "The image shows a student's worked solution. Transcribe each step and mark it right or wrong: "
        "prefix a correct step with ✅ and a wrong step with ❌ followed by a short explanation and the "
        "corrected step. End with an overall verdict and the correct final answer."
    ),
    "explain": (
        "Explain the mathematics in the image for a student: what each formula or step means, "
        "which rules or theorems are used, and why each step follows from the previous one."
    ),
    "describe": (
        "Describe the image: what kind of document it is, its subject, its structure, and any diagrams, "
        "tables or graphs, including the formulas it contains."
    ),
}

_LANGUAGE_TEXT = {
    "auto": "Answer in the language the notes are written in.",
    "zh": "请用简体中文回答, 公式仍使用 LaTeX。",
    "en": "Answer in English.",
}

_JSON_SHAPE = {
    "markdown": "the whole answer as Markdown, math in $...$ / $$...$$",
    "problems": [
        {
            "statement": "the problem as written (Markdown)",
            "latex": ["each formula of the problem, LaTeX without $ delimiters"],
            "steps": [{"text": "one step (Markdown)", "latex": "its formula or empty", "verdict": "correct"}],
            "answer": "the final answer, or null when the task does not ask for one",
            "verdict": "correct | incorrect | partially_correct | unchecked",
        }
    ],
}


def system_prompt(task: str, language: str, fmt: str) -> str:
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}")
    parts = [
        "You are a careful mathematics assistant that reads photos of math notes.",
        _TASK_TEXT[task],
        _MATH_RULES,
        _LANGUAGE_TEXT.get(language, _LANGUAGE_TEXT["auto"]),
    ]
    if fmt == "json":
        verdicts = (
            "Set each step's and problem's verdict to correct or incorrect."
            if task == "check"
            else "Use verdict unchecked unless the task is to check work."
        )
        parts.append(
            "Reply with ONE JSON object and nothing else (no code fence), shaped like: "
            + json.dumps(_JSON_SHAPE, ensure_ascii=False)
            + " "
            + verdicts
        )
    return "\n\n".join(parts)


def build_messages(
    task: str, language: str, fmt: str, image_url: str | None, prompt: str | None = None
) -> list[dict[str, Any]]:
    """Chat messages for one request; ``image_url`` is a data URL or https URL (None: text only)."""
    user_text = prompt.strip() if prompt and prompt.strip() else _default_user_text(task, language)
    content: list[dict[str, Any]] = []
    if image_url is not None:
        content.append({"type": "image_url", "image_url": {"url": image_url}})
    content.append({"type": "text", "text": user_text})
    return [
        {"role": "system", "content": system_prompt(task, language, fmt)},
        {"role": "user", "content": content},
    ]


def _default_user_text(task: str, language: str) -> str:
    if language == "zh":
        return {
            "transcribe": "请转写这张图片中的数学笔记。",
            "solve": "请解答图片中的题目。",
            "check": "请批改图片中的解题过程。",
            "explain": "请讲解图片中的数学内容。",
            "describe": "请描述这张图片。",
        }[task]
    return {
        "transcribe": "Transcribe these math notes.",
        "solve": "Solve the problem(s) in this image.",
        "check": "Check this worked solution step by step.",
        "explain": "Explain the mathematics in this image.",
        "describe": "Describe this image.",
    }[task]


def repair_message(previous: str, problem: str) -> list[dict[str, Any]]:
    """Follow-up turns asking the model to fix an answer that failed the JSON schema."""
    return [
        {"role": "assistant", "content": previous},
        {
            "role": "user",
            "content": (
                f"That reply is not valid for the required JSON shape: {problem}. "
                "Reply again with only the corrected JSON object."
            ),
        },
    ]
