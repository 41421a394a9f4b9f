"""Settings of ``mathnotes-ingest``."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import CommonSettings, port, setting

__all__ = ["IngestSettings"]


@dataclass(frozen=True)
class IngestSettings(CommonSettings):
    host: str = setting("INGEST_HOST", "0.0.0.0", doc="address to listen on")
    port: int = setting("INGEST_PORT", 3002, parse=port, doc="HTTP port")
