"""An email's content as the screens show it: the body decoded from the raw message the first
time it is shown (and saved, so that later views and text search need no parsing), its
attachments listed, inline ``cid:`` images as data: URLs, the HTML sanitized.

Whatever a sender put in an attachment's name or Content-ID is stored: NUL characters
(which PostgreSQL refuses in text) and lone surrogates become U+FFFD, lengths are not
limited; no name can make an email impossible to open.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from email import message_from_bytes
from email.parser import BytesHeaderParser
from email.policy import compat32

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import Attachment, Email
from app.mail.html import sanitize
from app.mail.parse import AttachmentInfo, read_body

# Inline images are shown from data: URLs; larger ones are listed as attachments only.
MAX_INLINE_IMAGE = 5 * 1024 * 1024
INLINE_IMAGE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp"}
_HEADERS = BytesHeaderParser(policy=compat32)


@dataclass(frozen=True)
class AttachmentRow:
    id: int
    filename: str
    content_type: str
    size: int
    content_id: str | None

    @property
    def display_name(self) -> str:
        if self.filename:
            return self.filename
        return f"inline {self.content_type}" if self.content_id else f"unnamed {self.content_type}"


@dataclass(frozen=True)
class EmailBody:
    """An email's content as the detail pane shows it."""

    text_body: str | None
    html_body: str | None
    safe_html: str | None
    attachments: list[AttachmentRow]


@dataclass(frozen=True)
class Content:
    """What ``read_content`` read in the session; sanitized after it (no lock held)."""

    text_body: str | None
    html_body: str | None
    cid_map: dict[str, str]
    attachments: list[AttachmentRow]

    def body(self) -> EmailBody:
        safe = sanitize(self.html_body, self.cid_map) if self.html_body else None
        return EmailBody(self.text_body, self.html_body, safe, self.attachments)


def storable_text(text: str) -> str:
    """``text`` as every database stores it: NUL (refused by PostgreSQL) and lone
    surrogates (not UTF-8) become U+FFFD."""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    if not text.isascii():
        text = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return text


def attachment_row(a: Attachment) -> AttachmentRow:
    return AttachmentRow(a.id, a.filename, a.content_type, a.size, a.content_id)


def stored_attachment(email_id: int, a: AttachmentInfo) -> Attachment:
    """The row of an attachment, whatever the sender wrote in its name and Content-ID."""
    return Attachment(
        email_id=email_id,
        filename=storable_text(a.filename),
        # A media type is short; a longer one is nonsense, kept readable in the column.
        content_type=storable_text(a.content_type)[:255],
        content_id=None if a.content_id is None else storable_text(a.content_id),
        size=a.size,
        part_index=a.part_index,
    )


def _is_multipart(raw: bytes) -> bool:
    try:
        headers = _HEADERS.parsebytes(raw)
    except Exception:  # pragma: no cover - compat32 parses nearly anything
        return False
    return str(headers.get("Content-Type") or "").strip().lower().startswith("multipart/")


def stored_attachments(s: Session, email_id: int) -> list[Attachment]:
    """The attachments listed for the email so far, each part once."""
    rows = s.scalars(
        select(Attachment)
        .where(Attachment.email_id == email_id)
        .order_by(Attachment.part_index, Attachment.id)
    )
    # Two first views at once (two workstations) may both have listed them: once each.
    first: dict[int, Attachment] = {}
    for a in rows:
        first.setdefault(a.part_index, a)
    return list(first.values())


def read_content(s: Session, email: Email) -> Content:
    """The email's content, decoded from its raw message and saved in ``s`` the first time
    (the text and HTML, the attachment list); sanitized by ``Content.body`` afterwards."""
    attachments = stored_attachments(s, email.id)
    raw = email.raw or b""
    if _needs_decode(email, attachments, raw):
        attachments = _decode(s, email, attachments, raw)
    return Content(
        text_body=email.text_body,
        html_body=email.html_body,
        cid_map=_inline_images(email.html_body, attachments, raw),
        attachments=[attachment_row(a) for a in attachments],
    )


def _needs_decode(email: Email, attachments: list[Attachment], raw: bytes) -> bool:
    if email.text_body is None and email.html_body is None:
        return True
    # Intake may have decoded the body (for Body filters) without listing the
    # attachments; only a multipart message can have any.
    return not attachments and _is_multipart(raw)


def _decode(
    s: Session, email: Email, attachments: list[Attachment], raw: bytes
) -> list[Attachment]:
    body = read_body(raw)
    if email.text_body is None and email.html_body is None:
        email.text_body = None if body.text is None else storable_text(body.text)
        email.html_body = None if body.html is None else storable_text(body.html)
        if body.text is None and body.html is None:
            email.text_body = ""  # decoded: nothing to show, nothing to decode again
    if attachments or not body.attachments:
        return attachments
    rows = [stored_attachment(email.id, a) for a in body.attachments]
    s.add_all(rows)
    s.flush()
    return rows


def _inline_images(html: str | None, attachments: list[Attachment], raw: bytes) -> dict[str, str]:
    if not html or "cid:" not in html.lower():
        return {}
    lowered = html.lower()
    wanted = {
        a.part_index: a
        for a in attachments
        if a.content_id
        and a.content_type.lower() in INLINE_IMAGE_TYPES
        and a.size <= MAX_INLINE_IMAGE
        and f"cid:{a.content_id.lower()}" in lowered
    }
    if not wanted:
        return {}
    # One parse for all of them (one each made 500 inline images take 12 s).
    images: dict[str, str] = {}
    for index, part in enumerate(message_from_bytes(raw, policy=compat32).walk()):
        a = wanted.get(index)
        if a is None or a.content_id is None:
            continue
        data = part.get_payload(decode=True)
        if isinstance(data, bytes):
            encoded = base64.b64encode(data).decode("ascii")
            images[a.content_id] = f"data:{a.content_type.lower()};base64,{encoded}"
    return images
