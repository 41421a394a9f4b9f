"""Settings of ``mathnotes-ingest`` (the shared ones are in ``mathnotes.common.settings``)."""

from __future__ import annotations

import socket
from dataclasses import dataclass

from ..common.settings import (
    CommonSettings,
    ConfigError,
    boolean,
    choice,
    csv,
    http_url,
    integer,
    number,
    port,
    setting,
)
from .mqttreaders import READERS, fast_reader_problem
from .topics import TopicTemplate

__all__ = ["IngestSettings"]


@dataclass(frozen=True)
class IngestSettings(CommonSettings):
    influx_url: str = setting("INFLUX_URL", "http://127.0.0.1:8086", parse=http_url, doc="InfluxDB base URL")
    influx_token: str = setting("INFLUX_TOKEN", "", secret=True, doc="InfluxDB token (v2) or user:password (v1)")
    influx_org: str = setting("INFLUX_ORG", "mathnotes", doc="InfluxDB organisation (v2)")
    influx_bucket: str = setting(
        "INFLUX_BUCKET", "telemetry", doc="bucket (v2), or database or db/rp with INFLUX_API=v1"
    )
    influx_api: str = setting("INFLUX_API", "v2", parse=choice("v1", "v2"), doc="v2 write API or v1 /write")
    host: str = setting("INGEST_HOST", "0.0.0.0", doc="address the HTTP API listens on")
    port: int = setting("INGEST_PORT", 3002, parse=port, doc="HTTP port")
    topics: tuple[str, ...] = setting(
        "INGEST_TOPICS", ("telemetry/#",), parse=csv, doc="MQTT topic filters to consume, comma-separated"
    )
    topic_template: str = setting(
        "INGEST_TOPIC_TEMPLATE",
        "telemetry/{site}/{device}/{measurement}",
        doc="topic levels to tags and measurement; {measurement} is required",
    )
    client_id: str = setting("INGEST_CLIENT_ID", "", doc="stable MQTT client id (default mathnotes-ingest-<hostname>)")
    shared_group: str = setting(
        "INGEST_SHARED_GROUP", "", doc="MQTT 5 shared-subscription group ($share/<group>/…) to split a stream"
    )
    mqtt_protocol: str = setting(
        "INGEST_MQTT_PROTOCOL",
        "3.1.1",
        parse=choice("3.1.1", "5"),
        doc="3.1.1 (paho reads it faster; the broker's max_inflight_messages is the window) or 5 (receive-maximum)",
    )
    mqtt_reader: str = setting(
        "INGEST_MQTT_READER",
        "auto",
        parse=choice(*READERS),
        doc="auto (fast where paho-mqtt is the version it was written for, else stock), fast, or stock (paho's own)",
    )
    receive_maximum: int = setting(
        "INGEST_RECEIVE_MAXIMUM",
        1000,
        parse=integer(1, 65535),
        doc="in-flight window: MQTT 5 receive-maximum; with 3.1.1 set it to the broker's max_inflight_messages",
    )
    batch_size: int = setting("INGEST_BATCH_SIZE", 5000, parse=integer(1, 100000), doc="lines per InfluxDB write")
    flush_ms: int = setting("INGEST_FLUSH_MS", 1000, parse=integer(10, 60000), doc="longest wait before a write")
    spool_dir: str = setting("INGEST_SPOOL_DIR", "./ingest-spool", doc="disk spool for batches InfluxDB cannot take")
    spool_max_mb: float = setting(
        "INGEST_SPOOL_MAX_MB", 512.0, parse=number(1), doc="spool bound, oldest dropped past it"
    )
    spool_after_s: float = setting(
        "INGEST_SPOOL_AFTER_S", 5.0, parse=number(0), doc="seconds of failed retries before a batch is spooled"
    )
    api_keys: tuple[str, ...] = setting(
        "INGEST_API_KEYS", (), parse=csv, secret=True, doc="bearer keys for POST /api/ingest; empty means open"
    )
    max_body_bytes: int = setting(
        "INGEST_MAX_BODY_BYTES", 1024 * 1024, parse=integer(1024, 64 * 1024 * 1024), doc="largest HTTP body accepted"
    )
    max_items: int = setting(
        "INGEST_MAX_ITEMS", 20_000, parse=integer(1, 1_000_000), doc="most envelopes or lines in one HTTP request"
    )
    http_threads: int = setting(
        "INGEST_HTTP_THREADS", 4, parse=integer(1, 64), doc="HTTP requests handled at once (the rest queue)"
    )
    http_connections: int = setting(
        "INGEST_HTTP_CONNECTIONS", 64, parse=integer(1, 10_000), doc="open HTTP connections at most"
    )
    mqtt_payload_measurement: bool = setting(
        "INGEST_MQTT_PAYLOAD_MEASUREMENT",
        False,
        parse=boolean,
        doc="let an MQTT payload (envelope 'measurement', line protocol) name a measurement other than its topic's",
    )
    int_fields: tuple[str, ...] = setting(
        "INGEST_INT_FIELDS", (), parse=csv, doc="field names written as integers (others become floats)"
    )
    dlq_prefix: str = setting("INGEST_DLQ_PREFIX", "telemetry-dlq", doc="topic prefix for rejected messages")
    stats_interval_s: float = setting(
        "INGEST_STATS_INTERVAL_S", 10.0, parse=number(0), doc="own counters to telemetry/<site>/ingest/pipeline; 0 off"
    )

    worker_stall_s: float = setting(
        "INGEST_WORKER_STALL_S",
        60.0,
        parse=number(1),
        doc="a worker thread silent this long (or dead) makes /health answer 503 stalled",
    )
    worker_exit_s: float = setting(
        "INGEST_WORKER_EXIT_S",
        300.0,
        parse=number(0),
        doc="stalled this long without a break: drain and exit 70 so the restart policy restarts; 0 never",
    )

    def validate(self) -> None:
        try:
            TopicTemplate(self.topic_template)
        except ValueError as err:
            raise ConfigError(f"INGEST_TOPIC_TEMPLATE: expected {err}, got {self.topic_template!r}") from None
        if self.mqtt_reader == "fast" and (problem := fast_reader_problem()):
            raise ConfigError(f"INGEST_MQTT_READER: fast cannot run here ({problem}); use auto or stock")

    @property
    def mqtt_client_id(self) -> str:
        return self.client_id or f"mathnotes-ingest-{socket.gethostname()}"
