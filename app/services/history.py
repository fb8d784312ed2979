"""Writing History rows: every action on an email, with who and when.

Every History row the services write goes through ``write_history``; Take next and Send,
on the hot path, write theirs in their own statements (``app.db.hotpath``), in the same
shape."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from app.db import hotpath


class Entry(NamedTuple):
    """One History row: ``action`` on the email ``email_id`` at ``at``, by ``user_id``
    (None: the system — retrieval, the outbox, a silent workstation's return)."""

    email_id: int
    action: str
    detail: str
    at: datetime
    user_id: int | None = None


def write_history(to: Session | Connection, entries: Sequence[Entry]) -> None:
    """Write ``entries`` now, in the transaction of ``to`` (a session's, or a connection's):
    one statement, whatever their number (a retrieval pass writes hundreds at once)."""
    if not entries:
        return
    conn = to.connection() if isinstance(to, Session) else to
    hotpath.insert_history(conn, [entry._asdict() for entry in entries])
