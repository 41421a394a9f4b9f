"""The notes library inside the vision service: built from the settings, fed by analyze, watched by /health.

:func:`notes_config` maps :class:`~.settings.VisionSettings` onto the library's
:class:`~mathnotes.notes.db.NotesConfig` (the embedding endpoint and key fall back to the model's).
:class:`Notekeeper` owns the :class:`~mathnotes.notes.library.Library` of one process (its writer
thread) and a one-thread thumbnailer: the page sent upstream is handed to it as soon as it is
prepared, so its thumbnail (:func:`~.thumbnail.thumbnail`, ~15 ms) is made while the model reads the
page, not after. :meth:`Notekeeper.save` queues the answer as a note (the library never blocks on its
database) and gives back its id. No HTTP framework here.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from PIL import Image

from ..notes.db import NotesConfig, open_database
from ..notes.exchange import Rules
from ..notes.library import Library
from ..notes.migrate import migrate
from ..notes.model import owner_of
from .inputs import MAX_TAG_CHARS, MAX_TAGS, MAX_TITLE_CHARS, SOURCES, AnalyzeRequest
from .metrics import VisionMetrics
from .prompts import LANGUAGES, TASKS
from .settings import VisionSettings
from .thumbnail import thumbnail, thumbnail_of

__all__ = ["Notekeeper", "Thumbnail", "migrate_library", "notes_config", "settle"]

log = logging.getLogger("mathnotes.vision")

Thumbnail = Future[bytes | None]  # the thumbnail of a page, being made
THUMBNAIL_WAIT_S = 2.0  # at save time, the longest wait for a thumbnail not made yet (then: no image)
SETTLE_S = 10.0  # how long a short-lived process waits for its notes to be written (see settle)

RULES = Rules(  # what an imported note may hold: what analyze accepts
    max_title_chars=MAX_TITLE_CHARS,
    max_tags=MAX_TAGS,
    max_tag_chars=MAX_TAG_CHARS,
    sources=SOURCES,
    tasks=TASKS,
    languages=LANGUAGES,
)


def notes_config(settings: VisionSettings) -> NotesConfig:
    """The library's configuration from the vision settings (NOTES_*, DATABASE_URL / DB_*, EMBEDDING_*)."""
    return NotesConfig(
        notes_dir=settings.notes_dir,
        keep_images=settings.notes_keep_images,
        image_max_bytes=settings.notes_image_max_bytes,
        queue_length=settings.notes_queue_length,
        queue_dir=settings.notes_queue_dir,
        queue_max_mb=settings.notes_queue_max_mb,
        db_wait_s=settings.notes_db_wait_s,
        database_url=settings.database_url,
        db_host=settings.db_host,
        db_port=settings.db_port,
        db_name=settings.db_name,
        db_user=settings.db_user,
        db_password=settings.db_password,
        embedding_model=settings.embedding_model,
        embedding_base_url=settings.embedding_url,
        embedding_api_key=settings.embedding_key,
        embedding_dimensions=settings.embedding_dimensions,
    )


def migrate_library(settings: VisionSettings) -> tuple[str, int]:
    """Wait for the notes database (NOTES_DB_WAIT_S), bring its schema up to date: (where, version).

    Raises :class:`~mathnotes.notes.migrate.MigrationError` (one line) when it cannot.
    """
    db = open_database(notes_config(settings))
    try:
        return db.where, migrate(db, settings.notes_db_wait_s)
    finally:
        db.close()


def settle(library: Library, timeout_s: float = SETTLE_S) -> int:
    """Wait (at most ``timeout_s``) until the library's writer has written what waits in its queues (memory and
    disk); the notes still waiting. A short-lived process (the CLI) calls it so that what it saved, or what an
    earlier run left on the disk queue, is in the database before it reads or exits."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            left = library.queue.depth()
        except Exception:  # the disk queue unreadable: nothing to wait for
            return 0
        if left == 0 or time.monotonic() >= deadline or not library.queue.alive:
            return left
        time.sleep(0.05)


def done(value: bytes | None) -> Thumbnail:
    """A thumbnail already made (the OCR backend's, made from the page it decoded anyway)."""
    future: Thumbnail = Future()
    future.set_result(value)
    return future


class Notekeeper:
    def __init__(self, settings: VisionSettings, metrics: VisionMetrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.library = Library(notes_config(settings), rules=RULES, on_saved=self._saved)
        self._thumbnailer = ThreadPoolExecutor(1, thread_name_prefix="notes-thumbnail")

    def start(self, migrate: bool = True) -> None:
        """Start the writer thread (in the process that serves); ``migrate`` first (bounded wait, MigrationError).

        Without ``migrate`` (a gunicorn worker: its master migrated before forking) the database is not
        touched here, so a worker starts even while the database is away; its notes wait in the queue.
        """
        if migrate:
            self.library.start()
        else:
            self.library.queue.start()

    def close(self) -> None:
        self._thumbnailer.shutdown(wait=False, cancel_futures=True)
        self.library.close()

    def _saved(self, result: str, n: int) -> None:
        self.metrics.notes_saved.labels(result=result).inc(n)

    # --- analyze ---------------------------------------------------------------------------------------

    def keeps_page(self, req: AnalyzeRequest) -> bool:
        """Whether this request's note keeps a thumbnail of the page."""
        s = self.settings
        return s.notes_keep_images and req.save and req.keep_image

    def thumbnail_later(self, page: bytes | Image.Image) -> Thumbnail:
        """Start making the thumbnail of the page: the bytes sent upstream (JPEG or PNG) or the picture the
        OCR engine reads (not changed); collect it at save time."""
        side, most = self.settings.notes_image_max_side, self.settings.notes_image_max_bytes
        try:
            if isinstance(page, bytes):
                return self._thumbnailer.submit(thumbnail, page, side, most)
            return self._thumbnailer.submit(thumbnail_of, page, side, most)
        except RuntimeError:  # shut down: the service is stopping
            return done(None)

    def save(self, req: AnalyzeRequest, answer: dict[str, Any], key: str | None, image: Thumbnail | None) -> str | None:
        """Queue ``answer`` as a note of the caller (``key``: its key, None with no keys); its id, or None.

        Never raises and never waits on the database; a thumbnail not made within THUMBNAIL_WAIT_S is left out.
        """
        if not req.save:
            return None
        jpeg = None
        if image is not None and self.keeps_page(req):
            try:
                jpeg = image.result(timeout=THUMBNAIL_WAIT_S)
            except FutureTimeout:
                log.warning("notes: the page's thumbnail was not ready in %s s; the note has none", THUMBNAIL_WAIT_S)
            except Exception:
                log.exception("notes: the page's thumbnail failed; the note has none")
        owner = owner_of(key)
        return self.library.save(answer, owner, source=req.source, title=req.title, tags=req.tags, image_jpeg=jpeg)

    # --- health ------------------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """``{"writer": bool, "database": bool, "queue_depth": int, "backend": "sqlite"|"postgres"}``.

        Also sets ``vision_notes_queue_depth`` (read here, not on every save: the analyze path stays short).
        """
        try:
            report = self.library.health()
        except Exception as err:  # the disk queue unreadable: say so, keep serving
            log.error("notes: health unreadable: %s", err)
            report = {"writer": self.library.queue.alive, "database": False, "queue_depth": -1}
        self.metrics.notes_queue_depth.set(max(0, report["queue_depth"]))
        return {**report, "backend": self.library.db.kind}
