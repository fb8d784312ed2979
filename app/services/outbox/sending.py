"""The sender's side of the outbox: due replies claimed (queued → sending) under a lease, their
messages prepared, and each settled: sent, queued again after a back-off, failed or
uncertain. Every transition is one ``UPDATE … WHERE state = …``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from app.db.engine import Database
from app.db.models import Channel, Email, Reply, ReplyState
from app.mail import compose
from app.services.base import changed_rows
from app.services.history import Entry, write_history

from .message import aware, outgoing, reply_channel_id, sending_channel_id, with_channel

# Waits after the 1st, 2nd, … failed attempt; the last one repeats.
BACKOFF: tuple[timedelta, ...] = (
    timedelta(seconds=30),
    timedelta(minutes=1),
    timedelta(minutes=2),
    timedelta(minutes=5),
    timedelta(minutes=15),
    timedelta(hours=1),
)
# Far longer than one send can take (connect, TLS, login and a message: a few timeouts).
LEASE = timedelta(minutes=10)
# Attempts the server may answer "not now" (4xx, or ending the connection in the middle of
# the exchange) before the reply is failed with its words: about 5 hours of back-off. A
# server that cannot be reached at all is waited for without limit.
MAX_ATTEMPTS = 10


def backoff(attempts: int) -> timedelta:
    """How long to wait after ``attempts`` failed attempts (1 → 30 s … 6 and more → 1 h)."""
    return BACKOFF[min(max(attempts, 1), len(BACKOFF)) - 1]


# ---- the sender's state machine -------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    """A claimed reply ready to go: the message bytes (or why they cannot be made) and the
    lease the sender holds on it."""

    reply_id: int
    email_id: int
    channel_id: int | None
    message_id: str
    lease: datetime
    sender: str = ""
    recipients: tuple[str, ...] = ()
    data: bytes = b""
    error: str | None = None


def _due(now: datetime) -> ColumnElement[bool]:
    return and_(
        Reply.state == ReplyState.QUEUED,
        or_(Reply.next_attempt_at.is_(None), Reply.next_attempt_at <= now),
    )


def due_ids(
    db: Database,
    now: datetime,
    limit: int,
    channel_id: int | None = None,
    skip_channels: Sequence[int] = (),
) -> list[int]:
    """Replies waiting to be sent: queued, and not waiting out a back-off."""
    stmt = with_channel(select(Reply.id)).where(_due(now))
    if channel_id is not None:
        stmt = stmt.where(reply_channel_id() == channel_id)
    if skip_channels:
        channel = reply_channel_id()
        stmt = stmt.where(or_(channel.is_(None), channel.not_in(list(skip_channels))))
    with db.session() as s:
        return list(s.scalars(stmt.order_by(Reply.id).limit(limit)))


def due_channel_ids(db: Database, now: datetime, channel_id: int | None = None) -> list[int]:
    """The channels that have replies due (to check that this process can send through them
    before claiming any)."""
    stmt = with_channel(select(reply_channel_id()).select_from(Reply)).where(_due(now))
    if channel_id is not None:
        stmt = stmt.where(reply_channel_id() == channel_id)
    with db.session() as s:
        return sorted(c for c in s.scalars(stmt.distinct()) if c is not None)


def note_waiting(db: Database, channel_id: int, now: datetime, reason: str) -> int:
    """Say on the due replies of a channel why they wait, without claiming them (e.g. no SMTP
    password on this computer: another computer, or the channel service, may have it)."""
    ids = with_channel(select(Reply.id)).where(_due(now), reply_channel_id() == channel_id)
    with db.session() as s:
        return changed_rows(
            s,
            update(Reply)
            .where(Reply.id.in_(ids.scalar_subquery()), _due(now))
            .where(or_(Reply.last_error.is_(None), Reply.last_error != reason))
            .values(last_error=reason)
            .execution_options(synchronize_session=False),
        )


def claim_ids(db: Database, ids: Sequence[int], now: datetime) -> dict[int, datetime]:
    """Claim these replies for sending: {reply id: lease deadline} of those this call got.

    Each claim is an UPDATE guarded by the state it expects, so of two processes racing for
    a reply exactly one sees a row changed (PostgreSQL re-checks the WHERE after waiting for
    the other's row lock; SQLite serialises writers)."""
    lease = now + LEASE
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
                    state=ReplyState.SENDING, attempts=Reply.attempts + 1, next_attempt_at=lease
                )
                .execution_options(synchronize_session=False),
            )
            if changed:
                claimed[reply_id] = lease
    return claimed


def claim_due(
    db: Database,
    now: datetime,
    limit: int,
    channel_id: int | None = None,
    skip_channels: Sequence[int] = (),
) -> dict[int, datetime]:
    """Claim up to ``limit`` due replies (queued → sending): {reply id: lease deadline}."""
    now = aware(now)
    return claim_ids(db, due_ids(db, now, limit, channel_id, skip_channels), now)


def recover_stale(
    db: Database, now: datetime, limit: int = 100, channel_id: int | None = None
) -> dict[int, datetime]:
    """Take over replies left ``sending`` past their lease (a crashed or hung sender).

    The caller must treat each as an unknown outcome: the server may have the message."""
    now = aware(now)
    stale = or_(Reply.next_attempt_at.is_(None), Reply.next_attempt_at < now)
    stmt = select(Reply.id).where(Reply.state == ReplyState.SENDING, stale)
    if channel_id is not None:
        stmt = with_channel(stmt).where(reply_channel_id() == channel_id)
    lease = now + LEASE
    taken: dict[int, datetime] = {}
    with db.session() as s:
        for reply_id in list(s.scalars(stmt.order_by(Reply.id).limit(limit))):
            if changed_rows(
                s,
                update(Reply)
                .where(Reply.id == reply_id, Reply.state == ReplyState.SENDING, stale)
                .values(next_attempt_at=lease)
                .execution_options(synchronize_session=False),
            ):
                taken[reply_id] = lease
    return taken


def renew(db: Database, reply_id: int, held: datetime, now: datetime) -> datetime | None:
    """Renew the lease just before transmitting; None when it is no longer ours (it ran out
    and another process took the reply over), in which case it must not be sent."""
    lease = now + LEASE
    with db.session() as s:
        changed = changed_rows(
            s,
            update(Reply)
            .where(
                Reply.id == reply_id,
                Reply.state == ReplyState.SENDING,
                Reply.next_attempt_at == held,
            )
            .values(next_attempt_at=lease)
            .execution_options(synchronize_session=False),
        )
    return lease if changed else None


def prepare(db: Database, leases: dict[int, datetime]) -> list[Prepared]:
    """The messages of claimed replies, built from what is stored now. A reply whose message
    cannot be built (an address or subject changed in the database behind the services'
    back, no channel) gets ``error`` instead of bytes."""
    out: list[Prepared] = []
    with db.session() as s:
        for reply_id, lease in sorted(leases.items()):
            reply = s.get(Reply, reply_id)
            if reply is None:
                continue
            email = reply.email
            channel_id = sending_channel_id(s, email)
            channel = s.get(Channel, channel_id) if channel_id is not None else None
            base = Prepared(reply.id, email.id, channel_id, reply.message_id, lease)
            if channel is None:
                out.append(_with(base, error="There is no email channel to send it through."))
                continue
            try:
                message = outgoing(reply, email, channel)
                data = compose.message_bytes(message)  # built, and read back
            except ValueError as exc:  # HeaderError; any other is failed alone, too: one
                # reply that cannot be built never holds up the outbox behind it
                out.append(_with(base, error=f"The reply cannot be sent as it is: {exc}"))
                continue
            out.append(
                _with(
                    base,
                    sender=message.sender.address,
                    recipients=tuple(message.envelope_recipients),
                    data=data,
                )
            )
    return out


def some(texts: Sequence[object], shown: int = 10, sep: str = ", ") -> str:
    """``texts`` joined, the first ``shown`` of a long list named and the rest counted."""
    named = sep.join(str(t) for t in texts[:shown])
    return named if len(texts) <= shown else f"{named}{sep}and {len(texts) - shown:,} more"


def _with(base: Prepared, **changes: Any) -> Prepared:
    return replace(base, **changes)


def _settle(s: Session, reply_id: int, **values: Any) -> bool:
    """sending → another state; False when the reply is not ``sending`` any more."""
    return bool(
        changed_rows(
            s,
            update(Reply)
            .where(Reply.id == reply_id, Reply.state == ReplyState.SENDING)
            .values(**values)
            .execution_options(synchronize_session=False),
        )
    )


def _history(s: Session, reply_id: int, at: datetime, action: str, detail: str) -> None:
    email_id = s.scalar(select(Reply.email_id).where(Reply.id == reply_id))
    if email_id is not None:
        write_history(s, [Entry(email_id, action, detail, at)])


def first_reply(s: Session, reply_id: int, at: datetime) -> None:
    # The service level's clock stops at the first reply that actually went out.
    email_id = select(Reply.email_id).where(Reply.id == reply_id).scalar_subquery()
    s.execute(
        update(Email)
        .where(Email.id == email_id, Email.first_reply_at.is_(None))
        .values(first_reply_at=at)
        .execution_options(synchronize_session=False)
    )


def mark_sent(
    db: Database,
    reply_id: int,
    now: datetime | None = None,
    note: str | None = None,
    recipients: Sequence[str] = (),
) -> bool:
    """The server accepted it. ``note`` (e.g. the Sent copy failed) is kept as last_error;
    ``recipients``, when the server refused others (``split_refused``), are named in History."""
    now = aware(now)
    with db.session() as s:
        if not _settle(
            s, reply_id, state=ReplyState.SENT, sent_at=now, next_attempt_at=None, last_error=note
        ):
            return False
        first_reply(s, reply_id, now)
        accepted = "Reply accepted by the mail server"
        if recipients:
            accepted += f" for {some(recipients)}"
        _history(s, reply_id, now, "sent", note or accepted)
    return True


def mark_retry(
    db: Database,
    reply_id: int,
    error: str,
    now: datetime | None = None,
    next_attempt_at: datetime | None = None,
) -> datetime | None:
    """A temporary failure: queued again after the back-off for its attempts so far.
    Returns the time of the next attempt (None if the reply was not ``sending``)."""
    now = aware(now)
    with db.session() as s:
        attempts = s.scalar(select(Reply.attempts).where(Reply.id == reply_id)) or 1
        when = next_attempt_at or now + backoff(attempts)
        if not _settle(
            s, reply_id, state=ReplyState.QUEUED, next_attempt_at=when, last_error=error
        ):
            return None
    return when


def mark_refused_for_now(
    db: Database, reply_id: int, error: str, now: datetime | None = None
) -> ReplyState | None:
    """The server answered "not now" (4xx, or ended the connection in the middle of the
    exchange): queued again after the back-off (``mark_retry``), or — after ``MAX_ATTEMPTS``
    attempts — failed with its words, so that a refusal the server keeps giving never loops.
    Returns the state it went to (None if the reply was not ``sending``)."""
    with db.session() as s:
        attempts = s.scalar(select(Reply.attempts).where(Reply.id == reply_id)) or 0
    if attempts >= MAX_ATTEMPTS:
        text = f"{error} (the same after {attempts} attempts: it is not tried again automatically)"
        return ReplyState.FAILED if mark_failed(db, reply_id, text, now) else None
    return ReplyState.QUEUED if mark_retry(db, reply_id, error, now) is not None else None


def _give_up(
    db: Database, reply_id: int, state: ReplyState, text: str, action: str, now: datetime | None
) -> bool:
    """The reply is no longer sent automatically (failed, or uncertain): ``text`` is kept on
    it and in the email's History. False when the reply was not ``sending``."""
    now = aware(now)
    with db.session() as s:
        if not _settle(s, reply_id, state=state, next_attempt_at=None, last_error=text):
            return False
        _history(s, reply_id, now, action, text)
    return True


def mark_failed(db: Database, reply_id: int, error: str, now: datetime | None = None) -> bool:
    """A permanent failure: the server's text is kept and shown; a supervisor may retry."""
    return _give_up(db, reply_id, ReplyState.FAILED, error, "failed send", now)


def mark_uncertain(db: Database, reply_id: int, reason: str, now: datetime | None = None) -> bool:
    """The outcome is unknown: not resent automatically; a person decides."""
    return _give_up(db, reply_id, ReplyState.UNCERTAIN, reason, "uncertain send", now)


def release(db: Database, ids: Sequence[int]) -> int:
    """Give back claimed replies that were not transmitted at all (the sender is stopping):
    queued again at once, the attempt not counted."""
    with db.session() as s:
        return sum(
            changed_rows(
                s,
                update(Reply)
                .where(Reply.id == reply_id, Reply.state == ReplyState.SENDING)
                .values(
                    state=ReplyState.QUEUED,
                    next_attempt_at=None,
                    attempts=case((Reply.attempts > 0, Reply.attempts - 1), else_=0),
                )
                .execution_options(synchronize_session=False),
            )
            for reply_id in ids
        )
