"""The commit of a stored batch is durable before the server is told anything."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, select

from app.db.engine import Database
from app.db.models import Channel
from app.services.intake import Fetched, Intake


@pytest.mark.sqlite_only
def test_a_stored_batch_is_committed_with_full_sync(demo_db: Database) -> None:
    with demo_db.session() as s:
        channel = s.scalars(select(Channel.id).where(Channel.name == "Support mailbox")).one()
    seen: list[int] = []

    def on_commit(conn: Any) -> None:
        raw = conn.connection.dbapi_connection
        seen.append(raw.execute("PRAGMA synchronous").fetchone()[0])

    with demo_db.engine.connect() as conn:  # the engine's own setting for other work
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    event.listen(demo_db.engine, "commit", on_commit)
    raw = b"From: a@example.com\r\nSubject: x\r\nMessage-ID: <d@x>\r\n\r\nhi\r\n"
    Intake(demo_db, channel).store([Fetched("INBOX", 1, 1, raw)])
    assert seen and seen[-1] == 2  # FULL
