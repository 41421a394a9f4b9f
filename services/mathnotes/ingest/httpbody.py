"""``POST /api/ingest`` bodies to line protocol, in bounded memory. Pure code: no I/O, no clocks.

A JSON array is read one item at a time (``json.JSONDecoder.raw_decode``) and each item becomes
its line at once, so a body never exists as one tree of Python objects (a 5 MiB array of
``{}`` is some 110 MB of dicts) and reading stops at the ``max_items``-th item. Line protocol
is read line by line the same way. What a request keeps is its lines and, for each, the
request item it came from (the array index, or the 1-based line number), so that InfluxDB's
refusals can be reported per item.

Rejected items are counted in full but listed only up to :data:`MAX_LISTED`; past that the list
ends with one ``{"index": null, "reason": "more", "count": N}`` entry (a 512 KB body of bad
items used to answer with a 27 MB list).

What refuses a body is an :mod:`~.errors` error: a :class:`~.errors.BodyError` for the body as a
whole (``invalid_json``, ``not_utf8``, ``too_many_items``, and :meth:`Body.refusal`'s ``rejected``
for bad items), a :class:`~.errors.Rejected` for line protocol's first bad line, and
:meth:`Body.refused` the 422 for the points InfluxDB refused.
"""

from __future__ import annotations

import collections
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .errors import BodyError, Refused, Rejected
from .lineproto import LineProtocolError, encode, iter_lines
from .parse import ParseOptions, http_item

__all__ = ["MAX_LISTED", "Body", "json_body", "json_items", "line_body", "listed"]

MAX_LISTED = 100
_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


@dataclass
class Body:
    lines: list[str] = field(default_factory=list)
    origin: list[int] = field(default_factory=list)  # request item of each line
    total: int = 0  # items in the request
    rejected: list[dict[str, Any]] = field(default_factory=list)  # the first MAX_LISTED
    reasons: collections.Counter[str] = field(default_factory=collections.Counter)

    @property
    def rejected_count(self) -> int:
        return sum(self.reasons.values())

    def add(self, line: str, item: int) -> None:
        self.lines.append(line)
        self.origin.append(item)

    def reject(self, item: int | None, reason: str, detail: str) -> None:
        self.reasons[reason] += 1
        if len(self.rejected) < MAX_LISTED:
            self.rejected.append({"index": item, "reason": reason, "detail": detail})

    def refusal(self) -> BodyError:
        """400 ``rejected``, listing the rejected items with their reasons (nothing of the body is written)."""
        return BodyError(
            "rejected",
            f"{self.rejected_count} of {self.total} items were rejected; nothing was written",
            details=listed(self.rejected, self.rejected_count),
        )

    def refused(self, refused: list[tuple[int, str]]) -> Refused:
        """422 naming the request item of each line InfluxDB refused (``(line, reason)``); the rest were written."""
        details = [
            {"index": self.origin[line], "reason": Refused.code, "detail": reason}
            for line, reason in refused[:MAX_LISTED]
        ]
        written = len(self.lines) - len(refused)
        return Refused(
            f"InfluxDB refused {len(refused)} of {len(self.lines)} points; the other {written} were written",
            details=listed(details, len(refused)),
        )


def listed(entries: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    """``entries`` (at most :data:`MAX_LISTED` of ``count``), plus a ``more`` entry counting the rest."""
    if count <= len(entries):
        return entries
    rest = count - len(entries)
    more = {"index": None, "reason": "more", "count": rest, "detail": f"{rest} more are not listed"}
    return [*entries, more]


def _skip(text: str, pos: int) -> int:
    """The position after any JSON whitespace at ``pos``."""
    match = _WS.match(text, pos)
    return match.end() if match else pos


def _too_many(max_items: int) -> BodyError:
    return BodyError("too_many_items", f"the body holds more than {max_items} items", status=413)


def _decode(text: str, pos: int) -> tuple[Any, int]:
    try:
        return _DECODER.raw_decode(text, pos)
    except json.JSONDecodeError as err:
        raise BodyError("invalid_json", f"the body is not JSON: {err}") from None
    except RecursionError:
        raise BodyError("invalid_json", "the body is not JSON: nested too deeply") from None


def _end(text: str, pos: int) -> None:
    pos = _skip(text, pos)
    if pos != len(text):
        raise BodyError("invalid_json", f"the body is not JSON: extra data at char {pos}")


def json_items(text: str, max_items: int) -> Iterator[Any]:
    """The items of a JSON array one at a time (any other JSON value is one item)."""
    pos = _skip(text, 0)
    if not text.startswith("[", pos):
        value, pos = _decode(text, pos)
        _end(text, pos)
        yield value
        return
    pos = _skip(text, pos + 1)
    if text.startswith("]", pos):
        _end(text, pos + 1)
        return
    count = 0
    while True:
        value, pos = _decode(text, pos)
        count += 1
        if count > max_items:
            raise _too_many(max_items)
        yield value
        pos = _skip(text, pos)
        if text.startswith(",", pos):
            pos = _skip(text, pos + 1)
        elif text.startswith("]", pos):
            _end(text, pos + 1)
            return
        else:
            raise BodyError("invalid_json", f"the body is not JSON: expected ',' or ']' at char {pos}")


def json_body(raw: bytes, now_ns: int, opts: ParseOptions, max_items: int) -> Body:
    """One envelope or an array of them, each with a ``measurement``; bad items are collected, not raised."""
    try:
        text = raw.decode(json.detect_encoding(raw), "surrogatepass")  # as json.loads reads bytes
    except UnicodeDecodeError as err:
        raise BodyError("invalid_json", f"the body is not JSON: {err}") from None
    body = Body()
    for index, item in enumerate(json_items(text, max_items)):
        body.total += 1
        try:
            body.add(encode(http_item(item, now_ns, opts)), index)
        except Rejected as err:
            body.reject(index, err.code, err.message)
    if not body.total:
        body.reject(None, "schema", "the array is empty")
    return body


def line_body(raw: bytes, now_ns: int, max_items: int) -> Body:
    """Line protocol; the first bad line refuses the body (``Rejected``: ``invalid_line_protocol``, naming the line)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BodyError("not_utf8", "line protocol must be UTF-8 text") from None
    body = Body()
    try:
        for number, point in iter_lines(text, now_ns):
            body.total += 1
            if body.total > max_items:
                raise _too_many(max_items)
            body.add(encode(point), number)
    except LineProtocolError as err:
        raise Rejected("invalid_line_protocol", str(err)) from None
    if not body.total:
        raise Rejected("invalid_line_protocol", "no lines")
    return body
