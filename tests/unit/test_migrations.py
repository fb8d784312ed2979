"""Alembic migrations: an empty database, an upgrade from the first revision, backups."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text

from app.cli import main
from app.db import migrate
from app.db.engine import Database
from app.db.models import Base, Channel, Email, EmailUid
from app.services import demo
from app.services.intake import Fetched, Intake


def test_empty_database_upgrades_to_head_matching_the_models(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'new.sqlite3'}")
    assert migrate.current_revision(db) is None
    assert migrate.upgrade(db) is None  # nothing to back up in a new file
    assert migrate.current_revision(db) == migrate.head_revision(db)
    with db.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_upgrade_from_the_first_revision_keeps_data_and_backs_up(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    db = Database(f"sqlite:///{path}")
    command.upgrade(migrate.alembic_config(db), "0001")
    assert "emails" not in inspect(db.engine).get_table_names()
    with db.engine.begin() as conn:
        conn.execute(
            text("INSERT INTO campaign_groups (id, name, description) VALUES (1, 'Größe', '')")
        )
        conn.execute(
            text(
                "INSERT INTO campaigns (id, title, description, group_id, allow_free_format, "
                "require_address_confirmation, allow_put_back, allow_move, allow_draft, "
                "service_level_period, created_at, version) "
                "VALUES (1, '日本語', '', 1, 0, 1, 1, 0, 1, 180, '2026-01-01 00:00:00', 1)"
            )
        )
    backup = migrate.upgrade(db)
    assert backup is not None and backup.exists() and "0001" in backup.name
    assert migrate.current_revision(db) == migrate.head_revision(db)
    assert "emails" in inspect(db.engine).get_table_names()
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT title FROM campaigns")).scalar() == "日本語"
    old = Database(f"sqlite:///{backup}")
    assert migrate.current_revision(old) == "0001"


def test_db_upgrade_command(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    assert main(["--database", url, "db", "upgrade"]) == 0
    assert migrate.head_revision(Database(url)) in capsys.readouterr().out


def test_migrations_downgrade_to_base(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'down.sqlite3'}")
    migrate.upgrade(db)
    command.downgrade(migrate.alembic_config(db), "base")
    assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}


def test_0007_makes_each_emails_uid_its_first_known_one(db: Database) -> None:
    demo.seed(db)
    with db.session() as s:
        channel = s.scalars(select(Channel.id).where(Channel.name == "Support mailbox")).one()
    one, two = (
        b"From: a@example.com\r\nSubject: %d\r\nMessage-ID: <%d@x>\r\n\r\nhi\r\n" % (n, n)
        for n in (1, 2)
    )
    Intake(db, channel).store([Fetched("INBOX", 7, 1, one), Fetched("INBOX", 7, 2, two)])
    with db.session() as s:
        s.add(Email(channel_id=channel, raw=b"not retrieved: no UID"))
    command.downgrade(migrate.alembic_config(db), "0006")  # (emails before 0007)
    assert "email_uids" not in inspect(db.engine).get_table_names()
    migrate.upgrade(db)
    with db.session() as s:
        known = s.execute(
            select(
                EmailUid.email_id,
                EmailUid.channel_id,
                EmailUid.folder,
                EmailUid.uidvalidity,
                EmailUid.uid,
            ).order_by(EmailUid.uid)
        ).all()
        emails = s.execute(
            select(Email.id, Email.channel_id, Email.imap_folder, Email.uidvalidity, Email.uid)
            .where(Email.uid.is_not(None))
            .order_by(Email.uid)
        ).all()
    assert known == emails and [row.uid for row in known] == [1, 2]
    # a pass knows them by their UIDs (it would fetch the others)
    assert Intake(db, channel).known_uids("INBOX", 7, [1, 2, 3]) == {1, 2}
