"""Migration 0009 (issue 11, item 4): attachment names and Content-IDs of any length, on
SQLite and PostgreSQL; going back shortens them rather than failing."""

from __future__ import annotations

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select, text

from app.db import migrate
from app.db.engine import Database
from app.db.models import Attachment, Email

LONG = "n" * 5000 + ".pdf"


def _before_0009(db: Database) -> str:
    script = ScriptDirectory.from_config(migrate.alembic_config(db))
    down = script.get_revision("0009").down_revision
    assert isinstance(down, str)
    return down


def _columns(db: Database) -> dict[str, str]:
    return {
        c["name"]: str(c["type"]).upper() for c in inspect(db.engine).get_columns("attachments")
    }


def test_0009_stores_names_of_any_length_and_goes_back_shortening_them(db: Database) -> None:
    with db.session() as s:
        email = Email(raw=b"Subject: x\r\n\r\nx")
        s.add(email)
        s.flush()
        s.add(Attachment(email_id=email.id, filename=LONG, content_id="c" * 3000, size=1))
        s.add(Attachment(email_id=email.id, filename="short.txt", size=1))
    assert _columns(db)["filename"] == "TEXT" and _columns(db)["content_id"] == "TEXT"

    command.downgrade(migrate.alembic_config(db), _before_0009(db))
    assert "1000" in _columns(db)["filename"] and "1000" in _columns(db)["content_id"]
    with db.engine.connect() as conn:
        rows = conn.execute(text("SELECT filename, content_id FROM attachments ORDER BY id")).all()
    assert rows == [(LONG[:1000], "c" * 1000), ("short.txt", None)]

    migrate.upgrade(db)
    assert _columns(db)["filename"] == "TEXT"
    with db.session() as s:
        s.add(Attachment(email_id=s.scalars(select(Email.id)).one(), filename=LONG, size=1))
    with db.session() as s:
        assert LONG in s.scalars(select(Attachment.filename)).all()
