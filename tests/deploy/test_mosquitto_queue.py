"""The broker's queues for an absent ingest service are bounded and fit the container, restart included.

A real Mosquitto on the shipped mosquitto.conf (``mosquitto_queue.queue_while_ingest_is_down``): both
ingest sessions offline, more QoS 1 telemetry than their bounds, a restart that reloads the saved queues,
then delivery. Three payload sizes: a typical 75-byte envelope (the message bound binds), 168 bytes (both
bounds at once: the most heap per session) and 1000 bytes (the byte bound binds).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .brokers import Broker, start_broker
from .mosquitto_queue import conf_value, container_limit_mib, expected_per_session, queue_while_ingest_is_down


@pytest.fixture
def fresh_broker(tmp_path: Path) -> Iterator[Broker]:
    """A broker of its own (docker/mosquitto's configuration), empty: the measurement changes and restarts it."""
    broker = start_broker(tmp_path)
    yield broker
    broker.stop()


def test_the_bounds_fit_the_container_on_paper() -> None:
    """memory_limit (heap) sits below the container's limit, and max_queued_bytes is set (not unlimited)."""
    assert 0 < conf_value("memory_limit") < container_limit_mib() * 2**20
    assert 0 < conf_value("max_queued_messages") and 0 < conf_value("max_queued_bytes")


@pytest.mark.parametrize("payload_bytes", [75, 168, 1000])
def test_an_ingest_outage_queues_up_to_the_bounds_and_no_further(fresh_broker: Broker, payload_bytes: int) -> None:
    run = queue_while_ingest_is_down(fresh_broker, payload_bytes)
    per_session = expected_per_session(payload_bytes)
    # every message up to a session's bound survives the restart; the rest was dropped by the broker
    assert run.kept == [per_session, per_session], run
    assert run.published > sum(run.kept) and run.drops_logged, run
    limit = container_limit_mib()
    heap_limit = conf_value("memory_limit") / 2**20
    for rss in (run.rss_queued_mib, run.rss_reload_peak_mib, run.rss_delivery_peak_mib):
        assert rss < limit, f"{rss} MiB RSS reaches the container's {limit} MiB: {run}"
    # the reload stays under memory_limit: past it the broker refuses to open its database and stops
    assert run.heap_queued_mib < heap_limit and run.heap_reload_peak_mib < heap_limit, run
