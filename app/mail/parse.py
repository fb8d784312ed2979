"""Reading customer email, however malformed.

Levels, because parsing costs most of the time of retrieval:
- ``read_envelope`` reads only the headers that storing and routing need (fast path,
  run for every message as it arrives: the header block alone, not the body);
- ``read_texts`` decodes the text and HTML parts only (what a Body filter looks at),
  walking the MIME structure without parsing or decoding the other parts;
- ``read_body`` decodes the text, HTML and the list of attachments (when the email is
  first shown).

The fast paths give exactly what the full parser (``email`` with ``compat32``) gives for
well-formed mail, and hand anything unusual to that parser.

Nothing here raises on bad input: problems are collected in ``problems`` so that the
message is still stored, and routed, with a note of what was wrong.
"""

from __future__ import annotations

import binascii
import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes
from email.header import Header, decode_header
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import parsedate_to_datetime, unquote
from functools import lru_cache
from html import unescape
from typing import cast

from app.mail.fields import (
    Mailbox,
    decode_bytes,
    decode_words,
    one_line,
    parse_addresses,
    raw_text,
)

_HEADER_PARSER = BytesHeaderParser(policy=compat32)
# the empty line that ends a header block (a line ending, then another: CRLF, LF or CR)
_BLANK_LINE = re.compile(rb"(?:\r\n|\n|\r(?!\n))(?:\r\n|\n|\r)")
_LINE_END = re.compile(rb"\r\n|\n|\r")
_HEADER_NAME = re.compile(r"[\041-\071\073-\176]+")  # what the email parser takes for one
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


# ---- header fields -----------------------------------------------------------------


def decode_header_text(value: object, problems: list[str] | None = None) -> str:
    """An unstructured header (any charset, raw 8-bit too) as one line of text."""
    if value is None:
        return ""
    if isinstance(value, Header):  # compat32 hands raw 8-bit values over as Header objects
        value = "".join(
            chunk.decode("ascii", "surrogateescape") if isinstance(chunk, bytes) else chunk
            for chunk, _charset in decode_header(value)
        )
    return decode_words(str(value), problems)


# What the email parser's notes about a message mean to a person (None: nothing to say).
# Problems are the product's words, the same on every Python: which notes a parser makes
# differs between releases (3.11.2 notes a multipart "invariant violation" on a header-only
# read, which never looks at the body; 3.11.7 does not).
_DEFECTS: dict[str, str | None] = {
    "FirstHeaderLineIsContinuationDefect": "the headers begin with a continuation line",
    "MisplacedEnvelopeHeaderDefect": "a 'From ' envelope line among the headers",
    "MissingHeaderBodySeparatorDefect": (
        "a line among the headers is not a header field: the body starts there"
    ),
    "NoBoundaryInMultipartDefect": "a multipart part has no boundary: read as one part",
    "StartBoundaryNotFoundDefect": "the first MIME boundary is missing: read as one part",
    "CloseBoundaryNotFoundDefect": "the message ends before its closing MIME boundary",
    "MultipartInvariantViolationDefect": "a multipart part holds no parts",
    "InvalidMultipartContentTransferEncodingDefect": None,  # ignored, as it should be
    "InvalidBase64PaddingDefect": "a base64 part is damaged: decoded as far as possible",
    "InvalidBase64CharactersDefect": "a base64 part is damaged: decoded as far as possible",
    "InvalidBase64LengthDefect": "a base64 part is damaged: decoded as far as possible",
}
# Notes about the body that a read of the headers alone cannot mean.
_BODY_DEFECTS = frozenset(
    {
        "NoBoundaryInMultipartDefect",
        "StartBoundaryNotFoundDefect",
        "CloseBoundaryNotFoundDefect",
        "MultipartInvariantViolationDefect",
        "InvalidMultipartContentTransferEncodingDefect",
    }
)


def describe_defects(defects: Sequence[object], headers_only: bool = False) -> list[str]:
    """The email parser's ``defects`` as problems a person can read."""
    out: list[str] = []
    for defect in defects:
        name = type(defect).__name__
        if headers_only and name in _BODY_DEFECTS:
            continue
        text = _DEFECTS.get(name, f"malformed message ({name})")
        if text is not None and text not in out:
            out.append(text)
    return out


def _addresses(value: str, problems: list[str]) -> list[Mailbox]:
    return [m for m in parse_addresses(value, problems) if m.address]


# ---- header blocks ---------------------------------------------------------------

HeaderGetter = Callable[[str], str | None]  # the raw value of the first such field, or None


def header_end(raw: bytes) -> int:
    """Where the body of ``raw`` starts (after the empty line ending the headers), or -1
    when there is no empty line. Line endings as the email parser sees them."""
    if raw[:1] in (b"\r", b"\n"):  # no headers at all
        return 2 if raw[:2] == b"\r\n" else 1
    at = raw.find(b"\r\n\r\n")
    if at >= 0:  # the usual case: the headers end with CRLF CRLF, and CRLF is all they use
        head = raw[:at]
        crlf = head.count(b"\r\n")
        if head.count(b"\r") == crlf and head.count(b"\n") == crlf:
            return at + 4
    found = _BLANK_LINE.search(raw)
    return found.end() if found else -1


def _field_pattern(eol: str) -> re.Pattern[str]:
    # a header field: name, colon, value with its continuation lines (leading blanks of the
    # first line are not part of the value, as in compat32)
    return re.compile(rf"([\041-\071\073-\176]+):[ \t]*([^\r\n]*(?:{eol}[ \t][^\r\n]*)*){eol}")


_FIELDS = {"\r\n": _field_pattern("\r\n"), "\n": _field_pattern("\n")}


def _header_pairs(block: bytes) -> list[tuple[str, str]] | None:
    """The (name, value) pairs of a header block exactly as ``compat32`` stores them, or
    None when the block is anything but plain header fields (the email parser then reads
    it, and notes its defects)."""
    text = block.decode("ascii", "surrogateescape")
    eol = "\r\n" if "\r" in text else "\n"
    if eol == "\r\n" and not text.count("\r") == text.count("\n") == text.count("\r\n"):
        return None  # mixed or bare CR line endings
    pattern = _FIELDS[eol]
    if not text.endswith(eol):
        text += eol  # the last line of a message without a body
    # One pass, field after field; anything else before the end (a continuation first, a
    # mbox From_ line, a line that is no header) but the blank line gives up.
    match = pattern.match
    pairs: list[tuple[str, str]] = []
    position, end = 0, len(text)
    while position < end:
        found = match(text, position)
        if found is None:
            return pairs if text[position:] == eol else None
        pairs.append(cast(tuple[str, str], found.groups()))
        position = found.end()
    return pairs


class Headers:
    """The header block of a message (the body is not read): the fields' raw values (8-bit
    bytes as surrogate escapes, folding kept), as ``compat32`` stores them."""

    def __init__(self, raw: bytes) -> None:
        end = header_end(raw)
        self.body_start = end  # -1: there is no body
        block = raw if end < 0 else raw[:end]
        pairs = _header_pairs(block)
        self.pairs = pairs  # None: read by the email parser (something was unusual)
        self.problems: list[str] = []
        if pairs is None:
            msg = _HEADER_PARSER.parsebytes(block)
            pairs = list(msg.raw_items())
            self.problems = describe_defects(msg.defects, headers_only=True)
        self._first: dict[str, str] = {}
        for name, value in pairs:
            self._first.setdefault(name.lower(), value)

    def get(self, name: str) -> str | None:
        """The raw value of the first field of that name, or None."""
        return self._first.get(name.lower())


# ---- envelope --------------------------------------------------------------------


def read_envelope(raw: bytes, headers: Headers | None = None) -> Envelope:
    """The routing and display headers of ``raw`` (``headers``: read already); never
    raises."""
    env = Envelope()
    try:
        if headers is None:
            headers = Headers(raw)
    except Exception as exc:  # pragma: no cover - compat32 is very tolerant
        env.problems.append(f"headers could not be parsed: {exc}")
        return env
    get = headers.get
    problems = env.problems
    problems.extend(headers.problems)

    env.subject = decode_words(get("Subject") or "", problems)
    from_value = get("From")
    senders = _addresses(from_value, problems) if from_value else []
    if senders:
        env.from_name, address = senders[0].name, senders[0].address
        env.from_address = address.lower()  # for comparing; shown as sent
        env.from_display = str(senders[0])
    elif from_value:
        env.from_display = decode_words(from_value)
        if env.from_display:
            problems.append("From header without a readable address")
    reply_to = get("Reply-To")
    env.reply_to = ", ".join(map(str, _addresses(reply_to, problems))) if reply_to else ""
    recipients = []
    for name in ("To", "Cc"):
        value = get(name)
        found = _addresses(value, problems) if value else []
        recipients += found
        setattr(env, name.lower(), [str(m) for m in found])
    env.recipient_addresses = [m.address.lower() for m in recipients]

    ids = _MSGID.findall(one_line(raw_text(get("Message-ID") or "")))
    env.message_id = ids[0] if ids else None
    irt = _MSGID.findall(one_line(raw_text(get("In-Reply-To") or "")))
    env.in_reply_to = irt[0] if irt else None
    env.references = _MSGID.findall(one_line(raw_text(get("References") or "")))

    date = get("Date")
    if date:
        try:
            parsed = parsedate_to_datetime(one_line(date))
            env.date = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed
        except (TypeError, ValueError, IndexError):
            problems.append(f"unreadable Date header {one_line(raw_text(date))[:60]!r}")
    else:
        problems.append("no Date header")

    env.is_auto_reply, env.is_bounce = _automated(get, env.from_address)
    env.problems = list(dict.fromkeys(problems))
    return env


def _automated(get: HeaderGetter, sender: str) -> tuple[bool, bool]:
    """(auto-reply, bounce) by RFC 3834 and common practice."""
    content_type = str(get("Content-Type") or "").lower()
    bounce = ("multipart/report" in content_type and "delivery-status" in content_type) or bool(
        _AUTOMATED_SENDERS.match(sender)
    )
    auto_submitted = str(get("Auto-Submitted") or "").strip().lower()
    precedence = str(get("Precedence") or "").strip().lower()
    auto = (
        (auto_submitted != "" and not auto_submitted.startswith("no"))
        or precedence in ("bulk", "junk", "list", "auto_reply")
        or get("X-Autoreply") is not None
        or get("X-Autorespond") is not None
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
    for problem in describe_defects(getattr(part, "defects", [])):
        if problem not in problems:
            problems.append(problem)
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


# ---- the text a Body filter reads -------------------------------------------------


def read_texts(
    raw: bytes, headers: Headers | None = None
) -> tuple[str | None, str | None, list[str]]:
    """The text and the HTML that ``read_body`` gives (with the problems met decoding
    them), reading only the header blocks of the other parts and decoding only those two.
    Anything unusual in the structure is left to ``read_body``. ``headers``: those of
    ``raw``, read already. Never raises."""
    problems: list[str] = []
    try:
        found = _first_texts(raw, headers or Headers(raw), problems)
    except Exception:  # pragma: no cover - the fast path gives up, the full parser decides
        found = None
    if found is None:
        body = read_body(raw)
        return body.text, body.html, body.problems
    return found[0], found[1], problems


def routing_text(text: str | None, html: str | None) -> str:
    """The text a Body filter looks at: the text part, else the HTML part as text."""
    if text is not None:
        return text
    return html_to_text(html) if html else ""


@dataclass(frozen=True)
class _Part:
    """What decides how a MIME part is read, as ``compat32``'s Message methods give it."""

    content_type: str
    boundary: str | None
    charset: str | None
    filename: str | None
    disposition: str  # the first word of Content-Disposition, lower-case
    encoding: str | None  # Content-Transfer-Encoding, lower-case, as it came (None: absent)


_PARAM_VALUE = r'"[^"\\\r\n]*"|[^;"\s\\]*'
_SIMPLE_PARAMS = re.compile(
    r'\s*[^;\s"\\]+\s*(?:;\s*[A-Za-z0-9_.-]+\s*=\s*(?:' + _PARAM_VALUE + r")\s*)*(?:;\s*)?"
)
_ONE_PARAM = re.compile(r";\s*([A-Za-z0-9_.-]+)\s*=\s*(" + _PARAM_VALUE + r")")


def _simple_params(value: str) -> dict[str, str] | None:
    """The parameters of a header like 'type/sub; a=1; b="x y"', named in lower case and
    unquoted as ``Message.get_param`` gives them; None for anything less plain."""
    if _SIMPLE_PARAMS.fullmatch(value) is None:
        return None
    params: dict[str, str] = {}
    for name, raw in _ONE_PARAM.findall(value):
        params.setdefault(name.lower(), unquote(raw))
    return params


def _part_fast(pairs: list[tuple[str, str]]) -> _Part | None:
    found: dict[str, str] = {}
    for name, value in pairs:
        if name[:8].lower() == "content-":
            found.setdefault(name.lower(), value)
    return _part_of(
        found.get("content-type"),
        found.get("content-disposition"),
        found.get("content-transfer-encoding"),
    )


@lru_cache(maxsize=4096)  # the same few header values come again and again
def _part_of(ctype: str | None, disposition: str | None, encoding: str | None) -> _Part | None:
    if not all(v.isascii() for v in (ctype or "", disposition or "", encoding or "")):
        return None  # 8-bit header bytes: the Message methods see Header objects
    params = _simple_params(ctype) if ctype is not None else {}
    dparams = _simple_params(disposition) if disposition is not None else {}
    if params is None or dparams is None:
        return None
    content_type = "text/plain"
    if ctype is not None:
        main = ctype.partition(";")[0].strip().lower()
        content_type = main if main.count("/") == 1 else "text/plain"
    boundary = params.get("boundary")
    charset = params.get("charset")
    filename = dparams.get("filename", params.get("name"))
    return _Part(
        content_type=content_type,
        boundary=None if boundary is None else unquote(boundary).rstrip(),
        charset=None if charset is None else charset.lower(),
        filename=None if filename is None else unquote(filename).strip(),
        disposition=(disposition or "").split(";")[0].strip().lower(),
        encoding=None if encoding is None else encoding.lower(),
    )


def _part_slow(pairs: list[tuple[str, str]]) -> _Part:
    part = Message(policy=compat32)
    for name, value in pairs:
        if name[:8].lower() == "content-":  # all that decides how a part is read
            part.set_raw(name, value)
    encoding = part.get("Content-Transfer-Encoding")
    return _Part(
        content_type=part.get_content_type(),
        boundary=part.get_boundary(),
        charset=part.get_content_charset(),
        filename=part.get_filename(),
        disposition=str(part.get("Content-Disposition") or "").split(";")[0].strip().lower(),
        encoding=None if encoding is None else str(encoding).lower(),
    )


def _first_texts(
    raw: bytes, headers: Headers, problems: list[str]
) -> tuple[str | None, str | None] | None:
    """(text, HTML) as ``read_body`` finds them, walking the parts in the same order;
    None when the message is not plain well-formed MIME."""
    text: str | None = None
    html: str | None = None
    pending = [raw]  # parts still to visit, the next one last
    while pending:
        data = pending.pop()
        if data is raw:
            end, pairs = headers.body_start, headers.pairs
        else:
            end = header_end(data)
            pairs = _header_pairs(data[:end]) if end >= 0 else None
        if pairs is None or end < 0:
            return None
        part = _part_fast(pairs) or _part_slow(pairs)
        maintype = part.content_type.partition("/")[0]
        if maintype == "multipart":
            if part.boundary is None or part.content_type == "multipart/digest":
                return None
            if (part.encoding if part.encoding is not None else "8bit") not in (
                "7bit",
                "8bit",
                "binary",
            ):
                return None
            children = _split_multipart(data[end:], part.boundary)
            if children is None:
                return None
            pending.extend(reversed(children))
            continue
        if maintype == "message":
            return None  # an attached message: the full parser walks into it
        wanted = text if part.content_type == "text/plain" else html
        if part.content_type not in ("text/plain", "text/html") or wanted is not None:
            continue  # not read: an attachment
        if part.disposition == "attachment" or (
            part.filename and decode_header_text(part.filename, problems)
        ):
            continue
        payload = _transfer_decoded(part.encoding or "", data[end:], problems)
        if payload is None:
            return None
        decoded = decode_bytes(payload, part.charset, problems)
        if part.content_type == "text/plain":
            text = decoded
        else:
            html = decoded
        if text is not None and html is not None:
            break  # the rest would be attachments
    return text, html


def _transfer_decoded(cte: str, payload: bytes, problems: list[str]) -> bytes | None:
    """``payload`` decoded as ``compat32``'s ``get_payload(decode=True)`` would; None for
    anything it would decode with complaints."""
    if cte.strip() not in ("", "7bit", "8bit", "binary", "base64", "quoted-printable"):
        problems.append(f"unknown transfer encoding {cte.strip()!r}; kept as is")
    if cte == "quoted-printable":
        return binascii.a2b_qp(payload)
    if cte == "base64":
        try:
            return binascii.a2b_base64(b"".join(payload.splitlines()), strict_mode=True)
        except binascii.Error:
            return None  # bad base64: the full parser decodes it leniently, with a defect
    if cte in ("x-uuencode", "uuencode", "uue", "x-uue"):
        return None
    return payload


def _split_multipart(body: bytes, boundary: str) -> list[bytes] | None:
    """The parts of a multipart body (without the line ending before each delimiter), or
    None when the delimiters are not all there (the full parser then notes a defect)."""
    try:
        delimiter = b"--" + boundary.encode("ascii")
    except UnicodeEncodeError:
        return None
    parts: list[bytes] = []
    start = -1  # where the current part begins
    pos = 0
    while True:
        at = body.find(delimiter, pos)
        if at < 0:
            return None  # no closing delimiter
        pos = at + len(delimiter)
        if at > 0 and body[at - 1] not in b"\r\n":
            continue  # not at the start of a line
        closing = body.startswith(b"--", pos)
        after = pos + 2 if closing else pos
        while body[after : after + 1] in (b" ", b"\t"):
            after += 1
        line_end = _LINE_END.match(body, after)
        if line_end is None and after != len(body):
            continue  # more on the line: not a delimiter
        if start >= 0:
            part = body[start:at]
            if part.endswith(b"\r\n"):
                part = part[:-2]
            elif part.endswith((b"\n", b"\r")):
                part = part[:-1]
            parts.append(part)
        if closing:
            return parts if start >= 0 else None
        start = line_end.end() if line_end is not None else after


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
