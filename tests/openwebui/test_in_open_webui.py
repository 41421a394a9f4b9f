"""Our tools in the real Open WebUI 0.12: installed through its API, called by the model through native
function calling, run inside Open WebUI against the real vision service and the real InfluxDB.

Each chat is a new chat's first message as the web UI sends it, by a non-admin user holding the grants
README.md lists. The chat model (a fake) answers the first request with streamed ``tool_calls`` and
the second with the tool outputs it was sent, so the saved chat shows what reached the model.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import requests

from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.servers import ServiceProcess

from .server import ADMIN, OpenWebUI, Session
from .tools import (
    ANSWER,
    CHAT_MODEL,
    INGEST_KEY,
    PERSONAL_KEY,
    PUBLIC_URL,
    TOOL_IDS,
    VISION_KEY,
    note_id_in,
    photo,
    tool_outputs,
    wait_for_note,
)


def attachment(upload: dict[str, Any]) -> dict[str, Any]:
    """A file item of the message box once its upload finished (MessageInput.svelte's uploadFileHandler)."""
    meta = upload.get("meta") or {}
    return {
        "type": "file", "file": upload, "id": upload["id"], "url": upload["id"], "name": meta.get("name"),
        "collection_name": "", "status": "uploaded", "size": meta.get("size"), "error": "",
        "itemId": "item-" + upload["id"], "content_type": meta.get("content_type"),
    }  # fmt: skip


def call(name: str, **arguments: Any) -> dict[str, Any]:
    return {"name": name, "arguments": arguments}


def assistant_text(saved: dict[str, Any]) -> str:
    messages = saved["chat"]["history"]["messages"]
    [reply] = [m for m in messages.values() if m["role"] == "assistant"]
    assert reply.get("done", True) and not reply.get("error"), reply
    return str(reply["content"])


def images_in(message: dict[str, Any]) -> list[str]:
    content = message.get("content")
    parts = content if isinstance(content, list) else []
    return [str(p["image_url"]["url"]) for p in parts if isinstance(p, dict) and p.get("type") == "image_url"]


def texts(messages: list[dict[str, Any]]) -> str:
    """Every text the messages hold (string contents and text parts)."""
    out = []
    for message in messages:
        content = message.get("content")
        parts = content if isinstance(content, list) else [{"type": "text", "text": content}]
        out += [str(p.get("text")) for p in parts if isinstance(p, dict) and p.get("type") == "text"]
    return "\n".join(out)


def tool_names(body: dict[str, Any]) -> set[str]:
    return {tool["function"]["name"] for tool in body.get("tools") or []}


def test_the_admin_comes_from_the_environment_and_nobody_signs_up(openwebui: OpenWebUI, admin: Session) -> None:
    """What docker-compose.prod.yml relies on: WEBUI_ADMIN_EMAIL / WEBUI_ADMIN_PASSWORD make the admin, and
    with ENABLE_SIGNUP=false the first visitor cannot make an account (let alone become the admin)."""
    assert (admin.user["email"], admin.user["role"]) == (ADMIN["email"], "admin")
    form = {"name": "Visitor", "email": "visitor@mathnotes.test", "password": "Passw0rd-visitor"}
    resp = requests.post(f"{openwebui.url}/api/v1/auths/signup", json=form, timeout=30)
    assert resp.status_code == 403, resp.text
    wrong = requests.post(f"{openwebui.url}/api/v1/auths/signin", json={**form, "email": ADMIN["email"]}, timeout=30)
    assert wrong.status_code in (400, 401, 403), wrong.text


def test_both_tools_install_with_the_specs_the_model_sees(admin: Session) -> None:
    vision = admin.call("GET", f"/api/v1/tools/id/{TOOL_IDS['math_notes_vision']}")
    assert [spec["name"] for spec in vision["specs"]] == ["analyze_math_image", "search_notes"]
    assert vision["specs"][1]["parameters"]["properties"]["limit"]["type"] == "integer"
    assert vision["meta"]["manifest"]["title"] == "Math Notes Vision"
    telemetry = admin.call("GET", f"/api/v1/tools/id/{TOOL_IDS['telemetry']}")
    specs = {spec["name"]: spec for spec in telemetry["specs"]}
    assert set(specs) == {"latest_values", "window_stats", "stale_devices"}
    assert specs["stale_devices"]["parameters"]["properties"]["minutes"]["type"] == "number"
    valves = admin.call("GET", f"/api/v1/tools/id/{TOOL_IDS['math_notes_vision']}/valves")
    assert valves["VISION_URL"].startswith("http://127.0.0.1:")


def test_a_photo_attached_in_the_chat_is_read_by_the_vision_service(
    student: Session, chat: FakeOpenAI, model: FakeOpenAI
) -> None:
    model.script(Reply(content=ANSWER))  # what the vision service's model reads on the page
    chat.script(Reply(tool_calls=[call("analyze_math_image", task="transcribe")]))
    upload = student.upload("homework.png", photo(), "image/png")
    saved = student.chat(CHAT_MODEL, "What does my page say?", [TOOL_IDS["math_notes_vision"]], [attachment(upload)])

    first, second = (r["body"] for r in chat.requests)
    assert first["stream"] is True and "analyze_math_image" in tool_names(first)  # native function calling
    [user_message] = [m for m in first["messages"] if m["role"] == "user"]
    [sent] = images_in(user_message)
    assert base64.b64decode(sent.split(",", 1)[1]) == photo()  # the upload, as a data URL
    [vision_call] = model.requests  # the tool ran: the vision service asked its model once
    assert images_in(next(m for m in vision_call["body"]["messages"] if images_in(m)))[0].startswith("data:image/")
    [output] = tool_outputs(second)
    assert output.startswith(ANSWER) and "Math Notes vision · qwen3-vl-plus" in output
    # the tool's answer came back as a tool message; the user's message still holds the photo
    [user_again] = [m for m in second["messages"] if m["role"] == "user"]
    assert images_in(user_again) == [sent]
    assert assistant_text(saved).startswith(ANSWER)


def test_prompt_based_function_calling_keeps_the_photo_too(
    student: Session, chat: FakeOpenAI, model: FakeOpenAI
) -> None:
    """Function Calling "legacy": a task request picks the tool, its answer joins the context as a source
    (``citation = True``; 0.6's answer for False was to glue it onto the user's message as plain text)."""
    model.script(Reply(content=ANSWER))
    picked = {"tool_calls": [{"name": "analyze_math_image", "parameters": {"task": "transcribe"}}]}
    chat.script(Reply(content=json.dumps(picked)))
    upload = student.upload("notes.png", photo(), "image/png")
    tools = [TOOL_IDS["math_notes_vision"]]
    student.chat(CHAT_MODEL, "Read my notes", tools, [attachment(upload)], params={"function_calling": "legacy"})
    task, answer = (r["body"] for r in chat.requests)
    assert "analyze_math_image" in json.dumps(task["messages"]) and not task.get("tools")
    assert len(model.requests) == 1
    assert ANSWER in texts(answer["messages"])  # the tool's answer, as a source in the context
    [user_message] = [m for m in answer["messages"] if m["role"] == "user"]
    [image] = images_in(user_message)
    assert base64.b64decode(image.split(",", 1)[1]) == photo()


def test_an_upload_passed_as_a_chat_file_is_read_through_open_webui(
    student: Session, admin: Session, chat: FakeOpenAI, model: FakeOpenAI
) -> None:
    """``__files__``: what API clients send (``files: [{"type": "file", "id"}]``), no image in the messages."""
    model.script(Reply(content="The answer is $42$."))
    chat.script(Reply(tool_calls=[call("analyze_math_image", task="solve", language="en")]))
    upload = student.upload("scan.png", photo(), "image/png")
    files = [{"type": "file", "id": upload["id"]}]
    saved = student.chat(CHAT_MODEL, "Solve it", [TOOL_IDS["math_notes_vision"]], files=files)
    assert not any(images_in(m) for m in chat.requests[0]["body"]["messages"])
    assert assistant_text(saved).startswith("The answer is $42$.")
    prompt = " ".join(json.dumps(m["content"]) for m in model.requests[0]["body"]["messages"])
    assert "english" in prompt.lower()

    # someone else's upload is not read for this user (Open WebUI's own access check)
    model.requests.clear()
    chat.requests.clear()
    theirs = admin.upload("private.png", photo(), "image/png")
    chat.script(Reply(tool_calls=[call("analyze_math_image", task="transcribe")]))
    files = [{"type": "file", "id": theirs["id"]}]
    saved = student.chat(CHAT_MODEL, "Read it", [TOOL_IDS["math_notes_vision"]], files=files)
    assert assistant_text(saved).startswith("No image found")
    assert model.requests == []


def test_a_page_read_in_one_chat_is_found_by_search_notes_in_the_next(
    student: Session, chat: FakeOpenAI, model: FakeOpenAI, vision: ServiceProcess
) -> None:
    """The library through Open WebUI: a chat reads a photo (saved with source openwebui), a later chat asks
    for it and the model calls ``search_notes``, whose answer (title, link, the formula as $…$) it relays."""
    page = "# Telescoping sums\n\n$$\\sum_{k=1}^{n} (a_{k+1} - a_k) = a_{n+1} - a_1$$"
    model.script(Reply(content=page))
    chat.script(Reply(tool_calls=[call("analyze_math_image", task="transcribe")]))
    upload = student.upload("sums.png", photo(), "image/png")
    student.chat(CHAT_MODEL, "Read my page", [TOOL_IDS["math_notes_vision"]], [attachment(upload)])
    [read] = tool_outputs(chat.requests[1]["body"])
    note_id = note_id_in(read)
    assert wait_for_note(vision.url, VISION_KEY, note_id)["source"] == "openwebui"

    chat.requests.clear()
    # the model quotes the limit: Open WebUI turns "3" into 3 for an int parameter
    chat.script(Reply(tool_calls=[call("search_notes", query="\\sum_{k=1}^n (a_{k+1}-a_k)", limit="3")]))
    saved = student.chat(CHAT_MODEL, "Where did I do the telescoping sum?", [TOOL_IDS["math_notes_vision"]])
    first, second = (r["body"] for r in chat.requests)
    assert "search_notes" in tool_names(first)
    [found] = tool_outputs(second)
    assert "(searched by formula)" in found.splitlines()[0], found
    hit = found.split("### 1. ")[1].split("### 2.")[0]
    assert hit.startswith("Telescoping sums") and f"[open the note]({PUBLIC_URL}#note={note_id})" in hit
    assert "$\\sum_{k=1}^{n} (a_{k+1} - a_k) = a_{n+1} - a_1$" in hit
    assert "### 1. Telescoping sums" in assistant_text(saved)


def test_a_personal_key_in_the_user_valves_keeps_a_private_library(
    student: Session, admin: Session, chat: FakeOpenAI, model: FakeOpenAI, vision: ServiceProcess
) -> None:
    """UserValves: the student sets their own key; their pages go to, and are searched in, their library,
    which the tool's shared key (the admin's chats) does not see."""
    tool_id = TOOL_IDS["math_notes_vision"]
    student.set_user_valves(tool_id, {"API_KEY": PERSONAL_KEY})
    try:
        model.script(Reply(content="# Private eigenvalue notes\n\n$\\det(A - \\lambda I) = 0$"))
        chat.script(Reply(tool_calls=[call("analyze_math_image", task="transcribe")]))
        upload = student.upload("eigen.png", photo(), "image/png")
        student.chat(CHAT_MODEL, "Read it", [tool_id], [attachment(upload)])
        note_id = note_id_in(tool_outputs(chat.requests[1]["body"])[0])
        assert wait_for_note(vision.url, PERSONAL_KEY, note_id)["source"] == "openwebui"
        shared = requests.get(
            f"{vision.url}/api/notes/{note_id}", headers={"Authorization": f"Bearer {VISION_KEY}"}, timeout=10
        )
        assert shared.status_code == 404

        for session, expect in ((student, True), (admin, False)):
            chat.requests.clear()
            chat.script(Reply(tool_calls=[call("search_notes", query="eigenvalue notes", mode="words")]))
            session.chat(CHAT_MODEL, "Find my eigenvalue notes", [tool_id])
            [found] = tool_outputs(chat.requests[1]["body"])
            assert ("### 1. Private eigenvalue notes" in found) is expect, found
    finally:
        student.set_user_valves(tool_id, {"API_KEY": ""})


def test_telemetry_written_by_ingest_is_read_in_the_chat(
    student: Session, chat: FakeOpenAI, ingest: ServiceProcess
) -> None:
    now = time.time()
    points = [
        {"measurement": "environment", "ts": int((now - 600) * 1000), "tags": {"device": "owui-probe"},
         "fields": {"temperature": 19.25, "humidity": 48}},
        {"measurement": "environment", "ts": int((now - 7200) * 1000), "tags": {"device": "owui-attic"},
         "fields": {"temperature": 31.5}},
    ]  # fmt: skip
    resp = requests.post(
        f"{ingest.url}/api/ingest", json=points, headers={"Authorization": f"Bearer {INGEST_KEY}"}, timeout=30
    )
    assert resp.status_code == 202 and resp.json()["outcome"] == "written", resp.text
    # the model sends the number as a string, which Open WebUI passes on as it is for a float parameter
    calls = [call("latest_values", device="owui-probe"), call("stale_devices", minutes="30")]
    chat.script(Reply(tool_calls=calls))
    saved = student.chat(CHAT_MODEL, "How warm is it, and is anything offline?", [TOOL_IDS["telemetry"]])
    assert {"latest_values", "stale_devices"} <= tool_names(chat.requests[0]["body"])
    latest, stale = tool_outputs(chat.requests[1]["body"])
    assert "| owui-probe | environment | temperature | 19.25 |" in latest
    assert "| owui-probe | environment | humidity | 48 |" in latest and "owui-attic" not in latest
    [row] = [line for line in stale.splitlines() if line.startswith("| owui-attic |")]
    assert "owui-probe" not in stale
    assert row in assistant_text(saved)


def test_a_user_without_the_grants_gets_no_tools(
    openwebui: OpenWebUI, admin: Session, student: Session, chat: FakeOpenAI
) -> None:
    outsider = admin.add_user("Outsider", "outsider@mathnotes.test", "Passw0rd-outsider")
    guest = openwebui.sign_in("outsider@mathnotes.test", "Passw0rd-outsider")
    resp = guest.http.post(
        f"{openwebui.url}/api/chat/completions",
        json={"model": CHAT_MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": False},
        timeout=60,
    )
    assert resp.status_code in (400, 403, 404), resp.text  # the model is not theirs to use
    admin.grant("model", CHAT_MODEL, [student.user["id"], outsider["id"]])
    saved = guest.chat(CHAT_MODEL, "Which sensors are offline?", [TOOL_IDS["telemetry"]])
    [request] = [r["body"] for r in chat.requests]
    assert not tool_names(request) & {"latest_values", "window_stats", "stale_devices"}  # no tool grant: no tools
    assert assistant_text(saved) == "(no tool output)"
