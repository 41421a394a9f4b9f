"""Open WebUI fixtures: the real vision service the tools call (the tools are loaded by ``tools.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.fake_openai import FakeOpenAI
from tests.support.servers import ServiceProcess

from .tools import VISION_KEY


@pytest.fixture(scope="module")
def vision(tmp_path_factory: pytest.TempPathFactory, fake_model: FakeOpenAI) -> Iterator[ServiceProcess]:
    workdir = tmp_path_factory.mktemp("vision-owui")
    env = {
        "DASHSCOPE_API_KEY": "sk-owui-tests",
        "DASHSCOPE_BASE_URL": fake_model.base_url, "VISION_API_KEYS": VISION_KEY, "VISION_TELEMETRY": "false",
        "VISION_WORKERS": "1", "VISION_THREADS": "8", "VISION_RETRIES": "0", "VISION_CACHE_ENTRIES": "0",
        "RATE_LIMIT_MAX_REQUESTS": "100000", "VISION_STATE_DIR": str(workdir / "state"),
        "VISION_FETCH_ALLOW_NETWORKS": "127.0.0.0/8",
    }  # fmt: skip
    proc = ServiceProcess.on_free_port("mathnotes-vision", workdir, env)
    proc.start()
    yield proc
    proc.stop()
