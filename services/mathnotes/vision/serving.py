"""The production server: gunicorn with threads (gthread), configured here from the settings.

One worker with ``VISION_THREADS`` threads (96) holds 64 concurrent 1-second model
calls with room for /health, /metrics and streams; the work per request is mostly
waiting on the model, and Pillow releases the GIL while it decodes and resizes.
More workers (``VISION_WORKERS``) multiply that; give them ``REDIS_URL`` so the cache
and rate limits are shared (and note each worker keeps its own /metrics).
SIGTERM: gunicorn stops accepting, lets requests finish within
``VISION_GRACEFUL_TIMEOUT_S``, the worker flushes its telemetry queue, exit 0.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
from types import FrameType
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger

from .app import create_app
from .budget import return_freed_memory
from .settings import VisionSettings
from .state import EXTENSION, VisionState

__all__ = ["VisionServer", "gunicorn_options"]


class _RootLogger(Logger):
    """gunicorn's messages through our structured root handler; no access log (we log each request)."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            log.handlers[:] = []
            log.propagate = True
        self.access_log.disabled = True


def _worker_exit(_server: Any, worker: Any) -> None:
    app = getattr(worker, "wsgi", None)
    state = app.extensions.get(EXTENSION) if isinstance(app, Flask) else None
    if isinstance(state, VisionState):
        state.close()


_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)


def _post_fork(server: Any, worker: Any) -> None:
    """Keep a stop signal that lands while a worker boots.

    Until the worker installs its own handlers it runs the master's copied
    handler, which only queues the signal in the child's copy of the master's
    queue, so a SIGTERM sent just after start was lost and the worker ran on
    until the graceful timeout killed it. Here the child looks at that queue
    and listens itself until gunicorn's handlers take over.
    """

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        worker.alive = False

    for sig in _STOP_SIGNALS:
        signal.signal(sig, _stop)
    pending = getattr(server, "SIG_QUEUE", None)
    while pending is not None:
        try:
            sig = pending.get_nowait()
        except queue.Empty:
            break
        if sig in _STOP_SIGNALS:
            worker.alive = False


def _child_exit(_server: Any, worker: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def _hooks(settings: VisionSettings) -> dict[str, Any]:
    log = logging.getLogger("mathnotes.common.wsgi")
    url = f"http://{settings.host}:{settings.port}"

    def when_ready(_server: Any) -> None:
        log.info(
            "mathnotes-vision listening on %s (%d workers x %d threads)",
            url,
            settings.workers,
            settings.threads,
            extra={"port": settings.port},
        )

    def on_exit(_server: Any) -> None:
        log.info("mathnotes-vision stopped")

    return {"when_ready": when_ready, "on_exit": on_exit}


def gunicorn_options(settings: VisionSettings) -> dict[str, Any]:
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    return {
        "bind": f"{host}:{settings.port}",
        "worker_class": "gthread",
        "workers": settings.workers,
        "threads": settings.threads,
        "worker_connections": max(1000, settings.threads * 4),
        "backlog": 2048,
        "keepalive": 5,
        "timeout": int(settings.total_timeout_s + settings.fetch_timeout_s + 30),
        "graceful_timeout": settings.graceful_timeout_s,
        "limit_request_line": 8190,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": settings.log_level,
        "logger_class": _RootLogger,
        "proc_name": "mathnotes-vision",
        "control_socket_disable": True,
        "post_fork": _post_fork,
        "worker_exit": _worker_exit,
        "child_exit": _child_exit,
        "worker_tmp_dir": "/dev/shm",  # noqa: S108 (heartbeat files in RAM, not on a slow disk)
        **_hooks(settings),
    }


class VisionServer(BaseApplication):
    def __init__(self, settings: VisionSettings) -> None:
        self.settings = settings
        return_freed_memory()  # before any worker forks (see budget.py)
        super().__init__()

    def load_config(self) -> None:
        for key, value in gunicorn_options(self.settings).items():
            if key in self.cfg.settings:
                self.cfg.set(key, value)

    def load(self) -> Flask:
        logging.getLogger("mathnotes.vision").debug("worker loading the app")
        return create_app(self.settings, migrate=False)  # the master migrated before forking (cli.main)
