"""Who holds an email, and what every holder's action shares: the checks that the actor
still holds it, the conditional change of hands (``requeue``), its History row.

An email is *held* by an agent while it is ``assigned`` or ``draft`` with their id in
``agent_id``. Every change of hands is one ``UPDATE … WHERE status = … [AND agent_id = …]``
checked for the rows it changed, so two agents — two processes, two workstations — never
hold the same email, and an action on an email someone else has meanwhile taken, moved or
re-opened is refused with a clear message instead of overwriting their work.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select, text, update
from sqlalchemy.orm import Session

from app.db import hotpath
from app.db.models import HELD, Campaign, Email, EmailStatus, Reply, ReplyState, User
from app.services.base import Service, changed_rows, get_or_404
from app.services.errors import ConflictError
from app.services.history import Entry, write_history


@dataclass(frozen=True)
class HeldEmail:
    email_id: int
    subject: str
    from_addr: str
    campaign_id: int | None
    campaign: str | None
    status: EmailStatus
    received_at: datetime
    taken_at: datetime | None
    agent_id: int | None = None
    agent: str | None = None


def requeue(
    s: Session,
    email_id: int,
    agent_id: int | None,
    statuses: Sequence[EmailStatus] = HELD,
    campaign_id: int | None = None,
) -> bool:
    """Back to a queue (``campaign_id``'s, else its own), keeping its place (queued at), if
    ``agent_id`` still holds it in one of ``statuses``. True when it went back.

    On PostgreSQL through ``ec_requeue`` (app.db.security), which checks that the caller is
    the holder or staff: the row leaves the holder, and their row-level security could no
    longer see what it becomes."""
    if s.get_bind().dialect.name == "postgresql":
        return bool(
            s.scalar(
                text("SELECT ec_requeue(:email, :agent, :statuses, :campaign)"),
                {
                    "email": email_id,
                    "agent": agent_id,
                    "statuses": [status.value for status in statuses],
                    "campaign": campaign_id,
                },
            )
        )
    values: dict[str, Any] = {"status": EmailStatus.QUEUED, "agent_id": None, "taken_at": None}
    if campaign_id is not None:
        values["campaign_id"] = campaign_id
    return bool(
        changed_rows(
            s,
            update(Email)
            .where(Email.id == email_id, Email.agent_id == agent_id, Email.status.in_(statuses))
            .values(**values)
            .execution_options(synchronize_session=False),
        )
    )


class Holding(Service):
    """What the services of holders share (``WorkService`` is one)."""

    def _campaign_ids(self, s: Session) -> list[int]:
        """The campaigns assigned to the teams the signed-in user is a member of."""
        return list(s.scalars(hotpath.CAMPAIGN_IDS, {"user_id": self.actor.user_id}))

    def _held_rows(self, s: Session, where: Any) -> list[HeldEmail]:
        # Only the listed columns: never the raw message or the bodies.
        stmt = (
            select(
                Email.id.label("email_id"),
                Email.subject,
                Email.from_addr,
                Email.campaign_id,
                Campaign.title.label("campaign"),
                Email.status,
                Email.received_at,
                Email.taken_at,
                Email.agent_id,
                User.display_name.label("agent"),
            )
            .outerjoin(Campaign, Email.campaign_id == Campaign.id)
            .outerjoin(User, Email.agent_id == User.id)
            .where(where)
            .order_by(Email.taken_at, Email.id)
        )
        return [HeldEmail(**row._mapping) for row in s.execute(stmt)]

    def _held_email(self, s: Session, email_id: int) -> Email:
        email = get_or_404(s, Email, email_id, "email")
        self._check_held(s, email.status, email.agent_id)
        return email

    def _check_held(
        self, s: Session | Connection, status: EmailStatus, agent_id: int | None
    ) -> None:
        if agent_id != self.actor.user_id or status not in HELD:
            if status in HELD and agent_id is not None:
                name = s.scalar(select(User.display_name).where(User.id == agent_id))
                raise ConflictError(
                    f"This email is now held by {name or 'another agent'}, not by you."
                )
            raise ConflictError(
                f"You no longer hold this email (it is {status.value}): it may have "
                "been re-opened, moved or put back by a supervisor."
            )

    def _history(self, s: Session, email_id: int, at: datetime, action: str, detail: str) -> None:
        write_history(s, [Entry(email_id, action, detail, at, self.actor.user_id)])

    def _discard_draft(self, s: Session, email_id: int) -> bool:
        return bool(
            changed_rows(
                s,
                delete(Reply)
                .where(Reply.email_id == email_id, Reply.state == ReplyState.DRAFT)
                .execution_options(synchronize_session=False),
            )
        )

    def _requeue(self, s: Session, email: Email, campaign_id: int | None) -> None:
        """Back to a queue, keeping its place (queued at): only if the agent still holds it."""
        if not requeue(s, email.id, self.actor.user_id, HELD, campaign_id):
            raise ConflictError("You no longer hold this email.")
