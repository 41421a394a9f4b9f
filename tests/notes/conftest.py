"""Fixtures of the notes library's tests: ``notes_backend`` runs a test once on SQLite and once on PostgreSQL.

``notes_backend`` is a :class:`~mathnotes.notes.db.NotesConfig` whose ``notes_dir`` is the test's own folder:
``sqlite`` keeps the database there; ``postgres`` points ``database_url`` at a new empty database on the
session's PostgreSQL + pgvector (``postgres_db``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mathnotes.notes.db import NotesConfig


@pytest.fixture(params=["sqlite", "postgres"])
def notes_backend(request: pytest.FixtureRequest, tmp_path: Path) -> NotesConfig:
    if request.param == "postgres":
        url: str = request.getfixturevalue("postgres_db")
        return NotesConfig(notes_dir=str(tmp_path / "notes"), database_url=url)
    return NotesConfig(notes_dir=str(tmp_path / "notes"))
