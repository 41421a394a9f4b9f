"""Node-RED fixtures: the whole suite (every flow + real ingest + real vision) once per module, a webhook."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.support.fake_openai import FakeOpenAI
from tests.support.servers import InfluxDB1, Mosquitto

from .harness import Suite, start_suite
from .support import WEBHOOK_TOKEN, Webhook


@pytest.fixture(scope="module")
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.stop()


@pytest.fixture(scope="module")
def suite(
    tmp_path_factory: pytest.TempPathFactory,
    mosquitto: Mosquitto,
    influxdb: InfluxDB1,
    fake_model: FakeOpenAI,
    webhook: Webhook,
) -> Iterator[Suite]:
    db = "nr" + uuid.uuid4().hex[:8]
    running = start_suite(
        tmp_path_factory.mktemp("suite"),
        mosquitto,
        influxdb,
        fake_model.base_url,
        db,
        {"N8N_ALERT_WEBHOOK_URL": webhook.url, "N8N_ALERT_WEBHOOK_TOKEN": WEBHOOK_TOKEN},
    )
    yield running
    running.stop()
