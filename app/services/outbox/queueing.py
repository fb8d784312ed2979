"""Putting an agent's reply in the outbox."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from app.db import hotpath
from app.db.models import ReplyState
from app.mail import compose
from app.services.errors import ConflictError, ValidationError

from .message import Answered, SendingChannel, check_recipient_count, message, refuse_over

# ---- queueing -----------------------------------------------------------------------


@dataclass(frozen=True)
class ReplyToQueue:
    """An agent's reply to put in the outbox: to the email ``email_id``, written by
    ``agent_id``, who must still hold the email. ``draft_id``: the agent's draft of it, whose
    row becomes the reply."""

    email_id: int
    agent_id: int | None
    to: str | Sequence[str]
    cc: str | Sequence[str] = ""
    bcc: str | Sequence[str] = ""
    subject: str = ""
    body: str = ""
    template_id: int | None = None
    draft_id: int | None = None


_NOT_HELD = "You no longer hold this email: it was not sent."


def queue_reply(
    conn: Connection,
    reply: ReplyToQueue,
    answered: Answered,
    channel: SendingChannel | None,
    now: datetime,
) -> int:
    """Put an agent's reply in the outbox, in ``conn``'s transaction, with what it reads
    given: the email answered and its sending channel (None: there is none). The email
    becomes Actioned and the Message-ID is fixed now (kept across retries), only while the
    agent still holds the email (else ConflictError): one statement on PostgreSQL, so
    ``conn`` may be in autocommit there. Anything that could not go into the message — a
    line break in the subject, an address that is not exactly one address — is a
    ValidationError naming the field, and nothing is queued. Returns the reply's id."""
    to, cc, bcc, subject, body = reply.to, reply.cc, reply.bcc, reply.subject, reply.body
    if channel is None:
        raise ValidationError(
            "Email Channel",
            "no channel to send the reply through: the email's channel was removed and "
            "neither its campaign nor the organisation names one.",
        )
    check_recipient_count(channel, to, cc, bcc)
    try:
        to_boxes = compose.parse_mailboxes("To", to)
        cc_boxes = compose.parse_mailboxes("Cc", cc)
        bcc_boxes = compose.parse_mailboxes("Bcc", bcc)
        if not (to_boxes or cc_boxes or bcc_boxes):
            raise compose.HeaderError("To", "is required: add at least one recipient.")
        compose.check_header_text("Subject", subject)
        message_id = compose.make_message_id(channel.email_address)
        # Whatever would fail at sending time fails here, in front of the agent, instead of
        # in the background.
        compose.check(
            message(
                answered, channel, to_boxes, cc_boxes, bcc_boxes, subject, body, message_id, now
            )
        )
    except compose.HeaderError as exc:
        raise ValidationError(exc.field, exc.message) from exc
    # the envelope's recipients, each address once (a confirmed "a@x b@y" is two)
    refuse_over(channel, len({m.address for m in (*to_boxes, *cc_boxes, *bcc_boxes)}))
    values: dict[str, Any] = {
        "email_id": reply.email_id,
        "agent_id": reply.agent_id,
        "template_id": reply.template_id,
        "to_addrs": compose.format_mailboxes(to_boxes),
        "cc_addrs": compose.format_mailboxes(cc_boxes),
        "bcc_addrs": compose.format_mailboxes(bcc_boxes),
        "subject": subject,
        "body": body,
        "message_id": message_id,
        "state": ReplyState.QUEUED,
        "attempts": 0,
        "last_error": None,
        "next_attempt_at": None,
        "created_at": now,
    }
    recipients = ", ".join(m.address for m in (*to_boxes, *cc_boxes, *bcc_boxes))
    detail = f"Reply to {recipients} queued for sending through {channel.name}"
    reply_id = hotpath.queue_held_reply(
        conn, values, holder=reply.agent_id, now=now, detail=detail, draft_id=reply.draft_id
    )
    if reply_id is None:
        raise ConflictError(_NOT_HELD)
    return reply_id
