"""The agent's work: queues, taking emails, putting back, moving, leaving; supervisors'
holdings, returns and re-opening. ``WorkService`` also replies (``replying.py``), on the
plumbing every holder's action shares (``holding.py``: who holds an email, changes of hands
guarded by their row counts); recipients are checked in ``recipients.py``. The names of
those modules that callers use are importable from here too.

What a campaign allows (put back, move) is checked here, not only by hiding buttons.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import and_, func, select, update
from sqlalchemy.orm import Session

from app.db import hotpath
from app.db.functions import folded
from app.db.models import HELD, Campaign, Email, EmailStatus, Role, User, utcnow
from app.services.auth import Permission
from app.services.base import changed_rows, get_or_404
from app.services.emails import EmailDetail, content_of, email_detail
from app.services.errors import ConflictError, PermissionDenied, ValidationError
from app.services.holding import HeldEmail, requeue
from app.services.recipients import (
    CONFIRMATION_TEXT,
    AddressesNeedConfirmation,
    NotAnAddress,
    address_is_valid,
    confirmation_text,
    expand_recipients,
    invalid_addresses,
    split_recipients,
)
from app.services.replying import (
    NO_BODY,
    NO_CAMPAIGN_RULES,
    AgentFailedSend,
    Replying,
    ReplyText,
    Rules,
    TemplateChoice,
    WorkItem,
    reply_subject,
    template_choices,
    work_item,
)


@dataclass(frozen=True)
class Queue:
    campaign_id: int
    title: str
    waiting: int
    oldest_queued_at: datetime | None


@dataclass(frozen=True)
class QueuedEmail:
    """An email waiting in a queue, as the agent sees it before taking it."""

    email_id: int
    subject: str
    from_addr: str
    received_at: datetime
    queued_at: datetime


@dataclass(frozen=True)
class Opened:
    """A held email as the reply editor and the reading pane show it, read together."""

    item: WorkItem
    templates: list[TemplateChoice]
    detail: EmailDetail  # its body loaded when it was small enough

    @property
    def email_id(self) -> int:
        return self.item.email_id


class WorkService(Replying):
    """What an agent (or a supervisor working a queue) does with emails: where they work,
    taking, their own emails, putting back and moving, leaving (and, through ``Replying``,
    replying); supervisors' holdings, returns and re-opening."""

    # ---- where the agent works -----------------------------------------------------------
    def campaign_ids(self) -> list[int]:
        with self.read(Permission.WORK_EMAILS) as s:
            return self._campaign_ids(s)

    def queues(self) -> list[Queue]:
        """The agent's campaigns with how many emails wait and since when, by title."""
        with self.read(Permission.WORK_EMAILS) as s:
            ids = self._campaign_ids(s)
            if not ids:
                return []
            counts = {
                cid: (n, oldest)
                for cid, n, oldest in s.execute(
                    select(Email.campaign_id, func.count(), func.min(Email.queued_at))
                    .where(Email.status == EmailStatus.QUEUED, Email.campaign_id.in_(ids))
                    .group_by(Email.campaign_id)
                )
            }
            titles = s.execute(
                select(Campaign.id, Campaign.title).where(Campaign.id.in_(ids))
            ).all()
        queues = []
        for cid, title in titles:
            n, oldest = counts.get(cid, (0, None))
            # min() over a UTCDateTime comes back without the type's conversion on SQLite.
            if isinstance(oldest, str):
                oldest = datetime.fromisoformat(oldest)
            if oldest is not None and oldest.tzinfo is None:
                oldest = oldest.replace(tzinfo=UTC)
            queues.append(Queue(cid, title, n, oldest))
        return sorted(queues, key=lambda q: q.title.casefold())

    def change_token(self) -> int:
        """Grows whenever anything happens to any email (every change writes History)."""
        from app.services.changes import polled_token

        return polled_token(self.db)

    # ---- taking --------------------------------------------------------------------------
    def take_next(self, campaign_id: int | None = None, now: datetime | None = None) -> int | None:
        """Take the oldest queued email of the agent's campaigns (or of one of them).
        Returns its id, or None when the queues are empty."""
        now = now or utcnow()
        self.actor.require(Permission.WORK_EMAILS)
        user_id = cast(int, self.actor.user_id)
        detail = f"Taken by {self.actor.display_name}"
        for _attempt in range(20):
            # PostgreSQL: the take is one statement, atomic alone (no transaction around it).
            with self.db.autocommit() as conn:
                taken = hotpath.take_oldest(conn, user_id, now, detail, campaign_id)
                if taken is not None:
                    return taken
                mine = hotpath.campaign_ids(conn, user_id)
                self._check_campaign(mine, campaign_id)
                # Nothing queued, or (PostgreSQL) every first entry was being taken by other
                # agents at that moment: look again.
                ids = [campaign_id] if campaign_id is not None else mine
                if not ids or not hotpath.any_queued(conn, ids):
                    return None
        return None

    def take_and_open(
        self, campaign_id: int | None = None, body_limit: int = NO_BODY
    ) -> Opened | None:
        """Take Next and what showing the email needs: on PostgreSQL one round trip for the
        take, one for the reading (and, the first time a message is shown, one to keep its
        decoded body). The body comes with it when the email is at most ``body_limit``
        bytes. None: the queues are empty."""
        email_id = self.take_next(campaign_id)
        return None if email_id is None else self.open_all(email_id, body_limit)

    def open_all(self, email_id: int, body_limit: int = NO_BODY) -> Opened:
        """A held email with its reply, templates and detail (``take_and_open``)."""
        with self.db.autocommit() as conn:
            found = self._opening(conn, email_id, body_limit)
            small = found.email.size <= body_limit
            content = content_of(conn, found) if small else None
        return Opened(
            work_item(found),
            template_choices(found, self.actor.display_name),
            email_detail(found, content),
        )

    @staticmethod
    def _check_campaign(mine: list[int], campaign_id: int | None) -> None:
        if campaign_id is not None and campaign_id not in mine:
            raise PermissionDenied("That campaign is not assigned to any of your teams.")

    def take(self, email_id: int, now: datetime | None = None) -> None:
        """Take one chosen queued email of the agent's campaigns."""
        now = now or utcnow()
        with self.write(Permission.WORK_EMAILS, "The email") as s:
            email = get_or_404(s, Email, email_id, "email")
            if email.campaign_id not in self._campaign_ids(s):
                raise PermissionDenied("That email is not in a campaign of your teams.")
            changed = changed_rows(
                s,
                update(Email)
                .where(Email.id == email_id, Email.status == EmailStatus.QUEUED)
                .values(status=EmailStatus.ASSIGNED, agent_id=self.actor.user_id, taken_at=now)
                .execution_options(synchronize_session=False),
            )
            if not changed:
                s.refresh(email)
                raise ConflictError(self._not_queued(s, email))
            self._history(s, email_id, now, "taken", f"Taken by {self.actor.display_name}")

    def queued(self, campaign_id: int, limit: int = 500) -> list[QueuedEmail]:
        """The emails waiting in one of the agent's campaigns, the oldest first, to take a
        chosen one (their text stays hidden until taken)."""
        with self.read(Permission.WORK_EMAILS) as s:
            if campaign_id not in self._campaign_ids(s):
                raise PermissionDenied("That campaign is not assigned to any of your teams.")
            rows = s.execute(
                select(Email.id, Email.subject, Email.from_addr, Email.received_at, Email.queued_at)
                .where(Email.status == EmailStatus.QUEUED, Email.campaign_id == campaign_id)
                .order_by(Email.queued_at, Email.id)
                .limit(limit)
            )
            return [QueuedEmail(*row) for row in rows]

    def _not_queued(self, s: Session, email: Email) -> str:
        if email.status in HELD:
            who = s.get(User, email.agent_id) if email.agent_id else None
            name = who.display_name if who else "someone"
            return f"Too late: {name} has already taken this email."
        return f"This email is no longer queued (it is {email.status.value})."

    # ---- the agent's own emails ----------------------------------------------------------
    def held(self) -> list[HeldEmail]:
        """The emails the agent holds (taken or with a draft), the longest-held first."""
        with self.read(Permission.WORK_EMAILS) as s:
            return self._held_rows(
                s, and_(Email.agent_id == self.actor.user_id, Email.status.in_(HELD))
            )

    def drafts(self) -> list[HeldEmail]:
        """My drafts: emails kept with a saved reply, to come back to."""
        with self.read(Permission.WORK_EMAILS) as s:
            return self._held_rows(
                s, and_(Email.agent_id == self.actor.user_id, Email.status == EmailStatus.DRAFT)
            )

    # ---- putting back, moving ------------------------------------------------------------
    def put_back(self, email_id: int, now: datetime | None = None) -> None:
        """Put the email back in its queue (if the campaign allows it); any draft of it is
        discarded."""
        now = now or utcnow()
        with self.write(Permission.WORK_EMAILS, "The email") as s:
            email = self._held_email(s, email_id)
            if not self._rules(s, email).allow_put_back:
                raise PermissionDenied("This campaign does not allow putting emails back.")
            dropped = self._discard_draft(s, email_id)
            self._requeue(s, email, None)
            detail = "Put back to the queue" + (" (its draft discarded)" if dropped else "")
            self._history(s, email_id, now, "put back", detail)

    def move_targets(self, email_id: int) -> list[tuple[int, str]]:
        """The other email campaigns, by title."""
        with self.read(Permission.WORK_EMAILS) as s:
            email = self._held_email(s, email_id)
            return [
                (cid, title)
                for cid, title in s.execute(
                    select(Campaign.id, Campaign.title)
                    .where(Campaign.id != email.campaign_id)
                    .order_by(folded(Campaign.title))
                )
            ]

    def move(self, email_id: int, campaign_id: int, now: datetime | None = None) -> None:
        """Move the email to another campaign's queue (if its campaign allows it); it keeps
        its arrival time and place."""
        now = now or utcnow()
        with self.write(Permission.WORK_EMAILS, "The email") as s:
            email = self._held_email(s, email_id)
            if not self._rules(s, email).allow_move:
                raise PermissionDenied("This campaign does not allow moving emails.")
            if campaign_id == email.campaign_id:
                raise ValidationError("Campaign", "choose another campaign than the email's own.")
            target = get_or_404(s, Campaign, campaign_id, "email campaign")
            source = s.get(Campaign, email.campaign_id) if email.campaign_id else None
            dropped = self._discard_draft(s, email_id)
            self._requeue(s, email, target.id)
            detail = f"Moved from {source.title if source else '(none)'} to {target.title}"
            self._history(s, email_id, now, "moved", detail + (" (draft discarded)" * dropped))

    # ---- leaving -------------------------------------------------------------------------
    def release_held(self, now: datetime | None = None) -> tuple[int, int]:
        """On signing out or closing: held emails without a draft go back to their queues
        (keeping their place); drafts stay. Returns (returned, drafts kept)."""
        now = now or utcnow()
        with self.write(Permission.WORK_EMAILS, "Your emails") as s:
            mine = list(
                s.scalars(
                    select(Email.id).where(
                        Email.agent_id == self.actor.user_id,
                        Email.status == EmailStatus.ASSIGNED,
                    )
                )
            )
            returned = 0
            for email_id in mine:
                if requeue(s, email_id, self.actor.user_id, (EmailStatus.ASSIGNED,)):
                    returned += 1
                    self._history(
                        s, email_id, now, "put back", "Returned to the queue when the agent left"
                    )
            drafts = s.scalar(
                select(func.count())
                .select_from(Email)
                .where(Email.agent_id == self.actor.user_id, Email.status == EmailStatus.DRAFT)
            )
            return returned, int(drafts or 0)

    # ---- supervisors ---------------------------------------------------------------------
    def holdings(self) -> list[HeldEmail]:
        """Who holds what, the longest-held first."""
        with self.read(Permission.CONFIGURE_CAMPAIGNS) as s:
            return self._held_rows(s, Email.status.in_(HELD))

    def return_to_queue(self, email_id: int, now: datetime | None = None) -> None:
        """A supervisor takes an email away from the agent holding it (who went home, say):
        it goes back to its queue with its place; a draft of it is discarded."""
        now = now or utcnow()
        with self.write(Permission.CONFIGURE_CAMPAIGNS, "The email") as s:
            email = get_or_404(s, Email, email_id, "email")
            holder = s.get(User, email.agent_id) if email.agent_id else None
            if email.agent_id is None or not requeue(s, email_id, email.agent_id):
                raise ConflictError(
                    f"This email is not held by anyone now (it is {email.status.value})."
                )
            dropped = self._discard_draft(s, email_id)
            who = holder.display_name if holder else "its agent"
            detail = f"Returned to the queue from {who} by {self.actor.display_name}"
            self._history(s, email_id, now, "put back", detail + (" (draft discarded)" * dropped))

    def agents(self) -> list[tuple[int, str]]:
        """Active users who can work emails, for re-opening to a named agent."""
        with self.read(Permission.CONFIGURE_CAMPAIGNS) as s:
            return [
                (uid, name)
                for uid, name in s.execute(
                    select(User.id, User.display_name)
                    .where(User.active.is_(True))
                    .where(User.role.in_([Role.AGENT, Role.SUPERVISOR, Role.ADMINISTRATOR]))
                    .order_by(folded(User.display_name))
                )
            ]

    def reopen(
        self, email_id: int, agent_id: int | None = None, now: datetime | None = None
    ) -> None:
        """An Actioned email goes back to its queue, or straight to a named agent."""
        now = now or utcnow()
        with self.write(Permission.CONFIGURE_CAMPAIGNS, "The email") as s:
            email = get_or_404(s, Email, email_id, "email")
            agent = get_or_404(s, User, agent_id, "user") if agent_id is not None else None
            if agent is not None and not agent.active:
                raise ValidationError("Agent", f"{agent.display_name} is not an active user.")
            values: dict[str, Any] = (
                {"status": EmailStatus.ASSIGNED, "agent_id": agent.id, "taken_at": now}
                if agent is not None
                else {"status": EmailStatus.QUEUED, "agent_id": None, "taken_at": None}
            )
            changed = changed_rows(
                s,
                update(Email)
                .where(Email.id == email_id, Email.status == EmailStatus.ACTIONED)
                .values(actioned_at=None, **values)
                .execution_options(synchronize_session=False),
            )
            if not changed:
                raise ConflictError(
                    f"Only an actioned email can be re-opened; this one is {email.status.value}."
                )
            to = f"to {agent.display_name}" if agent is not None else "to the queue"
            self._history(
                s, email_id, now, "re-opened", f"Re-opened {to} by {self.actor.display_name}"
            )


__all__ = [
    "CONFIRMATION_TEXT",
    "NO_CAMPAIGN_RULES",
    "AddressesNeedConfirmation",
    "AgentFailedSend",
    "HeldEmail",
    "NotAnAddress",
    "Queue",
    "QueuedEmail",
    "ReplyText",
    "Rules",
    "TemplateChoice",
    "WorkItem",
    "WorkService",
    "address_is_valid",
    "confirmation_text",
    "expand_recipients",
    "invalid_addresses",
    "reply_subject",
    "requeue",
    "split_recipients",
]
