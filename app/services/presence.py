"""Signs of life of signed-in workstations, and returning the emails of one that went
silent (crashed, killed, off the network) to their queues.

Each signed-in workstation records the user's last sign of life every HEARTBEAT seconds.
An email held without a draft (``assigned``) by a user with no sign of life for the
organisation's *Return Held Emails After* minutes, and taken at least that long ago, goes
back to its queue with its place; drafts are saved work and stay. Every workstation and
``serve`` process runs this check: the updates are conditional, so running it twice at
once returns each email once.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select, update

from app.db.engine import Database
from app.db.models import Email, EmailStatus, Organisation, User, utcnow
from app.services.history import Entry, write_history
from app.services.holding import requeue

HEARTBEAT = 30  # seconds between a workstation's signs of life


def heartbeat(db: Database, user_id: int | None, now: datetime | None = None) -> None:
    if user_id is None:
        return
    with db.session() as s:
        s.execute(
            update(User)
            .where(User.id == user_id)
            .values(last_seen_at=now or utcnow())
            .execution_options(synchronize_session=False)
        )


def return_abandoned(db: Database, now: datetime | None = None) -> list[int]:
    """Return the emails held by silent workstations to their queues; their ids."""
    now = now or utcnow()
    with db.session() as s:
        minutes = s.scalar(select(Organisation.held_email_timeout)) or 30
        cutoff = now - timedelta(minutes=minutes)
        candidates = s.execute(
            select(Email.id, Email.agent_id, User.display_name)
            .join(User, Email.agent_id == User.id)
            .where(
                Email.status == EmailStatus.ASSIGNED,
                Email.taken_at < cutoff,
                or_(User.last_seen_at.is_(None), User.last_seen_at < cutoff),
            )
        ).all()
        returned = []
        for email_id, agent_id, name in candidates:
            changed = requeue(s, email_id, agent_id, (EmailStatus.ASSIGNED,))
            if changed:
                returned.append(email_id)
                detail = (
                    f"Returned to the queue: {name}'s workstation gave no sign of life for "
                    f"{minutes} minutes"
                )
                write_history(s, [Entry(email_id, "put back", detail, now)])
        return returned
