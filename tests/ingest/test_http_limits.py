"""Hostile HTTP bodies over real HTTP to a real ``mathnotes-ingest``: bounded memory, precise answers, drain.

Peak memory is the kernel's high-water mark (``VmHWM``) of the service's process tree, so the
figure does not depend on sampling or timing. The container's limit is 160 MB
(``docker-compose.prod.yml``); the budget asserted here leaves 32 MB of that free.
"""

from __future__ import annotations

import json
import signal
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import requests

from tests.support.servers import InfluxDB1, wait_until

from ..procfs import tree_kb
from .helpers import StartIngest, metric

BUDGET_MB = 128
MiB = 1024 * 1024


def hostile_bodies() -> Iterator[tuple[str, bytes, str, int, str]]:
    """(name, body, content type, expected status, expected error code) just under 1 MiB each."""
    bad = json.dumps({"measurement": "m", "fields": {"v": None}})
    yield "bad items", ("[" + ",".join([bad] * 19_000) + "]").encode(), "application/json", 400, "rejected"
    yield "empty objects", ("[" + ",".join(["{}"] * 340_000) + "]").encode(), "application/json", 413, "too_many_items"
    nested = '{"measurement":"m","fields":{"x":[' + ",".join(["{}"] * 340_000) + "]}}"
    yield "one huge item", nested.encode(), "application/json", 400, "rejected"
    yield "deep nesting", b"[" * (MiB - 10), "application/json", 400, "invalid_json"
    lines = "\n".join(f"m v={i} {i}" for i in range(60_000))[: MiB - 100]
    yield "many lines", lines.encode(), "text/plain", 413, "too_many_items"
    yield "over the limit", b"x" * (MiB + 1000), "text/plain", 413, "payload_too_large"


def test_hostile_bodies_get_precise_answers_within_the_memory_budget(start_ingest: StartIngest) -> None:
    ing = start_ingest()
    url = f"{ing.url}/api/ingest"
    cases = list(hostile_bodies())

    def send(case: tuple[str, bytes, str, int, str]) -> tuple[str, int, str, int]:
        name, body, kind, _status, _code = case
        resp = requests.post(url, data=body, headers={"Content-Type": kind}, timeout=120)
        return name, resp.status_code, resp.json()["error"]["code"], len(resp.content)

    with ThreadPoolExecutor(16) as pool:  # four of each at once, against INGEST_HTTP_THREADS=4
        answers = list(pool.map(send, cases * 4))
    expected = {name: (status, code) for name, _b, _k, status, code in cases}
    for name, status, code, size in answers:
        assert (status, code) == expected[name], name
        assert size < 64 * 1024, (name, size)  # a capped list, not 27 MB of errors

    resp = requests.post(url, data=cases[0][1], headers={"Content-Type": "application/json"}, timeout=60)
    details = resp.json()["error"]["details"]
    assert len(details) == 101 and details[0]["index"] == 0 and details[0]["reason"] == "schema"
    assert details[-1]["reason"] == "more" and details[-1]["count"] == 19_000 - 100
    assert "19000 of 19000 items" in resp.json()["error"]["message"]
    huge = requests.post(url, data=cases[2][1], headers={"Content-Type": "application/json"}, timeout=60)
    assert len(huge.json()["error"]["details"][0]["detail"]) <= 300

    # a chunked body (no Content-Length) over the limit, and one far over it (refused unread)
    chunks = (b"x" * 65536 for _ in range(24))  # 1.5 MiB
    chunked = requests.post(url, data=chunks, headers={"Content-Type": "text/plain"}, timeout=60)
    assert chunked.status_code == 413 and chunked.json()["error"]["code"] == "payload_too_large"
    far = requests.post(url, data=b"x" * (3 * MiB), headers={"Content-Type": "text/plain"}, timeout=60)
    assert far.status_code == 413

    peak = tree_kb(ing.proc.proc.pid, "VmHWM") / 1024  # type: ignore[union-attr]
    assert peak < BUDGET_MB, f"peak RSS {peak:.0f} MB"
    print(f"peak RSS after hostile bodies: {peak:.1f} MB")

    good = [{"measurement": "ok", "ts": 1_700_000_000 + i, "fields": {"v": i}} for i in range(9000)]
    written = requests.post(url, json=good, timeout=60)  # ~0.5 MB: the service still serves, in full
    assert written.status_code == 202 and written.json() == {"accepted": 9000, "outcome": "written"}
    assert ing.count("ok") == 9000


def test_sigterm_finishes_the_request_in_flight_then_exits(start_ingest: StartIngest, own_influx: InfluxDB1) -> None:
    ing = start_ingest({"INFLUX_URL": own_influx.url, "INGEST_SPOOL_AFTER_S": "10"}, influx=own_influx)
    own_influx.stop()  # the write retries for INGEST_SPOOL_AFTER_S, then lands in the spool
    answer: dict[str, object] = {}
    body = "\n".join(f"drain v={i} {1_700_000_000_000_000_000 + i}" for i in range(100))

    def post() -> None:
        resp = requests.post(f"{ing.url}/api/ingest", data=body, timeout=60)
        answer.update(status=resp.status_code, body=resp.json())

    sender = threading.Thread(target=post)
    sender.start()
    assert wait_until(lambda: metric(ing.url, 'ingest_messages_received_total{source="http"}') == 100, 10)
    ing.proc.send_signal(signal.SIGTERM)

    def refused() -> bool:
        try:
            socket.create_connection(("127.0.0.1", int(ing.url.rsplit(":", 1)[1])), timeout=1).close()
        except ConnectionRefusedError:
            return True
        return False

    assert wait_until(refused, 5)  # no new connections while the request in flight is finished
    sender.join(60)
    assert answer == {"status": 202, "body": {"accepted": 100, "outcome": "spooled"}}
    assert ing.proc.wait(60) == 0
    assert '"ingest drained"' in ing.proc.log_text()
    own_influx.start()
    ing.proc.start()  # the next run replays the spool
    assert ing.wait_count("drain", 100) == 100
