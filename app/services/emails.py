"""Management ▸ Emails: every email record, searched, sorted and paged in SQL.

The list never loads message bytes: ``count`` and ``page`` select only the columns the
list shows, with the campaign, channel and agent joined in. ``detail`` reads one email
with its replies and history; the first time an email is shown its body is decoded
from the raw message and the text, HTML and attachment list are saved, so that later
views (and text search over bodies) need no parsing. The detail pane reads the body
apart when it is large (``detail(..., body_limit=…)``, then ``body`` off the GUI thread): a
body of megabytes takes a moment to decode and sanitize (``email_content.py``). What opening
an email shows is read in one round trip (``app.db.hotpath.opening``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Connection, Select, case, func, or_, select
from sqlalchemy.orm import Session

from app.db import hotpath
from app.db.functions import folded
from app.db.models import (
    Attachment,
    Campaign,
    Channel,
    Email,
    EmailStatus,
    ReplyState,
    User,
    utcnow,
)
from app.mail.parse import attachment_bytes
from app.services.auth import Permission
from app.services.base import Service, get_or_404
from app.services.email_content import (
    AttachmentRow,
    Content,
    EmailBody,
    attachment_row,
    first_of_each_part,
    read_content,
)
from app.services.errors import NotFound, PermissionDenied, ValidationError
from app.services.history import Entry, write_history

PERMISSION = Permission.CONFIGURE_CAMPAIGNS
FLAG_LABELS = {
    "auto_reply": "Auto-reply",
    "bounce": "Bounce",
    "oversize": "Oversize",
    "quarantined": "Quarantined",
}
S = TypeVar("S", bound=Select[*tuple[Any, ...]])


class SortKey(enum.StrEnum):
    """The columns the list can be sorted by."""

    ID = "id"
    RECEIVED = "received_at"
    FROM = "from"
    SUBJECT = "subject"
    CAMPAIGN = "campaign"
    CHANNEL = "channel"
    STATUS = "status"
    AGENT = "agent"
    FLAGS = "flags"


@dataclass(frozen=True)
class EmailQuery:
    """Which emails, in which order. ``received_to`` is exclusive; ``text`` is searched
    case-insensitively in the subject, sender, recipients and (once decoded) the body."""

    received_from: datetime | None = None
    received_to: datetime | None = None
    campaign_id: int | None = None
    status: EmailStatus | None = None
    agent_id: int | None = None
    channel_id: int | None = None
    text: str = ""
    sort: SortKey = SortKey.RECEIVED
    descending: bool = True
    offset: int = 0
    limit: int | None = None


@dataclass(frozen=True)
class EmailRow:
    """One line of the list: only what the list shows."""

    id: int
    received_at: datetime
    from_addr: str
    subject: str
    campaign: str | None
    channel: str | None
    status: EmailStatus
    agent: str | None
    flags: tuple[str, ...]

    @property
    def flags_text(self) -> str:
        return ", ".join(FLAG_LABELS[f] for f in self.flags)


@dataclass(frozen=True)
class ReplyRow:
    id: int
    created_at: datetime
    sent_at: datetime | None
    state: ReplyState
    agent: str | None
    to_addrs: str
    cc_addrs: str
    subject: str
    body: str
    attempts: int
    last_error: str | None


@dataclass(frozen=True)
class HistoryRow:
    at: datetime
    user: str | None
    action: str
    detail: str


@dataclass(frozen=True)
class EmailDetail:
    """One email as the detail pane shows it, replies in time order."""

    id: int
    channel: str | None
    campaign: str | None
    status: EmailStatus
    from_addr: str
    reply_to: str
    to_addrs: str
    cc_addrs: str
    subject: str
    message_id: str | None
    in_reply_to: str | None
    received_at: datetime
    queued_at: datetime
    agent: str | None
    taken_at: datetime | None
    first_reply_at: datetime | None
    actioned_at: datetime | None
    size: int
    flags: tuple[str, ...]
    quarantine_reason: str | None
    text_body: str | None
    html_body: str | None
    safe_html: str | None  # html_body sanitized, inline cid: images as data: URLs
    attachments: list[AttachmentRow] = field(default_factory=list)
    replies: list[ReplyRow] = field(default_factory=list)
    history: list[HistoryRow] = field(default_factory=list)
    # False: read with body=False; the texts are None and the attachments those listed
    # so far: ``EmailService.body`` gives them.
    body_loaded: bool = True

    @property
    def flags_text(self) -> str:
        return ", ".join(FLAG_LABELS[f] for f in self.flags)

    def body(self) -> EmailBody:
        """The body read with the email (``body_loaded``)."""
        return EmailBody(self.text_body, self.html_body, self.safe_html, self.attachments)

    def with_body(self, body: EmailBody) -> EmailDetail:
        """This email with its body read apart (``EmailService.body``)."""
        return replace(
            self,
            text_body=body.text_body,
            html_body=body.html_body,
            safe_html=body.safe_html,
            attachments=body.attachments if body.attachments else self.attachments,
            body_loaded=True,
        )


@dataclass(frozen=True)
class FilterOptions:
    """What the filter bar offers: (id, name) pairs in display order."""

    campaigns: list[tuple[int, str]]
    channels: list[tuple[int, str]]
    agents: list[tuple[int, str]]


# ``body_limit``s: every body, and none.
WHOLE = 2**31 - 1
NO_BODY = -1


def content_of(conn: Connection, found: hotpath.OpeningRows) -> Content:
    """The content of an email read with ``read_opening`` (its body included), decoded
    and saved on ``conn`` the first time."""
    e = found.email
    return read_content(conn, e.id, e.text_body, e.html_body, e.raw, found.attachments)


def email_detail(found: hotpath.OpeningRows, content: Content | None) -> EmailDetail:
    """The email read with ``read_opening`` as the detail pane shows it; its body if
    ``content`` is given."""
    e = found.email
    detail = EmailDetail(
        id=e.id,
        channel=e.channel,
        campaign=e.campaign,
        status=e.status,
        from_addr=e.from_addr,
        reply_to=e.reply_to,
        to_addrs=e.to_addrs,
        cc_addrs=e.cc_addrs,
        subject=e.subject,
        message_id=e.message_id,
        in_reply_to=e.in_reply_to,
        received_at=e.received_at,
        queued_at=e.queued_at,
        agent=e.agent,
        taken_at=e.taken_at,
        first_reply_at=e.first_reply_at,
        actioned_at=e.actioned_at,
        size=e.size,
        flags=_flags(e.is_auto_reply, e.is_bounce, e.is_oversize, e.status),
        quarantine_reason=e.quarantine_reason,
        text_body=None,
        html_body=None,
        safe_html=None,
        attachments=[attachment_row(a) for a in first_of_each_part(found.attachments)],
        replies=[ReplyRow(*r) for r in found.replies],
        history=[HistoryRow(*h) for h in found.history],
        body_loaded=False,
    )
    if content is not None:  # sanitized after the read: no lock held meanwhile
        return detail.with_body(content.body())
    return detail


def _flags(auto_reply: bool, bounce: bool, oversize: bool, status: EmailStatus) -> tuple[str, ...]:
    flags = []
    if auto_reply:
        flags.append("auto_reply")
    if bounce:
        flags.append("bounce")
    if oversize:
        flags.append("oversize")
    if status == EmailStatus.QUARANTINED:
        flags.append("quarantined")
    return tuple(flags)


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _sort_expression(key: SortKey) -> ColumnElement[Any] | Any:
    if key == SortKey.ID:
        return Email.id
    if key == SortKey.RECEIVED:
        return Email.received_at
    if key == SortKey.FROM:
        return folded(Email.from_addr)
    if key == SortKey.SUBJECT:
        return folded(Email.subject)
    if key == SortKey.CAMPAIGN:
        return folded(func.coalesce(Campaign.title, ""))
    if key == SortKey.CHANNEL:
        return folded(func.coalesce(Channel.name, ""))
    if key == SortKey.AGENT:
        return folded(func.coalesce(User.display_name, ""))
    if key == SortKey.STATUS:  # in lifecycle order, not alphabetical
        order = list(EmailStatus)
        return case(*((Email.status == s, i) for i, s in enumerate(order)), else_=len(order))
    # FLAGS: the most serious flag first when descending
    return (
        case((Email.status == EmailStatus.QUARANTINED, 8), else_=0)
        + case((Email.is_bounce, 4), else_=0)
        + case((Email.is_oversize, 2), else_=0)
        + case((Email.is_auto_reply, 1), else_=0)
    )


class EmailService(Service):
    """Read every email record (supervisors and administrators)."""

    # ---- list -----------------------------------------------------------------
    def _where(self, stmt: S, q: EmailQuery) -> S:
        if q.received_from is not None:
            stmt = stmt.where(Email.received_at >= q.received_from)
        if q.received_to is not None:
            stmt = stmt.where(Email.received_at < q.received_to)
        if q.campaign_id is not None:
            stmt = stmt.where(Email.campaign_id == q.campaign_id)
        if q.status is not None:
            stmt = stmt.where(Email.status == q.status)
        if q.agent_id is not None:
            stmt = stmt.where(Email.agent_id == q.agent_id)
        if q.channel_id is not None:
            stmt = stmt.where(Email.channel_id == q.channel_id)
        text = q.text.strip()
        if text:
            pattern = _like_pattern(text.casefold())
            # Bodies are NULL until decoded: then only the headers can match.
            columns = (
                Email.subject,
                Email.from_addr,
                Email.to_addrs,
                Email.cc_addrs,
                Email.text_body,
                Email.html_body,
            )
            stmt = stmt.where(or_(*(folded(c).like(pattern, escape="\\") for c in columns)))
        return stmt

    @staticmethod
    def _joined(stmt: S) -> S:
        return (
            stmt.outerjoin(Campaign, Email.campaign_id == Campaign.id)
            .outerjoin(Channel, Email.channel_id == Channel.id)
            .outerjoin(User, Email.agent_id == User.id)
        )

    @staticmethod
    def _ordered(stmt: S, q: EmailQuery) -> S:
        key = _sort_expression(q.sort)
        if q.descending:
            return stmt.order_by(key.desc(), Email.id.desc())
        return stmt.order_by(key.asc(), Email.id.asc())

    def count(self, query: EmailQuery) -> int:
        with self.read(PERMISSION) as s:
            stmt = self._where(select(func.count(Email.id)), query)
            return int(s.scalar(stmt) or 0)

    def page(self, query: EmailQuery, offset: int, limit: int) -> list[EmailRow]:
        """Rows ``offset`` to ``offset + limit`` of ``query`` in its order."""
        stmt = select(
            Email.id,
            Email.received_at,
            Email.from_addr,
            Email.subject,
            Campaign.title,
            Channel.name,
            Email.status,
            User.display_name,
            Email.is_auto_reply,
            Email.is_bounce,
            Email.is_oversize,
        )
        stmt = self._ordered(self._where(self._joined(stmt), query), query)
        with self.read(PERMISSION) as s:
            rows = s.execute(stmt.offset(max(0, offset)).limit(max(0, limit)))
            return [
                EmailRow(
                    id=r[0],
                    received_at=r[1],
                    from_addr=r[2] or "",
                    subject=r[3] or "",
                    campaign=r[4],
                    channel=r[5],
                    status=r[6],
                    agent=r[7],
                    flags=_flags(r[8], r[9], r[10], r[6]),
                )
                for r in rows
            ]

    def list_json(self, query: EmailQuery) -> list[dict[str, Any]]:
        """The records of ``query`` for ``emails list --json`` (see docs/emails-json.md)."""
        stmt = select(
            Email.id,
            Channel.name,
            Campaign.title,
            Email.status,
            Email.from_addr,
            Email.reply_to,
            Email.to_addrs,
            Email.cc_addrs,
            Email.subject,
            Email.message_id,
            Email.in_reply_to,
            Email.received_at,
            Email.queued_at,
            User.login,
            User.display_name,
            Email.taken_at,
            Email.first_reply_at,
            Email.actioned_at,
            Email.size,
            Email.is_auto_reply,
            Email.is_bounce,
            Email.is_oversize,
            Email.quarantine_reason,
        )
        stmt = self._ordered(self._where(self._joined(stmt), query), query)
        if query.offset:
            stmt = stmt.offset(query.offset)
        if query.limit is not None:
            stmt = stmt.limit(query.limit)

        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value is not None else None

        with self.read(PERMISSION) as s:
            return [
                {
                    "id": r.id,
                    "channel": r.name,
                    "campaign": r.title,
                    "status": r.status.value,
                    "from": r.from_addr,
                    "reply_to": r.reply_to or None,
                    "to": r.to_addrs,
                    "cc": r.cc_addrs,
                    "subject": r.subject,
                    "message_id": r.message_id,
                    "in_reply_to": r.in_reply_to,
                    "received_at": iso(r.received_at),
                    "queued_at": iso(r.queued_at),
                    "agent": r.login,
                    "agent_name": r.display_name,
                    "taken_at": iso(r.taken_at),
                    "first_reply_at": iso(r.first_reply_at),
                    "actioned_at": iso(r.actioned_at),
                    "size": r.size,
                    "flags": list(_flags(r.is_auto_reply, r.is_bounce, r.is_oversize, r.status)),
                    "quarantine_reason": r.quarantine_reason,
                }
                for r in s.execute(stmt)
            ]

    def filter_options(self) -> FilterOptions:
        with self.read(PERMISSION) as s:
            return FilterOptions(
                campaigns=[
                    (i, t)
                    for i, t in s.execute(
                        select(Campaign.id, Campaign.title).order_by(folded(Campaign.title))
                    )
                ],
                channels=[
                    (i, n)
                    for i, n in s.execute(
                        select(Channel.id, Channel.name).order_by(folded(Channel.name))
                    )
                ],
                agents=[
                    (i, n)
                    for i, n in s.execute(
                        select(User.id, User.display_name).order_by(folded(User.display_name))
                    )
                ],
            )

    # ---- one email ------------------------------------------------------------
    def _may_see(self, s: Session, email_id: int) -> None:
        """Supervisors see every email; an agent the emails they hold."""
        if self.actor.can(PERMISSION):
            return
        held = s.execute(
            select(Email.agent_id, Email.status).where(Email.id == email_id)
        ).one_or_none()
        self._check_may_see(held)

    def _check_may_see(self, held: Any) -> None:
        """``held`` (the email's ``agent_id`` and ``status``; None: no such email) is one the
        actor may see."""
        if held is None:
            raise NotFound("The email no longer exists (it may have been deleted).")
        if self.actor.can(PERMISSION):
            return
        if held.agent_id != self.actor.user_id or held.status not in (
            EmailStatus.ASSIGNED,
            EmailStatus.DRAFT,
        ):
            raise PermissionDenied("You can see an email while you hold it; this one you do not.")

    def detail(self, email_id: int, *, body: bool = True, body_limit: int = WHOLE) -> EmailDetail:
        """The email with its replies and history, its body decoded (and saved, the first
        time) and sanitized: one round trip on PostgreSQL (two the first time). ``body``
        False, or the email larger than ``body_limit`` bytes: none of that (quick whatever
        the size; ``body_loaded`` is False), ``body()`` gives it."""
        self.actor.require(Permission.WORK_EMAILS)
        limit = body_limit if body else NO_BODY
        with self.db.autocommit() as conn:
            found = hotpath.read_opening(conn, email_id, self.actor.user_id, limit)
            self._check_may_see(found.email)
            content = content_of(conn, found) if found.email.size <= limit else None
        return email_detail(found, content)

    def body(self, email_id: int) -> EmailBody:
        """The email's text, HTML (sanitized too) and attachments; decoded and saved the
        first time. Safe to call off the GUI thread (a session of its own)."""
        self.actor.require(Permission.WORK_EMAILS)
        with self.db.autocommit() as conn:
            found = hotpath.read_opening(conn, email_id, self.actor.user_id, WHOLE, history=False)
            self._check_may_see(found.email)
            content = content_of(conn, found)
        return content.body()

    def raw(self, email_id: int) -> bytes:
        """The message exactly as it was received."""
        with self.read(Permission.WORK_EMAILS) as s:
            self._may_see(s, email_id)
            raw = s.scalar(select(Email.raw).where(Email.id == email_id))
            if raw is None:
                raise NotFound("The email no longer exists (it may have been deleted).")
            return bytes(raw)

    def attachment(self, email_id: int, attachment_id: int) -> tuple[str, str, bytes]:
        """(file name, content type, decoded content) of one attachment of the email."""
        with self.read(Permission.WORK_EMAILS) as s:
            self._may_see(s, email_id)
            found = s.execute(
                select(
                    Attachment.filename, Attachment.content_type, Attachment.part_index, Email.raw
                )
                .join(Email, Attachment.email_id == Email.id)
                .where(Attachment.id == attachment_id, Attachment.email_id == email_id)
            ).one_or_none()
        if found is None:
            raise NotFound("The attachment no longer exists.")
        filename, content_type, part_index, raw = found
        try:
            data = attachment_bytes(bytes(raw), part_index)
        except KeyError as exc:
            raise NotFound("The attachment is no longer in the stored message.") from exc
        return filename, content_type, data

    def release(self, email_id: int, campaign_id: int) -> None:
        """Put a quarantined email in a campaign's queue; it keeps its arrival time."""
        with self.write(Permission.CONFIGURE_CAMPAIGNS, "The email") as s:
            email = get_or_404(s, Email, email_id, "email")
            if email.status != EmailStatus.QUARANTINED:
                raise ValidationError(
                    "Email", "is not quarantined, so there is nothing to release."
                )
            campaign = get_or_404(s, Campaign, campaign_id, "email campaign")
            reason = email.quarantine_reason or "no reason recorded"
            email.status = EmailStatus.QUEUED
            email.campaign_id = campaign.id
            email.quarantine_reason = None
            detail = f"Released from quarantine ({reason}) to {campaign.title}"
            write_history(s, [Entry(email.id, "released", detail, utcnow(), self.actor.user_id)])
