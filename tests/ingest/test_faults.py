"""No loss under faults, counted exactly: InfluxDB down 30 s, ingest SIGKILLed, broker restarted.

Every test streams QoS 1 messages that carry their own timestamps (one point each, unique),
breaks something in the middle, and counts the points in InfluxDB afterwards: exactly the
number published. Redelivered duplicates land on the same measurement+tags+timestamp, so they
overwrite themselves and the count stays exact. (Messages without a timestamp get the receive
time, so a redelivered one becomes a second point: the count is then at least the number sent,
which the SIGKILL test shows too.)
"""

from __future__ import annotations

import json
import signal
import threading
import time
import uuid

import paho.mqtt.client as mqtt
import requests

from tests.support.servers import InfluxDB1, Mosquitto, wait_until

from .helpers import BASE_NS, OwnBroker, StartIngest, metric

# Unbounded broker queues for the session while ingest is away (Mosquitto's default keeps 1,000 messages).
BIG_QUEUES = "max_inflight_messages 1000\nmax_queued_messages 0\nmax_queued_bytes 0\n"


class Stream:
    """Publish ``count`` QoS 1 messages at ``rate``/s in a thread, riding out broker restarts.

    The publisher keeps a persistent session, so paho resends whatever the broker had not
    acknowledged when it went away.
    """

    def __init__(self, broker: Mosquitto, topic: str, count: int, rate: float, with_ts: bool = True) -> None:
        self.topic, self.count, self.rate, self.with_ts = topic, count, rate, with_ts
        self.sent = 0
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"stream-{uuid.uuid4().hex[:8]}", clean_session=False
        )
        self.client.max_inflight_messages_set(100)
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(0.2, 1)
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        self.infos: list[mqtt.MQTTMessageInfo] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def payload(self, seq: int) -> bytes:
        if self.with_ts:
            return json.dumps({"ts": BASE_NS + seq * 1000, "fields": {"seq": seq}}).encode()
        return str(seq).encode()

    def _run(self) -> None:
        started = time.monotonic()
        for seq in range(self.count):
            delay = started + seq / self.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            wait_until(self.client.is_connected, 60, 0.01)  # a device holds its data while the broker is away
            self.infos.append(self.client.publish(self.topic, self.payload(seq), qos=1))
            self.sent = seq + 1

    def wait_sent(self, n: int, timeout: float = 120) -> None:
        assert wait_until(lambda: self.sent >= n, timeout)

    def finish(self, timeout: float = 120) -> None:
        self.thread.join(timeout)
        deadline = time.monotonic() + timeout
        for info in self.infos:  # in flight when the broker went away: paho resends it on reconnect
            assert wait_until(info.is_published, max(0.1, deadline - time.monotonic()), 0.01)
        self.client.loop_stop()
        self.client.disconnect()


def test_influxdb_down_for_30_seconds_mid_stream_loses_nothing(
    start_ingest: StartIngest, mosquitto: Mosquitto, own_influx: InfluxDB1
) -> None:
    ing = start_ingest({"INFLUX_URL": own_influx.url}, influx=own_influx)
    stream = Stream(mosquitto, f"telemetry/{ing.db}/dev/seq", count=4000, rate=100)
    stream.wait_sent(500)
    assert ing.wait_count("seq", 400) >= 400
    own_influx.stop()
    outage_started = time.monotonic()
    stream.wait_sent(2500)
    time.sleep(max(0.0, 30 - (time.monotonic() - outage_started)))  # the outage itself: the 30 s
    assert metric(ing.url, "ingest_spooled_batches_total") > 0
    assert requests.get(f"{ing.url}/health", timeout=5).status_code == 503
    own_influx.start()
    stream.finish()
    assert ing.wait_count("seq", 4000, timeout=60) == 4000
    assert wait_until(lambda: metric(ing.url, "ingest_spool_batches") == 0, 30)
    rows = own_influx.values('SELECT count("seq"), min("seq"), max("seq") FROM "seq"', ing.db)
    assert rows[0][1:] == [4000, 0, 3999]


def test_ingest_sigkilled_mid_stream_resumes_from_its_session(start_ingest: StartIngest, own_broker: OwnBroker) -> None:
    broker = own_broker(extra_conf=BIG_QUEUES)
    ing = start_ingest(broker=broker)
    stamped = Stream(broker, f"telemetry/{ing.db}/dev/stamped", count=3000, rate=300)
    bare = Stream(broker, f"telemetry/{ing.db}/dev/bare", count=3000, rate=300, with_ts=False)
    stamped.wait_sent(1000)
    ing.proc.kill()  # SIGKILL: whatever was received but not yet written is not acknowledged
    stamped.wait_sent(2000)
    before = ing.proc.log_text().count("session present: True")
    ing.proc.start()
    assert wait_until(lambda: ing.proc.log_text().count("session present: True") > before, 30)
    stamped.finish()
    bare.finish()
    assert ing.wait_count("stamped", 3000, timeout=60) == 3000
    rows = ing.influx.values('SELECT count("seq"), min("seq"), max("seq") FROM "stamped"', ing.db)
    assert rows[0][1:] == [3000, 0, 2999]
    # Receive-time points: nothing lost; a message redelivered after the kill may be a second point.
    assert ing.wait_count("bare", 3000, timeout=60) >= 3000
    values = {row[1] for row in ing.influx.values('SELECT "value" FROM "bare"', ing.db)}
    assert values == {float(i) for i in range(3000)}


def test_broker_restart_with_persistence_loses_nothing(start_ingest: StartIngest, own_broker: OwnBroker) -> None:
    broker = own_broker(persistence=True, extra_conf=BIG_QUEUES)
    ing = start_ingest(broker=broker)
    stream = Stream(broker, f"telemetry/{ing.db}/dev/seq", count=3000, rate=300)
    stream.wait_sent(1200)
    broker.stop()  # SIGTERM: Mosquitto saves its persistence file
    time.sleep(2)  # the broker stays down a while: an outage, not a wait for something
    broker.start()
    stream.finish()
    assert ing.wait_count("seq", 3000, timeout=90) == 3000
    rows = ing.influx.values('SELECT count("seq"), min("seq"), max("seq") FROM "seq"', ing.db)
    assert rows[0][1:] == [3000, 0, 2999]
    assert ing.proc.log_text().count("connected to") >= 2


def test_sigterm_mid_stream_drains_then_the_next_run_resumes(start_ingest: StartIngest, own_broker: OwnBroker) -> None:
    broker = own_broker(extra_conf=BIG_QUEUES)
    ing = start_ingest(broker=broker)
    stream = Stream(broker, f"telemetry/{ing.db}/dev/seq", count=2000, rate=400)
    stream.wait_sent(800)
    ing.proc.send_signal(signal.SIGTERM)
    assert ing.proc.wait(30) == 0
    drained = [json.loads(line) for line in ing.proc.log_text().splitlines() if '"ingest drained"' in line]
    assert drained and drained[-1]["spool_batches"] == 0
    written_before_restart = ing.count("seq")
    assert written_before_restart >= 800 - 400  # what was received before the signal was flushed
    ing.proc.start()
    stream.finish()
    assert ing.wait_count("seq", 2000, timeout=60) == 2000
