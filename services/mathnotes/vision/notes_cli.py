"""``mathnotes-vision notes search|export|import`` and ``mathnotes-vision migrate``.

    mathnotes-vision notes search [--q WORDS] [--formula LATEX] [--mode auto] [--tag T] [--limit 20] [--json]
    mathnotes-vision notes export [--format jsonl|markdown] [--output FILE]
    mathnotes-vision notes import FILE            (a JSON Lines export; - reads standard input)
    mathnotes-vision migrate                      (wait for the notes database, bring its schema up to date)

Without ``--server`` the notes commands open the library of this environment's settings (SQLite in
``NOTES_DIR``, or ``DATABASE_URL``) in-process; with ``--server URL`` (or ``VISION_URL``) they call
its ``/api/notes`` routes. Either way the notes are those of one key: ``--api-key`` (or
``VISION_API_KEY``); with no ``VISION_API_KEYS`` configured, the one shared library.
"""

from __future__ import annotations

import argparse
import html
import json
import logging
import os
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from ..common.bootstrap import load_or_exit
from .settings import VisionSettings

__all__ = ["add_parsers", "run_migrate", "run_notes"]

PROG = "mathnotes-vision"
TIMEOUT_S = 300
_MARK = re.compile(r"</?mark>")


def add_parsers(sub: Any) -> None:
    """The ``notes`` and ``migrate`` subcommands, on the main parser's subparsers."""
    sub.add_parser("migrate", help="wait for the notes database and bring its schema up to date")
    notes = sub.add_parser("notes", help="search, export or import the notes library")
    verbs = notes.add_subparsers(dest="verb", required=True)
    search = verbs.add_parser("search", help="search notes by words, formula or meaning (newest first without)")
    search.add_argument("--q", default="", help="words (any language)")
    search.add_argument("--formula", default="", help="LaTeX, matched after normalisation")
    search.add_argument("--mode", default="auto", choices=("auto", "words", "formula", "meaning"))
    search.add_argument("--tag", default="")
    search.add_argument("--task", default="")
    search.add_argument("--since", default="", help="ISO 8601 time or epoch seconds")
    search.add_argument("--until", default="")
    search.add_argument("--limit", type=int, default=20)
    search.add_argument("--json", action="store_true", help="print the whole answer of GET /api/notes")
    export = verbs.add_parser("export", help="write every note (JSON Lines, or a zip of Markdown files)")
    export.add_argument("--format", default="jsonl", choices=("jsonl", "markdown"))
    export.add_argument("--output", type=Path, default=None, help="file to write (default: standard output)")
    imports = verbs.add_parser("import", help="add the notes of a JSON Lines export")
    imports.add_argument("file", help="the export (- for standard input)")
    for parser in (search, export, imports):
        parser.add_argument("--server", default=os.environ.get("VISION_URL"), help="base URL of a running service")
        parser.add_argument("--api-key", default=os.environ.get("VISION_API_KEY"), help="whose notes")


def run_migrate(settings: VisionSettings | None = None) -> int:
    """Migrate the notes database: 0, or 1 with one line on standard error (``settings``: serving logs it)."""
    from ..notes.migrate import MigrationError
    from .notekeeper import migrate_library

    serving = settings is not None
    settings = settings or load_or_exit(VisionSettings, PROG)
    try:
        where, version = migrate_library(settings)
    except (MigrationError, OSError) as err:
        print(f"{PROG}: notes database: {' '.join(str(err).split())}", file=sys.stderr)  # one line
        return 1
    if serving:
        logging.getLogger("mathnotes.vision").info("notes database %s at schema version %d", where, version)
    else:
        print(f"notes database {where}: schema version {version}")
    return 0


def run_notes(args: argparse.Namespace) -> int:
    try:
        return _remote(args) if args.server else _local(args)
    except _Failed as err:
        print(f"{PROG}: {err}", file=sys.stderr)
        return 1


class _Failed(Exception):
    """One line for standard error."""


def _params(args: argparse.Namespace) -> dict[str, str]:
    names = ("q", "formula", "mode", "tag", "task", "since", "until")
    params = {name: getattr(args, name) for name in names if getattr(args, name)}
    return {**params, "limit": str(args.limit)}


def _lines(path: str) -> Iterator[str]:
    if path == "-":
        yield from sys.stdin
        return
    try:
        with open(path, encoding="utf-8") as file:
            yield from file
    except OSError as err:
        raise _Failed(f"cannot read {path}: {err.strerror}") from None
    except UnicodeDecodeError:
        raise _Failed(f"{path} is not UTF-8 JSON Lines (the export's jsonl format)") from None


def _write(chunks: Iterable[bytes], output: Path | None) -> None:
    out: IO[bytes]
    with open(output, "wb") if output else open(sys.stdout.fileno(), "wb", closefd=False) as out:
        for chunk in chunks:
            out.write(chunk)


def _print_page(page: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(page, ensure_ascii=False, indent=2))
        return
    for note in page["notes"]:
        found = f"  [{', '.join(note['matched'])}]" if note["matched"] else ""
        print(f"{note['id']}  {note['created_at'][:10]}  {note['title']}{found}")
        snippet = html.unescape(_MARK.sub("*", note["snippet"])).strip()
        if snippet:
            print(f"    {snippet}")
    print(f"({len(page['notes'])} notes; modes: {', '.join(page['modes']) or 'newest first'})", file=sys.stderr)


# --- in-process ---------------------------------------------------------------------------------------------


def _local(args: argparse.Namespace) -> int:
    from ..notes.errors import NotesError
    from ..notes.library import Library
    from ..notes.migrate import MigrationError
    from ..notes.model import SearchQuery, owner_of
    from .notekeeper import RULES, notes_config, settle
    from .prompts import TASKS

    settings = load_or_exit(VisionSettings, PROG)
    if settings.api_keys and args.api_key not in settings.api_keys:
        raise _Failed("each key has its own notes: pass --api-key (or VISION_API_KEY), one of VISION_API_KEYS")
    owner = owner_of(args.api_key if settings.api_keys else None)
    library = Library(notes_config(settings), rules=RULES)
    try:
        library.start()
        settle(library)  # notes an earlier run left on the disk queue are written first
        if args.verb == "search":
            _print_page(library.search(SearchQuery.from_params(_params(args), TASKS), owner).to_json(), args.json)
        elif args.verb == "export":
            _write(library.export(owner, args.format), args.output)
        else:
            imported, skipped = library.import_(owner, _lines(args.file))
            print(json.dumps({"imported": imported, "skipped": skipped}))
    except (NotesError, MigrationError) as err:
        raise _Failed(f"{getattr(err, 'code', 'notes_unavailable')}: {getattr(err, 'message', err)}") from None
    finally:
        library.close()
    return 0


# --- against a running service ----------------------------------------------------------------------------


def _remote(args: argparse.Namespace) -> int:
    import requests

    base = args.server.rstrip("/") + "/api/notes"
    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}
    try:
        if args.verb == "search":
            resp = requests.get(base, params=_params(args), headers=headers, timeout=TIMEOUT_S)
            _print_page(_ok(resp).json(), args.json)
        elif args.verb == "export":
            params = {"format": args.format}
            with requests.get(f"{base}/export", params=params, headers=headers, timeout=TIMEOUT_S, stream=True) as resp:
                _write(_ok(resp).iter_content(65536), args.output)
        else:
            body = "".join(_lines(args.file)).encode()
            headers["Content-Type"] = "application/x-ndjson"
            resp = requests.post(f"{base}/import", data=body, headers=headers, timeout=TIMEOUT_S)
            print(json.dumps(_ok(resp).json()))
    except requests.RequestException as err:
        raise _Failed(f"{args.server}: {type(err).__name__}") from None
    return 0


def _ok(resp: Any) -> Any:
    if resp.status_code == 200:
        return resp
    try:
        error = resp.json().get("error", {})
    except ValueError:
        error = {"code": resp.status_code, "message": resp.text[:200]}
    raise _Failed(f"{error.get('code', resp.status_code)}: {error.get('message', '')}")
