"""Consistent archives of a service's data folder (a Docker volume), and restoring them into an empty one.

``scripts/backup.sh`` and ``scripts/restore.sh`` run this inside a throw-away container of our app
image, with the volume mounted at ``/data``::

    python -m mathnotes.backup archive /data /backup/grafana-data.tar.gz
    python -m mathnotes.backup archive /data /backup/mosquitto-data.tar.gz --fresh mosquitto.db --since 1700000000.25
    python -m mathnotes.backup restore /backup/grafana-data.tar.gz /data --replace

``archive`` writes a gzipped tar of the folder (owners, modes and times kept). Every SQLite database
in it (Grafana's ``grafana.db``, Open WebUI's ``webui.db``, n8n's ``database.sqlite`` when n8n runs on
SQLite) goes in as a copy made with SQLite's online backup API, while the service keeps running:
one read transaction, so the copy holds exactly the transactions committed before it started,
including those still in the write-ahead log, and nothing half-written; a database locked by a
writer is waited for (``--timeout``). Its ``-wal``, ``-shm`` and ``-journal`` files are left out (the
copy needs none). Each copy passes ``PRAGMA quick_check`` before it is archived. Other files are
archived as they are.

``--fresh NAME --since T`` first waits until ``NAME`` was rewritten at or after ``T`` (epoch
seconds): Mosquitto writes its whole persistence file (to ``mosquitto.db.new``, then renames it)
only every ``autosave_interval`` and on SIGUSR1, so backup.sh sends SIGUSR1 and archives the file
the broker wrote in answer, which holds every message queued before the signal.

``restore`` unpacks an archive into an empty folder (``--replace`` empties it first), refusing
members that would land outside it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["BackupError", "Summary", "archive", "is_sqlite", "restore", "sidecar_of", "snapshot_sqlite"]

SQLITE_MAGIC = b"SQLite format 3\x00"
SIDECARS = ("-wal", "-shm", "-journal")
_BUSY, _LOCKED = 5, 6  # sqlite3 result codes the backup's progress callback sees while a writer holds a lock


class BackupError(RuntimeError):
    """A backup or restore that cannot be done correctly (the message says why)."""


@dataclass(frozen=True)
class Summary:
    files: int
    databases: int
    bytes: int


def is_sqlite(path: Path) -> bool:
    """A regular file that starts with SQLite's header."""
    if path.is_symlink() or not path.is_file():
        return False
    with open(path, "rb") as handle:
        return handle.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC


def sidecar_of(name: str) -> str | None:
    """The database a ``-wal``/``-shm``/``-journal`` name belongs to, else None."""
    for suffix in SIDECARS:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return None


def snapshot_sqlite(source: Path, copy: Path, timeout_s: float = 300.0) -> None:
    """A consistent copy of a live SQLite database through its online backup API, checked."""
    deadline = time.monotonic() + timeout_s
    told = False

    def progress(status: int, _remaining: int, _total: int) -> None:
        nonlocal told
        if status in (_BUSY, _LOCKED):
            if not told:
                print(f"backup: {source.name} is locked by a writer; waiting", file=sys.stderr, flush=True)
                told = True
            if time.monotonic() > deadline:
                raise BackupError(f"{source}: still locked after {timeout_s:g} s")

    src = sqlite3.connect(source, timeout=0)  # no busy handler: a lock comes back to ``progress`` at once
    dst = sqlite3.connect(copy)
    try:
        src.backup(dst, pages=-1, progress=progress, sleep=0.05)  # one step: one read transaction
        check = dst.execute("PRAGMA quick_check").fetchone()
    finally:
        dst.close()
        src.close()
    if check is None or check[0] != "ok":
        raise BackupError(f"{source}: the copy fails quick_check: {check}")


def wait_fresh(path: Path, since: float, timeout_s: float) -> None:
    """Until ``path`` was (re)written at or after ``since`` (epoch seconds)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if path.stat().st_mtime >= since:
                return
        except FileNotFoundError:
            pass
        if time.monotonic() > deadline:
            raise BackupError(f"{path} was not rewritten within {timeout_s:g} s (is the service saving it?)")
        time.sleep(0.1)


def _walk(root: Path) -> Iterator[Path]:
    """Every entry below ``root`` in name order, folders before their contents, symlinks not followed."""
    for here, dirs, files in os.walk(root):
        dirs.sort()
        base = Path(here)
        for name in dirs:
            yield base / name
        for name in sorted(files):
            yield base / name


def archive(
    source: Path, out: Path, fresh: str | None = None, since: float | None = None, timeout_s: float = 300.0
) -> Summary:
    """Write ``out`` (tar.gz) from the folder ``source``; SQLite databases through the backup API."""
    if not source.is_dir():
        raise BackupError(f"{source} is not a folder")
    if fresh is not None:
        wait_fresh(source / fresh, since if since is not None else time.time(), timeout_s)
    entries = list(_walk(source))
    databases = {p for p in entries if is_sqlite(p)}
    files = dbs = size = 0
    partial = out.with_name(out.name + ".partial")
    with tempfile.TemporaryDirectory(prefix=".sqlite-", dir=out.parent) as scratch:
        with tarfile.open(partial, "w:gz", compresslevel=6) as tar:
            tar.add(source, arcname=".", recursive=False)
            for path in entries:
                name = path.relative_to(source).as_posix()
                owner = sidecar_of(path.name)
                if owner is not None and path.with_name(owner) in databases:
                    continue
                if path in databases:
                    copy = Path(scratch) / f"{dbs}.db"
                    snapshot_sqlite(path, copy, timeout_s)
                    info = tar.gettarinfo(copy, arcname=name)
                    stat = path.stat()
                    info.uid, info.gid, info.mode = stat.st_uid, stat.st_gid, stat.st_mode & 0o7777
                    info.mtime, info.uname, info.gname = stat.st_mtime, "", ""
                    with open(copy, "rb") as handle:
                        tar.addfile(info, handle)
                    dbs += 1
                    size += info.size
                    copy.unlink()
                else:
                    tar.add(path, arcname=name, recursive=False)
                    size += path.lstat().st_size if path.is_file() else 0
                files += 1
    partial.replace(out)
    return Summary(files, dbs, size)


def _inside(dest: Path, member: tarfile.TarInfo) -> bool:
    target = (dest / member.name).resolve()
    if member.issym():
        target = ((dest / member.name).parent / member.linkname).resolve()
    elif member.islnk():
        target = (dest / member.linkname).resolve()
    return target == dest or dest in target.parents


def restore(archive_path: Path, dest: Path, replace: bool = False) -> int:
    """Unpack ``archive_path`` into the folder ``dest`` (empty, or emptied with ``replace``); returns members."""
    dest = dest.resolve()
    if not dest.is_dir():
        raise BackupError(f"{dest} is not a folder")
    present = list(dest.iterdir())
    if present and not replace:
        raise BackupError(f"{dest} is not empty (--replace empties it first)")
    with tarfile.open(archive_path, "r:gz") as tar:
        members = tar.getmembers()
        outside = [m.name for m in members if not _inside(dest, m) or m.isdev()]
        if outside:
            raise BackupError(f"{archive_path}: members outside the folder or devices: {outside[:5]}")
        for path in present:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        # every member was checked above; "fully_trusted" keeps modes and owners exactly as archived
        trusted = {"filter": "fully_trusted"} if hasattr(tarfile, "fully_trusted_filter") else {}
        wanted = [m for m in members if m.name != "."]
        tar.extractall(dest, members=wanted, numeric_owner=True, **trusted)  # type: ignore[arg-type]  # noqa: S202
        root = next((m for m in members if m.name == "."), None)
        if root is not None and os.geteuid() == 0:
            os.chown(dest, root.uid, root.gid)
            os.chmod(dest, root.mode & 0o7777)
    return len(members)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mathnotes.backup", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    arc = sub.add_parser("archive", help="archive a data folder (SQLite through its backup API)")
    arc.add_argument("source", type=Path)
    arc.add_argument("out", type=Path)
    arc.add_argument("--fresh", help="wait until this file (relative to source) was rewritten at or after --since")
    arc.add_argument("--since", type=float, help="epoch seconds (default: now)")
    arc.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for a lock or a fresh file")
    res = sub.add_parser("restore", help="unpack an archive into an empty folder")
    res.add_argument("archive", type=Path)
    res.add_argument("dest", type=Path)
    res.add_argument("--replace", action="store_true", help="empty the folder first")
    args = parser.parse_args(argv)
    try:
        if args.command == "archive":
            done = archive(args.source, args.out, args.fresh, args.since, args.timeout)
            print(f"{args.out}: {done.files} entries, {done.databases} SQLite copies, {done.bytes} bytes")
        else:
            count = restore(args.archive, args.dest, args.replace)
            print(f"{args.dest}: {count} entries restored from {args.archive}")
    except (BackupError, OSError, sqlite3.Error, tarfile.TarError) as err:
        print(f"backup: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
