"""Bulk inserts through the DB-API on SQLite give what SQLAlchemy's inserts give."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import (
    Boolean,
    Column,
    Enum,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    func,
    insert,
    select,
    text,
)

from app.db.engine import Database
from app.db.models import EmailStatus, UTCDateTime
from app.services.bulk import sqlite_inserter

WHEN = datetime(2026, 11, 27, 10, 30, 5, 123456, tzinfo=UTC)


def table(metadata: MetaData, name: str) -> Table:
    return Table(
        name,
        metadata,
        Column("id", Integer, primary_key=True),
        Column(
            "status",
            Enum(EmailStatus, native_enum=False, values_callable=lambda e: [m.value for m in e]),
        ),
        Column("at", UTCDateTime),
        Column("raw", LargeBinary),
        Column("flag", Boolean),
        Column("references", Text),  # a reserved word: quoted
        Column("kind", String(20), default="plain"),
        Column("created", UTCDateTime, default=lambda: WHEN),
        Column("note", Text, server_default="none"),
    )


ROWS: list[dict[str, object]] = [
    {
        "status": EmailStatus.QUEUED,
        "at": WHEN,
        "raw": b"\x00\xffraw",
        "flag": True,
        "references": "<a>",
    },
    {"status": EmailStatus.QUARANTINED, "at": None, "raw": b"", "flag": False, "references": None},
]


def test_rows_read_back_as_sqlalchemy_stores_them(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'bulk.sqlite3'}")
    metadata = MetaData()
    ours, theirs = table(metadata, "ours"), table(metadata, "theirs")
    metadata.create_all(db.engine)
    with db.engine.begin() as conn:
        fast = sqlite_inserter(conn, ours, list(ROWS[0]))
        assert fast is not None
        ids = fast.insert_returning_ids(ROWS)
        fast.insert_many(ROWS)
        conn.execute(insert(theirs), ROWS + ROWS)
    assert ids == [1, 2]
    with db.engine.connect() as conn:
        got = conn.execute(select(ours).order_by(ours.c.id)).all()
        want = conn.execute(select(theirs).order_by(theirs.c.id)).all()
        assert got == want and len(got) == 4
        assert got[0].status == EmailStatus.QUEUED and got[0].at == WHEN and got[0].kind == "plain"
        assert got[0].created == WHEN and got[0].note == "none"
        # stored alike, not only read back alike
        stored = "SELECT status, at, raw, flag, created FROM {} ORDER BY id"
        assert (
            conn.execute(text(stored.format("ours"))).all()
            == conn.execute(text(stored.format("theirs"))).all()
        )


def test_sql_defaults_and_other_databases_are_left_to_sqlalchemy(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'bulk2.sqlite3'}")
    metadata = MetaData()
    plain = table(metadata, "plain")
    with_sql_default = Table(
        "sqldefault",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("n", Integer, default=func.abs(-1)),
    )
    metadata.create_all(db.engine)
    with db.engine.connect() as conn:
        assert sqlite_inserter(conn, with_sql_default, []) is None
        assert sqlite_inserter(conn, with_sql_default, ["n"]) is not None  # given: no default
        assert sqlite_inserter(conn, plain, list(ROWS[0])) is not None
