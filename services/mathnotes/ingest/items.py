"""What flows through the pipeline: an :class:`Item` (one MQTT message or HTTP request) and its :class:`DeadLetter`."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

__all__ = ["DeadLetter", "Item"]


@dataclass
class DeadLetter:
    reason: str
    detail: str
    topic: str
    payload: bytes
    received_ns: int


@dataclass(eq=False)  # compared by identity: two messages may carry the same lines
class Item:
    lines: list[str]
    dead: DeadLetter | None = None
    mid: int | None = None  # MQTT packet id of a QoS 1 message, acknowledged through ``acknowledge``
    generation: int = 0  # the broker connection it came in on
    done: threading.Event | None = None
    topic: str = ""
    payload: bytes = b""
    received_ns: int = 0
    outcome: str = field(default="pending")
    refused: list[tuple[int, str]] = field(default_factory=list)  # (line of this item, reason) InfluxDB refused
