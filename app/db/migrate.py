"""Alembic migrations run from the application (``db upgrade`` and at start)."""

from __future__ import annotations

import itertools
import os
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app import paths
from app.db.engine import Database, DatabaseError

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

# Alembic is imported only to migrate (or when the quick check below cannot tell): loading it
# costs more start-up time than everything else a command like `channel sync` needs.
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_REVISION = re.compile(r"""^revision(?:\s*:[^=\n]*)?\s*=\s*["']([^"'\n]+)["']\s*$""", re.M)
_DOWN_REVISION = re.compile(
    r"""^down_revision(?:\s*:[^=\n]*)?\s*=\s*(?:["']([^"'\n]+)["']|(None))\s*$""", re.M
)


class SchemaError(DatabaseError):
    """The database's schema is not one this program can bring up to date (made by a newer
    version, or tables without a revision); the message says which and what to do."""


def alembic_config(db: Database) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", db.url.replace("%", "%%"))
    cfg.attributes["database"] = db
    return cfg


def current_revision(db: Database) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision(db: Database) -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config(db)).get_current_head()
    assert head is not None
    return head


def needs_upgrade(db: Database) -> bool:
    """The schema is behind this program (on PostgreSQL: or the site's roles are)."""
    head = _quick_head()
    quick = head is not None and _quick_current(db) == head
    if not quick and current_revision(db) != head_revision(db):
        return True
    return not db.is_sqlite and _roles_behind(db)


def _roles_behind(db: Database) -> bool:
    from app.db import security

    with db.engine.connect() as conn:
        return security.needs_apply(conn)


def head_revision_quick() -> str:
    """This program's head revision (without a database)."""
    head = _quick_head()
    if head is not None:
        return head
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    found = ScriptDirectory.from_config(cfg).get_current_head()
    assert found is not None
    return found


def _quick_head() -> str | None:
    """The head revision from the ``revision`` and ``down_revision`` lines of the version
    files, without Alembic; None when anything is unusual (several heads, a merge)."""
    down_of: dict[str, str | None] = {}
    for path in (MIGRATIONS / "versions").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        revision = _REVISION.findall(source)
        down = _DOWN_REVISION.findall(source)
        if len(revision) != 1 or len(down) != 1:
            return None
        down_of[revision[0]] = down[0][0] or None
    heads = set(down_of) - set(down_of.values())
    return heads.pop() if len(heads) == 1 else None


def _quick_current(db: Database) -> str | None:
    """The revision recorded in the database, if exactly one is; None otherwise (no
    table yet, or several heads: Alembic decides)."""
    try:
        with db.engine.connect() as conn:
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).all()
    except SQLAlchemyError:
        return None
    return str(rows[0][0]) if len(rows) == 1 else None


def backup_sqlite(db: Database) -> Path | None:
    """Copy an existing SQLite file aside before migrating it; returns the copy."""
    path = db.sqlite_path
    if path is None or not path.exists() or current_revision(db) is None:
        return None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    # Checkpoint the WAL so that the copied main file is complete.
    with db.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    revision = current_revision(db)
    for attempt in itertools.count(1):
        # a second upgrade in the same second (the first one failed) keeps both copies
        suffix = "" if attempt == 1 else f"-{attempt}"
        target = path.with_name(f"{path.name}.{revision}.{stamp}{suffix}.bak")
        try:
            # private like the database, whatever the umask (shutil.copy2 would copy its mode)
            fd = paths.open_private(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        except FileExistsError:
            continue
        break
    with open(path, "rb") as source, os.fdopen(fd, "wb") as copy:
        shutil.copyfileobj(source, copy)
    done = path.stat()
    os.utime(target, ns=(done.st_atime_ns, done.st_mtime_ns))
    return target


def upgrade(db: Database, revision: str = "head", role_prefix: str | None = None) -> Path | None:
    """Bring the database to ``revision``; returns the SQLite backup made, if any. On
    PostgreSQL at the head, the site's roles, grants and policies are set up or brought up
    to date too (``app.db.security``; ``role_prefix``: the site's, set once).

    Raises ``SchemaError``, having changed nothing, for a database this program cannot
    upgrade, or one behind that this login may not upgrade (not the owner's). The upgrade
    is one transaction (env.py): interrupted, it leaves the schema where it was."""
    if revision == "head" and role_prefix is None and not needs_upgrade(db):
        return None  # already current: skip loading Alembic's environment (start-up time)
    from alembic import command
    from alembic.script import ScriptDirectory

    from app.db import security

    cfg = alembic_config(db)
    script = ScriptDirectory.from_config(cfg)
    current = _check_revisions(db, script)
    if current is None:
        _clear_half_made_schema(db)
    elif not db.is_sqlite:
        _require_owner(db, current, script.get_current_head() or "?")
    backup = backup_sqlite(db)
    command.upgrade(cfg, revision)
    if revision == "head" and not db.is_sqlite:
        try:
            security.apply(db, role_prefix)
        except security.SecurityError as exc:
            raise SchemaError(str(exc)) from exc
    return backup


def _require_owner(db: Database, current: str, head: str) -> None:
    """A login that is not the schema's owner (a person's, the channel service's) cannot
    upgrade it: say who does."""
    from app.db import security

    with db.engine.connect() as conn:
        if security.is_owner(conn):
            return
    behind = (
        f"at schema revision {current}, behind this program's {head}"
        if current != head
        else "set up for an earlier version of this program's roles"
    )
    raise SchemaError(
        f"The database {db.describe()} is {behind}. The site's owner upgrades it "
        '(README, "Running a site"): email-campaigns --database OWNER-URL db upgrade. '
        "Nothing was changed."
    )


def _check_revisions(db: Database, script: ScriptDirectory) -> str | None:
    """The database's revision, if this program knows it; ``SchemaError`` if not (a newer
    version of the program upgraded it): nothing is backed up or changed then."""
    from alembic.runtime.migration import MigrationContext

    with db.engine.connect() as conn:
        heads = MigrationContext.configure(conn).get_current_heads()
    known = {r.revision for r in script.walk_revisions()}
    head = script.get_current_head() or "?"
    for current in heads:
        if current in known:
            continue
        if current.isdigit() and head.isdigit() and int(current) > int(head):
            raise SchemaError(
                f"The database is at schema revision {current}, newer than this program "
                f"knows (up to {head}): use a newer Email Campaigns. Nothing was changed."
            )
        raise SchemaError(
            f"The database is at schema revision {current}, which this program does not "
            f"know (it knows up to {head}): use the version of Email Campaigns that made it. "
            "Nothing was changed."
        )
    return heads[0] if heads else None


def _clear_half_made_schema(db: Database) -> None:
    """Before a first upgrade: tables of ours without a revision. Versions before the
    upgrade became one transaction left them when their first upgrade was interrupted
    (a full disk) in a SQLite file, whose upgrade then failed for ever ("table
    campaign_groups already exists"). Such a file, holding only our tables and all of them
    empty, is cleared to start again; anything else with our tables is refused, unchanged
    (rows would be lost; on a server the tables may be someone else's)."""
    from sqlalchemy import inspect

    from app.db.models import Base

    ours = set(Base.metadata.tables) | {"alembic_version"}
    tables = set(inspect(db.engine).get_table_names())
    found = sorted(tables & (ours - {"alembic_version"}))
    if not found:
        return
    with db.engine.connect() as conn:
        filled = [
            name
            for name in found
            if conn.execute(text(f'SELECT 1 FROM "{name}" LIMIT 1')).first() is not None
        ]
    if db.sqlite_path is not None and tables <= ours and not filled:
        with db.engine.begin() as conn:
            for name in sorted(tables):
                conn.exec_driver_sql(f'DROP TABLE "{name}"')
        return
    described = ", ".join(found)
    if filled:
        described += f" ({', '.join(filled)} with rows)"
    raise SchemaError(
        f"The database {db.describe()} holds tables of Email Campaigns ({described}) but no "
        "schema revision, so this program cannot tell what they are: restore the database "
        "from a backup, or use an empty one. Nothing was changed."
    )
