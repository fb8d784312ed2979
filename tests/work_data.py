"""Queued customer emails for the agent workspace tests, written straight to the database."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP

from sqlalchemy import select

from app.db.engine import Database
from app.db.models import Campaign, Channel, Email, EmailStatus, History

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
_numbers = itertools.count(1)


def campaign_id(db: Database, title: str) -> int:
    with db.session() as s:
        found = s.scalar(select(Campaign.id).where(Campaign.title == title))
        assert found is not None, title
        return found


def add_email(
    db: Database,
    campaign: str,
    *,
    subject: str = "Where is my parcel?",
    sender: str = "Zoe Adams <zoe@customers.example>",
    reply_to: str = "",
    body: str = "Hello, my order 4711 has not arrived yet.",
    queued_at: datetime | None = None,
    channel: str = "Support mailbox",
) -> int:
    """A queued email of ``campaign``, as intake would have stored it."""
    n = next(_numbers)
    msg = EmailMessage(policy=SMTP)
    msg["From"] = sender
    if reply_to:
        msg["Reply-To"] = reply_to
    msg["To"] = "support@example.com"
    msg["Subject"] = subject
    msg["Message-ID"] = f"<customer.{n}@customers.example>"
    msg.set_content(body)
    at = queued_at or T0 + timedelta(minutes=n)
    with db.session() as s:
        email = Email(
            channel_id=s.scalar(select(Channel.id).where(Channel.name == channel)),
            campaign_id=campaign_id(db, campaign),
            status=EmailStatus.QUEUED,
            from_addr=sender,
            reply_to=reply_to,
            to_addrs="support@example.com",
            subject=subject,
            message_id=f"<customer.{n}@customers.example>",
            received_at=at,
            queued_at=at,
            raw=msg.as_bytes(),
            size=len(msg.as_bytes()),
            text_body=body,
        )
        s.add(email)
        s.flush()
        s.add(History(email_id=email.id, at=at, action="arrived", detail="test"))
        return email.id
