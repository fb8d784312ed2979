"""What a reply is made of before it is stored or sent: the channel it goes out through, its
recipients counted against the channel's limit, its threading headers, its message."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import hotpath
from app.db.models import Campaign, Email, Reply, utcnow
from app.mail import compose
from app.services.errors import ValidationError


def aware(value: datetime | None) -> datetime:
    """``value``, or now when None; a time without a zone is refused (a bug)."""
    now = value or utcnow()
    if now.tzinfo is None:
        raise ValueError("naive datetime given to the outbox")
    return now


# ---- which channel sends a reply --------------------------------------------------


# The channel a reply goes out through (the campaign's, else the organisation's default,
# else the mailbox written to), in a query that joins Email and Campaign (``with_channel``).
reply_channel_id = hotpath.reply_channel_id


def with_channel(statement: Any) -> Any:
    """``statement`` over replies, joined to what ``reply_channel_id`` reads."""
    return statement.join(Email, Reply.email_id == Email.id).outerjoin(
        Campaign, Email.campaign_id == Campaign.id
    )


def sending_channel_id(session: Session, email: Email) -> int | None:
    stmt = (
        select(reply_channel_id())
        .select_from(Email)
        .outerjoin(Campaign, Email.campaign_id == Campaign.id)
        .where(Email.id == email.id)
    )
    return session.scalar(stmt)


class Answered(Protocol):
    """What a reply needs of the email it answers (an ``Email``, or a row of its columns)."""

    @property
    def message_id(self) -> str | None: ...
    @property
    def in_reply_to(self) -> str | None: ...
    @property
    def references(self) -> str | None: ...


class SendingChannel(Protocol):
    """What a reply needs of the channel it goes out through (a ``Channel``, or a row)."""

    @property
    def name(self) -> str: ...
    @property
    def display_name(self) -> str: ...
    @property
    def email_address(self) -> str: ...
    @property
    def max_recipients(self) -> int: ...


def check_recipient_count(
    channel: SendingChannel,
    to: str | Sequence[str],
    cc: str | Sequence[str],
    bcc: str | Sequence[str],
) -> None:
    """Refuse (next to To) a reply to more recipients than the channel's Max Recipients per
    Reply, counted as typed (To, Cc and Bcc together; the same text once) before anything
    else is read of them: 100,000 pasted addresses are refused at once, not parsed."""
    texts = [
        text for field in (to, cc, bcc) for text in ([field] if isinstance(field, str) else field)
    ]
    if sum(text.count("@") for text in texts) <= channel.max_recipients:
        return  # (every recipient has an '@': the usual case costs nothing more)
    typed = dict.fromkeys(item for text in texts for item in compose.split_addresses(text))
    refuse_over(channel, len(typed))


def refuse_over(channel: SendingChannel, count: int) -> None:
    if count > channel.max_recipients:
        raise ValidationError(
            "To",
            f"has {count:,} recipients (To, Cc and Bcc together): the channel {channel.name} "
            f"sends a reply to at most {channel.max_recipients:,} (its Max Recipients per "
            "Reply). Send it in parts, or ask an administrator to raise the limit.",
        )


def threading_headers(email: Answered) -> tuple[str | None, list[str]]:
    """(In-Reply-To, References) of a reply to ``email``."""
    parent_refs = (email.references or "").split()
    if not parent_refs and email.in_reply_to and len(email.in_reply_to.split()) == 1:
        parent_refs = [email.in_reply_to]  # RFC 5322 3.6.4: no References, one In-Reply-To
    # An id that cannot be written (8-bit, from a hostile or broken mailer) is left out,
    # instead of making the reply impossible to send.
    in_reply_to = email.message_id if compose.is_message_id(email.message_id) else None
    return in_reply_to, compose.thread_references(email.message_id, parent_refs)


def message(
    email: Answered,
    channel: SendingChannel,
    to: Sequence[compose.Mailbox],
    cc: Sequence[compose.Mailbox],
    bcc: Sequence[compose.Mailbox],
    subject: str,
    body: str,
    message_id: str,
    created_at: datetime,
) -> compose.Outgoing:
    in_reply_to, references = threading_headers(email)
    return compose.Outgoing(
        sender=compose.Mailbox(
            channel.display_name, compose.parse_mailbox("From", channel.email_address).address
        ),
        to=to,
        cc=cc,
        bcc=bcc,
        subject=subject,
        body=body,
        message_id=message_id,
        # Fixed when queued (when the agent finished it): the same bytes on every attempt.
        date=created_at,
        in_reply_to=in_reply_to,
        references=references,
    )


def outgoing(reply: Reply, email: Answered, channel: SendingChannel) -> compose.Outgoing:
    return message(
        email,
        channel,
        compose.parse_mailboxes("To", reply.to_addrs),
        compose.parse_mailboxes("Cc", reply.cc_addrs),
        compose.parse_mailboxes("Bcc", reply.bcc_addrs),
        reply.subject,
        reply.body,
        reply.message_id,
        reply.created_at,
    )
