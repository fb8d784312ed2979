"""Alembic migrations run from the application (``db upgrade`` and at start)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from app.db.engine import Database

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(db: Database) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", db.url.replace("%", "%%"))
    cfg.attributes["database"] = db
    return cfg


def current_revision(db: Database) -> str | None:
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision(db: Database) -> str:
    head = ScriptDirectory.from_config(alembic_config(db)).get_current_head()
    assert head is not None
    return head


def needs_upgrade(db: Database) -> bool:
    return current_revision(db) != head_revision(db)


def backup_sqlite(db: Database) -> Path | None:
    """Copy an existing SQLite file aside before migrating it; returns the copy."""
    path = db.sqlite_path
    if path is None or not path.exists() or current_revision(db) is None:
        return None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.{current_revision(db)}.{stamp}.bak")
    # Checkpoint the WAL so that the copied main file is complete.
    with db.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copy2(path, target)
    return target


def upgrade(db: Database, revision: str = "head") -> Path | None:
    """Bring the database to ``revision``; returns the SQLite backup made, if any."""
    if revision == "head" and not needs_upgrade(db):
        return None  # already current: skip loading Alembic's environment (start-up time)
    backup = backup_sqlite(db)
    command.upgrade(alembic_config(db), revision)
    return backup
