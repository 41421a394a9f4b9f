"""The vision service's parts, built once per app from the settings: what the blueprints find.

:func:`build_state` makes the metrics, the notes library (:class:`~.notekeeper.Notekeeper`), the rate
limiter, the answer cache, the model client (given its metrics when it is built), the analyzer, the
telemetry publisher and the request accounting.
The app keeps the result in ``app.extensions["vision"]``; a blueprint's view reads it back with
``VisionState.of(current_app)``. No HTTP framework here.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Protocol

from .accounting import Accounting
from .analyzer import Analyzer
from .cache import make_cache
from .metrics import VisionMetrics
from .notekeeper import Notekeeper
from .ocr import OcrEngine
from .ratelimit import Limiter, make_limiter
from .settings import VisionSettings
from .telemetry import Telemetry
from .upstream import Upstream

__all__ = ["EXTENSION", "VisionState", "build_state"]

EXTENSION = "vision"  # the key in app.extensions


class _HasExtensions(Protocol):
    extensions: dict[str, Any]


@dataclass
class VisionState:
    settings: VisionSettings
    metrics: VisionMetrics
    limiter: Limiter | None
    analyzer: Analyzer
    telemetry: Telemetry | None
    accounting: Accounting
    notes: Notekeeper | None = None  # the notes library (NOTES_ENABLED)

    @classmethod
    def of(cls, app: _HasExtensions) -> VisionState:
        """The state an app was built with (``current_app`` in a view)."""
        state = app.extensions[EXTENSION]
        assert isinstance(state, cls)
        return state

    def close(self) -> None:
        if self.telemetry is not None:
            self.telemetry.stop()
        if self.notes is not None:
            self.notes.close()  # what waits in memory is written, or put on the disk queue


def build_state(
    settings: VisionSettings,
    *,
    metrics: VisionMetrics | None = None,
    upstream: Upstream | None = None,
    ocr: OcrEngine | None = None,
    migrate: bool = True,
) -> VisionState:
    """Every part, started (telemetry's thread, the notes writer; the OCR models load in the background).

    With ``NOTES_ENABLED`` the notes library is built and its writer thread started; ``migrate`` first
    waits for its database (at most NOTES_DB_WAIT_S) and brings the schema up to date, raising
    :class:`~mathnotes.notes.migrate.MigrationError` when it cannot (a gunicorn worker passes False: its
    master migrated before forking).
    """
    metrics = metrics or VisionMetrics()
    notes = Notekeeper(settings, metrics) if settings.notes_enabled else None
    if notes is not None:
        try:
            notes.start(migrate=migrate)
        except BaseException:
            notes.close()
            raise
    limiter = (
        make_limiter(
            settings.redis_url, settings.rate_limit_max_requests, settings.rate_limit_window_ms, settings.state_dir
        )
        if settings.rate_limit_max_requests > 0
        else None
    )
    cache = make_cache(settings.redis_url, settings.cache_entries, settings.cache_ttl_s, settings.state_dir)
    analyzer = Analyzer(settings, metrics, cache, upstream=upstream, ocr=ocr, notes=notes)
    telemetry = (
        Telemetry(settings.mqtt, settings.site, metrics, settings.telemetry_queue, settings.mqtt_ca_file).start()
        if settings.telemetry
        else None
    )
    if analyzer.backend == "ocr":  # load the OCR models in the background, not on the first request
        # not a daemon: exiting while onnxruntime is mid-load could crash the worker instead of a clean exit
        threading.Thread(target=analyzer.ocr.ready, name="ocr-warmup", daemon=False).start()
    return VisionState(settings, metrics, limiter, analyzer, telemetry, Accounting(metrics, telemetry), notes)
