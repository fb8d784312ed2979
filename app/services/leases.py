"""Leases: a job exactly one process may do at a time, across every process sharing the
database (workstations and ``serve`` processes, SQLite or PostgreSQL).

A lease is a row (name, holder, expires at). Taking it is one ``UPDATE … WHERE holder = me
OR expires_at < now`` (or the first ``INSERT``), so two processes never both hold it; the
holder renews it every third of its time to live, and stops working when a renewal fails. A
holder that dies simply stops renewing: when the lease runs out, a process waiting for it
takes over (within ``TAKEOVER_SECONDS`` of the death: ``ttl_for``).

Times come from the database server on PostgreSQL (workstation clocks may differ) and from
this machine on SQLite (one machine by nature).
"""

from __future__ import annotations

import os
import re
import socket
import time
import uuid
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from app.db.engine import Database
from app.db.models import Lease, utcnow
from app.services import outage
from app.services.base import changed_rows
from app.services.errors import database_unavailable

# A holder that dies is taken over within this many seconds (``serve --lease-seconds``).
TAKEOVER_SECONDS = 30.0


def ttl_for(takeover: float) -> float:
    """The time to live of a lease that another process takes over within ``takeover``
    seconds of its holder's death. The holder may die just after renewing it: the lease then
    runs its whole time to live, and a process waiting for it takes it as soon as it runs
    out (``LeaseHolder.current`` says when). A tenth of the time, at most 1 s, is left for
    that process to wake up and take it."""
    return takeover - min(1.0, takeover / 10)


DEFAULT_TTL = ttl_for(TAKEOVER_SECONDS)  # seconds


def process_name() -> str:
    """Who holds a lease, readable by a person: host, process id and a unique tail."""
    return f"{socket.gethostname()} pid {os.getpid()} ({uuid.uuid4().hex[:6]})"


_PROCESS_NAME = re.compile(r"(?P<host>.*) pid (?P<pid>[0-9]+) \([0-9a-f]{6}\)")


def died_here(holder: str) -> bool:
    """Whether ``holder`` (a ``process_name()``) was a process of this machine that has
    ended. False whenever that cannot be told: another machine's, or a process that runs
    (or a new one given the same number)."""
    found = _PROCESS_NAME.fullmatch(holder)
    if found is None or found["host"] != socket.gethostname():
        return False
    pid = int(found["pid"])
    if pid == os.getpid():
        return False  # (another holder in this very process)
    try:
        os.kill(pid, 0)  # no signal sent: only whether the process exists
    except ProcessLookupError:
        return True
    except OSError:  # it exists, as another user's
        return False
    return False


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
        except SQLAlchemyError as exc:
            # The database cannot be reached: the lease may run out meanwhile, so stop.
            self.held = False
            if database_unavailable(exc):
                outage.watch(self.db).lost(exc, f"renewing the lease {self.name}")
            return False

    def take(self) -> tuple[str, float] | None:
        """Take the lease (None), or say who holds it and in how many seconds it runs out
        unless renewed. A holder that was a process of this machine and has ended is taken
        over at once (``died_here``): a ``serve`` restarted after a crash, or a
        ``channel sync`` after one was killed, need not wait for its lease to run out."""
        while True:
            if self.acquire():
                return None
            held = self.current()
            if held is None:
                continue  # it ran out, or was given up, just now: take it
            if not died_here(held[0]):
                return held
            if self._take_over(held[0]):
                return None

    def _take_over(self, dead: str) -> bool:
        """Take the lease from ``dead`` if it still holds it."""
        with self.db.session() as s:
            now = database_now(s, self.db)
            changed = changed_rows(
                s,
                update(Lease)
                .where(Lease.name == self.name, Lease.holder == dead)
                .values(
                    holder=self.holder,
                    acquired_at=now,
                    expires_at=now + timedelta(seconds=self.ttl),
                )
                .execution_options(synchronize_session=False),
            )
        self.held = bool(changed)
        if self.held:
            self._renewed = time.monotonic()
        return self.held

    def current_holder(self) -> str | None:
        """Who holds the lease now (None when nobody does, or it ran out)."""
        held = self.current()
        return held[0] if held is not None else None

    def current(self) -> tuple[str, float] | None:
        """Who holds the lease now and in how many seconds it runs out unless renewed (None
        when nobody holds it, or it ran out). Both by the database's clock on PostgreSQL."""
        with self.db.session() as s:
            now = database_now(s, self.db)
            row = s.execute(
                select(Lease.holder, Lease.expires_at).where(
                    Lease.name == self.name, Lease.expires_at >= now
                )
            ).one_or_none()
        if row is None:
            return None
        return row.holder, max(0.0, (row.expires_at - now).total_seconds())

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
