"""The agent's work: queues, taking emails, replying, putting back, moving, drafts.

An email is *held* by an agent while it is ``assigned`` or ``draft`` with their id in
``agent_id``. Every change of hands is one ``UPDATE … WHERE status = … [AND agent_id = …]``
checked for the rows it changed, so two agents — two processes, two workstations — never
hold the same email, and an action on an email someone else has meanwhile taken, moved or
re-opened is refused with a clear message instead of overwriting their work.

What a campaign allows (put back, move, draft, free-format, address confirmation) is checked
here, not only by hiding buttons.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import (
    Connection,
    and_,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.orm import Session

from app.db import hotpath
from app.db.functions import folded
from app.db.models import (
    HELD,
    Campaign,
    CampaignTemplate,
    Channel,
    Email,
    EmailStatus,
    Organisation,
    Reply,
    ReplyState,
    Role,
    Template,
    User,
    utcnow,
)
from app.mail import compose
from app.mail.fields import parse_addresses
from app.services import outbox, placeholders
from app.services.auth import Permission
from app.services.base import Service, changed_rows, get_or_404, not_found
from app.services.errors import (
    ConflictError,
    PermissionDenied,
    ServiceError,
    ValidationError,
)
from app.services.history import Entry, write_history

TEMPLATE = "Template"

CONFIRMATION_TEXT = (
    "The input email address '{address}' appears to be invalid. Please confirm that you do "
    "want to use this email address, by pressing OK, or press Cancel and go back and "
    "correct it."
)


class AddressesNeedConfirmation(ServiceError):
    """The campaign requires confirmation of addresses that fail validation."""

    def __init__(self, addresses: Sequence[str]) -> None:
        super().__init__(
            "Please confirm these recipient addresses before sending: " + ", ".join(addresses)
        )
        self.addresses = list(addresses)


class NotAnAddress(ValidationError):
    """A recipient (or a part of one) without an '@': no mail server can deliver it to the
    customer (one would append its own domain), so nothing is queued. ``address`` is the
    part as typed."""

    def __init__(self, field: str, address: str) -> None:
        super().__init__(
            field,
            f"holds '{address}', which is not an email address (it has no '@'): the reply "
            "cannot be sent to it, as a mail server would take it for one of its own "
            "mailboxes. Correct it or remove it.",
        )
        self.address = address


def confirmation_text(address: str) -> str:
    """The seed's exact question for one address."""
    return CONFIRMATION_TEXT.format(address=address)


def split_recipients(text: str) -> list[str]:
    """Recipients typed as one text: separated by ',' or ';' (not inside quotes or <>)."""
    return compose.split_addresses(text)


_ANGLE = re.compile(r"(?P<name>[^<>]*)<(?P<address>[^<>]*)>")


def address_is_valid(item: str) -> bool:
    """One recipient (``a@b.example`` or ``Name <a@b.example>``), by syntax only: no
    network lookups."""
    typed = item.strip()
    angle = _ANGLE.fullmatch(typed)
    address = angle.group("address").strip() if angle else typed
    try:
        validate_email(address, check_deliverability=False, test_environment=True)
    except EmailNotValidError:
        return False
    return True


def invalid_addresses(*fields: str) -> list[str]:
    """Every recipient of the given To/Cc/Bcc texts that fails validation, in order."""
    found: list[str] = []
    for text in fields:
        found.extend(item for item in split_recipients(text) if not address_is_valid(item))
    return found


def expand_recipients(field: str, text: str, loose: Collection[str] | None) -> str | list[str]:
    """The recipients of one field to queue, each as typed. A recipient in ``loose`` (one the
    agent confirmed, or with ``None`` any) that is not one address is split into the parts
    that are (the seed's "a@example.com b@example.com" goes to both); a part without an '@'
    is refused (NotAnAddress) before anything is queued. Everything else is left to the
    outbox's strict parsing."""
    if loose is not None and not loose:
        return text
    items = split_recipients(text)
    if loose is not None and not any(item in loose for item in items):
        return text
    found: list[str] = []
    for item in items:
        if loose is not None and item not in loose:
            found.append(item)
            continue
        try:
            compose.parse_mailbox(field, item)
        except compose.HeaderError:
            parts = compose.split_loosely(item)
        else:
            parts = [item]
        for part in parts:
            if "@" not in part:
                raise NotAnAddress(field, part)
        found.extend(parts)
    return found


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


@dataclass(frozen=True)
class Rules:
    """What the email's campaign allows."""

    allow_free_format: bool
    require_address_confirmation: bool
    allow_put_back: bool
    allow_move: bool
    allow_draft: bool


@dataclass(frozen=True)
class TemplateChoice:
    template_id: int
    name: str
    subject: str  # rendered
    body: str  # rendered


@dataclass(frozen=True)
class ReplyText:
    """What the agent typed (or a template filled in)."""

    to: str = ""
    cc: str = ""
    bcc: str = ""
    subject: str = ""
    body: str = ""
    template_id: int | None = None


@dataclass(frozen=True)
class WorkItem:
    """A held email ready for the reply editor."""

    email_id: int
    campaign_id: int | None
    campaign: str | None
    status: EmailStatus
    rules: Rules
    reply: ReplyText  # the saved draft, or the starting point of a new reply
    has_draft: bool
    last_error: str | None  # why the reply being reworked failed


@dataclass(frozen=True)
class AgentFailedSend:
    reply_id: int
    email_id: int
    state: ReplyState
    subject: str
    to_addrs: str
    last_error: str | None
    created_at: datetime
    cc_addrs: str = ""
    bcc_addrs: str = ""

    @property
    def recipients(self) -> str:
        return outbox.recipients_text(self.to_addrs, self.cc_addrs, self.bcc_addrs)


# An email outside any campaign (its campaign was removed): nothing is allowed.
NO_CAMPAIGN_RULES = Rules(False, True, False, False, False)


def reply_subject(subject: str) -> str:
    """ "Re: …" once, however many times the conversation went back and forth."""
    stripped = subject.strip()
    if stripped[:3].casefold() == "re:":
        return stripped
    return f"Re: {stripped}" if stripped else "Re:"


def requeue(
    s: Session,
    email_id: int,
    agent_id: int | None,
    statuses: Sequence[EmailStatus] = HELD,
    campaign_id: int | None = None,
) -> bool:
    """Back to a queue (``campaign_id``'s, else its own), keeping its place (queued at), if
    ``agent_id`` still holds it in one of ``statuses``. True when it went back."""
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


class WorkService(Service):
    """What an agent (or a supervisor working a queue) does with emails."""

    # ---- where the agent works ------------------------------------------------------
    def _campaign_ids(self, s: Session) -> list[int]:
        """The campaigns assigned to the teams the signed-in user is a member of."""
        return list(s.scalars(hotpath.CAMPAIGN_IDS, {"user_id": self.actor.user_id}))

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

    # ---- taking ---------------------------------------------------------------------
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

    # ---- the agent's own emails -------------------------------------------------------
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

    def _rules(self, s: Session, email: Email) -> Rules:
        campaign = s.get(Campaign, email.campaign_id) if email.campaign_id else None
        if campaign is None:
            return NO_CAMPAIGN_RULES
        return Rules(
            allow_free_format=campaign.allow_free_format,
            require_address_confirmation=campaign.require_address_confirmation,
            allow_put_back=campaign.allow_put_back,
            allow_move=campaign.allow_move,
            allow_draft=campaign.allow_draft,
        )

    def _for_sending(
        self, conn: Connection, email_id: int, template_id: int | None
    ) -> tuple[Any, bool, bool]:
        """What ``send`` needs, in one round trip: the held email's threading headers, the
        two rules of its campaign that sending checks (returned: free format allowed,
        addresses to confirm), whether the chosen template is one of the campaign's (``linked``:
        its id, or None), the channel the reply goes out through (``channel``: None if there
        is none) and the draft being sent (``draft``). The same answers as ``_held_email``,
        ``_rules``, ``_check_template``, ``outbox.sending_channel_id`` and ``_draft``."""
        row = hotpath.sending_facts(conn, email_id, template_id)
        if row is None:
            raise not_found("email")
        self._check_held(conn, EmailStatus(row.status), row.agent_id)
        if row.campaign is None:
            rules = NO_CAMPAIGN_RULES
            return row, rules.allow_free_format, rules.require_address_confirmation
        return row, row.allow_free_format, row.require_address_confirmation

    def _draft(self, s: Session, email_id: int) -> Reply | None:
        return s.scalar(
            select(Reply)
            .where(Reply.email_id == email_id, Reply.state == ReplyState.DRAFT)
            .order_by(Reply.id.desc())
            .limit(1)
        )

    def open(self, email_id: int) -> WorkItem:
        """A held email with its saved draft, or the start of a new reply: To from
        Reply-To (else From), Subject "Re: …"."""
        with self.read(Permission.WORK_EMAILS) as s:
            email = self._held_email(s, email_id)
            draft = self._draft(s, email_id)
            if draft is not None:
                text = ReplyText(
                    to=draft.to_addrs,
                    cc=draft.cc_addrs,
                    bcc=draft.bcc_addrs,
                    subject=draft.subject,
                    body=draft.body,
                    template_id=draft.template_id,
                )
            else:
                text = ReplyText(
                    to=email.reply_to or email.from_addr, subject=reply_subject(email.subject)
                )
            campaign = s.get(Campaign, email.campaign_id) if email.campaign_id else None
            return WorkItem(
                email_id=email.id,
                campaign_id=email.campaign_id,
                campaign=campaign.title if campaign else None,
                status=email.status,
                rules=self._rules(s, email),
                reply=text,
                has_draft=draft is not None,
                last_error=draft.last_error if draft is not None else None,
            )

    # ---- templates ----------------------------------------------------------------------
    def _values(self, s: Session, email: Email) -> dict[str, str]:
        org = s.scalar(select(Organisation))
        agent = s.get(User, self.actor.user_id) if self.actor.user_id else None
        campaign = s.get(Campaign, email.campaign_id) if email.campaign_id else None
        channel_id = outbox.sending_channel_id(s, email)
        channel = s.get(Channel, channel_id) if channel_id else None
        customer = parse_addresses(email.reply_to or email.from_addr)
        name, address = (customer[0].name, customer[0].address) if customer else ("", "")
        received = email.received_at
        if org is not None:
            received = received.astimezone(ZoneInfo(org.timezone))
        return {
            "customer.name": name or address,
            "customer.email": address,
            "email.subject": email.subject,
            "email.received": received.strftime("%Y-%m-%d %H:%M"),
            "agent.name": agent.display_name if agent else self.actor.display_name,
            "agent.email": agent.email if agent else "",
            "campaign.title": campaign.title if campaign else "",
            "organisation.name": org.name if org else "",
            "channel.address": channel.email_address if channel else "",
        }

    def templates(self, email_id: int) -> list[TemplateChoice]:
        """The campaign's templates with the placeholders filled for this email."""
        with self.read(Permission.WORK_EMAILS) as s:
            email = self._held_email(s, email_id)
            values = self._values(s, email)
            rows = s.scalars(
                select(Template)
                .join(CampaignTemplate, CampaignTemplate.template_id == Template.id)
                .where(CampaignTemplate.campaign_id == email.campaign_id)
                .order_by(Template.name)
            )
            choices = []
            for t in rows:
                subject = placeholders.render(t.subject, values).strip()
                choices.append(
                    TemplateChoice(
                        template_id=t.id,
                        name=t.name,
                        subject=subject or reply_subject(email.subject),
                        body=placeholders.render(t.body, values),
                    )
                )
            return choices

    def _check_template(self, s: Session, email: Email, rules: Rules, text: ReplyText) -> None:
        linked = None
        if text.template_id is not None:
            linked = s.scalar(
                select(CampaignTemplate.template_id).where(
                    CampaignTemplate.campaign_id == email.campaign_id,
                    CampaignTemplate.template_id == text.template_id,
                )
            )
        self._check_template_linked(rules.allow_free_format, text, linked)

    @staticmethod
    def _check_template_linked(free_format: bool, text: ReplyText, linked: int | None) -> None:
        if text.template_id is not None:
            if linked is None:
                raise ValidationError(TEMPLATE, "is not one of this campaign's templates.")
        elif not free_format:
            raise ValidationError(
                TEMPLATE,
                "choose one of the campaign's templates: this campaign does not allow "
                "free-format emails.",
            )

    # ---- actions --------------------------------------------------------------------------
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

    def save_draft(self, email_id: int, text: ReplyText, now: datetime | None = None) -> None:
        """Keep the reply as it is; the email stays with the agent in My drafts."""
        now = now or utcnow()
        with self.write(Permission.WORK_EMAILS, "The draft") as s:
            email = self._held_email(s, email_id)
            if not self._rules(s, email).allow_draft:
                raise PermissionDenied("This campaign does not allow saving drafts.")
            if text.template_id is not None:
                self._check_template(s, email, self._rules(s, email), text)
            draft = self._draft(s, email_id)
            if draft is None:
                draft = Reply(
                    email_id=email_id,
                    state=ReplyState.DRAFT,
                    message_id=f"<draft.{email_id}.{now.timestamp():.6f}@draft.invalid>",
                    created_at=now,
                )
                s.add(draft)
            draft.agent_id = self.actor.user_id
            draft.to_addrs, draft.cc_addrs, draft.bcc_addrs = text.to, text.cc, text.bcc
            draft.subject, draft.body, draft.template_id = text.subject, text.body, text.template_id
            email.status = EmailStatus.DRAFT
            self._history(s, email_id, now, "draft saved", "Reply saved as a draft")

    def send(
        self,
        email_id: int,
        text: ReplyText,
        confirmed: Collection[str] = (),
        now: datetime | None = None,
    ) -> int:
        """Queue the reply for sending; the email becomes Actioned. With address
        confirmation required, every invalid recipient must be among ``confirmed`` (else
        AddressesNeedConfirmation lists them). A recipient sent anyway (confirmed, or any
        without confirmation) goes to each part of it that has an '@', as typed; a part
        without one is refused (NotAnAddress). Returns the reply's id."""
        now = now or utcnow()
        # PostgreSQL: the read, then one statement that queues the reply only if the agent
        # still holds the email; each safe alone, so no transaction around them.
        with self.write_connection(Permission.WORK_EMAILS, "The reply", autocommit=True) as conn:
            row, free_format, confirm = self._for_sending(conn, email_id, text.template_id)
            self._check_template_linked(free_format, text, row.linked)
            if row.channel is not None:  # before anything is read of 100,000 addresses
                outbox.check_recipient_count(row, text.to, text.cc, text.bcc)
            loose: Collection[str] | None = None
            if confirm:
                invalid = invalid_addresses(text.to, text.cc, text.bcc)
                pending = [a for a in invalid if a not in confirmed]
                if pending:
                    raise AddressesNeedConfirmation(pending)
                loose = frozenset(invalid)
            reply = outbox.ReplyToQueue(
                email_id=email_id,
                agent_id=self.actor.user_id,
                to=expand_recipients("To", text.to, loose),
                cc=expand_recipients("Cc", text.cc, loose),
                bcc=expand_recipients("Bcc", text.bcc, loose),
                subject=text.subject,
                body=text.body,
                template_id=text.template_id,
                draft_id=row.draft,
            )
            channel = row if row.channel is not None else None
            return outbox.queue_reply(conn, reply, row, channel, now)

    # ---- leaving ----------------------------------------------------------------------
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

    # ---- failed sends -------------------------------------------------------------------
    def my_failed_sends(self) -> list[AgentFailedSend]:
        """The agent's replies that could not be delivered, with the server's reason."""
        with self.read(Permission.WORK_EMAILS) as s:
            return [
                AgentFailedSend(
                    r.id,
                    r.email_id,
                    r.state,
                    r.subject,
                    r.to_addrs,
                    r.last_error,
                    r.created_at,
                    r.cc_addrs,
                    r.bcc_addrs,
                )
                for r in s.scalars(
                    select(Reply)
                    .where(
                        Reply.agent_id == self.actor.user_id,
                        Reply.state.in_([ReplyState.FAILED, ReplyState.UNCERTAIN]),
                    )
                    .order_by(Reply.created_at, Reply.id)
                )
            ]

    def rework_failed(self, reply_id: int, now: datetime | None = None) -> int:
        """Take a failed reply back to correct it: it becomes a draft of its email, which
        the agent holds again. Returns the email's id."""
        now = now or utcnow()
        with self.write(Permission.WORK_EMAILS, "The reply") as s:
            reply = get_or_404(s, Reply, reply_id, "reply")
            if reply.agent_id != self.actor.user_id:
                raise PermissionDenied("Only the agent who wrote a reply can rework it.")
            changed = changed_rows(
                s,
                update(Reply)
                .where(Reply.id == reply_id, Reply.state == ReplyState.FAILED)
                .values(state=ReplyState.DRAFT, next_attempt_at=None)
                .execution_options(synchronize_session=False),
            )
            if not changed:
                raise ConflictError(
                    "Only a failed reply can be corrected and sent again; this one is "
                    f"{reply.state.value} (an uncertain one is settled by a supervisor)."
                )
            taken = changed_rows(
                s,
                update(Email)
                .where(Email.id == reply.email_id, Email.status.in_([EmailStatus.ACTIONED]))
                .values(status=EmailStatus.DRAFT, agent_id=self.actor.user_id, taken_at=now)
                .execution_options(synchronize_session=False),
            )
            if not taken:
                email = get_or_404(s, Email, reply.email_id, "email")
                raise ConflictError(
                    f"The email of this reply is {email.status.value} now, so it cannot be "
                    "taken back: ask a supervisor to re-open it."
                )
            self._history(
                s,
                reply.email_id,
                now,
                "send failed",
                "The failed reply was taken back to correct it",
            )
            return reply.email_id

    # ---- supervisors ------------------------------------------------------------------------
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
