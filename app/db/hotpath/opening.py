"""Opening an email: what the reply editor and the reading pane show, read together.

Take next, and every email an agent opens, needs the email with its campaign's rules and the
names around it, the draft, the campaign's templates, the attachments, the replies and the
History. Each is one statement here, keyed by the email alone (``email_id``, and ``user_id``
for the agent's own name), so that none waits for another: ``read_opening`` runs them in one
pipeline on PostgreSQL — one round trip — and one after another on SQLite.

Bound: ``email_id``, ``user_id`` and ``body_limit`` (the text, HTML and message are read
only for an email no larger than that; a larger one's body is read when it is asked for).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Integer, bindparam, case, insert, select, update
from sqlalchemy.orm import aliased

from app.db.models import (
    Attachment,
    Campaign,
    CampaignTemplate,
    Channel,
    Email,
    History,
    Organisation,
    Reply,
    ReplyState,
    Template,
    User,
)

from .driver import DriverStatement, run_together
from .sending import reply_channel_id

_EMAIL_ID = bindparam("email_id", type_=Integer())


def _small(column: Any) -> Any:
    """``column`` for an email no larger than ``body_limit``, else NULL."""
    return case((Email.size <= bindparam("body_limit", type_=Integer()), column)).label(column.key)


@lru_cache(maxsize=1)
def _email() -> DriverStatement:
    """The email, its campaign's rules, and the names and addresses shown with it or put in
    its templates (organisation, the agent reading, the channel a reply goes out through)."""
    holder = aliased(User)
    me = aliased(User)
    sending = aliased(Channel)
    organisation = select(Organisation.name, Organisation.timezone).limit(1).subquery()
    return DriverStatement(
        select(
            Email.id,
            Email.campaign_id,
            Email.channel_id,
            Email.status,
            Email.agent_id,
            Email.from_addr,
            Email.reply_to,
            Email.to_addrs,
            Email.cc_addrs,
            Email.subject,
            Email.message_id,
            Email.in_reply_to,
            Email.received_at,
            Email.queued_at,
            Email.taken_at,
            Email.first_reply_at,
            Email.actioned_at,
            Email.size,
            Email.is_auto_reply,
            Email.is_bounce,
            Email.is_oversize,
            Email.quarantine_reason,
            _small(Email.text_body),
            _small(Email.html_body),
            _small(Email.raw),
            Campaign.title.label("campaign"),
            Campaign.allow_free_format,
            Campaign.require_address_confirmation,
            Campaign.allow_put_back,
            Campaign.allow_move,
            Campaign.allow_draft,
            Channel.name.label("channel"),
            holder.display_name.label("agent"),
            sending.email_address.label("sending_address"),
            organisation.c.name.label("organisation"),
            organisation.c.timezone,
            me.display_name.label("my_name"),
            me.email.label("my_email"),
        )
        .select_from(Email)
        .outerjoin(Campaign, Email.campaign_id == Campaign.id)
        .outerjoin(Channel, Email.channel_id == Channel.id)
        .outerjoin(holder, Email.agent_id == holder.id)
        .outerjoin(sending, sending.id == reply_channel_id())
        .outerjoin(organisation, organisation.c.name.is_not(None))
        .outerjoin(me, me.id == bindparam("user_id", type_=Integer()))
        .where(Email.id == _EMAIL_ID)
    )


@lru_cache(maxsize=1)
def _draft() -> DriverStatement:
    return DriverStatement(
        select(
            Reply.to_addrs,
            Reply.cc_addrs,
            Reply.bcc_addrs,
            Reply.subject,
            Reply.body,
            Reply.template_id,
            Reply.last_error,
        )
        .where(Reply.email_id == _EMAIL_ID, Reply.state == ReplyState.DRAFT)
        .order_by(Reply.id.desc())
        .limit(1)
    )


@lru_cache(maxsize=1)
def _templates() -> DriverStatement:
    """The templates of the email's campaign, by name."""
    return DriverStatement(
        select(Template.id, Template.name, Template.subject, Template.body)
        .join(CampaignTemplate, CampaignTemplate.template_id == Template.id)
        .join(Email, Email.campaign_id == CampaignTemplate.campaign_id)
        .where(Email.id == _EMAIL_ID)
        .order_by(Template.name, Template.id)
    )


@lru_cache(maxsize=1)
def _attachments() -> DriverStatement:
    return DriverStatement(
        select(*_LISTED)
        .where(Attachment.email_id == _EMAIL_ID)
        .order_by(Attachment.part_index, Attachment.id)
    )


@lru_cache(maxsize=1)
def _replies() -> DriverStatement:
    return DriverStatement(
        select(
            Reply.id,
            Reply.created_at,
            Reply.sent_at,
            Reply.state,
            User.display_name.label("agent"),
            Reply.to_addrs,
            Reply.cc_addrs,
            Reply.subject,
            Reply.body,
            Reply.attempts,
            Reply.last_error,
        )
        .outerjoin(User, Reply.agent_id == User.id)
        .where(Reply.email_id == _EMAIL_ID)
        .order_by(Reply.created_at, Reply.id)
    )


@lru_cache(maxsize=1)
def _history() -> DriverStatement:
    return DriverStatement(
        select(History.at, User.display_name.label("user"), History.action, History.detail)
        .outerjoin(User, History.user_id == User.id)
        .where(History.email_id == _EMAIL_ID)
        .order_by(History.at, History.id)
    )


@dataclass(frozen=True)
class OpeningRows:
    """What ``read_opening`` read: rows with their columns by name."""

    email: Any  # None: no such email
    draft: Any  # None: no draft
    templates: list[Any]
    attachments: list[Any]
    replies: list[Any]
    history: list[Any]


def read_opening(
    conn: Any, email_id: int, user_id: int | None, body_limit: int, *, history: bool = True
) -> OpeningRows:
    """Everything opening email ``email_id`` shows (``history`` False: not its replies and
    History), in one round trip on PostgreSQL."""
    values = {"email_id": email_id, "user_id": user_id, "body_limit": body_limit}
    statements = [_email(), _draft(), _templates(), _attachments()]
    if history:
        statements += [_replies(), _history()]
    found = run_together(conn, [(s, values) for s in statements])
    email, draft, templates, attachments = found[:4]
    replies, events = found[4:] if history else ([], [])
    return OpeningRows(
        email[0] if email else None,
        draft[0] if draft else None,
        templates,
        attachments,
        replies,
        events,
    )


_LISTED = (
    Attachment.id,
    Attachment.filename,
    Attachment.content_type,
    Attachment.size,
    Attachment.content_id,
    Attachment.part_index,
)


def save_decoded(
    conn: Any,
    email_id: int,
    texts: tuple[str | None, str | None] | None,
    attachments: list[dict[str, Any]],
) -> list[Any]:
    """Keep what the first view of an email decoded: its text and HTML (``texts``; unless
    another view kept them first) and its attachments (rows of ``attachments``' columns,
    returned as ``read_opening`` lists them, with their ids). One round trip on PostgreSQL."""
    statements: list[tuple[DriverStatement, dict[str, Any]]] = []
    if texts is not None:
        keep = (
            update(Email)
            .where(Email.id == email_id, Email.text_body.is_(None), Email.html_body.is_(None))
            .values(text_body=texts[0], html_body=texts[1])
        )
        statements.append((DriverStatement(keep), {}))
    if attachments:
        listed = insert(Attachment).values(attachments).returning(*_LISTED)
        statements.append((DriverStatement(listed), {}))
    found = run_together(conn, statements)
    return sorted(found[-1], key=lambda a: (a.part_index, a.id)) if attachments else []
