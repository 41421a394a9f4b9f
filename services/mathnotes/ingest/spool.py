"""A bounded on-disk spool of line-protocol batches, replayed oldest first.

Each batch is one gzip file named by a sequence number, written to a temporary
name, fsync'd and renamed, so a batch is either wholly in the spool or not at
all, across crashes. Past ``max_bytes`` the oldest batches are dropped (and
counted: the caller logs it loudly).
"""

from __future__ import annotations

import gzip
import os
import threading
from pathlib import Path

__all__ = ["Spool"]


class Spool:
    def __init__(self, directory: str | os.PathLike[str], max_bytes: int) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        for stale in self.dir.glob("*.tmp"):
            stale.unlink()
        self._files = sorted(self.dir.glob("*.lp.gz"))
        self._bytes = sum(f.stat().st_size for f in self._files)
        self._seq = int(self._files[-1].name.split(".")[0]) + 1 if self._files else 0

    @property
    def depth(self) -> int:
        """Batches waiting."""
        return len(self._files)

    @property
    def bytes(self) -> int:
        return self._bytes

    def append(self, lines: list[str]) -> tuple[int, int]:
        """Store one batch durably; returns (batches dropped, lines dropped) to stay under the bound."""
        data = gzip.compress(("\n".join(lines) + "\n").encode(), compresslevel=1)
        with self._lock:
            path = self.dir / f"{self._seq:020d}.lp.gz"
            self._seq += 1
            tmp = path.with_suffix(".tmp")
            with open(tmp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
            self._fsync_dir()
            self._files.append(path)
            self._bytes += len(data)
            dropped_batches = dropped_lines = 0
            while self._bytes > self.max_bytes and len(self._files) > 1:
                oldest = self._files.pop(0)
                dropped_lines += len(self._read(oldest))
                self._bytes -= oldest.stat().st_size
                oldest.unlink()
                dropped_batches += 1
            return dropped_batches, dropped_lines

    def peek_many(self, max_lines: int) -> tuple[list[str], list[Path]]:
        """The oldest batches (at least one, up to ``max_lines`` lines together) and their files, for :meth:`remove`."""
        with self._lock:
            lines: list[str] = []
            taken: list[Path] = []
            for path in self._files:
                batch = self._read(path)
                if taken and len(lines) + len(batch) > max_lines:
                    break
                lines.extend(batch)
                taken.append(path)
            return lines, taken

    def remove(self, paths: list[Path]) -> None:
        """Forget these batches (after they were written); ones already dropped for space are skipped."""
        with self._lock:
            for path in paths:
                if path in self._files:
                    self._files.remove(path)
                    self._bytes -= path.stat().st_size
                    path.unlink()

    @staticmethod
    def _read(path: Path) -> list[str]:
        return [line for line in gzip.decompress(path.read_bytes()).decode().split("\n") if line]

    def _fsync_dir(self) -> None:
        fd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
