"""Intake on PostgreSQL (SQLAlchemy's inserts; SQLite uses the DB-API path of bulk.py)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.db import migrate
from app.db.engine import Database
from app.db.models import Channel, Email, History
from app.services import demo
from app.services.intake import Fetched, Intake

pytestmark = pytest.mark.server


def mail(n: int, subject: str = "Where is my order?") -> bytes:
    return (
        f"From: Customer <c{n}@example.com>\r\nSubject: {subject}\r\n"
        f"Message-ID: <pg-{n}@example.com>\r\nDate: Fri, 27 Nov 2026 10:00:00 +0000\r\n\r\n"
        f"Body {n}\r\n"
    ).encode()


def test_store_on_postgresql(postgres_url: str) -> None:
    db = Database(postgres_url)
    migrate.upgrade(db)
    demo.seed(db)
    with db.session() as s:
        channel = s.scalars(select(Channel.id).where(Channel.name == "Support mailbox")).one()
    intake = Intake(db, channel)
    batch = [Fetched("INBOX", 7, n, mail(n)) for n in range(1, 4)]
    batch.append(Fetched("INBOX", 7, 9, mail(1)))  # the same message twice in one batch
    batch.append(Fetched("INBOX", 7, 10, mail(10, "NUL \x00 in the subject")))
    results = intake.store(batch)
    assert [r.new for r in results] == [True, True, True, False, True]
    assert results[0].email_id == results[3].email_id
    again = intake.store([Fetched("INBOX", 7, 2, mail(2))])
    assert [(r.new, r.email_id) for r in again] == [(False, results[1].email_id)]
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Email)) == 4
        assert s.scalar(select(func.count()).select_from(History)) == 8
        subjects = set(s.scalars(select(Email.subject)))
        assert "NUL \ufffd in the subject" in subjects
        assert s.scalar(select(Email.uid).where(Email.id == results[0].email_id)) == 9
    db.dispose()
