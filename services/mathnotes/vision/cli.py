"""``mathnotes-vision``: serve the vision API (configured by the environment)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from ..bootstrap import load_or_exit
from ..server import serve
from .app import create_app
from .settings import VisionSettings

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mathnotes-vision", description=__doc__)
    parser.parse_args(argv)
    settings = load_or_exit(VisionSettings, "mathnotes-vision")
    serve(create_app(settings), settings.host, settings.port, name="mathnotes-vision")
    return 0
