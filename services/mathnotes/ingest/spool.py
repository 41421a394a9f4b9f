"""A bounded on-disk spool of line-protocol batches, replayed oldest first.

Each batch is one gzip file named by a sequence number, written to a temporary
name, fsync'd and renamed, so a batch is either wholly in the spool or not at
all, across crashes. Past ``max_bytes`` the oldest batches are dropped (and
counted: the caller logs it loudly).

A batch file that cannot be read back (not gzip, truncated, not UTF-8, gone) is
moved to ``quarantine/`` beside the batches, logged and counted
(``quarantined``), and replay goes on with the next one; the last
:data:`QUARANTINE_KEEP` such files are kept for a person to look at. A failed
:meth:`append` (disk full, a file-size limit, the directory gone) raises
``OSError`` and leaves nothing half-written behind.
"""

from __future__ import annotations

import gzip
import logging
import os
import threading
import zlib
from pathlib import Path

__all__ = ["QUARANTINE_KEEP", "Spool"]

log = logging.getLogger("mathnotes.ingest.spool")
QUARANTINE_KEEP = 100
_UNREADABLE = (OSError, EOFError, zlib.error, UnicodeDecodeError)  # gzip.BadGzipFile is an OSError


class Spool:
    def __init__(self, directory: str | os.PathLike[str], max_bytes: int) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.quarantine_dir = self.dir / "quarantine"
        self.max_bytes = max_bytes
        self.quarantined = 0  # batch files moved aside since start
        self._lock = threading.Lock()
        for stale in self.dir.glob("*.tmp"):
            stale.unlink()
        self._sizes = {path: path.stat().st_size for path in sorted(self.dir.glob("*.lp.gz"))}  # oldest first
        self._bytes = sum(self._sizes.values())
        last = next(reversed(self._sizes), None)
        self._seq = int(last.name.split(".")[0]) + 1 if last else 0

    @property
    def depth(self) -> int:
        """Batches waiting."""
        return len(self._sizes)

    @property
    def bytes(self) -> int:
        return self._bytes

    def append(self, lines: list[str]) -> tuple[int, int]:
        """Store one batch durably; returns (batches dropped, lines dropped) to stay under the bound."""
        data = gzip.compress(("\n".join(lines) + "\n").encode(), compresslevel=1)
        with self._lock:
            path = self.dir / f"{self._seq:020d}.lp.gz"
            tmp = path.with_suffix(".tmp")
            try:
                with open(tmp, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, path)
                self._fsync_dir()
            except OSError:
                tmp.unlink(missing_ok=True)
                raise
            self._seq += 1
            self._sizes[path] = len(data)
            self._bytes += len(data)
            dropped_batches = dropped_lines = 0
            while self._bytes > self.max_bytes and len(self._sizes) > 1:
                oldest = next(iter(self._sizes))
                batch = self._read(oldest)
                if batch is None:
                    continue  # quarantined: it no longer counts
                dropped_lines += len(batch)
                self._forget(oldest)
                dropped_batches += 1
            return dropped_batches, dropped_lines

    def peek_many(self, max_lines: int) -> tuple[list[str], list[Path]]:
        """The oldest readable batches (at least one, up to ``max_lines`` lines together) and their files.

        Unreadable ones on the way are quarantined. Pass the files to :meth:`remove` once written.
        """
        with self._lock:
            lines: list[str] = []
            taken: list[Path] = []
            for path in list(self._sizes):
                batch = self._read(path)
                if batch is None:
                    continue
                if taken and len(lines) + len(batch) > max_lines:
                    break
                lines.extend(batch)
                taken.append(path)
            return lines, taken

    def remove(self, paths: list[Path]) -> None:
        """Forget these batches (after they were written); ones already dropped for space are skipped."""
        with self._lock:
            for path in paths:
                if path in self._sizes:
                    self._forget(path)

    def _forget(self, path: Path) -> None:
        self._bytes -= self._sizes.pop(path)
        path.unlink(missing_ok=True)

    def _read(self, path: Path) -> list[str] | None:
        """The batch's lines; None once an unreadable file has been quarantined (lock held)."""
        try:
            return [line for line in gzip.decompress(path.read_bytes()).decode().split("\n") if line]
        except _UNREADABLE as err:
            self._quarantine(path, err)
            return None

    def _quarantine(self, path: Path, err: BaseException) -> None:
        self._bytes -= self._sizes.pop(path)
        self.quarantined += 1
        try:
            self.quarantine_dir.mkdir(exist_ok=True)
            os.replace(path, self.quarantine_dir / path.name)
            kept = sorted(self.quarantine_dir.iterdir())
            for old in kept[: max(0, len(kept) - QUARANTINE_KEEP)]:
                old.unlink()
            where = f"moved to {self.quarantine_dir}"
        except OSError as move_err:
            where = f"could not be moved aside ({move_err})"
        log.error("SPOOL QUARANTINE: cannot read %s (%s: %s); %s", path.name, type(err).__name__, err, where)

    def _fsync_dir(self) -> None:
        fd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
