"""Shared state for more than one gunicorn worker, prepared in the master before anything forks.

With ``VISION_WORKERS`` > 1: Prometheus metrics go to a multiprocess folder (so
``/metrics`` sums every worker), large decodes take turns through one lock file
(:mod:`~mathnotes.vision.budget`) and, without ``REDIS_URL``, the cache and rate limits
go to one SQLite store. Both live in a private temporary folder removed at exit.
This module must run before ``prometheus_client`` is imported (it reads its
environment at import time), so it imports nothing heavy.
"""

from __future__ import annotations

import atexit
import dataclasses
import os
import shutil
import tempfile

from .budget import shared_lock_path
from .settings import VisionSettings

__all__ = ["prepare_workers"]


def prepare_workers(settings: VisionSettings) -> VisionSettings:
    if settings.workers <= 1:
        return settings
    folder = tempfile.mkdtemp(prefix="mathnotes-vision-")
    master = os.getpid()

    def _cleanup() -> None:
        if os.getpid() == master:  # workers inherit this handler; only the master removes the folder
            shutil.rmtree(folder, ignore_errors=True)

    atexit.register(_cleanup)
    metrics_dir = os.path.join(folder, "metrics")
    os.makedirs(metrics_dir)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    shared_lock_path(os.path.join(folder, "large-decode.lock"))  # one large decode at a time in all workers
    if not settings.redis_url and not settings.state_dir:
        settings = dataclasses.replace(settings, state_dir=folder)
    return settings
