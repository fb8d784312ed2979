"""Alembic migrations: an empty database, an upgrade from the first revision, backups; a
database newer than the program, an upgrade interrupted by a full disk."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, event, inspect, make_url, select, text
from sqlalchemy.exc import OperationalError

from app.cli import main
from app.db import migrate
from app.db.engine import Database
from app.db.models import Base, Campaign, Channel, Email, EmailUid, Reply, ReplyState
from app.db.security import migrated_by_alembic
from app.services import demo, outbox
from app.services.changes import CHANNEL, polled_token
from app.services.intake import Fetched, Intake
from app.services.work import ReplyText, WorkService
from tests.conftest import ON_POSTGRES, actor_of
from tests.work_data import add_email

MIGRATED = {"include_object": migrated_by_alembic}  # (not the roles' own table)


def test_empty_database_upgrades_to_head_matching_the_models(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'new.sqlite3'}")
    assert migrate.current_revision(db) is None
    assert migrate.upgrade(db) is None  # nothing to back up in a new file
    assert migrate.current_revision(db) == migrate.head_revision(db)
    with db.engine.connect() as conn:
        assert (
            compare_metadata(MigrationContext.configure(conn, opts=MIGRATED), Base.metadata) == []
        )
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


# ---- hostile schemas: newer than this program, a first upgrade interrupted (issue 11) ----


@pytest.fixture
def empty_url(tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """An empty database, never upgraded: a SQLite file, or on PostgreSQL runs a database
    of the test server."""
    if ON_POSTGRES:
        return str(request.getfixturevalue("postgres_url"))
    return f"sqlite:///{tmp_path / 'empty.sqlite3'}"


def _tables(db: Database) -> set[str]:
    db.engine.dispose()  # (a fresh look, not a cached one)
    return set(inspect(db.engine).get_table_names())


def test_a_database_newer_than_the_program_is_refused_untouched(  # type: ignore[no-untyped-def]
    db: Database, tmp_path: Path, capsys
) -> None:
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0042'"))
    tables = _tables(db)
    before = sorted(p.name for p in tmp_path.iterdir())
    head = migrate._quick_head()
    assert main(["--database", db.url, "db", "upgrade"]) == 4
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert (
        f"The database is at schema revision 0042, newer than this program knows (up to {head})"
        in err
    )
    assert "use a newer Email Campaigns" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no .bak written
    assert not list(tmp_path.rglob("*.bak"))
    assert _tables(db) == tables
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0042"
    # the same through the service the GUI start calls
    with pytest.raises(migrate.SchemaError, match="newer than this program knows"):
        migrate.upgrade(db)
    assert not list(tmp_path.rglob("*.bak"))


def test_an_unknown_older_looking_revision_is_named_too(db: Database, capsys) -> None:  # type: ignore[no-untyped-def]
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'abc123'"))
    assert main(["--database", db.url, "config", "export"]) == 4
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "schema revision abc123, which this program does not know" in err


@contextmanager
def disk_full_at(statement_start: str) -> Iterator[list[str]]:
    """Every engine fails the first statement that starts with ``statement_start`` as a
    full disk would: the statements before it have run."""
    failed: list[str] = []

    def fail(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if not failed and statement.lstrip().upper().startswith(statement_start.upper()):
            failed.append(statement)
            raise conn.dialect.loaded_dbapi.OperationalError("database or disk is full")

    event.listen(Engine, "before_cursor_execute", fail)
    try:
        yield failed
    finally:
        event.remove(Engine, "before_cursor_execute", fail)


def test_a_first_upgrade_interrupted_by_a_full_disk_is_done_again_next_time(  # type: ignore[no-untyped-def]
    empty_url: str, capsys
) -> None:
    # 0001 creates campaign_groups first, then channels: the disk is full at the second
    with disk_full_at("CREATE TABLE channels") as failed:
        assert main(["--database", empty_url, "db", "upgrade"]) == 4
    assert failed, "the failure was not injected"
    err = capsys.readouterr().err
    assert "database or disk is full" in err and "Traceback" not in err
    db = Database(empty_url)
    try:
        assert _tables(db) <= {"alembic_version"}  # nothing half made stays behind
        assert main(["--database", empty_url, "db", "upgrade"]) == 0
        assert migrate.current_revision(db) == migrate.head_revision(db)
        with db.engine.connect() as conn:
            assert (
                compare_metadata(MigrationContext.configure(conn, opts=MIGRATED), Base.metadata)
                == []
            )
    finally:
        db.dispose()


def test_an_upgrade_interrupted_later_keeps_the_revision_it_started_from(  # type: ignore[no-untyped-def]
    empty_url: str,
) -> None:
    db = Database(empty_url)
    try:
        command.upgrade(migrate.alembic_config(db), "0006")
        with disk_full_at("INSERT INTO email_uids"), pytest.raises(OperationalError):
            migrate.upgrade(db)  # 0007: its table made, then the disk is full
        assert migrate.current_revision(db) == "0006"
        assert "email_uids" not in _tables(db)
        migrate.upgrade(db)
        assert migrate.current_revision(db) == migrate.head_revision(db)
    finally:
        db.dispose()


@pytest.mark.sqlite_only
def test_a_file_left_half_made_by_an_older_version_is_upgraded(tmp_path: Path) -> None:
    """Older versions ran SQLite's DDL outside a transaction: their interrupted first upgrade
    left empty tables and no revision ("table campaign_groups already exists" for ever)."""
    path = tmp_path / "half.sqlite3"
    db = Database(f"sqlite:///{path}")
    with db.engine.begin() as conn:
        conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
        conn.execute(
            text("CREATE TABLE campaign_groups (id INTEGER NOT NULL PRIMARY KEY, name TEXT)")
        )
    assert main(["--database", db.url, "db", "upgrade"]) == 0
    assert migrate.current_revision(db) == migrate.head_revision(db)
    with db.engine.connect() as conn:
        assert (
            compare_metadata(MigrationContext.configure(conn, opts=MIGRATED), Base.metadata) == []
        )
    db.dispose()


def test_our_tables_with_rows_but_no_revision_are_refused(  # type: ignore[no-untyped-def]
    empty_url: str, capsys
) -> None:
    db = Database(empty_url)
    try:
        with db.engine.begin() as conn:
            conn.execute(text("CREATE TABLE campaign_groups (id INTEGER PRIMARY KEY, name TEXT)"))
            conn.execute(text("INSERT INTO campaign_groups VALUES (1, 'kept')"))
        assert main(["--database", empty_url, "db", "upgrade"]) == 4
        err = capsys.readouterr().err
        assert "Traceback" not in err and "no schema revision" in err and "campaign_groups" in err
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT name FROM campaign_groups")).scalar() == "kept"
    finally:
        db.dispose()


def test_two_backups_in_the_same_second_are_both_kept(  # type: ignore[no-untyped-def]
    tmp_path: Path, monkeypatch
) -> None:
    """An upgrade that failed and is started again at once backs the file up again: the
    first copy is kept (it was an error to open it for writing, with the copies private)."""

    class Frozen(datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[no-untyped-def]
            return datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)

    monkeypatch.setattr(migrate, "datetime", Frozen)
    db = Database(f"sqlite:///{tmp_path / 'twice.sqlite3'}")
    command.upgrade(migrate.alembic_config(db), "0001")
    first, second = migrate.backup_sqlite(db), migrate.backup_sqlite(db)
    db.dispose()
    assert first is not None and second is not None
    assert first.name == "twice.sqlite3.0001.20260101T120000Z.bak"
    assert second.name == "twice.sqlite3.0001.20260101T120000Z-2.bak"
    assert first.read_bytes() == second.read_bytes() != b""


# ---- 0011: every change of the configuration is heard (issue 13, item 3) ----

# Each a change of rows of one table only: update them all (to what they hold), and for the
# link tables and filters a deletion, for groups and users an insertion and a deletion.
CONFIG_CHANGES = [
    ("campaign_groups", "UPDATE campaign_groups SET id = id"),
    ("campaign_groups", "INSERT INTO campaign_groups (name, description) VALUES ('New', '')"),
    ("campaign_groups", "DELETE FROM campaign_groups WHERE name = 'New'"),
    ("campaigns", "UPDATE campaigns SET title = title"),
    ("teams", "UPDATE teams SET name = name"),
    ("team_members", "UPDATE team_members SET user_id = user_id"),
    ("team_members", "DELETE FROM team_members"),
    ("campaign_teams", "UPDATE campaign_teams SET team_id = team_id"),
    ("campaign_teams", "DELETE FROM campaign_teams"),
    ("templates", "UPDATE templates SET name = name"),
    ("campaign_templates", "UPDATE campaign_templates SET added_on = added_on"),
    ("campaign_templates", "DELETE FROM campaign_templates"),
    ("channels", "UPDATE channels SET name = name"),
    ("filters", "UPDATE filters SET keyword = keyword"),
    ("filters", "DELETE FROM filters"),
    ("organisation", "UPDATE organisation SET name = name"),
    ("users", "UPDATE users SET display_name = display_name"),
    ("users", "UPDATE users SET role = role"),
    (
        "users",
        "INSERT INTO users (login, display_name, email, role, active, is_demo) "
        "VALUES ('new', 'New', '', 'agent', :yes, :no)",
    ),
    ("users", "DELETE FROM users WHERE login = 'new'"),
]
# What says nothing: the heartbeat, a password renewed at sign-in
QUIET_CHANGES = [
    "UPDATE users SET last_seen_at = CURRENT_TIMESTAMP",
    "UPDATE users SET password_hash = password_hash",
    "UPDATE leases SET holder = holder",
]


@contextmanager
def heard_changes(db: Database) -> Iterator[Callable[[str], set[str]]]:
    """``change(sql)`` commits the statement and returns what another workstation hears:
    on PostgreSQL the payloads of the notifications (ended by one of the test's own, which
    comes after them); on SQLite {"token"} when the polled change token moved."""
    params = {"yes": True, "no": False}
    if db.is_sqlite:

        def polled(sql: str) -> set[str]:
            before = polled_token(db)
            with db.engine.begin() as conn:
                conn.execute(text(sql), params)
            return {"token"} if polled_token(db) != before else set()

        yield polled
        return
    import psycopg

    url = make_url(db.url).set(drivername="postgresql").render_as_string(hide_password=False)
    listener = psycopg.connect(url, autocommit=True)
    try:
        listener.execute(f"LISTEN {CHANNEL}")

        def notified(sql: str) -> set[str]:
            with db.engine.begin() as conn:
                conn.execute(text(sql), params)
            with db.engine.begin() as conn:
                conn.execute(text("SELECT pg_notify(:channel, 'end')"), {"channel": CHANNEL})
            payloads: set[str] = set()
            for notify in listener.notifies(timeout=5):
                if notify.payload == "end":
                    return payloads
                payloads.add(notify.payload)
            raise AssertionError("the test's own notification did not come")

        yield notified
    finally:
        listener.close()


def test_every_change_of_the_configuration_is_heard_and_nothing_more(demo_db: Database) -> None:
    with heard_changes(demo_db) as change:
        for table, sql in CONFIG_CHANGES:
            heard = change(sql)
            if demo_db.is_sqlite:
                assert heard == {"token"}, sql
            else:  # (a user deleted: the rows that named them changed too, by the foreign keys)
                assert table in heard, sql
                # table names at most: nothing of the rows (any login may LISTEN)
                assert heard <= set(Base.metadata.tables), sql
        for sql in QUIET_CHANGES:
            assert change(sql) == set(), sql
        # (and emails as before: 0006)
        assert change("UPDATE emails SET subject = subject") == (
            set() if demo_db.is_sqlite else {"emails"}  # SQLite: History tells of emails
        )


def _triggers(db: Database) -> set[str]:
    with db.engine.connect() as conn:
        if db.is_sqlite:
            query = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
        else:
            # (not the roles' own trigger: app.db.security's, not a migration's)
            query = (
                "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgname NOT LIKE 'ec\\_%'"
            )
        return set(conn.execute(text(query)).scalars())


def test_0011_upgrades_and_downgrades_keeping_the_data(demo_db: Database) -> None:
    watched = {table for table, _sql in CONFIG_CHANGES}
    at_head = _triggers(demo_db)
    if demo_db.is_sqlite:
        assert at_head == {
            f"{t}_config_{e}" for t in watched for e in ("insert", "update", "delete")
        }
    else:
        assert at_head == {f"{t}_notify" for t in {"emails", "replies", "history", *watched}} | {
            "users_rights_notify"
        }
    with demo_db.session() as s:
        campaigns = s.scalars(select(Campaign.title).order_by(Campaign.id)).all()
    command.downgrade(migrate.alembic_config(demo_db), "0010")
    assert migrate.current_revision(demo_db) == "0010"
    assert "config_changes" not in _tables(demo_db)
    assert _triggers(demo_db) == (
        set()
        if demo_db.is_sqlite
        else {"emails_notify", "replies_notify", "history_notify", "users_rights_notify"}
    )
    migrate.upgrade(demo_db)
    assert migrate.current_revision(demo_db) == migrate.head_revision(demo_db)
    assert _triggers(demo_db) == at_head
    with demo_db.engine.connect() as conn:
        assert conn.execute(text("SELECT id, counter FROM config_changes")).all() == [(1, 0)]
        assert (
            compare_metadata(MigrationContext.configure(conn, opts=MIGRATED), Base.metadata) == []
        )
    with demo_db.session() as s:
        assert s.scalars(select(Campaign.title).order_by(Campaign.id)).all() == campaigns
    with heard_changes(demo_db) as change:  # heard again
        assert change("UPDATE campaigns SET title = title") == (
            {"token"} if demo_db.is_sqlite else {"campaigns"}
        )


# ---- 0012: who holds a reply being sent, and whether it may have been handed over ----


def _reply_columns(db: Database) -> set[str]:
    db.engine.dispose()
    return {c["name"] for c in inspect(db.engine).get_columns("replies")}


def test_0012_upgrades_and_downgrades_keeping_the_replies(demo_db: Database) -> None:
    email_id = add_email(demo_db, "General Enquiries")
    alice = WorkService(demo_db, actor_of(demo_db, "alice"))
    alice.take(email_id)
    reply_id = alice.send(email_id, ReplyText(to="zoe@customers.example", subject="Re", body="b"))
    now = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
    assert outbox.claim_ids(demo_db, [reply_id], now, "host pid 1 (abcdef)")
    assert outbox.start_transmission(demo_db, reply_id, "host pid 1 (abcdef)", now)
    triggers = _triggers(demo_db)

    command.downgrade(migrate.alembic_config(demo_db), "0011")
    assert migrate.current_revision(demo_db) == "0011"
    assert {"claimed_by", "transmission_started_at"}.isdisjoint(_reply_columns(demo_db))
    assert _triggers(demo_db) == triggers  # (no table copied: 0006's and 0011's kept)
    with demo_db.engine.connect() as conn:
        kept = conn.execute(
            text("SELECT state, next_attempt_at FROM replies WHERE id = :id"), {"id": reply_id}
        ).one()
    assert kept[0] == ReplyState.SENDING.value and kept[1] is not None

    migrate.upgrade(demo_db)
    assert migrate.current_revision(demo_db) == migrate.head_revision(demo_db)
    assert {"claimed_by", "transmission_started_at"} <= _reply_columns(demo_db)
    with demo_db.engine.connect() as conn:
        assert (
            compare_metadata(MigrationContext.configure(conn, opts=MIGRATED), Base.metadata) == []
        )
    with demo_db.session() as s:
        reply = s.get_one(Reply, reply_id)
        # a claim of before the upgrade names nobody: recovered as possibly handed over
        assert (reply.state, reply.claimed_by, reply.transmission_started_at) == (
            ReplyState.SENDING,
            None,
            None,
        )
    later = now + outbox.LEASE * 2
    assert outbox.give_back_untransmitted(demo_db, later) == []
    assert list(outbox.recover_stale(demo_db, later)) == [reply_id]
