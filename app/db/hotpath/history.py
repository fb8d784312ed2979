"""History rows as they are written: by a plain insert (``insert_history``: the services'
``app.services.history.write_history`` and the SQLite steps here), or by a statement that
writes them for the rows it changed (``history_for_each``: PostgreSQL's single statements
of Take next and Send). One row shape for both: email, time, user, action, detail."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Connection, Insert, Integer, Table, bindparam, insert, literal, select

from app.db.models import History, UTCDateTime

from .bulk import Row, insert_rows

HISTORY = cast(Table, History.__table__)
COLUMNS = ("email_id", "at", "user_id", "action", "detail")


def insert_history(conn: Connection, rows: Sequence[Row]) -> None:
    """History rows (each with the keys of ``COLUMNS``), written now in ``conn``'s
    transaction: one statement, whatever their number."""
    insert_rows(conn, HISTORY, rows)


def history_for_each(email_id: Any, action: str, at: str, user_id: str) -> Insert:
    """A History row (``action``) for each row a statement gives (``email_id``: its column),
    at the time bound as ``at``, by the user bound as ``user_id``, with ``detail`` bound:
    to log what a writing CTE changed in the same statement (PostgreSQL)."""
    return insert(History).from_select(
        list(COLUMNS),
        select(
            email_id,
            bindparam(at, type_=UTCDateTime()),
            bindparam(user_id, type_=Integer()),
            literal(action),
            bindparam("detail"),
        ),
    )
