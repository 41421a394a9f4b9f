"""LaTeX in structured answers: every command KaTeX knows survives a model's unescaped backslashes."""

from __future__ import annotations

import pytest
import requests

from mathnotes.vision.answer import parse_structured
from mathnotes.vision.katex_commands import COMMANDS_FILE, KATEX_JS, commands, extract
from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.servers import RunService, ServiceProcess

from .helpers import b64, service_env

ESCAPE_LETTERS = "bfnrtu"  # \b \f \n \r \t \u are JSON escapes: these are the commands JSON would eat
AT_RISK = sorted(c for c in commands() if c[0] in ESCAPE_LETTERS)


def test_the_committed_list_is_the_vendored_katex() -> None:
    assert sorted(commands()) == extract(KATEX_JS.read_text(encoding="utf-8")), (
        f"{COMMANDS_FILE.name} is out of date: run python -m mathnotes.vision.katex_commands"
    )
    assert len(AT_RISK) > 250 and {"boxed", "therefore", "neg", "frac", "text", "underbrace", "r", "u"} <= set(AT_RISK)


def _formula(name: str) -> str:
    return f"\\{name}{{x}}"  # one backslash, as a model writes it inside a JSON string


def _reply(names: list[str]) -> str:
    """A model's JSON answer with raw LaTeX: every command in a statement, a latex list and a step."""
    statement = " ".join(_formula(n) for n in names) + " and \\boxed 4, \\therefore y, \\neg p"
    return (
        '{"problems": [{"statement": "' + statement + '", "latex": ['
        + ", ".join('"' + _formula(n) + '"' for n in names)
        + '], "steps": [{"text": "line one\\nline two \\u00e9", "latex": "' + " ".join(_formula(n) for n in names)
        + '", "verdict": "correct"}], "answer": "\\boxed{4}", "verdict": "correct"}]}'
    )  # fmt: skip


def _assert_intact(structured: dict[str, object], names: list[str]) -> None:
    problem = structured["problems"][0]  # type: ignore[index]
    assert problem["latex"] == [_formula(n) for n in names]
    for name in names:
        assert _formula(name) in problem["statement"], name
        assert _formula(name) in problem["steps"][0]["latex"], name
    assert problem["statement"].endswith("and \\boxed 4, \\therefore y, \\neg p")
    assert problem["steps"][0]["text"] == "line one\nline two é"  # real JSON escapes are kept as such
    assert problem["answer"] == "\\boxed{4}"
    texts = [problem["statement"], problem["steps"][0]["latex"], problem["answer"], *problem["latex"]]
    assert not any(ch in text for text in texts for ch in "\b\f\t\r"), "a control character slipped in"


def test_every_command_json_could_eat_is_kept_intact() -> None:
    structured, _markdown = parse_structured(_reply(AT_RISK))
    _assert_intact(structured, AT_RISK)
    for name in AT_RISK:  # and each alone, followed by a space rather than a brace (one-letter ones need a brace)
        if len(name) > 1:
            text = '{"problems": [{"statement": "a \\' + name + ' b", "steps": []}]}'
            assert parse_structured(text)[0]["problems"][0]["statement"] == f"a \\{name} b", name


@pytest.fixture
def service(run_service: RunService, model: FakeOpenAI) -> ServiceProcess:
    """The real service, one worker, no answer cache."""
    return run_service("mathnotes-vision", service_env(model, VISION_WORKERS="1", VISION_CACHE_ENTRIES="0"))


def test_the_real_service_keeps_every_command_and_asks_for_json_mode(
    service: ServiceProcess, model: FakeOpenAI, note_jpeg: bytes
) -> None:
    proc = service
    model.default = Reply(content=_reply(AT_RISK))
    resp = requests.post(
        f"{proc.url}/api/vision/analyze", json={"image": b64(note_jpeg), "format": "json", "task": "solve"}, timeout=60
    )
    assert resp.status_code == 200, resp.text
    _assert_intact(resp.json()["structured"], AT_RISK)
    assert model.requests[-1]["body"]["response_format"] == {"type": "json_object"}

    # a model that refuses response_format: asked again without it, then never with it again
    model.json_mode_supported = False
    for _ in range(2):
        before = len(model.requests)
        resp = requests.post(
            f"{proc.url}/api/vision/analyze", json={"image": b64(note_jpeg), "format": "json"}, timeout=60
        )
        assert resp.status_code == 200, resp.text
        _assert_intact(resp.json()["structured"], AT_RISK)
    sent = [("response_format" in r["body"]) for r in model.requests[before - 2 :]]
    assert sent == [True, False, False]
