"""The weekly notes digest, run with ``n8n execute``: the week's notes from the real vision service's library
grouped by topic through the (fake) chat model, and posted to the notification webhook."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from tests.support.fake_openai import FakeOpenAI
from tests.support.servers import ServiceProcess

from .harness import Receiver, stage_workflows
from .notes import import_copies, save_note
from .support import DIGEST_KEY, credentials, make_home, workflow_env

WEEK = [  # (title, tags, answer) of the notes saved this week
    ("Integration by parts", ["calculus"], "$\\int x e^x\\,dx = x e^x - e^x + C$"),
    ("Eigenvalues of a 2x2 matrix", ["linear-algebra"], "$\\det(A - \\lambda I) = 0$ gives $\\lambda = 2, 3$"),
    ("Area under a parabola", ["calculus", "homework"], "$$\\int_0^1 x^2\\,dx = \\frac{1}{3}$$"),
]


def group_by_first_tag(body: dict[str, Any]) -> str:
    """The fake model's digest: the prompt's note lines (``- date | title | tags: a, b | …``) under a
    ``### <first tag>`` heading each; so the digest names a topic only if the workflow sent its notes."""
    prompt = "\n".join(str(m.get("content")) for m in body["messages"])
    topics: dict[str, list[str]] = {}
    for line in prompt.splitlines():
        if not line.startswith("- ") or " | " not in line:
            continue
        fields = line[2:].split(" | ")
        tags = next((f.removeprefix("tags: ") for f in fields if f.startswith("tags: ")), "other")
        topics.setdefault(tags.split(", ")[0], []).append(fields[1])
    return "\n\n".join(f"### {topic}\n" + "\n".join(f"- {t}" for t in titles) for topic, titles in topics.items())


def test_weekly_digest_groups_the_weeks_notes_by_topic_and_posts_it(
    tmp_path: Path, n8n_bin: Path, n8n_tarball: Path, vision: ServiceProcess, model: FakeOpenAI, notify: Receiver
) -> None:
    week = {save_note(vision, model, md, title=title, tags=tags, key=DIGEST_KEY): title for title, tags, md in WEEK}
    old = (datetime.now(timezone.utc) - timedelta(days=10)).isoformat()
    [template, *_] = week
    import_copies(vision, template, [{"title": "Fourier series", "tags": ["analysis"], "created_at": old}], DIGEST_KEY)

    creds = credentials(vision.url, "http://127.0.0.1:9", model.base_url)
    for cred in creds:
        if cred["name"] == "Math Notes API":
            cred["data"]["apiKey"] = DIGEST_KEY  # the digest's client: its own notes only
    staged = stage_workflows(tmp_path / "staged", workflow_env(None, notify))
    home, imported = make_home(tmp_path / "n8n", n8n_bin, n8n_tarball, creds, [staged / "weekly-notes-digest.json"])
    model.responder = group_by_first_tag
    asked = len(model.requests)
    days = {datetime.now(timezone.utc).strftime("%Y-%m-%d")}
    home.execute(imported["weekly-notes-digest"]["id"])
    days.add(datetime.now(timezone.utc).strftime("%Y-%m-%d"))  # the run may cross midnight

    [digest] = notify.wait_for(1, timeout=10)
    body = digest["body"]
    assert body["text"] == group_by_first_tag(model.requests[asked]["body"])
    assert "### calculus\n- " in body["text"] and "### linear-algebra\n- Eigenvalues of a 2x2 matrix" in body["text"]
    calculus = body["text"].split("### calculus\n")[1].split("\n\n")[0]
    assert sorted(calculus.splitlines()) == ["- Area under a parabola", "- Integration by parts"]
    assert "Fourier" not in body["text"] and "analysis" not in body["text"]  # older than 7 days
    assert body["msgtype"] == "markdown" and body["markdown"] == {"title": body["title"], "text": body["text"]}
    assert body["title"].startswith("Notes digest ") and body["title"][-10:] in days
    assert body["count"] == 3 and {n["id"]: n["title"] for n in body["notes"]} == week

    [call] = model.requests[asked:]
    assert call["body"]["model"] == "deepseek-chat"
    prompt = " ".join(str(m.get("content")) for m in call["body"]["messages"])
    assert "tags: calculus, homework" in prompt and "\\frac{1}{3}" in prompt and "Fourier" not in prompt
