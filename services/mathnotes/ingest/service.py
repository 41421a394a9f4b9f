"""The ingest service's parts wired together: consumer, pipeline, spool, writer, metrics, self-telemetry.

``IngestService(settings)`` builds everything without starting anything;
``start()`` connects to the broker and starts the writer thread; ``stop()``
(SIGTERM) stops intake, flushes every queued batch to InfluxDB or the spool,
acknowledges, and disconnects. HTTP handlers call :meth:`ingest` with parsed
points and get back the outcome once the points are written or spooled.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from typing import Any, Protocol

from ..common.telemetry import TelemetryPublisher
from . import influx
from .consumer import Consumer
from .errors import Busy
from .items import DeadLetter, Item
from .metrics import IngestMetrics
from .parse import ParseOptions
from .pipeline import Pipeline
from .selftelemetry import SelfTelemetry
from .settings import IngestSettings
from .spool import Spool
from .topics import TopicTemplate
from .workers import Workers

__all__ = ["EXTENSION", "WATCHDOG_EXIT", "IngestService"]

log = logging.getLogger("mathnotes.ingest")
HTTP_WAIT_S = 60.0
WATCHDOG_EXIT = 70  # EX_SOFTWARE: the exit code after the watchdog stopped a stalled service
EXTENSION = "ingest"  # where an HTTP app keeps the service it serves: app.extensions[EXTENSION]


class _App(Protocol):
    extensions: dict[str, Any]


class IngestService:
    def __init__(
        self, settings: IngestSettings, writer: influx.Writer | None = None, consumer: Consumer | None = None
    ) -> None:
        """Everything from ``settings``; ``writer`` (to InfluxDB) and ``consumer`` (of the broker) when not given."""
        self.settings = settings
        self.metrics = IngestMetrics()
        self.opts = ParseOptions(
            TopicTemplate(settings.topic_template), frozenset(settings.int_fields), settings.mqtt_payload_measurement
        )
        self.writer = writer or influx.make_writer(settings)
        self.spool = Spool(settings.spool_dir, int(settings.spool_max_mb * 1024 * 1024))
        self.workers = Workers(settings.worker_stall_s)
        self.workers.watch("writer", lambda: self.pipeline.thread)
        self.workers.watch("parser", lambda: self.consumer.parser)
        self.pipeline = Pipeline(
            self.writer,
            self.spool,
            self.metrics,
            self._publish_dead,
            self._acknowledge,
            batch_size=settings.batch_size,
            flush_interval=settings.flush_ms / 1000,
            window=settings.receive_maximum,
            spool_after=settings.spool_after_s,
            max_queued_lines=max(10 * settings.batch_size, 50_000),
            beat=self.workers.beater("writer"),
        )
        self.consumer = consumer or Consumer(settings)
        self.consumer.bind(self.pipeline, self.opts, self.metrics, self.workers.beater("parser"))
        self.workers.watch("mqtt", self.consumer.network_thread, beats=False)
        publisher = TelemetryPublisher(
            settings.mqtt, ca_file=settings.mqtt_ca_file, maxsize=10, name="ingest-telemetry"
        )
        self.telemetry = SelfTelemetry(self.metrics, publisher, settings.site, settings.stats_interval_s)
        if settings.stats_interval_s > 0:
            self.workers.watch("telemetry", lambda: self.telemetry.thread, beats=False)
            self.workers.watch("telemetry-publisher", lambda: publisher.thread, beats=False)
        self._started = False
        self._stopped = threading.Event()
        self._ping_cache: tuple[float, bool] = (0.0, False)
        self.watchdog_fired = threading.Event()

    def start(self) -> None:
        self.pipeline.start()
        self.consumer.start()
        self.telemetry.start()
        self._started = True
        if self.settings.worker_exit_s > 0:
            threading.Thread(target=self._watchdog, name="ingest-watchdog", daemon=True).start()
        log.info(
            "ingest started",
            extra={"topics": list(self.consumer.filters()), "influx_api": self.settings.influx_api},
        )

    def stop(self) -> None:
        """Drain: stop intake, flush everything to InfluxDB or the spool, ack, disconnect."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self.telemetry.stop()
        if self._started:
            self.consumer.stop_intake()
            self.pipeline.stop()
            self.consumer.close()
        self.writer.close()
        log.info("ingest drained", extra={"spool_batches": self.spool.depth})

    @staticmethod
    def of(app: _App) -> IngestService:
        """The service an HTTP app serves (``app.extensions[EXTENSION]``)."""
        service: IngestService = app.extensions[EXTENSION]
        return service

    # --- HTTP intake ----------------------------------------------------------------------

    def ingest(self, lines: list[str]) -> tuple[str, list[tuple[int, str]]]:
        """Queue line-protocol ``lines`` and wait until they are written or spooled.

        Returns the outcome (``written`` or ``spooled``) and the lines InfluxDB refused, as
        ``(index in lines, InfluxDB's reason)``; the others were written.
        """
        if not self._started or self._stopped.is_set():
            raise Busy("the service is not running", 5)
        if self.spool.depth and self.spool.bytes >= 0.9 * self.spool.max_bytes:
            raise Busy("InfluxDB is unavailable and the disk spool is full", 30)
        if self.pipeline.pending_lines() >= self.pipeline.max_queued_lines:
            raise Busy("the write queue is full", 1)
        self.metrics.received.labels("http").inc(len(lines))
        done = threading.Event()
        item = Item(lines=lines, done=done, topic="http")
        if not self.pipeline.submit(item):
            raise Busy("the write queue is full and the disk spool unwritable", 5)
        if not done.wait(HTTP_WAIT_S):
            raise Busy("the write did not finish in time; it is still queued", 5)
        return item.outcome, sorted(item.refused)

    # --- dead letters ---------------------------------------------------------------------

    def _publish_dead(self, letter: DeadLetter) -> None:
        self.consumer.publish_dead(letter)

    def _acknowledge(self, items: list[Item]) -> None:
        self.consumer.acknowledge(items)

    # --- health -----------------------------------------------------------------------------

    def _watchdog(self) -> None:
        """Stop the process (SIGTERM to itself: the normal drain) once a worker stalled INGEST_WORKER_EXIT_S."""
        while not self._stopped.wait(1.0):
            try:
                stalled_s, names = self.workers.failing_for()
            except Exception:  # never let the watchdog itself die quietly
                log.exception("watchdog check failed")
                continue
            if stalled_s >= self.settings.worker_exit_s:
                log.error(
                    "worker threads stalled too long: draining and exiting so the container is restarted",
                    extra={"workers": names, "stalled_s": round(stalled_s, 1), "exit_code": WATCHDOG_EXIT},
                )
                self.watchdog_fired.set()
                os.kill(os.getpid(), signal.SIGTERM)
                return

    def influx_reachable(self) -> bool:
        at, ok = self._ping_cache
        if time.monotonic() - at > 2.0:
            ok = self.writer.ping()
            self._ping_cache = (time.monotonic(), ok)
        return ok
