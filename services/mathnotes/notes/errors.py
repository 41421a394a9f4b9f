"""Every reason the notes library refuses a request: one tree, the same shape as the vision API's errors.

Each error carries what the client is answered with: the HTTP ``status``, a stable ``code``, a plain
``message``, optionally ``details`` (JSON) and response ``headers``: a
``mathnotes.common.errors.ClientError``, as the vision API's errors are, so the vision app maps both
trees to the one JSON error shape in one handler (this package never imports vision). Pure.

    NotesError              status, code, message, details, headers
     ├── NotFound           404 note_not_found: no such note, or another owner's (never told apart)
     ├── InvalidQuery       400 invalid_query: a search parameter or cursor; details.parameter names it
     ├── InvalidNote        400 invalid_request: a note's fields (PATCH body, an import line)
     ├── TooLarge           413 payload_too_large: an import body over its limit
     └── Unavailable        503 notes_unavailable: the database cannot be read now
"""

from __future__ import annotations

from ..common.errors import ClientError

__all__ = ["InvalidNote", "InvalidQuery", "NotFound", "NotesError", "TooLarge", "Unavailable"]


class NotesError(ClientError):
    """The notes library's refusals (the tree above)."""


class NotFound(NotesError):
    """No such note for this owner (another owner's note is answered the same way)."""

    def __init__(self, message: str = "no such note") -> None:
        super().__init__("note_not_found", message, 404)


class InvalidQuery(NotesError):
    """A search parameter or cursor is refused; ``details["parameter"]`` names it when there is one."""

    def __init__(self, message: str, parameter: str | None = None) -> None:
        super().__init__("invalid_query", message, 400, details={"parameter": parameter} if parameter else None)
        self.parameter = parameter


class InvalidNote(NotesError):
    """A note's fields are refused: the first problem as the message, each in ``details["problems"]`` (as vision's)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(
            "invalid_request", problems[0] if problems else "invalid note", 400, details={"problems": list(problems)}
        )
        self.problems = list(problems)


class TooLarge(NotesError):
    """A body over its limit."""

    def __init__(self, message: str) -> None:
        super().__init__("payload_too_large", message, 413)


class Unavailable(NotesError):
    """The library's database cannot be read now; ``retry_after`` seconds go in a ``Retry-After`` header."""

    def __init__(self, message: str = "the notes library is unavailable", retry_after: int = 5) -> None:
        super().__init__("notes_unavailable", message, 503, headers={"Retry-After": str(retry_after)})
