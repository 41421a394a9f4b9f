"""What both services share: settings, logging, HTTP plumbing, WSGI serving, OpenAPI pieces, telemetry.

Nothing here imports a service (``mathnotes.vision``, ``mathnotes.ingest``); ``tests/test_layering.py``
keeps it that way.
"""
