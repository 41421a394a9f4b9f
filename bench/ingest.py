"""Ingest benchmark: the real ``mathnotes-ingest`` between a real Mosquitto and a real InfluxDB 1.6.

Prints one JSON object:

* ``drain``: the broker holds the same backlog of N QoS 1 messages for four persistent
  sessions; each consumer is timed draining it: a bare paho subscriber (``raw_paho``, the
  ceiling the targets are set against), the same bare subscriber on the reader the service
  uses (``raw_fast``: ``mathnotes.ingest.mqttclient.FastClient``), ``mathnotes-ingest``
  (acknowledging only after InfluxDB accepted each batch, ``loss`` counted exactly) and a
  naive consumer writing one point per message in ``on_message`` (``naive``, a smaller backlog);
* ``mqtt5``: the same drain with ``INGEST_MQTT_PROTOCOL=5`` (paho's MQTT 5 property parsing costs more);
* ``shared``: the same drain split across two ingest processes by a shared subscription;
* ``window``: the same ingest drain with the broker's default ``max_inflight_messages 20``;
* ``latency``: publish-to-queryable p50/p99 at a fixed rate (1,000 msg/s);
* ``outage``: peak RSS of the ingest process while InfluxDB is down at 2,000 msg/s, the spool's
  peak size, and the loss once InfluxDB is back.

    .venv/bin/python -m bench.ingest            # short run (< 3 min)
    .venv/bin/python -m bench.ingest --full     # 100k backlog, 60 s latency run, 60 s outage
"""

from __future__ import annotations

import argparse
import calendar
import json
import statistics
import tempfile
import threading
import time
import uuid
from functools import partial
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import requests
from tests.support.servers import InfluxDB1, Mosquitto, ServiceProcess, wait_until

from mathnotes.ingest.mqttclient import FastClient

BROKER_CONF = "max_inflight_messages {inflight}\nmax_queued_messages 0\nmax_queued_bytes 0\n"


def envelope(seq: int, ts_ns: int) -> bytes:
    return json.dumps({"ts": ts_ns, "fields": {"seq": seq, "temp": 20.0 + seq % 10}}).encode()


def publish(broker: Mosquitto, topic: str, count: int, rate: float = 0.0, start_seq: int = 0) -> list[float]:
    """Publish ``count`` QoS 1 envelopes (paced to ``rate``/s when set); returns each publish time."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{uuid.uuid4().hex[:6]}")
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect(broker.host, broker.port)
    client.loop_start()
    sent: list[float] = []
    base = time.time_ns()
    started = time.perf_counter()
    infos = []
    for i in range(count):
        if rate:
            delay = started + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        seq = start_seq + i
        sent.append(time.time())
        infos.append(client.publish(topic, envelope(seq, base + seq * 1000), qos=1))
        if len(infos) > 5000:
            infos.pop(0).wait_for_publish(60)
    for info in infos:
        info.wait_for_publish(60)
    client.loop_stop()
    client.disconnect()
    return sent


def file_size(path: Path) -> int:
    """Size of a spool file, 0 if it was replayed and removed meanwhile."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def reconnected(proc: ServiceProcess, connects_before: int) -> bool:
    return proc.log_text().count("connected to") > connects_before


def connected_at(proc: ServiceProcess) -> float:
    """Wall-clock time of the process's latest broker connection, from its JSON log (ms resolution)."""
    line = [entry for entry in proc.log_text().splitlines() if '"connected to' in entry][-1]
    stamp = json.loads(line)["ts"]
    return calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S")) + float("0" + stamp[19:-1])


class RawSubscriber:
    """A bare paho QoS 1 subscriber with a persistent session: the ceiling (``fast``: on our reader)."""

    def __init__(self, broker: Mosquitto, topic: str, expected: int, fast: bool = False) -> None:
        self.broker, self.topic, self.expected = broker, topic, expected
        self.count = 0
        self.done = threading.Event()
        self.connected_at = 0.0
        cls = FastClient if fast else mqtt.Client
        self.client = cls(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-raw-{uuid.uuid4().hex[:6]}", clean_session=False
        )
        self.client.on_connect = lambda *_a: setattr(self, "connected_at", time.perf_counter())
        self.client.on_message = self._on_message

    def _on_message(self, *_a: Any) -> None:
        self.count += 1
        if self.count >= self.expected:
            self.done.set()

    def connect(self) -> None:
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *_a: subscribed.set()
        self.client.connect(self.broker.host, self.broker.port)
        self.client.loop_start()
        self.client.subscribe(self.topic, qos=1)
        subscribed.wait(10)

    def disconnect(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def drain(self) -> float:
        """Reconnect, receive the backlog waiting in the session, disconnect; the rate from connect."""
        self.count = 0
        self.done.clear()
        started = time.perf_counter()
        self.connect()
        self.done.wait(600)
        rate = self.expected / (time.perf_counter() - max(started, self.connected_at))
        self.disconnect()
        return rate


class NaiveSubscriber(RawSubscriber):
    """One InfluxDB write per message, in ``on_message``: what a first attempt looks like."""

    def __init__(self, broker: Mosquitto, topic: str, expected: int, influx: InfluxDB1, db: str) -> None:
        super().__init__(broker, topic, expected)
        self.influx, self.db = influx, db
        self.session = requests.Session()

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        data = json.loads(msg.payload)
        line = f"naive seq={float(data['fields']['seq'])} {data['ts']}"
        self.session.post(f"{self.influx.url}/write", params={"db": self.db}, data=line, timeout=30)
        super()._on_message()


class Bench:
    def __init__(self, workdir: Path, args: argparse.Namespace) -> None:
        self.dir, self.args = workdir, args
        self.influx = InfluxDB1(workdir / "influxdb")
        self.brokers: list[Mosquitto] = []
        self.procs: list[ServiceProcess] = []

    def broker(self, inflight: int) -> Mosquitto:
        broker = Mosquitto(self.dir / f"mosquitto-{inflight}", extra_conf=BROKER_CONF.format(inflight=inflight))
        broker.start()
        self.brokers.append(broker)
        return broker

    def ingest(
        self,
        broker: Mosquitto,
        db: str,
        client_id: str,
        name: str,
        protocol: str = "3.1.1",
        extra: dict[str, str] | None = None,
    ) -> ServiceProcess:
        env = {
            "MQTT_URL": broker.url,
            "INFLUX_URL": self.influx.url,
            "INFLUX_API": "v1",
            "INFLUX_BUCKET": db,
            "INGEST_CLIENT_ID": client_id,
            "INGEST_TOPICS": f"bench/{db}/#",
            "INGEST_TOPIC_TEMPLATE": "bench/{site}/{device}/{measurement}",
            "INGEST_SPOOL_DIR": str(self.dir / f"spool-{client_id}"),
            "INGEST_STATS_INTERVAL_S": "0",
            "INGEST_MQTT_PROTOCOL": protocol,
            "LOG_LEVEL": "info",
            **(extra or {}),
        }
        proc = ServiceProcess.on_free_port("mathnotes-ingest", self.dir / name, env)
        proc.start()
        wait_until(lambda: "connected to" in proc.log_text(), 20, 0.01)
        self.procs.append(proc)
        return proc

    def count(self, db: str, measurement: str = "m") -> int:
        rows = self.influx.values(f'SELECT count(seq) FROM "{measurement}"', db)
        return int(rows[0][1]) if rows else 0

    def has_at_least(self, db: str, n: int) -> bool:
        return self.count(db) >= n

    def close(self) -> None:
        for proc in self.procs:
            proc.stop()
        for broker in self.brokers:
            broker.stop()
        self.influx.stop()

    # --- phases ----------------------------------------------------------------------------

    def drain(
        self,
        inflight: int,
        backlog: int,
        naive_backlog: int,
        raw: bool,
        protocol: str = "3.1.1",
        rounds: int = 3,
    ) -> dict[str, Any]:
        """Alternate raw and ingest drains of the same backlog ``rounds`` times; medians resist a busy machine."""
        broker = self.broker(inflight)
        db = f"drain{inflight}_{protocol.replace('.', '')}"
        self.influx.create_database(db)
        topic = f"bench/{db}/dev/m"
        per_round = backlog // rounds
        out: dict[str, Any] = {
            "broker_max_inflight_messages": inflight,
            "mqtt": protocol,
            "messages": per_round * rounds,
            "rounds": rounds,
        }
        sub = RawSubscriber(broker, topic, per_round) if raw else None
        fast = RawSubscriber(broker, topic, per_round, fast=True) if raw else None
        naive = NaiveSubscriber(broker, topic, naive_backlog, self.influx, db) if naive_backlog else None
        for s in (sub, fast, naive):
            if s:
                s.connect()
                s.disconnect()
        proc = self.ingest(broker, db, f"bench-{db}", f"ingest-{db}", protocol)
        proc.stop()
        raw_rates: dict[RawSubscriber, list[float]] = {s: [] for s in (sub, fast) if s}
        ingest_rates = []
        for r in range(rounds):
            publish(broker, topic, per_round, start_seq=r * per_round)
            for s, rates in raw_rates.items():
                rates.append(s.drain())
            before = proc.log_text().count("connected to")
            proc.start()
            wait_until(partial(reconnected, proc, before), 20, 0.005)
            wait_until(partial(self.has_at_least, db, per_round * (r + 1)), 600, 0.05)
            ingest_rates.append(per_round / (time.time() - connected_at(proc)))  # draining starts at connect
            proc.stop()
        out["ingest_msgs_per_s"] = round(statistics.median(ingest_rates))
        out["ingest_rounds"] = [round(x) for x in ingest_rates]
        out["ingest_loss"] = per_round * rounds - self.count(db)
        for s, rates in raw_rates.items():
            name = "raw_fast" if s is fast else "raw"
            out[f"{name}_paho_msgs_per_s"] = round(statistics.median(rates))
            out[f"{name}_rounds"] = [round(x) for x in rates]
            ratios = [i / w for i, w in zip(ingest_rates, rates, strict=True)]
            out[f"ingest_vs_{name}"] = round(statistics.median(ratios), 3)
        if naive:
            out["naive_msgs_per_s"] = round(naive.drain())
            out["naive_messages"] = naive_backlog
        broker.stop()
        return out

    def shared(self, backlog: int, instances: int = 2) -> dict[str, Any]:
        """The same drain split across ``instances`` processes by an MQTT shared subscription."""
        broker = self.broker(1000)
        db = f"shared{instances}"
        self.influx.create_database(db)
        extra = {"INGEST_SHARED_GROUP": "bench"}
        procs = [self.ingest(broker, db, f"bench-{db}-{i}", f"ingest-{db}-{i}", extra=extra) for i in range(instances)]
        for proc in procs:
            proc.stop()
        publish(broker, f"bench/{db}/dev/m", backlog)
        before = [proc.log_text().count("connected to") for proc in procs]
        for proc in procs:
            proc.start()
        for proc, seen in zip(procs, before, strict=True):
            wait_until(partial(reconnected, proc, seen), 20, 0.005)
        wait_until(lambda: self.count(db) >= backlog, 600, 0.05)
        elapsed = time.time() - min(connected_at(proc) for proc in procs)
        for proc in procs:
            proc.stop()
        broker.stop()
        return {
            "instances": instances,
            "messages": backlog,
            "ingest_msgs_per_s": round(backlog / elapsed),
            "ingest_loss": backlog - self.count(db),
        }

    def latency(self, rate: int, seconds: float) -> dict[str, Any]:
        broker = self.broker(1000)
        db = "latency"
        self.influx.create_database(db)
        self.ingest(broker, db, "bench-ingest-latency", "ingest-latency")
        total = int(rate * seconds)
        seen: list[tuple[float, int]] = []
        stop = threading.Event()

        def poll() -> None:
            while not stop.is_set():
                rows = self.influx.values('SELECT max(seq) FROM "m"', db)
                seen.append((time.time(), int(rows[0][1]) if rows else -1))
                time.sleep(0.02)

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        sent = publish(broker, f"bench/{db}/dev/m", total, rate=rate)
        wait_until(lambda: bool(seen) and seen[-1][1] >= total - 1, 60, 0.05)
        stop.set()
        poller.join()
        latencies, j = [], 0
        for seq, at in enumerate(sent):
            while j < len(seen) and seen[j][1] < seq:
                j += 1
            if j < len(seen):
                latencies.append(seen[j][0] - at)
        q = statistics.quantiles(latencies, n=100)
        return {
            "rate_msgs_per_s": rate,
            "messages": total,
            "p50_s": round(q[49], 3),
            "p99_s": round(q[98], 3),
            "loss": total - self.count(db),
            "poll_interval_s": 0.02,
        }

    def outage(self, rate: int, seconds: float) -> dict[str, Any]:
        broker = self.broker(1000)
        db = "outage"
        self.influx.create_database(db)
        proc = self.ingest(broker, db, "bench-ingest-outage", "ingest-outage")
        assert proc.proc is not None
        pid = proc.proc.pid
        peak = {"rss": 0, "spool": 0}
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                status = Path(f"/proc/{pid}/status").read_text()
                rss = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS"))
                peak["rss"] = max(peak["rss"], rss)
                spool = sum(file_size(f) for f in (self.dir / "spool-bench-ingest-outage").glob("*.lp.gz"))
                peak["spool"] = max(peak["spool"], spool)
                time.sleep(0.25)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        self.influx.stop()
        total = int(rate * seconds)
        publish(broker, f"bench/{db}/dev/m", total, rate=rate)
        self.influx.start()
        back = time.perf_counter()
        wait_until(lambda: self.count(db) >= total, 300, 0.2)
        recovered = time.perf_counter() - back
        stop.set()
        sampler.join()
        return {
            "rate_msgs_per_s": rate,
            "outage_s": seconds,
            "messages": total,
            "peak_rss_mb": round(peak["rss"] / 1024, 1),
            "peak_spool_mb": round(peak["spool"] / 1e6, 2),
            "catch_up_s": round(recovered, 1),
            "loss": total - self.count(db),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="the full run: 100k backlog, 60 s phases")
    parser.add_argument("--backlog", type=int, default=None, help="messages in the drain backlog (20000)")
    parser.add_argument("--naive", type=int, default=2000, help="backlog for the naive consumer")
    parser.add_argument("--latency-rate", type=int, default=1000)
    parser.add_argument("--latency-seconds", type=float, default=None, help="(15; --full 60)")
    parser.add_argument("--outage-rate", type=int, default=2000)
    parser.add_argument("--outage-seconds", type=float, default=None, help="(20; --full 60)")
    parser.add_argument("--skip", default="", help="phases to skip: drain,mqtt5,shared,window,latency,outage")
    args = parser.parse_args()
    backlog = args.backlog or (100_000 if args.full else 20_000)
    latency_s = args.latency_seconds or (60.0 if args.full else 15.0)
    outage_s = args.outage_seconds or (60.0 if args.full else 20.0)
    skip = set(args.skip.split(","))
    result: dict[str, Any] = {"machine": {"cpus": len(__import__("os").sched_getaffinity(0))}}
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        bench = Bench(Path(tmp), args)
        bench.influx.start()
        try:
            if "drain" not in skip:
                result["drain"] = bench.drain(1000, backlog, args.naive, raw=True)
            if "mqtt5" not in skip:
                result["mqtt5"] = bench.drain(1000, backlog, 0, raw=True, protocol="5")
            if "shared" not in skip:
                result["shared"] = bench.shared(backlog)
            if "window" not in skip:
                result["window"] = bench.drain(20, max(2000, backlog // 4), 0, raw=False)
            if "latency" not in skip:
                result["latency"] = bench.latency(args.latency_rate, latency_s)
            if "outage" not in skip:
                result["outage"] = bench.outage(args.outage_rate, outage_s)
        finally:
            bench.close()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
