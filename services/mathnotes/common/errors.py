"""The base of the errors a client is answered with, for the trees that share one shape. Pure.

``ClientError`` carries what the answer needs: the HTTP ``status``, a stable ``code``, a plain
``message``, and optionally ``details`` (JSON) and response ``headers``. The vision API's tree
(``mathnotes.vision.errors.VisionError``) and the notes library's (``mathnotes.notes.errors.NotesError``)
both derive from it, so the vision app maps them to the JSON error shape
(``mathnotes.common.httpapi.error_response``) in one handler without either package importing the other.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["ClientError"]


class ClientError(Exception):
    """A refusal the client sees: HTTP ``status``, stable ``code``, plain ``message``, optional details/headers."""

    def __init__(
        self,
        code: str,
        message: str,
        status: int = 400,
        *,
        details: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.details = details
        self.headers = dict(headers or {})
