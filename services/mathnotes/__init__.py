"""Math Notes Suite services: ``mathnotes.vision`` and ``mathnotes.ingest``."""

__version__ = "0.1.0"
