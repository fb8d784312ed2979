"""What people do with replies that did not go out: the Failed Sends list, retry, accept as
sent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update

from app.db.engine import Database
from app.db.models import Reply, ReplyState, User
from app.services.auth import Actor, Permission
from app.services.base import changed_rows
from app.services.errors import ConflictError, NotFound
from app.services.history import Entry, write_history

from .message import aware
from .sending import first_reply

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


def failed_sends(db: Database) -> list[FailedSend]:
    """Replies a person should look at, oldest first: failed and uncertain ones."""
    stmt = (
        select(Reply, User.display_name)
        .outerjoin(User, Reply.agent_id == User.id)
        .where(Reply.state.in_([ReplyState.FAILED, ReplyState.UNCERTAIN]))
        .order_by(Reply.created_at, Reply.id)
    )
    with db.session() as s:
        return [
            FailedSend(
                reply_id=r.id,
                email_id=r.email_id,
                state=r.state,
                subject=r.subject,
                to_addrs=r.to_addrs,
                agent=agent,
                attempts=r.attempts,
                last_error=r.last_error,
                created_at=r.created_at,
                cc_addrs=r.cc_addrs,
                bcc_addrs=r.bcc_addrs,
            )
            for r, agent in s.execute(stmt)
        ]
