"""What people do with replies that did not go out: the Failed Sends list (with the sends
that stalled), retry, accept as sent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update

from app.db.engine import Database
from app.db.models import Reply, ReplyState, User
from app.services.auth import Actor, Permission
from app.services.base import changed_rows
from app.services.errors import ConflictError, NotFound
from app.services.history import Entry, write_history

from .message import aware
from .sending import first_reply

# While stalled sends are shown, the list is read again this often: a stalled send settled
# or resumed may leave no History (which the change feed follows on SQLite).
STALLED_RECHECK_SECONDS = 5.0

# ---- for people ---------------------------------------------------------------------


def retry(db: Database, actor: Actor, reply_id: int, now: datetime | None = None) -> None:
    """A supervisor sends a failed or uncertain reply again (for an uncertain one, after
    making sure the customer did not get it). The back-off starts afresh."""
    actor.require(Permission.CONFIGURE_CAMPAIGNS)
    now = aware(now)
    with db.session() as s:
        state = s.scalar(select(Reply.state).where(Reply.id == reply_id))
        if state is None:
            raise NotFound("The reply no longer exists.")
        changed = changed_rows(
            s,
            update(Reply)
            .where(
                Reply.id == reply_id,
                Reply.state.in_([ReplyState.FAILED, ReplyState.UNCERTAIN]),
            )
            .values(state=ReplyState.QUEUED, attempts=0, next_attempt_at=None)
            .execution_options(synchronize_session=False),
        )
        if not changed:
            raise ConflictError(
                f"Only a failed or uncertain reply can be sent again; this one is {state.value}."
            )
        email_id = s.scalars(select(Reply.email_id).where(Reply.id == reply_id)).one()
        detail = f"{actor.display_name} queued the reply again (was {state.value})"
        write_history(s, [Entry(email_id, "send retried", detail, now, actor.user_id)])


def accept_as_sent(db: Database, actor: Actor, reply_id: int, now: datetime | None = None) -> None:
    """A supervisor settles an uncertain reply as delivered (e.g. the customer has it)."""
    actor.require(Permission.CONFIGURE_CAMPAIGNS)
    now = aware(now)
    with db.session() as s:
        changed = changed_rows(
            s,
            update(Reply)
            .where(Reply.id == reply_id, Reply.state == ReplyState.UNCERTAIN)
            .values(state=ReplyState.SENT, sent_at=now)
            .execution_options(synchronize_session=False),
        )
        if not changed:
            raise ConflictError("Only an uncertain reply can be accepted as sent.")
        first_reply(s, reply_id, now)
        email_id = s.scalars(select(Reply.email_id).where(Reply.id == reply_id)).one()
        detail = f"{actor.display_name} confirmed that the uncertain reply was sent"
        write_history(s, [Entry(email_id, "sent", detail, now, actor.user_id)])


def recipients_text(to: str, cc: str, bcc: str) -> str:
    """To, Cc and Bcc in one line, for a list of replies ("a@x; Cc: b@y; Bcc: c@z")."""
    parts = [to] if to else []
    parts += [f"{label}: {text}" for label, text in (("Cc", cc), ("Bcc", bcc)) if text]
    return "; ".join(parts)


@dataclass(frozen=True)
class FailedSend:
    """A reply a person should look at: failed, uncertain, or stalled — still 'sending'
    under a claim its sender stopped renewing (``state`` SENDING; ``last_error`` says what
    becomes of it)."""

    reply_id: int
    email_id: int
    state: ReplyState
    subject: str
    to_addrs: str
    agent: str | None
    attempts: int
    last_error: str | None
    created_at: datetime
    cc_addrs: str = ""
    bcc_addrs: str = ""

    @property
    def recipients(self) -> str:
        return recipients_text(self.to_addrs, self.cc_addrs, self.bcc_addrs)

    @property
    def stalled(self) -> bool:
        return self.state == ReplyState.SENDING


@dataclass(frozen=True)
class FailedSends:
    """The Failed Sends list as read at one moment, and when to read it again unprompted:
    the earliest moment a claim now alive runs out unless renewed (nothing in the database
    changes then, so nothing tells), or soon while stalled sends are shown."""

    sends: list[FailedSend]
    look_again_at: datetime | None


def stalled_reason(claimer: str | None, started: datetime | None) -> str:
    """What a supervisor is told about a send whose sender went silent."""
    who = f"its sender ({claimer})" if claimer else "the program that was sending it"
    if started is None and claimer:
        then = (
            "It was never handed to the mail server: the next pass of any sender gives it "
            "back to the outbox and sends it, once."
        )
    else:
        then = (
            "It may have been handed to the mail server: the next pass of any sender looks "
            "for it in the channel's Sent folder — sent if found, otherwise uncertain, for "
            "you to check. It is never sent again automatically."
        )
    return (
        f"Sending stalled: {who} stopped, or lost the database, while sending it. {then} "
        "(If no sender runs — serve, or a workstation with the channel's password — it "
        "waits for one.)"
    )


def failed_sends(db: Database, now: datetime | None = None) -> list[FailedSend]:
    """Replies a person should look at, oldest first: failed and uncertain ones, and those
    whose sender stopped renewing its claim (stalled: the lease ran out)."""
    return review(db, now).sends


def review(db: Database, now: datetime | None = None) -> FailedSends:
    """``failed_sends`` and when to read them again (``FailedSends``), in one read."""
    now = aware(now)
    stalled = (Reply.state == ReplyState.SENDING) & (Reply.next_attempt_at < now)
    stmt = (
        select(Reply, User.display_name)
        .outerjoin(User, Reply.agent_id == User.id)
        .where(or_(Reply.state.in_([ReplyState.FAILED, ReplyState.UNCERTAIN]), stalled))
        .order_by(Reply.created_at, Reply.id)
    )
    next_deadline = select(func.min(Reply.next_attempt_at)).where(
        Reply.state == ReplyState.SENDING, Reply.next_attempt_at >= now
    )
    with db.session() as s:
        sends = [
            FailedSend(
                reply_id=r.id,
                email_id=r.email_id,
                state=r.state,
                subject=r.subject,
                to_addrs=r.to_addrs,
                agent=agent,
                attempts=r.attempts,
                last_error=(
                    stalled_reason(r.claimed_by, r.transmission_started_at)
                    if r.state == ReplyState.SENDING
                    else r.last_error
                ),
                created_at=r.created_at,
                cc_addrs=r.cc_addrs,
                bcc_addrs=r.bcc_addrs,
            )
            for r, agent in s.execute(stmt)
        ]
        deadline = s.scalar(next_deadline)
    if any(f.stalled for f in sends):
        soon = now + timedelta(seconds=STALLED_RECHECK_SECONDS)
        deadline = soon if deadline is None else min(deadline, soon)
    return FailedSends(sends, deadline)
