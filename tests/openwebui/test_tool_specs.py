"""Both tools load the way Open WebUI loads them and expose the tool specs the model sees."""

from __future__ import annotations

import pytest

from .tools import load_tool, tool_specs


@pytest.mark.parametrize("name", ["math_notes_vision", "telemetry"])
def test_tool_loads_with_frontmatter_and_valves(name: str) -> None:
    tools, frontmatter = load_tool(name)
    assert frontmatter["title"] and frontmatter["version"] == "0.1.0"
    assert frontmatter["requirements"] == "requests"
    valves = tools.valves.model_dump()
    assert valves and all(key.isupper() for key in valves)
    assert type(tools.valves).model_json_schema()["properties"]  # Open WebUI renders the valves form from this


def test_vision_tool_spec() -> None:
    tools, _ = load_tool("math_notes_vision")
    [spec] = tool_specs(tools)
    assert spec["name"] == "analyze_math_image"
    assert "photo of handwritten or printed maths" in spec["description"]
    props = spec["parameters"]["properties"]
    assert list(props) == ["task", "image_url", "prompt", "language"]
    assert all(p["type"] == "string" and p["description"] for p in props.values())
    assert "transcribe" in props["task"]["description"] and props["task"]["default"] == "transcribe"
    assert spec["parameters"].get("required", []) == []


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
