"""The sender's side of the outbox: due replies claimed (queued → sending; the claims
themselves are in ``claims``), their messages prepared, and each settled: sent, queued again
after a back-off, failed or uncertain. Every transition is one ``UPDATE … WHERE state = …``,
and, given the sender's name, ``… AND claimed_by = it``: a sender whose claim was settled
by another meanwhile changes nothing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from app.db.engine import Database
from app.db.models import Channel, Email, Reply, ReplyState
from app.mail import compose
from app.services.base import changed_rows
from app.services.history import Entry, write_history

from .claims import claim_ids
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


def claim_due(
    db: Database,
    now: datetime,
    limit: int,
    channel_id: int | None = None,
    skip_channels: Sequence[int] = (),
    claimer: str | None = None,
) -> dict[int, datetime]:
    """Claim up to ``limit`` due replies (queued → sending) for ``claimer``: {reply id:
    lease deadline}."""
    now = aware(now)
    return claim_ids(db, due_ids(db, now, limit, channel_id, skip_channels), now, claimer)


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


def _settle(
    s: Session,
    reply_id: int,
    claimer: str | None = None,
    states: Sequence[ReplyState] = (ReplyState.SENDING,),
    **values: Any,
) -> bool:
    """sending → another state, the claim cleared; False when the reply is not ``sending``
    any more (or, given ``claimer``, not under its claim)."""
    ours = [Reply.id == reply_id, Reply.state.in_(list(states))]
    if claimer is not None:
        ours.append(Reply.claimed_by == claimer)
    return bool(
        changed_rows(
            s,
            update(Reply)
            .where(*ours)
            .values(claimed_by=None, transmission_started_at=None, **values)
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
    ``recipients``, when the server refused others (``split_refused``), are named in History.

    Whoever holds the claim now: the server's 250 is the truth, even when the sender could
    record it only after another process had taken the claim over, or had settled the reply
    as uncertain, while the database was out of its reach."""
    now = aware(now)
    with db.session() as s:
        if not _settle(
            s,
            reply_id,
            states=(ReplyState.SENDING, ReplyState.UNCERTAIN),
            state=ReplyState.SENT,
            sent_at=now,
            next_attempt_at=None,
            last_error=note,
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
    claimer: str | None = None,
) -> datetime | None:
    """A temporary failure: queued again after the back-off for its attempts so far.
    Returns the time of the next attempt (None if the reply was not ``sending``)."""
    now = aware(now)
    with db.session() as s:
        attempts = s.scalar(select(Reply.attempts).where(Reply.id == reply_id)) or 1
        when = next_attempt_at or now + backoff(attempts)
        if not _settle(
            s, reply_id, claimer, state=ReplyState.QUEUED, next_attempt_at=when, last_error=error
        ):
            return None
    return when


def mark_refused_for_now(
    db: Database,
    reply_id: int,
    error: str,
    now: datetime | None = None,
    claimer: str | None = None,
) -> ReplyState | None:
    """The server answered "not now" (4xx, or ended the connection in the middle of the
    exchange): queued again after the back-off (``mark_retry``), or — after ``MAX_ATTEMPTS``
    attempts — failed with its words, so that a refusal the server keeps giving never loops.
    Returns the state it went to (None if the reply was not ``sending``)."""
    with db.session() as s:
        attempts = s.scalar(select(Reply.attempts).where(Reply.id == reply_id)) or 0
    if attempts >= MAX_ATTEMPTS:
        text = f"{error} (the same after {attempts} attempts: it is not tried again automatically)"
        return ReplyState.FAILED if mark_failed(db, reply_id, text, now, claimer) else None
    retried = mark_retry(db, reply_id, error, now, claimer=claimer)
    return ReplyState.QUEUED if retried is not None else None


def _give_up(
    db: Database,
    reply_id: int,
    state: ReplyState,
    text: str,
    action: str,
    now: datetime | None,
    claimer: str | None,
) -> bool:
    """The reply is no longer sent automatically (failed, or uncertain): ``text`` is kept on
    it and in the email's History. False when the reply was not ``sending``."""
    now = aware(now)
    with db.session() as s:
        if not _settle(s, reply_id, claimer, state=state, next_attempt_at=None, last_error=text):
            return False
        _history(s, reply_id, now, action, text)
    return True


def mark_failed(
    db: Database,
    reply_id: int,
    error: str,
    now: datetime | None = None,
    claimer: str | None = None,
) -> bool:
    """A permanent failure: the server's text is kept and shown; a supervisor may retry."""
    return _give_up(db, reply_id, ReplyState.FAILED, error, "failed send", now, claimer)


def mark_uncertain(
    db: Database,
    reply_id: int,
    reason: str,
    now: datetime | None = None,
    claimer: str | None = None,
) -> bool:
    """The outcome is unknown: not resent automatically; a person decides."""
    return _give_up(db, reply_id, ReplyState.UNCERTAIN, reason, "uncertain send", now, claimer)
