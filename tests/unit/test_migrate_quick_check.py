"""The quick schema check of start-up (no Alembic when the database is current)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command

from app.db import migrate
from app.db.engine import Database


def test_the_quick_head_is_alembics_head(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'h.sqlite3'}")
    assert migrate._quick_head() == migrate.head_revision(db)


def test_needs_upgrade_for_new_old_and_current_databases(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'n.sqlite3'}")
    assert migrate._quick_current(db) is None  # no alembic_version table yet
    assert migrate.needs_upgrade(db)
    command.upgrade(migrate.alembic_config(db), "0001")
    assert migrate._quick_current(db) == "0001"
    assert migrate.needs_upgrade(db)
    migrate.upgrade(db)
    assert not migrate.needs_upgrade(db)


def test_unusual_version_files_leave_the_decision_to_alembic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    versions = tmp_path / "versions"
    versions.mkdir()
    (versions / "a.py").write_text('revision = "a"\ndown_revision = None\n')
    (versions / "b.py").write_text('revision = "b"\ndown_revision = "a"\n')
    monkeypatch.setattr(migrate, "MIGRATIONS", tmp_path)
    assert migrate._quick_head() == "b"
    (versions / "c.py").write_text('revision = "c"\ndown_revision = "a"\n')  # two heads
    assert migrate._quick_head() is None
    (versions / "c.py").write_text('revision = "c"\ndown_revision = ("a", "b")\n')  # a merge
    assert migrate._quick_head() is None


def test_a_command_on_a_current_database_does_not_load_alembic(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'c.sqlite3'}")
    migrate.upgrade(db)
    code = (
        "import sys; from app.cli import open_database; "
        f"open_database({db.url!r}); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
