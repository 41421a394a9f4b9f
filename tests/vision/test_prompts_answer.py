"""Prompt presets and the answer's text maths (LaTeX extraction, structured JSON repair and schema)."""

from __future__ import annotations

import json

import jsonschema
import pytest

from mathnotes.vision.answer import (
    STRUCTURED_SCHEMA,
    StructuredError,
    extract_latex,
    normalize_math,
    parse_structured,
    render_markdown,
)
from mathnotes.vision.prompts import TASKS, build_messages, repair_message, system_prompt


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("language", ["auto", "zh", "en"])
def test_every_task_preset_is_distinct_and_asks_for_dollar_math(task: str, language: str) -> None:
    text = system_prompt(task, language, "markdown")
    assert "$...$" in text and "$$...$$" in text
    others = {system_prompt(t, language, "markdown") for t in TASKS if t != task}
    assert text not in others
    if language == "zh":
        assert "中文" in text
    if language == "en":
        assert "English" in text


def test_check_preset_marks_steps_and_json_preset_names_the_shape() -> None:
    assert "✅" in system_prompt("check", "en", "markdown") and "❌" in system_prompt("check", "en", "markdown")
    text = system_prompt("check", "en", "json")
    assert '"problems"' in text and "correct or incorrect" in text
    assert "unchecked" in system_prompt("solve", "en", "json")
    with pytest.raises(ValueError):
        system_prompt("paint", "en", "markdown")


def test_messages_carry_the_image_and_the_callers_prompt() -> None:
    messages = build_messages("solve", "zh", "markdown", "data:image/jpeg;base64,AAAA", "Only problem 2")
    assert [m["role"] for m in messages] == ["system", "user"]
    parts = messages[1]["content"]
    assert parts[0] == {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,AAAA"}}
    assert parts[1] == {"type": "text", "text": "Only problem 2"}
    default = build_messages("solve", "zh", "markdown", "https://x/y.jpg")[1]["content"][1]["text"]
    assert "解答" in default
    text_only = build_messages("explain", "en", "markdown", None)[1]["content"]
    assert [p["type"] for p in text_only] == ["text"]
    follow = repair_message("{bad", "answer: 'problems' is a required property")
    assert follow[0] == {"role": "assistant", "content": "{bad"} and "problems" in follow[1]["content"]


def test_extract_latex_finds_every_delimiter_in_order_once() -> None:
    md = (
        "Given $a^2+b^2=c^2$ and \\(x\\) we get\n\n$$\\int_0^1 x\\,dx$$\n\n\\[ y = mx + b \\]\n"
        "\\begin{align} f(x) &= 2x \\end{align}\nAgain $a^2+b^2=c^2$."
    )
    assert extract_latex(md) == [
        "a^2+b^2=c^2",
        "x",
        "\\int_0^1 x\\,dx",
        "y = mx + b",
        "\\begin{align} f(x) &= 2x \\end{align}",
    ]


def test_extract_latex_ignores_prices_escaped_dollars_and_code() -> None:
    md = "It costs $5 and $10 today. A literal \\$ sign. `$not math$` and\n```\n$$also not$$\n```\nbut $k$ is."
    assert extract_latex(md) == ["k"]


def test_normalize_math_uses_dollar_delimiters_outside_code() -> None:
    md = "Let \\( x = 1 \\). Then\n\\[\nx^2 = 1\n\\]\n`\\(kept\\)`"
    assert normalize_math(md) == "Let $x = 1$. Then\n$$\nx^2 = 1\n$$\n`\\(kept\\)`"


GOOD = {
    "markdown": "**1.** $x+1=2$ so $x=1$",
    "problems": [
        {
            "statement": "Solve $x+1=2$",
            "latex": ["x+1=2"],
            "steps": [{"text": "subtract 1", "latex": "x=1", "verdict": "correct"}],
            "answer": "x=1",
            "verdict": "correct",
        }
    ],
}


def test_structured_valid_reply_round_trips() -> None:
    structured, markdown = parse_structured(json.dumps(GOOD))
    jsonschema.validate(structured, STRUCTURED_SCHEMA)
    assert structured["problems"] == GOOD["problems"]
    assert markdown == GOOD["markdown"]


def test_structured_repairs_fences_raw_latex_backslashes_synonyms_and_shapes() -> None:
    reply = (
        'Here you go:\n```json\n{"problems": [{"problem": "Compute \\frac{1}{2} + \\sqrt{4}", '
        '"latex": "\\frac{1}{2}+\\sqrt{4}", "steps": ["\\sqrt{4} = 2", {"step": "add", '
        '"latex": ["\\tfrac{5}{2}"], "verdict": "wrong"}], "final_answer": 2.5, '
        '"verdict": "部分正确", "extra": 1},],\n "notes": "x\\ny"}\n```'
    )
    structured, markdown = parse_structured(reply)
    jsonschema.validate(structured, STRUCTURED_SCHEMA)
    problem = structured["problems"][0]
    assert problem["statement"] == "Compute \\frac{1}{2} + \\sqrt{4}"
    assert problem["latex"] == ["\\frac{1}{2}+\\sqrt{4}"]
    assert problem["steps"][0] == {"text": "\\sqrt{4} = 2", "latex": "", "verdict": "unchecked"}
    assert problem["steps"][1] == {"text": "add", "latex": "\\tfrac{5}{2}", "verdict": "incorrect"}
    assert problem["answer"] == "2.5"
    assert problem["verdict"] == "partially_correct"
    assert markdown is None
    assert "Problem 1" in render_markdown(structured) and "**Answer:** 2.5" in render_markdown(structured)


def test_structured_keeps_real_json_escapes() -> None:
    structured, _ = parse_structured('{"problems": [{"statement": "line one\\nline two \\\\neq", "steps": []}]}')
    assert structured["problems"][0]["statement"] == "line one\nline two \\neq"


@pytest.mark.parametrize(
    ("reply", "needle"),
    [
        ("I cannot read this image.", "no JSON object"),
        ('{"problems": [1, 2', "no JSON object"),
        ('{"problems": "none"}', "no 'problems' list"),
        ('{"problems": [{"statement": "a"}], oops}', "not valid JSON"),
        ("[1, 2]", "no JSON object"),
    ],
)
def test_structured_failures_say_what_is_wrong(reply: str, needle: str) -> None:
    with pytest.raises(StructuredError) as err:
        parse_structured(reply)
    assert needle in str(err.value)


def test_published_schema_is_a_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(STRUCTURED_SCHEMA)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"problems": [{"statement": "x"}]}, STRUCTURED_SCHEMA)
