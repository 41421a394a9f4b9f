"""``mathnotes-ingest``: consume MQTT telemetry and serve the ingest API until SIGTERM, then drain."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from ..common.bootstrap import load_or_exit
from ..common.wsgi import serve
from .app import create_app
from .service import WATCHDOG_EXIT, IngestService
from .settings import IngestSettings

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mathnotes-ingest", description=__doc__)
    parser.parse_args(argv)
    settings = load_or_exit(IngestSettings, "mathnotes-ingest")
    service = IngestService(settings)
    service.start()
    serve(
        create_app(settings, service),
        settings.host,
        settings.port,
        name="mathnotes-ingest",
        on_stop=[service.stop],
        threads=settings.http_threads,
        connection_limit=settings.http_connections,
        max_body_bytes=settings.max_body_bytes,
    )
    return WATCHDOG_EXIT if service.watchdog_fired.is_set() else 0
