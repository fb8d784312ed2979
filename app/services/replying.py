"""The agent's reply: the held email opened with its draft or the start of a reply, the
campaign's templates filled in, saving a draft, sending (checked against the campaign's
rules, then queued in the outbox), failed sends taken back to correct.

What a campaign allows (free-format replies, address confirmation, drafts) is checked here,
not only by hiding buttons.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, select, update
from sqlalchemy.orm import Session

from app.db import hotpath
from app.db.models import (
    Campaign,
    CampaignTemplate,
    Email,
    EmailStatus,
    Reply,
    ReplyState,
    utcnow,
)
from app.mail.fields import parse_addresses
from app.services import outbox, placeholders
from app.services.auth import Permission
from app.services.base import changed_rows, get_or_404, not_found
from app.services.errors import ConflictError, PermissionDenied, ValidationError
from app.services.holding import Holding
from app.services.recipients import AddressesNeedConfirmation, expand_recipients, invalid_addresses

TEMPLATE = "Template"


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


# ``body_limit`` for reads that show no body.
NO_BODY = -1


def campaign_rules(campaign: Any | None) -> Rules:
    """What a campaign allows (a ``Campaign``, or a row with its rules; None: the email is
    in no campaign)."""
    if campaign is None:
        return NO_CAMPAIGN_RULES
    return Rules(
        allow_free_format=campaign.allow_free_format,
        require_address_confirmation=campaign.require_address_confirmation,
        allow_put_back=campaign.allow_put_back,
        allow_move=campaign.allow_move,
        allow_draft=campaign.allow_draft,
    )


def work_item(found: hotpath.OpeningRows) -> WorkItem:
    """The held email read with ``read_opening``, ready for the reply editor."""
    email, draft = found.email, found.draft
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
        text = ReplyText(to=email.reply_to or email.from_addr, subject=reply_subject(email.subject))
    return WorkItem(
        email_id=email.id,
        campaign_id=email.campaign_id,
        campaign=email.campaign,
        status=EmailStatus(email.status),
        rules=campaign_rules(email if email.campaign is not None else None),
        reply=text,
        has_draft=draft is not None,
        last_error=draft.last_error if draft is not None else None,
    )


def placeholder_values(email: Any, actor_name: str) -> dict[str, str]:
    """What the placeholders of a template stand for, for an email read with
    ``read_opening`` (by the agent ``actor_name``)."""
    customer = parse_addresses(email.reply_to or email.from_addr)
    name, address = (customer[0].name, customer[0].address) if customer else ("", "")
    received = email.received_at
    if email.timezone is not None:
        received = received.astimezone(ZoneInfo(email.timezone))
    return {
        "customer.name": name or address,
        "customer.email": address,
        "email.subject": email.subject,
        "email.received": received.strftime("%Y-%m-%d %H:%M"),
        "agent.name": email.my_name if email.my_name is not None else actor_name,
        "agent.email": email.my_email or "",
        "campaign.title": email.campaign or "",
        "organisation.name": email.organisation or "",
        "channel.address": email.sending_address or "",
    }


def template_choices(found: hotpath.OpeningRows, actor_name: str) -> list[TemplateChoice]:
    """The templates of the campaign of an email read with ``read_opening``, the
    placeholders filled for it."""
    email = found.email
    values = placeholder_values(email, actor_name)
    choices = []
    for t in found.templates:
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


class Replying(Holding):
    """An agent's replies to the emails they hold (part of ``WorkService``)."""

    # ---- opening a held email ------------------------------------------------------------
    def _rules(self, s: Session, email: Email) -> Rules:
        return campaign_rules(s.get(Campaign, email.campaign_id) if email.campaign_id else None)

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

    # ---- templates -----------------------------------------------------------------------
    def _opening(
        self, conn: Connection, email_id: int, body_limit: int, *, history: bool = True
    ) -> hotpath.OpeningRows:
        """What opening the held email ``email_id`` shows, read in one round trip (see
        ``app.db.hotpath.opening``; ``history`` False: not its replies and History); refused
        when the agent does not hold it."""
        self.actor.require(Permission.WORK_EMAILS)
        found = hotpath.read_opening(
            conn, email_id, self.actor.user_id, body_limit, history=history
        )
        if found.email is None:
            raise not_found("email")
        self._check_held(conn, EmailStatus(found.email.status), found.email.agent_id)
        return found

    def open(self, email_id: int) -> WorkItem:
        """A held email with its saved draft, or the start of a new reply: To from
        Reply-To (else From), Subject "Re: …"."""
        return self.open_reply(email_id)[0]

    def templates(self, email_id: int) -> list[TemplateChoice]:
        """The campaign's templates with the placeholders filled for this email."""
        return self.open_reply(email_id)[1]

    def open_reply(self, email_id: int) -> tuple[WorkItem, list[TemplateChoice]]:
        """What the reply editor shows of a held email (``open`` and ``templates``), in one
        read."""
        with self.db.autocommit() as conn:
            found = self._opening(conn, email_id, NO_BODY, history=False)
        return work_item(found), template_choices(found, self.actor.display_name)

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

    # ---- drafts and sending --------------------------------------------------------------
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

    # ---- failed sends --------------------------------------------------------------------
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
