"""Both tools load the way Open WebUI loads them and expose the tool specs the model sees."""

from __future__ import annotations

import pytest

from .tools import load_tool, tool_specs


@pytest.mark.parametrize(("name", "version"), [("math_notes_vision", "0.2.0"), ("telemetry", "0.1.0")])
def test_tool_loads_with_frontmatter_and_valves(name: str, version: str) -> None:
    tools, frontmatter = load_tool(name)
    assert frontmatter["title"] and frontmatter["version"] == version
    assert frontmatter["requirements"] == "requests"
    valves = tools.valves.model_dump()
    assert valves and all(key.isupper() for key in valves)
    assert type(tools.valves).model_json_schema()["properties"]  # Open WebUI renders the valves form from this


def test_vision_tool_keys_are_masked_and_a_user_may_bring_their_own() -> None:
    """Open WebUI 0.12 draws a valve whose schema says ``input.type == "password"`` as a masked field; the
    user valves (``UserValves``, each user's own, set in the chat's tool settings) hold a personal key."""
    tools, _ = load_tool("math_notes_vision")
    admin = type(tools.valves).model_json_schema()["properties"]
    user = tools.UserValves.model_json_schema()["properties"]
    assert admin["API_KEY"]["input"] == {"type": "password"} == user["API_KEY"]["input"]
    assert list(user) == ["API_KEY"] and tools.UserValves().API_KEY == ""
    assert tools.valves.SHARED_LIBRARY is True and tools.valves.PUBLIC_URL == ""


def test_vision_tool_spec() -> None:
    tools, _ = load_tool("math_notes_vision")
    spec, search = tool_specs(tools)
    assert spec["name"] == "analyze_math_image"
    assert "photo of handwritten or printed maths" in spec["description"]
    props = spec["parameters"]["properties"]
    assert list(props) == ["task", "image_url", "prompt", "language"]
    assert all(p["type"] == "string" and p["description"] for p in props.values())
    assert "transcribe" in props["task"]["description"] and props["task"]["default"] == "transcribe"
    assert spec["parameters"].get("required", []) == []

    assert search["name"] == "search_notes"
    assert "find, recall or look back at their notes" in search["description"]
    props = search["parameters"]["properties"]
    assert list(props) == ["query", "mode", "limit"] and search["parameters"]["required"] == ["query"]
    assert props["limit"]["type"] == "integer"  # Open WebUI turns a model's "5" into 5 for int parameters only
    assert all(p["description"] for p in props.values())
    assert all(mode in props["mode"]["description"] for mode in ("auto", "words", "formula", "meaning"))


def test_telemetry_tool_specs() -> None:
    tools, _ = load_tool("telemetry")
    specs = {spec["name"]: spec for spec in tool_specs(tools)}
    assert set(specs) == {"latest_values", "window_stats", "stale_devices"}
    assert list(specs["window_stats"]["parameters"]["properties"]) == ["window", "device", "measurement", "field"]
    assert specs["stale_devices"]["parameters"]["properties"]["minutes"]["type"] == "number"
    for spec in specs.values():
        assert spec["description"].strip()
        assert not any(name.startswith("_") for name in spec["parameters"]["properties"])
        assert all(p.get("description") for p in spec["parameters"]["properties"].values())
