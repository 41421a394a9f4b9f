"""``mathnotes-vision``: serve the vision API (configured by the environment), or analyze one photo.

    mathnotes-vision                      serve with gunicorn until SIGTERM
    mathnotes-vision analyze PHOTO [--task solve] [--language zh] [--format json] [--server URL]
    mathnotes-vision notes search [--q WORDS] [--formula LATEX] [--json] [--server URL]
    mathnotes-vision notes export [--format jsonl|markdown] [--output FILE]
    mathnotes-vision notes import FILE
    mathnotes-vision migrate              bring the notes database's schema up to date

``analyze`` prints the Markdown answer (``--json``: the whole answer object). Without
``--server`` it runs the same pipeline in-process with this environment's settings
(offline OCR when no model key is set); with ``--server`` it posts the photo there
(``VISION_API_KEY`` or ``--api-key`` as bearer key). Either way the answer is kept in the
notes library as a note of source ``cli`` (``--no-save``: not). ``notes`` and ``migrate``: see
:mod:`.notes_cli`. Serving migrates the notes database first, once, before the workers fork.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..common.bootstrap import load_or_exit
from ..common.settings import describe
from .notes_cli import add_parsers, run_migrate, run_notes
from .prompts import FORMATS, LANGUAGES, TASKS
from .settings import VisionSettings

if TYPE_CHECKING:
    from .state import VisionState

__all__ = ["main"]

PROG = "mathnotes-vision"


def _parser() -> argparse.ArgumentParser:
    settings_help = "\n".join(f"  {env:<28} {default!r:<12} {doc}" for env, default, doc in describe(VisionSettings))
    parser = argparse.ArgumentParser(
        prog="mathnotes-vision",
        description=__doc__,
        epilog="settings (environment or .env):\n" + settings_help,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="serve the HTTP API (the default)")
    analyze = sub.add_parser("analyze", help="read one photo and print the Markdown")
    analyze.add_argument("photo", type=Path)
    analyze.add_argument("--task", choices=TASKS, default="transcribe")
    analyze.add_argument("--language", choices=LANGUAGES, default="auto")
    analyze.add_argument("--format", choices=FORMATS, default="markdown")
    analyze.add_argument("--prompt", default=None)
    analyze.add_argument("--no-cache", action="store_true")
    analyze.add_argument("--no-save", action="store_true", help="do not keep the answer in the notes library")
    analyze.add_argument("--title", default=None, help="the note's title (default: derived from the answer)")
    analyze.add_argument("--tags", default=None, help="the note's tags, comma-separated")
    analyze.add_argument("--json", action="store_true", help="print the whole answer object")
    analyze.add_argument("--server", default=os.environ.get("VISION_URL"), help="base URL of a running service")
    analyze.add_argument("--api-key", default=os.environ.get("VISION_API_KEY"))
    add_parsers(sub)
    return parser


def _analyze(args: argparse.Namespace) -> int:
    try:
        photo = args.photo.read_bytes()
    except OSError as err:
        print(f"mathnotes-vision: cannot read {args.photo}: {err.strerror}", file=sys.stderr)
        return 1
    fields = {"task": args.task, "language": args.language, "format": args.format}
    if args.prompt:
        fields["prompt"] = args.prompt
    if args.no_cache:
        fields["cache"] = "false"
    fields["source"] = "cli"
    if args.no_save:
        fields["save"] = "false"
    if args.title:
        fields["title"] = args.title
    if args.tags:
        fields["tags"] = args.tags
    status, body = _post_remote(args, photo, fields) if args.server else _post_local(photo, fields, args.api_key)
    if status != 200:
        error = body.get("error", {}) if isinstance(body, dict) else {}
        print(f"mathnotes-vision: {error.get('code', status)}: {error.get('message', body)}", file=sys.stderr)
        return 1
    print(json.dumps(body, ensure_ascii=False, indent=2) if args.json else body["markdown"])
    return 0


def _post_local(photo: bytes, fields: dict[str, str], api_key: str | None) -> tuple[int, Any]:
    """The analyze run in-process; the note goes to ``api_key``'s notes (with no VISION_API_KEYS: the shared ones)."""
    import dataclasses
    import io

    from ..notes.migrate import MigrationError
    from .app import create_app
    from .state import VisionState

    settings = load_or_exit(VisionSettings, "mathnotes-vision")
    keys = settings.api_keys if api_key in settings.api_keys else ()
    if settings.api_keys and not keys and fields.get("save") != "false":
        print(f"{PROG}: not kept in the notes library: pass --api-key, one of VISION_API_KEYS", file=sys.stderr)
        fields = {**fields, "save": "false"}
    settings = dataclasses.replace(settings, telemetry=False, rate_limit_max_requests=0, api_keys=keys)
    logging.getLogger("mathnotes.vision").setLevel(logging.ERROR)  # no "open API" warning for a local run
    try:
        app = create_app(settings)
    except MigrationError as err:
        print(f"{PROG}: not kept in the notes library: {err}", file=sys.stderr)
        app = create_app(dataclasses.replace(settings, notes_enabled=False))
    headers = {"Authorization": f"Bearer {api_key}"} if keys else {}
    try:
        with app.test_client() as client:
            resp = client.post(
                "/api/vision/analyze",
                data={**fields, "file": (io.BytesIO(photo), "photo")},
                content_type="multipart/form-data",
                headers=headers,
            )
            return resp.status_code, resp.get_json(silent=True)
    finally:
        _close(VisionState.of(app))


def _close(state: VisionState) -> None:
    """Stop the in-process service: its note written first (or, the database away, left on the disk queue)."""
    from .notekeeper import settle

    if state.notes is not None and settle(state.notes.library):
        where = state.notes.library.queue.disk.path
        print(f"{PROG}: the note waits in the notes queue {where}: written when the database answers", file=sys.stderr)
    state.close()


def _post_remote(args: argparse.Namespace, photo: bytes, fields: dict[str, str]) -> tuple[int, Any]:
    import requests

    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}
    try:
        resp = requests.post(
            args.server.rstrip("/") + "/api/vision/analyze",
            data=fields,
            files={"file": ("photo", photo)},
            headers=headers,
            timeout=300,
        )
    except requests.RequestException as err:
        return 0, {"error": {"code": "unreachable", "message": f"{args.server}: {type(err).__name__}"}}
    try:
        return resp.status_code, resp.json()
    except ValueError:
        return resp.status_code, {"error": {"code": resp.status_code, "message": resp.text[:200]}}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "analyze":
        return _analyze(args)
    if args.command == "notes":
        return run_notes(args)
    if args.command == "migrate":
        return run_migrate()
    settings = load_or_exit(VisionSettings, "mathnotes-vision")
    from .workers import prepare_workers

    settings = prepare_workers(settings)  # before prometheus_client is imported
    if settings.notes_enabled and run_migrate(settings) != 0:  # once, in the master, before any worker forks
        return 1
    from .serving import VisionServer

    VisionServer(settings).run()
    return 0
