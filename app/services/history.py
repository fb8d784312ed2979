"""Writing History rows: every action on an email, with who and when."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Insert, Integer, Table, bindparam, insert, literal, select

from app.db.models import History, UTCDateTime

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


def history_for_each(email_id: Any, action: str, at: str, user_id: str) -> Insert:
    """A History row (``action``) for each row a statement gives (``email_id``: its column),
    at the time bound as ``at``, by the user bound as ``user_id``, with ``detail`` bound:
    to log what a writing CTE changed in the same statement (PostgreSQL)."""
    return insert(History).from_select(
        ["email_id", "at", "user_id", "action", "detail"],
        select(
            email_id,
            bindparam(at, type_=UTCDateTime()),
            bindparam(user_id, type_=Integer()),
            literal(action),
            bindparam("detail"),
        ),
    )
