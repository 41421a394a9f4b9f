"""Dead-letter messages: what a rejected message becomes on ``telemetry-dlq/<original topic>``. Pure code."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone

from .items import DeadLetter

__all__ = ["dlq_message"]


def dlq_message(letter: DeadLetter, prefix: str = "telemetry-dlq") -> tuple[str, bytes]:
    """(topic, JSON payload) naming the reason, the original topic and payload, and the receive time."""
    try:
        payload: str = letter.payload.decode("utf-8")
        encoding = "utf-8"
    except UnicodeDecodeError:
        payload = base64.b64encode(letter.payload).decode()
        encoding = "base64"
    received = datetime.fromtimestamp(letter.received_ns / 1e9, tz=timezone.utc) if letter.received_ns else None
    body = {
        "reason": letter.reason,
        "detail": letter.detail,
        "topic": letter.topic,
        "payload": payload,
        "payload_encoding": encoding,
        "received_at": received.isoformat().replace("+00:00", "Z") if received else None,
    }
    return f"{prefix}/{letter.topic or 'http'}", json.dumps(body, ensure_ascii=False).encode()
