"""Leases: a job exactly one process may do at a time, across every process sharing the
database (workstations and ``serve`` processes, SQLite or PostgreSQL).

A lease is a row (name, holder, expires at). Taking it is one ``UPDATE … WHERE holder = me
OR expires_at < now`` (or the first ``INSERT``), so two processes never both hold it; the
holder renews it well before it expires, and stops working when a renewal fails. A holder
that dies simply stops renewing: after the time to live, another process takes over.

Times come from the database server on PostgreSQL (workstation clocks may differ) and from
this machine on SQLite (one machine by nature).
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from app.db.engine import Database
from app.db.models import Lease, utcnow
from app.services.base import changed_rows

DEFAULT_TTL = 30.0  # seconds


def process_name() -> str:
    """Who holds a lease, readable by a person: host, process id and a unique tail."""
    return f"{socket.gethostname()} pid {os.getpid()} ({uuid.uuid4().hex[:6]})"


def database_now(s: Session, db: Database) -> datetime:
    if db.is_sqlite:
        return utcnow()
    value = s.scalar(select(func.now()))
    assert isinstance(value, datetime)
    return value


class LeaseHolder:
    """One process's claim on the lease ``name``."""

    def __init__(
        self, db: Database, name: str, holder: str | None = None, ttl: float = DEFAULT_TTL
    ) -> None:
        self.db, self.name, self.ttl = db, name, ttl
        self.holder = holder or process_name()
        self.held = False
        self._renewed = 0.0  # time.monotonic() of the last successful take or renewal

    def acquire(self) -> bool:
        """Take or renew the lease; True while this process holds it."""
        with self.db.session() as s:
            now = database_now(s, self.db)
            expires = now + timedelta(seconds=self.ttl)
            changed = changed_rows(
                s,
                update(Lease)
                .where(
                    Lease.name == self.name,
                    or_(Lease.holder == self.holder, Lease.expires_at < now),
                )
                .values(holder=self.holder, expires_at=expires)
                .execution_options(synchronize_session=False),
            )
            if changed and not self.held:
                s.execute(
                    update(Lease)
                    .where(Lease.name == self.name, Lease.holder == self.holder)
                    .values(acquired_at=now)
                    .execution_options(synchronize_session=False)
                )
        if not changed:
            changed = self._insert(expires, now)
        self.held = bool(changed)
        if self.held:
            self._renewed = time.monotonic()
        return self.held

    def _insert(self, expires: datetime, now: datetime) -> int:
        try:
            with self.db.session() as s:
                s.add(
                    Lease(name=self.name, holder=self.holder, acquired_at=now, expires_at=expires)
                )
        except IntegrityError:
            return 0  # someone else holds it
        return 1

    def keep(self) -> bool:
        """Renew when a third of the time to live has passed; False once the lease is lost
        (stop working at once)."""
        if self.held and time.monotonic() - self._renewed < self.ttl / 3:
            return True
        try:
            return self.acquire()
        except SQLAlchemyError:
            # The database cannot be reached: the lease may run out meanwhile, so stop.
            self.held = False
            return False

    def current_holder(self) -> str | None:
        """Who holds the lease now (None when nobody does, or it ran out)."""
        with self.db.session() as s:
            now = database_now(s, self.db)
            return s.scalar(
                select(Lease.holder).where(Lease.name == self.name, Lease.expires_at >= now)
            )

    def release(self) -> None:
        """Give the lease up (on a clean stop), so that another process can take over now."""
        if not self.held:
            return
        self.held = False
        with self.db.session() as s:
            s.execute(
                delete(Lease)
                .where(Lease.name == self.name, Lease.holder == self.holder)
                .execution_options(synchronize_session=False)
            )


def channel_lease_name(channel_id: int) -> str:
    return f"channel:{channel_id}:retrieval"
