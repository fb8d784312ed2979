"""Claims on replies being sent: who holds each (``claimed_by``), until when (the lease in
``next_attempt_at``) and whether the message may have reached the server
(``transmission_started_at``).

A sender claims due replies under a name of its own (``sender_name()``: host, process id, a
unique tail) and keeps the claims alive while it works (``renew_claims``, every third of
``LEASE``). Just before it offers a message to the server (DATA) it records, committed, that
the transmission started (``start_transmission``); that write is also its last check that
the claim is still its own. So anyone can tell, for a claim whose sender is gone (ended on
this machine, or silent past its lease):

- no transmission started: the server never had the message. It is given back to the queue
  at once (``give_back_untransmitted``) and sent by the next pass: once.
- transmission started: the server may have it. It is taken over (``recover_stale``) and
  settled as an unknown outcome (the Sent folder looked in), never simply sent again.

Claims made before these columns existed (``claimed_by`` empty) count as possibly handed
over. Every change is one ``UPDATE … WHERE`` guarded by the state and, where it matters, by
the claimer, so that two processes never both take or settle a reply.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, or_, select, update
from sqlalchemy.sql.elements import ColumnElement

from app.db.engine import Database
from app.db.models import Reply, ReplyState
from app.services.base import changed_rows
from app.services.history import Entry, write_history
from app.services.leases import died_here, process_name

from .message import aware, reply_channel_id, with_channel

# A sender renews its claims every third of this; a sender silent for longer (hung, cut off
# from the database, or dead on another machine) has its claims settled by another.
LEASE = timedelta(seconds=30)
RENEW_EVERY = LEASE / 3

_process: tuple[int, str] | None = None
_process_lock = threading.Lock()


def sender_name() -> str:
    """A new name for a sender's claims (one per outbox pass): readable by a person, and
    telling ``died_here`` whether its process has ended."""
    return process_name()


def process_sender() -> str:
    """The name of this process's claims made without a pass's own (scripts, tests)."""
    global _process
    with _process_lock:  # (threads asking first at once must not each make a name)
        if _process is None or _process[0] != os.getpid():  # (a forked child is another)
            _process = (os.getpid(), process_name())
        return _process[1]


def claim_ids(
    db: Database, ids: Sequence[int], now: datetime, claimer: str | None = None
) -> dict[int, datetime]:
    """Claim these replies for sending: {reply id: lease deadline} of those this call got.

    Each claim is an UPDATE guarded by the state it expects, so of two processes racing for
    a reply exactly one sees a row changed (PostgreSQL re-checks the WHERE after waiting for
    the other's row lock; SQLite serialises writers)."""
    lease = now + LEASE
    claimer = claimer or process_sender()
    claimed: dict[int, datetime] = {}
    with db.session() as s:
        for reply_id in ids:
            changed = changed_rows(
                s,
                update(Reply)
                .where(
                    Reply.id == reply_id,
                    Reply.state == ReplyState.QUEUED,
                    or_(Reply.next_attempt_at.is_(None), Reply.next_attempt_at <= now),
                )
                .values(
                    state=ReplyState.SENDING,
                    attempts=Reply.attempts + 1,
                    next_attempt_at=lease,
                    claimed_by=claimer,
                    transmission_started_at=None,
                )
                .execution_options(synchronize_session=False),
            )
            if changed:
                claimed[reply_id] = lease
    return claimed


def _held_by(claimer: str) -> ColumnElement[bool]:
    return and_(Reply.state == ReplyState.SENDING, Reply.claimed_by == claimer)


def renew_claims(db: Database, claimer: str, now: datetime) -> int:
    """Keep every claim of ``claimer`` for another ``LEASE``: one statement, however many."""
    with db.session() as s:
        return changed_rows(
            s,
            update(Reply)
            .where(_held_by(claimer))
            .values(next_attempt_at=aware(now) + LEASE)
            .execution_options(synchronize_session=False),
        )


def start_transmission(db: Database, reply_id: int, claimer: str, now: datetime) -> bool:
    """Record, committed, that the message is about to be offered to the server; False when
    the claim is not ``claimer``'s any more (then it must not be sent)."""
    now = aware(now)
    with db.session() as s:
        return bool(
            changed_rows(
                s,
                update(Reply)
                .where(Reply.id == reply_id, _held_by(claimer))
                .values(transmission_started_at=now, next_attempt_at=now + LEASE)
                .execution_options(synchronize_session=False),
            )
        )


def claimers(db: Database) -> set[str]:
    """The senders holding claims now (lease run out or not)."""
    stmt = select(Reply.claimed_by).where(
        Reply.state == ReplyState.SENDING, Reply.claimed_by.is_not(None)
    )
    with db.session() as s:
        return {c for c in s.scalars(stmt.distinct()) if c is not None}


def gone_claimers(db: Database, known: Collection[str] = ()) -> set[str]:
    """Senders holding claims that are known to be gone without waiting for their leases:
    ``known`` (e.g. a pass of this process cut off from the database), and processes of
    this machine that have ended."""
    return {c for c in claimers(db) if c in known or died_here(c)}


def _gone(now: datetime, gone: Collection[str]) -> ColumnElement[bool]:
    """A claim whose sender is gone: its lease ran out, or its sender is known to be."""
    stale = or_(Reply.next_attempt_at.is_(None), Reply.next_attempt_at < now)
    return or_(stale, Reply.claimed_by.in_(list(gone))) if gone else stale


def _in_channel(stmt: Any, channel_id: int | None) -> Any:
    """``stmt`` (over replies) narrowed to the replies sent through ``channel_id``."""
    if channel_id is None:
        return stmt
    return with_channel(stmt).where(reply_channel_id() == channel_id)


def give_back_untransmitted(
    db: Database,
    now: datetime,
    gone: Collection[str] = (),
    channel_id: int | None = None,
    limit: int = 1000,
) -> list[int]:
    """Give back to the queue, at once and the attempt not counted, the claims of senders
    that are gone and never began to offer the message to the server: nobody has it, the
    next pass sends it. A History line says so. Returns their ids."""
    now = aware(now)
    never_handed = and_(
        Reply.state == ReplyState.SENDING,
        Reply.claimed_by.is_not(None),
        Reply.transmission_started_at.is_(None),
        _gone(now, gone),
    )
    stmt = _in_channel(select(Reply.id, Reply.email_id, Reply.claimed_by), channel_id)
    given: list[int] = []
    with db.session() as s:
        rows = s.execute(stmt.where(never_handed).order_by(Reply.id).limit(limit)).all()
        entries = []
        for reply_id, email_id, claimer in rows:
            if changed_rows(
                s,
                update(Reply)
                .where(Reply.id == reply_id, Reply.claimed_by == claimer, never_handed)
                .values(**_given_back())
                .execution_options(synchronize_session=False),
            ):
                given.append(reply_id)
                detail = (
                    f"Back in the outbox: its sender ({claimer}) stopped before handing it "
                    "to the mail server; it is sent by the next one"
                )
                entries.append(Entry(email_id, "send resumed", detail, now))
        write_history(s, entries)
    return given


def _given_back() -> dict[str, object]:
    return {
        "state": ReplyState.QUEUED,
        "next_attempt_at": None,
        "attempts": case((Reply.attempts > 0, Reply.attempts - 1), else_=0),
        "claimed_by": None,
        "transmission_started_at": None,
    }


def recover_stale(
    db: Database,
    now: datetime,
    limit: int = 100,
    channel_id: int | None = None,
    *,
    claimer: str | None = None,
    gone: Collection[str] = (),
) -> dict[int, datetime]:
    """Take over, under ``claimer``, the claims of senders that are gone (lease run out, or
    ``gone``) that may have reached the server (transmission started, or claimed before
    that was recorded). Those never handed over are ``give_back_untransmitted``'s.

    The caller must treat each as an unknown outcome: the server may have the message."""
    now = aware(now)
    maybe_handed = or_(Reply.claimed_by.is_(None), Reply.transmission_started_at.is_not(None))
    taken_over = and_(Reply.state == ReplyState.SENDING, maybe_handed, _gone(now, gone))
    stmt = _in_channel(select(Reply.id), channel_id)
    lease = now + LEASE
    claimer = claimer or process_sender()
    taken: dict[int, datetime] = {}
    with db.session() as s:
        for reply_id in list(s.scalars(stmt.where(taken_over).order_by(Reply.id).limit(limit))):
            if changed_rows(
                s,
                update(Reply)
                .where(Reply.id == reply_id, taken_over)
                .values(next_attempt_at=lease, claimed_by=claimer)
                .execution_options(synchronize_session=False),
            ):
                taken[reply_id] = lease
    return taken


def release(db: Database, ids: Sequence[int], claimer: str | None = None) -> int:
    """Give back claimed replies that were not transmitted at all (the sender is stopping,
    or knows it never offered them): queued again at once, the attempt not counted. With
    ``claimer``, only while they are still its own."""
    ours = [Reply.state == ReplyState.SENDING]
    if claimer is not None:
        ours.append(Reply.claimed_by == claimer)
    with db.session() as s:
        return sum(
            changed_rows(
                s,
                update(Reply)
                .where(Reply.id == reply_id, *ours)
                .values(**_given_back())
                .execution_options(synchronize_session=False),
            )
            for reply_id in ids
        )
