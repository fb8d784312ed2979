"""Writing History rows: every action on an email, with who and when."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import Connection, Table

from app.db.models import History

HISTORY_INSERT = cast(Table, History.__table__).insert()


def add_history(
    conn: Connection, email_id: int, at: datetime, user_id: int | None, action: str, detail: str
) -> None:
    """A History row, written now in the transaction (a plain INSERT: cheaper than adding an
    object for a session's next flush, and the same row)."""
    conn.execute(
        HISTORY_INSERT,
        {"email_id": email_id, "at": at, "user_id": user_id, "action": action, "detail": detail},
    )
