"""Start-up shared by the console scripts: settings, logging, one-line errors."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import TypeVar

from .logs import setup_logging
from .settings import CommonSettings, ConfigError, load, secrets_of

__all__ = ["load_or_exit"]

S = TypeVar("S", bound=CommonSettings)


def load_or_exit(cls: type[S], prog: str, environ: Mapping[str, str] | None = None) -> S:
    """Load settings and configure logging, or print one line and exit 2."""
    try:
        settings = load(cls, environ)
    except ConfigError as err:
        print(f"{prog}: configuration error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    setup_logging(settings.log_level, settings.log_format, secrets_of(settings))
    return settings
