"""Processes as the kernel shows them in ``/proc``: a process tree, and its memory figures.

Shared by the tests that measure memory (RSS and its high-water mark ``VmHWM`` of a service's
process tree) and the one that checks no server outlives a stopped pytest.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["descendants", "stat", "status_kb", "tree", "tree_kb"]


def stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (state first, then the parent pid, ...);
    None when the process is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()


def descendants(root: int) -> list[int]:
    """Every live process below ``root`` (children, their children, ...); zombies are left out."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        fields = stat(int(entry.name)) if entry.name.isdigit() else None
        if fields is not None and fields[0] not in "ZX":
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: list[int] = []
    todo = [root]
    while todo:
        kids = children.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def tree(root: int) -> list[int]:
    """``root`` and every live process below it."""
    return [root, *descendants(root)]


def status_kb(pid: int, field: str) -> int:
    """A figure of ``/proc/<pid>/status`` in kB, e.g. ``VmRSS`` or ``VmHWM`` (OSError when the process is gone)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{field} missing for {pid}")


def tree_kb(root: int, field: str) -> int:
    """``field`` summed over ``root`` and its descendants, in kB (a process that went meanwhile counts 0)."""
    total = 0
    for pid in tree(root):
        try:
            total += status_kb(pid, field)
        except (OSError, AssertionError):
            pass
    return total
