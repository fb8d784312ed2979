"""Reading customer email, however malformed.

Two levels, because parsing costs most of the time of retrieval:
- ``read_envelope`` reads only the headers that storing and routing need (fast path,
  run for every message as it arrives);
- ``read_body`` decodes the text, HTML and the list of attachments (for the Body filter,
  and when the email is first shown).

Nothing here raises on bad input: problems are collected in ``problems`` so that the
message is still stored, and routed, with a note of what was wrong.
"""

from __future__ import annotations

import codecs
import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes
from email.header import Header, decode_header
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses, parsedate_to_datetime
from html import unescape

FALLBACK_CHARSET = "windows-1252"  # what unlabelled or mislabelled 8-bit mail usually is
_HEADER_PARSER = BytesHeaderParser(policy=compat32)
_MSGID = re.compile(r"<[^<>\s]+>")
_AUTOMATED_SENDERS = re.compile(r"^(mailer-daemon|postmaster|mail-daemon|mailerdaemon)@", re.I)


@dataclass
class Envelope:
    """The headers of one message, decoded to text."""

    message_id: str | None = None
    subject: str = ""
    from_display: str = ""  # 'Name <address>' as decoded, for showing
    from_address: str = ""  # the bare address, lower-case
    from_name: str = ""
    reply_to: str = ""
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    recipient_addresses: list[str] = field(default_factory=list)  # bare, lower-case
    date: datetime | None = None
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    is_auto_reply: bool = False
    is_bounce: bool = False
    problems: list[str] = field(default_factory=list)


@dataclass
class AttachmentInfo:
    filename: str
    content_type: str
    size: int
    content_id: str | None
    part_index: int
    inline: bool


@dataclass
class Body:
    text: str | None = None
    html: str | None = None
    attachments: list[AttachmentInfo] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def content_hash(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


# ---- text decoding ---------------------------------------------------------------


def _codec(charset: str | None) -> str | None:
    if not charset:
        return None
    name = charset.strip().strip('"').lower()
    aliases = {"x-unknown": None, "unknown-8bit": None, "us-ascii": "ascii", "ascii": "ascii"}
    if name in aliases:
        return aliases[name]
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def decode_bytes(data: bytes, charset: str | None, problems: list[str] | None = None) -> str:
    """Bytes to text with the declared charset, else UTF-8, else the fallback."""
    codec = _codec(charset)
    if charset and codec is None and charset != "unknown-8bit" and problems is not None:
        problems.append(f"unknown charset {charset!r}; decoded as UTF-8 or {FALLBACK_CHARSET}")
    if codec is not None:
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            if problems is not None:
                problems.append(f"text is not valid {charset}; decoded leniently")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode(FALLBACK_CHARSET, errors="replace")


def _raw_header_text(value: str) -> str:
    """compat32 keeps 8-bit header bytes as surrogate escapes: decode them properly."""
    if any("\udc80" <= ch <= "\udcff" for ch in value):
        return decode_bytes(value.encode("ascii", "surrogateescape"), None)
    return value


def decode_header_text(value: object, problems: list[str] | None = None) -> str:
    """An RFC 2047 header (any charset, raw 8-bit too) as one line of text."""
    if value is None:
        return ""
    if isinstance(value, Header):  # compat32 hands raw 8-bit headers over as Header objects
        out = [
            decode_bytes(chunk, charset, problems) if isinstance(chunk, bytes) else chunk
            for chunk, charset in decode_header(value)
        ]
        return " ".join("".join(out).split())
    text = _raw_header_text(str(value))
    if "=?" not in text:
        return " ".join(text.split())
    try:
        parts = decode_header(text)
    except Exception:  # malformed encoded words: keep the header as it came
        if problems is not None:
            problems.append("malformed encoded header")
        return " ".join(text.split())
    out = []
    for chunk, charset in parts:
        out.append(decode_bytes(chunk, charset, problems) if isinstance(chunk, bytes) else chunk)
    return " ".join("".join(out).split())


def _addresses(values: list[str]) -> list[tuple[str, str]]:
    pairs = []
    for name, address in getaddresses(values):
        address = address.strip().strip("<>").strip()
        if address or name:
            pairs.append((name.strip(), address))
    return pairs


def _format(name: str, address: str) -> str:
    if name and address:
        return f"{name} <{address}>"
    return address or name


# ---- envelope --------------------------------------------------------------------


def read_envelope(raw: bytes) -> Envelope:
    """The routing and display headers of ``raw``; never raises."""
    env = Envelope()
    try:
        msg = _HEADER_PARSER.parsebytes(raw)
    except Exception as exc:  # pragma: no cover - compat32 is very tolerant
        env.problems.append(f"headers could not be parsed: {exc}")
        return env
    problems = env.problems
    for defect in getattr(msg, "defects", []):
        problems.append(type(defect).__name__)

    def header(name: str) -> str:
        return decode_header_text(msg.get(name), problems)

    env.subject = header("Subject")
    from_text = header("From")
    from_pairs = _addresses([from_text]) if from_text else []
    if from_pairs:
        env.from_name, env.from_address = from_pairs[0]
        env.from_address = env.from_address.lower()
        env.from_display = _format(env.from_name, env.from_address)
    elif from_text:
        env.from_display = from_text
        problems.append("From header without a readable address")
    if from_text and "<" in from_text and ">" not in from_text:
        problems.append("From header has an unclosed '<'")
    reply_to = _addresses([header("Reply-To")])
    env.reply_to = reply_to[0][1] if reply_to else ""
    to_pairs = _addresses([header("To")]) if msg.get("To") else []
    cc_pairs = _addresses([header("Cc")]) if msg.get("Cc") else []
    env.to = [_format(n, a) for n, a in to_pairs]
    env.cc = [_format(n, a) for n, a in cc_pairs]
    env.recipient_addresses = [a.lower() for _, a in to_pairs + cc_pairs if a]

    ids = _MSGID.findall(decode_header_text(msg.get("Message-ID")))
    env.message_id = ids[0] if ids else None
    irt = _MSGID.findall(decode_header_text(msg.get("In-Reply-To")))
    env.in_reply_to = irt[0] if irt else None
    env.references = _MSGID.findall(decode_header_text(msg.get("References")))

    date = msg.get("Date")
    if date:
        try:
            parsed = parsedate_to_datetime(str(date))
            env.date = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed
        except (TypeError, ValueError, IndexError):
            problems.append(f"unreadable Date header {str(date)[:60]!r}")
    else:
        problems.append("no Date header")

    env.is_auto_reply, env.is_bounce = _automated(msg, env.from_address)
    return env


def _automated(msg: Message, sender: str) -> tuple[bool, bool]:
    """(auto-reply, bounce) by RFC 3834 and common practice."""
    content_type = str(msg.get("Content-Type") or "").lower()
    bounce = ("multipart/report" in content_type and "delivery-status" in content_type) or bool(
        _AUTOMATED_SENDERS.match(sender)
    )
    auto_submitted = str(msg.get("Auto-Submitted") or "").strip().lower()
    precedence = str(msg.get("Precedence") or "").strip().lower()
    auto = (
        (auto_submitted != "" and not auto_submitted.startswith("no"))
        or precedence in ("bulk", "junk", "list", "auto_reply")
        or msg.get("X-Autoreply") is not None
        or msg.get("X-Autorespond") is not None
    )
    return auto or bounce, bounce


# ---- body ------------------------------------------------------------------------


def _payload_bytes(part: Message, problems: list[str]) -> bytes:
    encoding = str(part.get("Content-Transfer-Encoding") or "").strip().lower()
    data: bytes = b""
    try:
        decoded = part.get_payload(decode=True)
    except Exception as exc:  # pragma: no cover - compat32 tolerates nearly everything
        problems.append(f"part could not be decoded: {exc}")
        decoded = None
    if isinstance(decoded, bytes):
        data = decoded
    else:
        payload = part.get_payload()
        if isinstance(payload, str):
            data = payload.encode("ascii", "surrogateescape")
    for defect in getattr(part, "defects", []):
        name = type(defect).__name__
        if name not in problems:
            problems.append(name)
    if encoding not in ("", "7bit", "8bit", "binary", "base64", "quoted-printable"):
        problems.append(f"unknown transfer encoding {encoding!r}; kept as is")
    return data


def read_body(raw: bytes) -> Body:
    """Text, HTML and the attachment list of ``raw``; never raises."""
    body = Body()
    try:
        msg = message_from_bytes(raw, policy=compat32)
    except Exception as exc:  # pragma: no cover
        body.problems.append(f"message could not be parsed: {exc}")
        body.text = decode_bytes(raw, None)
        return body
    for index, part in enumerate(msg.walk()):
        if part.is_multipart():
            continue
        content_type = part.get_content_type()
        disposition = str(part.get("Content-Disposition") or "").split(";")[0].strip().lower()
        filename = part.get_filename()
        name = decode_header_text(filename, body.problems) if filename else ""
        data = _payload_bytes(part, body.problems)
        is_text = content_type in ("text/plain", "text/html") and disposition != "attachment"
        if is_text and not name:
            text = decode_bytes(data, part.get_content_charset(), body.problems)
            if content_type == "text/plain" and body.text is None:
                body.text = text
                continue
            if content_type == "text/html" and body.html is None:
                body.html = text
                continue
        content_id = part.get("Content-ID")
        body.attachments.append(
            AttachmentInfo(
                filename=name,
                content_type=content_type,
                size=len(data),
                content_id=str(content_id).strip().strip("<>") if content_id else None,
                part_index=index,
                inline=disposition == "inline" or (content_id is not None and not name),
            )
        )
    return body


def attachment_bytes(raw: bytes, part_index: int) -> bytes:
    """The decoded content of the part numbered ``part_index`` in ``msg.walk()`` order."""
    msg = message_from_bytes(raw, policy=compat32)
    for index, part in enumerate(msg.walk()):
        if index == part_index:
            return _payload_bytes(part, [])
    raise KeyError(part_index)


def html_to_text(html: str) -> str:
    """A rough plain-text view of HTML, for routing by Body when there is no text part."""
    text = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", html)
    text = re.sub(r"(?s)<[^>]+>", " ", text)
    return " ".join(unescape(text).split())
