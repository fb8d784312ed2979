"""An email's content as the screens show it: the body decoded from the raw message the first
time it is shown (and saved, so that later views and text search need no parsing), its
attachments listed, inline ``cid:`` images as data: URLs, the HTML sanitized.

Whatever a sender put in an attachment's name or Content-ID is stored: NUL characters
(which PostgreSQL refuses in text) and lone surrogates become U+FFFD, lengths are not
limited; no name can make an email impossible to open.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email import message_from_bytes
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Protocol

from sqlalchemy import Connection

from app.db.hotpath import save_decoded
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


class _Listed(Protocol):
    """An attachment as listed in the database (an ``Attachment``, or a row of its columns)."""

    @property
    def id(self) -> int: ...
    @property
    def filename(self) -> str: ...
    @property
    def content_type(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def content_id(self) -> str | None: ...
    @property
    def part_index(self) -> int: ...


def attachment_row(a: _Listed) -> AttachmentRow:
    return AttachmentRow(a.id, a.filename, a.content_type, a.size, a.content_id)


def stored_attachment(email_id: int, a: AttachmentInfo) -> dict[str, object]:
    """The row of an attachment, whatever the sender wrote in its name and Content-ID."""
    return dict(
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


def first_of_each_part(rows: Iterable[_Listed]) -> list[_Listed]:
    """The attachments listed for the email, each part once: two first views at once (two
    workstations) may both have listed them."""
    first: dict[int, _Listed] = {}
    for a in rows:
        first.setdefault(a.part_index, a)
    return list(first.values())


def read_content(
    conn: Connection,
    email_id: int,
    text_body: str | None,
    html_body: str | None,
    raw: bytes | None,
    listed: Sequence[_Listed],
) -> Content:
    """The content of email ``email_id`` from its stored columns and the attachments listed
    (``opening`` rows); decoded from ``raw`` and saved on ``conn`` the first time (the text
    and HTML, the attachment list); sanitized by ``Content.body`` afterwards."""
    attachments = first_of_each_part(listed)
    raw = bytes(raw or b"")
    if _needs_decode(text_body, html_body, attachments, raw):
        text_body, html_body, attachments = _decode(
            conn, email_id, text_body, html_body, attachments, raw
        )
    return Content(
        text_body=text_body,
        html_body=html_body,
        cid_map=_inline_images(html_body, attachments, raw),
        attachments=[attachment_row(a) for a in attachments],
    )


def _needs_decode(
    text_body: str | None, html_body: str | None, attachments: Sequence[_Listed], raw: bytes
) -> bool:
    if text_body is None and html_body is None:
        return True
    # Intake may have decoded the body (for Body filters) without listing the
    # attachments; only a multipart message can have any.
    return not attachments and _is_multipart(raw)


def _decode(
    conn: Connection,
    email_id: int,
    text_body: str | None,
    html_body: str | None,
    attachments: list[_Listed],
    raw: bytes,
) -> tuple[str | None, str | None, list[_Listed]]:
    body = read_body(raw)
    texts = None
    if text_body is None and html_body is None:
        text_body = None if body.text is None else storable_text(body.text)
        html_body = None if body.html is None else storable_text(body.html)
        if body.text is None and body.html is None:
            text_body = ""  # decoded: nothing to show, nothing to decode again
        texts = (text_body, html_body)
    new = [] if attachments else [stored_attachment(email_id, a) for a in body.attachments]
    listed = save_decoded(conn, email_id, texts, new)
    return text_body, html_body, (listed or attachments)


def _inline_images(html: str | None, attachments: Sequence[_Listed], raw: bytes) -> dict[str, str]:
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
