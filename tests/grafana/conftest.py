"""InfluxDB 1.6 filled through the real pipeline: Node-RED flows → Mosquitto → mathnotes-ingest → InfluxDB,
plus vision requests made through the notes-camera flow (→ mathnotes-vision → the fake model)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import requests

from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.servers import InfluxDB1, Mosquitto

from ..nodered.harness import Suite, start_suite
from ..nodered.mqtt import publish
from ..nodered.support import png_bytes


@pytest.fixture(scope="module")
def filled(
    tmp_path_factory: pytest.TempPathFactory, mosquitto: Mosquitto, influxdb: InfluxDB1, fake_model: FakeOpenAI
) -> Iterator[Suite]:
    """The running suite; the tests poll InfluxDB until the pipeline has delivered what each panel needs.

    Vision gets four uploads through the notes-camera flow: two pages, one repeat (a cache hit) and one the
    model fails on (a 502 after vision's retries): every vision panel has something to show.
    """
    db = "gf" + uuid.uuid4().hex[:8]
    suite = start_suite(tmp_path_factory.mktemp("grafana-suite"), mosquitto, influxdb, fake_model.base_url, db)
    try:
        fake_model.reset()
        fake_model.default = Reply(content="# Page\n\n$$\\int_0^1 x\\,dx = \\tfrac12$$")
        upload = suite.red.url + "/notes/upload"
        for text in ("page one", "page two", "page one"):  # the repeat is answered from the cache
            resp = requests.post(upload, files={"file": ("p.png", png_bytes(text), "image/png")}, timeout=60)
            assert resp.status_code == 200, resp.text
        fake_model.default = Reply(status=500, body={"error": {"message": "upstream down"}})  # every retry fails
        resp = requests.post(upload, files={"file": ("q.png", png_bytes("page three"), "image/png")}, timeout=60)
        assert resp.status_code == 502, resp.text
        fake_model.reset()
        # one message the ingest service must dead-letter (rejections by reason)
        publish(mosquitto, [(f"telemetry/{suite.sites[0]}/broken-01/temperature", "{not json")])
        # and a threshold crossing, so the alert panels have something even without a random spike
        publish(mosquitto, [(f"telemetry/{suite.sites[1]}/env-01/co2", "1900")])
        yield suite
    finally:
        suite.stop()
