"""Open WebUI tools (single files an admin pastes into Workspace → Tools).

Each module here is self-contained: Open WebUI execs the source into a fresh
module and instantiates its ``Tools`` class, so the files import nothing from
``mathnotes``. They live in the package so ruff, mypy and the tests see them.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["TOOL_FILES"]

TOOL_FILES = {
    "math_notes_vision": Path(__file__).with_name("math_notes_vision.py"),
    "telemetry": Path(__file__).with_name("telemetry.py"),
}
