"""Every error the ingest service raises on purpose, in one tree. Pure code.

Each carries a stable ``code`` (the JSON error's ``code``, a dead letter's ``reason``, the
``ingest_rejected_total{reason}`` label: one name per failure wherever it shows) and a plain
``message``; ``status`` is the HTTP status it answers with where it reaches HTTP, ``details`` the
JSON error's ``details``. ``ingest/app.py`` turns any of them into the JSON error shape, in one place.

    IngestError                       code, message, status, details
     ├── Rejected                     400: one message, item or line becomes no point; code is the reason
     │                                (invalid_json, schema, invalid_line_protocol, …: the README's list)
     ├── RequestError                 an HTTP request refused before its body is read: 401 unauthorized,
     │                                413 payload_too_large, 415 unsupported_media_type (``headers`` to send)
     ├── BodyError                    an HTTP body refused as a whole: 400 invalid_json / not_utf8 / rejected
     │                                (its items were Rejected; ``details`` lists them), 413 too_many_items
     ├── Busy                         503 unavailable: no room for more now; ``retry_after`` seconds
     └── WriteError                   an InfluxDB write failed (``influx_status``: InfluxDB's answer, if any)
          ├── Retryable               influx_unavailable: 429, 5xx, timeouts, no connection (``retry_after``)
          ├── TooLarge                influx_too_large, 413: the caller splits the batch
          └── Refused                 influx_rejected, 422: some line is bad (400/422 and other 4xx); the
                                      caller isolates it, and an HTTP answer names each refused item

Lower-level ``ValueError``s of the pure helpers (``LineProtocolError``, ``TimestampError``,
``TopicMismatch``) never leave the service: where they are caught they become a :class:`Rejected`.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "MAX_DETAIL",
    "BodyError",
    "Busy",
    "IngestError",
    "Refused",
    "Rejected",
    "RequestError",
    "Retryable",
    "TooLarge",
    "WriteError",
]

MAX_DETAIL = 300  # characters of a rejection's message (a schema error quotes the offending value)


class IngestError(Exception):
    """An error with a stable ``code``, a ``message``, and the HTTP ``status`` (and ``details``) it answers with."""

    status = 500

    @property
    def headers(self) -> dict[str, str]:
        """HTTP headers its answer carries."""
        return {}

    def __init__(self, code: str, message: str, *, status: int | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.code, self.message, self.details = code, message, details
        if status is not None:
            self.status = status


class Rejected(IngestError):
    """A message, item or line that will not become points; its ``code`` is the reason (a dead letter's too)."""

    status = 400

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message if len(message) <= MAX_DETAIL else message[: MAX_DETAIL - 1] + "…")


class RequestError(IngestError):
    """An HTTP request refused before its body is read (its ``status`` is given), with ``headers`` to send."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(code, message, status=status)
        self._headers = headers or {}

    @property
    def headers(self) -> dict[str, str]:
        return self._headers


class BodyError(IngestError):
    """An HTTP body refused as a whole (400 unless told)."""

    status = 400


class Busy(IngestError):
    """The service cannot take more data now (spool or queue full); ``retry_after`` in seconds."""

    status = 503

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__("unavailable", message)
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class WriteError(IngestError):
    """An InfluxDB write failed; ``influx_status`` is InfluxDB's answer (None without one)."""

    code = "influx_error"

    def __init__(
        self, message: str, influx_status: int | None = None, retry_after: float | None = None, *, details: Any = None
    ) -> None:
        super().__init__(type(self).code, message, details=details)
        self.influx_status = influx_status
        self.retry_after = retry_after


class Retryable(WriteError):
    code = "influx_unavailable"
    status = 503


class TooLarge(WriteError):
    code = "influx_too_large"
    status = 413


class Refused(WriteError):
    code = "influx_rejected"
    status = 422
