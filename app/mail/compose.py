"""Outgoing messages: built from plain data, with every header checked first.

Header injection is refused here, before the email package sees a value: a subject, a name
or an address holding a line break is an error naming the field, never a header split in two.
Bcc recipients go to the envelope only (``Outgoing.envelope_recipients``), never to a header.

The header fields are written here (``header_fields``), never parsed from our text by the
email package: it decodes RFC 2047 encoded words in a value given as text, and a Python
without the fix for CVE-2024-6923 (3.11.7, say, or a bundle built with one) then writes the
line breaks they hold as they are: a subject reading ``=?utf-8?q?x=0D=0ABcc:_…?=`` became a
header of its own. Here a value is text: a word a reader would decode (``=?``), or any word
that is not plain ASCII, is written as our own encoded words, so a literal ``=?`` reaches the
customer as those characters. And what is built is read back (``verify``) as a mail client
would read it, and refused unless it holds exactly the fields asked for, with their values.
"""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address, HeaderRegistry
from email.message import EmailMessage
from email.policy import Policy
from email.utils import format_datetime
from functools import lru_cache
from typing import Any

from app.mail.fields import decode_words, one_line, parse_addresses
from app.mail.parse import Headers


class _Registry(HeaderRegistry):
    """The standard registry, making each header's class once: the email package's makes
    a new class with ``type()`` for every header it parses, which is most of the cost of
    checking an address. The classes are alike, so the headers are too."""

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[str, type[Any]] = {}

    def map_to_type(self, name: str, cls: type[Any]) -> None:
        super().map_to_type(name, cls)
        self._made.clear()

    def __getitem__(self, name: str) -> type[Any]:
        key = name.lower()
        made = self._made.get(key)
        if made is None:
            made = self._made[key] = super().__getitem__(name)
        return made


_HEADERS = _Registry()
# SMTP line endings; bodies and headers 7-bit (quoted-printable/base64, RFC 2047), so the
# message needs neither 8BITMIME nor SMTPUTF8 from the server.
POLICY = policy.SMTP.clone(cte_type="7bit", header_factory=_HEADERS)

# Everything str.splitlines() treats as a line end: the email package splits headers on them.
_LINE_BREAKS = frozenset("\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
# Printable ASCII but <>"\ on either side of an '@' (RFC 5322 3.6.4; 8-bit ids would need
# SMTPUTF8, and a header of this message is 7-bit).
_MSG_ID = re.compile(r"<[!#-;=?-\[\]-~]+@[!#-;=?-\[\]-~]+>")
_MAX_REFERENCES = 20


class HeaderError(ValueError):
    """A value that cannot go into the message: ``field`` is the header's name."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


@dataclass(frozen=True)
class Mailbox:
    """One checked address: ``name`` may be empty; ``address`` is the bare addr-spec."""

    name: str
    address: str

    def header(self) -> Address:
        return Address(display_name=self.name, addr_spec=self.address)

    def __str__(self) -> str:
        # A plain name needs no quoting: the form the header would take, without making it.
        if not self.name:
            return self.address
        if _PLAIN_NAME_ONLY.fullmatch(self.name):
            return f"{self.name} <{self.address}>"
        return str(self.header())


@dataclass(frozen=True)
class Outgoing:
    """What a message is made of; ``build()`` checks every field before using it."""

    sender: Mailbox
    to: Sequence[Mailbox]
    subject: str
    body: str
    message_id: str
    date: datetime
    cc: Sequence[Mailbox] = ()
    bcc: Sequence[Mailbox] = ()
    html: str | None = None
    in_reply_to: str | None = None
    references: Sequence[str] = field(default_factory=tuple)

    @property
    def envelope_recipients(self) -> list[str]:
        """RCPT TO addresses: To, Cc and Bcc, each once."""
        return list(dict.fromkeys(m.address for m in (*self.to, *self.cc, *self.bcc)))


# Category Cc (C0, DEL, C1) and the line separators of _LINE_BREAKS outside it; tab allowed.
_REFUSED = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")


def check_header_text(field_name: str, value: str) -> str:
    """Refuse line breaks and control characters (tab is allowed) in a header value."""
    found = _REFUSED.search(value)
    if found is not None:
        ch = found.group()
        if ch in _LINE_BREAKS:
            raise HeaderError(
                field_name,
                "must not contain line breaks (carriage return or line feed): "
                "a line break in a header could add headers or recipients.",
            )
        raise HeaderError(field_name, f"must not contain control characters ({ch!r}).")
    return value


# The everyday forms, ``local@domain`` and ``Plain Name <local@domain>`` in ASCII: letters
# and digits for the name, a dot-atom before the '@', host names after it. The email
# package's parser gives exactly what the match holds, at a tenth of the cost; anything else
# (quotes, comments, other characters, IDN) goes to that parser.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_PLAIN_ADDRESS = rf"{_ATEXT}(?:\.{_ATEXT})*@{_LABEL}(?:\.{_LABEL})*"
_PLAIN_NAME = r"[A-Za-z0-9]+(?: [A-Za-z0-9]+)*"
_PLAIN_NAME_ONLY = re.compile(_PLAIN_NAME)
_PLAIN = re.compile(
    rf"(?P<name>{_PLAIN_NAME}) <(?P<named>{_PLAIN_ADDRESS})>|(?P<bare>{_PLAIN_ADDRESS})"
)


# Parsing an address is most of checking a reply; the same addresses come back (the
# channel's, a customer's on every reply of a conversation).
@lru_cache(maxsize=1024)
def parse_mailbox(field_name: str, text: str) -> Mailbox:
    """One address (``a@b.example`` or ``Name <a@b.example>``); anything else is refused."""
    check_header_text(field_name, text)
    typed = text.strip()
    if not typed:
        raise HeaderError(field_name, "an address is empty.")
    plain = _PLAIN.fullmatch(typed)
    if plain is not None:
        if plain["bare"] is not None:
            return Mailbox("", plain["bare"])
        return Mailbox(plain["name"], plain["named"])
    return parse_mailbox_fully(field_name, typed)


def parse_mailbox_fully(field_name: str, typed: str) -> Mailbox:
    """``parse_mailbox`` by the email package's parser, for any form (``typed`` stripped)."""
    problem = f"'{typed}' is not one valid email address"
    try:
        header = POLICY.header_factory("To", typed)
    except Exception as exc:  # the parser raises assorted errors on garbage
        raise HeaderError(field_name, f"{problem}.") from exc
    groups = header.groups
    if header.defects:
        raise HeaderError(field_name, f"{problem} ({header.defects[0]}).")
    if len(groups) != 1 or groups[0].display_name is not None or len(header.addresses) != 1:
        raise HeaderError(field_name, f"{problem} (exactly one address is needed here).")
    found = header.addresses[0]
    if not found.username or not found.domain:
        raise HeaderError(
            field_name, f"{problem} (it needs a name before and a domain after the '@')."
        )
    if not found.username.isascii():
        raise HeaderError(
            field_name, f"{problem}: characters outside ASCII before the '@' are not supported."
        )
    domain = found.domain
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise HeaderError(field_name, f"{problem} (the domain cannot be encoded).") from exc
    local = Address(username=found.username, domain="x").addr_spec.rpartition("@")[0]
    return Mailbox(check_header_text(field_name, found.display_name), f"{local}@{domain}")


def _split_outside(text: str, is_separator: Callable[[str], bool]) -> list[str]:
    """``text`` cut at each character ``is_separator`` picks that stands outside quotes, <>
    and (): the pieces as typed (empty ones too), the separators left out."""
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    depth_angle = depth_comment = 0
    for ch in text:
        if escaped:
            escaped = False
        elif ch == "\\" and (quoted or depth_comment):
            escaped = True
        elif quoted:
            quoted = ch != '"'
        elif ch == '"' and not depth_comment:
            quoted = True
        elif ch == "(":
            depth_comment += 1
        elif ch == ")" and depth_comment:
            depth_comment -= 1
        elif ch == "<" and not depth_comment:
            depth_angle += 1
        elif ch == ">" and depth_angle and not depth_comment:
            depth_angle -= 1
        elif is_separator(ch) and not depth_angle and not depth_comment:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return parts


def split_addresses(text: str) -> list[str]:
    """Recipients typed as one text, separated by ',' or ';' (not inside quotes, <>, ())."""
    if "," not in text and ";" not in text:  # one recipient (or none): nothing to split at
        return [text.strip()] if text.strip() else []
    parts = _split_outside(text, lambda ch: ch in ",;")
    return [p.strip() for p in parts if p.strip()]


_QUOTED_OR_COMMENT = re.compile(r'"(?:\\.|[^"\\])*"|\((?:\\.|[^()\\])*\)')


def split_loosely(item: str) -> list[str]:
    """The parts of one recipient that is not one address as typed, such as the seed's
    "abc@mailserver.com xyz@mailserver.com": split at white space outside quotes, <> and
    (); a name stays with the <address> after it and a (comment) with the part before it;
    words without an '@' between addresses stay together as one part (so that an error can
    name them as typed). Each part is returned exactly as typed."""
    tokens = [token for token in _split_outside(item, str.isspace) if token]
    parts: list[str] = []
    words: list[str] = []  # tokens without an '@': a name, or not an address at all
    for token in tokens:
        if token.startswith("(") and not words and parts:
            parts[-1] += f" {token}"
        elif token.startswith("<"):
            parts.append(" ".join([*words, token]))
            words = []
        elif "@" not in _QUOTED_OR_COMMENT.sub("", token):
            words.append(token)
        else:
            if words:
                parts.append(" ".join(words))
                words = []
            parts.append(token)
    if words:
        parts.append(" ".join(words))
    return parts


def parse_mailboxes(field_name: str, value: str | Sequence[str]) -> list[Mailbox]:
    """A list of recipients from one text or a list of texts (each may hold several)."""
    texts = [value] if isinstance(value, str) else list(value)
    found: list[Mailbox] = []
    for text in texts:
        check_header_text(field_name, text)
        found.extend(parse_mailbox(field_name, part) for part in split_addresses(text))
    return found


def format_mailboxes(mailboxes: Sequence[Mailbox]) -> str:
    """How a recipient list is stored: names quoted where needed, so it splits back exactly."""
    return ", ".join(str(m) for m in mailboxes)


def is_message_id(value: str | None) -> bool:
    """Whether ``value`` can be written as a message identifier (<id@domain>, ASCII)."""
    return value is not None and _MSG_ID.fullmatch(value) is not None


def check_message_id(field_name: str, value: str) -> str:
    check_header_text(field_name, value)
    if not _MSG_ID.fullmatch(value):
        raise HeaderError(field_name, f"'{value}' is not a message identifier like <id@domain>.")
    return value


def make_message_id(address: str) -> str:
    """A new, globally unique Message-ID on the domain of ``address`` (the channel's)."""
    domain = address.rpartition("@")[2].strip().lower() or "localhost"
    if not domain.isascii():
        domain = domain.encode("idna").decode("ascii")
    if not re.fullmatch(r"[a-z0-9.-]+", domain):
        domain = "email-campaigns.invalid"
    return f"<ec.{uuid.uuid4().hex}@{domain}>"


def thread_references(parent_message_id: str | None, parent_references: Sequence[str]) -> list[str]:
    """References of a reply: the parent's References then its Message-ID (RFC 5322 3.6.4),
    trimmed to the first and the latest ids of a very long thread."""
    tail = [parent_message_id] if parent_message_id else []
    ids = list(dict.fromkeys([*parent_references, *tail]))
    ids = [i for i in ids if i and _MSG_ID.fullmatch(i)]
    if len(ids) > _MAX_REFERENCES:
        ids = [ids[0], *ids[-(_MAX_REFERENCES - 1) :]]
    return ids


def check(out: Outgoing) -> None:
    """Everything ``build`` needs of the fields, without building: HeaderError (a
    ValueError) names the field that cannot be used. For checking a reply when it is queued,
    where building the whole message would only be thrown away."""
    if not out.to and not out.cc and not out.bcc:
        raise HeaderError("To", "at least one recipient is needed.")
    check_header_text("Subject", out.subject)
    for label, boxes in (("From", [out.sender]), ("To", out.to), ("Cc", out.cc), ("Bcc", out.bcc)):
        for box in boxes:
            check_header_text(label, box.name)
            check_header_text(label, box.address)
            if not box.address.isascii():  # (``parse_mailbox`` gives ASCII: IDNA domains)
                raise HeaderError(label, f"'{box.address}' is not an ASCII address.")
            if not _encodable(box.name):
                raise HeaderError(label, "holds characters that cannot be sent (broken Unicode).")
    check_message_id("Message-ID", out.message_id)
    if out.in_reply_to is not None:
        check_message_id("In-Reply-To", out.in_reply_to)
    for ref in out.references:
        check_message_id("References", ref)
    if out.date.tzinfo is None:
        raise HeaderError("Date", "needs a time zone.")
    for label, text in (("Subject", out.subject), ("Message", out.body), ("Message", out.html)):
        if text is not None and not _encodable(text):
            raise HeaderError(label, "holds characters that cannot be sent (broken Unicode).")
    # The header fields as they will be written, read back: the same answer as at sending.
    lines = [line for _, folded in header_fields(out) for line in folded]
    verify(out, "\r\n".join([*lines, "", ""]).encode("ascii"), whole=False)


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates, from pasting broken text
        return False
    return True


# ---- header fields, written here ------------------------------------------------------

_LINE_LENGTH = 78  # RFC 5322: lines SHOULD be no longer (998 at most)
_WORD_LENGTH = 75  # RFC 2047: the longest encoded word
_SHORTEST = 20  # an encoded word begun on a line with less room goes to the next one
# Written as they are: printable ASCII words that no reader would decode, short enough to
# stand on a line after "Subject: ".
_AS_IS = re.compile(r"[\x21-\x7e]{1,69}")
# Bytes a Q encoded word holds as they are: the set RFC 2047 (5.3) allows in a display name
# too, so that one encoding serves every field.
_Q_LITERAL = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/")
_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,69}")  # a display name's word, as is
_QUOTABLE = re.compile(r"[\x20-\x7e\t]{1,60}")  # a display name written in quotes
_BLANKS = re.compile(r"([ \t]+)")


@dataclass(frozen=True)
class _Unit:
    """A piece of a field's value: a word written as it is (never folded inside), or
    ``encode``: text written as encoded words (as many as it takes), with the white space
    before it."""

    blank: str
    word: str
    encode: bool = False


def _q(ch: str) -> str:
    return "".join(
        chr(b) if b in _Q_LITERAL else "_" if b == 0x20 else f"={b:02X}" for b in ch.encode()
    )


class _Encoder:
    """Text written as RFC 2047 encoded words in UTF-8, a word at a time, each of whole
    characters: decoded and put together they are the text exactly (the white space between
    encoded words is no part of the text). Q where that is the shorter for the whole text
    (mostly Latin: readable in the raw message too), else B."""

    def __init__(self, text: str) -> None:
        quoted = [_q(ch) for ch in text]
        size = len(text.encode())
        self.q = sum(map(len, quoted)) <= 4 * -(-size // 3)
        self.pieces: list[Any] = quoted if self.q else [ch.encode() for ch in text]
        self.at = 0

    @property
    def done(self) -> bool:
        return self.at >= len(self.pieces)

    def take(self, room: int) -> str:
        """The next encoded word: at most ``room`` characters (75 at most), unless a single
        character needs more."""
        budget = min(room, _WORD_LENGTH) - len("=?utf-8?q??=")
        if not self.q:
            budget = budget // 4 * 3  # bytes: base64 writes 4 characters for 3
        start, size = self.at, len(self.pieces[self.at])
        self.at += 1
        while self.at < len(self.pieces) and size + len(self.pieces[self.at]) <= budget:
            size += len(self.pieces[self.at])
            self.at += 1
        chunk = self.pieces[start : self.at]
        if self.q:
            return f"=?utf-8?q?{''.join(chunk)}?="
        return f"=?utf-8?b?{base64.b64encode(b''.join(chunk)).decode()}?="


def _text_units(text: str) -> list[_Unit]:
    """An unstructured value (Subject): each word as it is where a reader takes it so, and
    each run of other words (non-ASCII, holding ``=?``, too long for a line), with the white
    space between them, encoded; white space at either end is kept in an encoded word too
    (a reader drops it from a plain one)."""
    core = text.strip(" \t")
    if not core:
        return [_Unit("", text, encode=True)] if text else []
    start = text.index(core)
    lead, trail = text[:start], text[start + len(core) :]
    parts = _BLANKS.split(core)  # word, blank, word, …
    words = parts[0::2]
    units: list[_Unit] = []
    run: list[str] = []  # words to encode and the white space between them
    run_blank = ""
    for n, (blank, word) in enumerate(zip(["", *parts[1::2]], words, strict=True)):
        edge = (lead if n == 0 else "", trail if n == len(words) - 1 else "")
        if _AS_IS.fullmatch(word) and "=?" not in word and edge == ("", ""):
            if run:
                units.append(_Unit(run_blank, "".join(run), encode=True))
                run = []
            units.append(_Unit(blank, word))
        elif run:
            run += [blank, word, edge[1]]
        else:
            run_blank, run = blank, [edge[0], word, edge[1]]
    if run:
        units.append(_Unit(run_blank, "".join(run), encode=True))
    return units


def _mailbox_units(box: Mailbox) -> list[_Unit]:
    """``Name <address>``: the name as plain words, else quoted, else encoded."""
    if not box.name:
        return [_Unit("", box.address)]
    address = _Unit(" ", f"<{box.address}>")
    words = box.name.split(" ")
    if all(_ATOM.fullmatch(word) and "=?" not in word for word in words):
        return [_Unit("", words[0]), *(_Unit(" ", word) for word in words[1:]), address]
    if _QUOTABLE.fullmatch(box.name) and "=?" not in box.name:
        quoted = box.name.replace("\\", "\\\\").replace('"', '\\"')
        return [_Unit("", f'"{quoted}"'), address]
    return [_Unit("", box.name, encode=True), address]


def _address_units(boxes: Sequence[Mailbox]) -> list[_Unit]:
    units: list[_Unit] = []
    for box in boxes:
        if units:  # the comma after the last unit of the one before (an address)
            units[-1] = _Unit(units[-1].blank, f"{units[-1].word},")
        units += _mailbox_units(box)
    return units


def _fold(name: str, units: Sequence[_Unit]) -> list[str]:
    """The lines of a field, each broken only before white space (so that unfolding gives
    the value back), where the line would pass 78 characters."""
    lines: list[str] = []
    line = f"{name}:"
    for unit in units:
        blank = unit.blank or " "
        if not unit.encode:
            too_long = len(line) + len(blank) + len(unit.word) > _LINE_LENGTH
            if too_long and line != f"{name}:":  # (a reader may keep a blank at the start)
                lines.append(line)
                line = ""
            line += blank + unit.word
            continue
        encoder = _Encoder(unit.word)
        while not encoder.done:
            if _LINE_LENGTH - len(line) - len(blank) < _SHORTEST:
                lines.append(line)
                line = ""
            line += blank + encoder.take(_LINE_LENGTH - len(line) - len(blank))
            blank = " "  # between two encoded words: no part of the text
    lines.append(line if units else f"{name}: ")
    return [kept for kept in lines if kept]


class _Written(str):
    """A header field written here: the email package stores and writes it as it is (a
    value with a ``name`` is neither parsed nor folded by it). As text, the value asked for."""

    name: str
    lines: list[str]

    def __new__(cls, name: str, value: str, lines: list[str]) -> _Written:
        field = super().__new__(cls, value)
        field.name, field.lines = name, lines
        return field

    def fold(self, *, policy: Policy) -> str:
        return policy.linesep.join(self.lines) + policy.linesep


def _date(out: Outgoing) -> str:
    return format_datetime(out.date.astimezone(UTC))


def header_fields(out: Outgoing) -> list[tuple[str, list[str]]]:
    """(name, folded lines) of each header field of ``out`` but the MIME ones, in the
    order they are written. Assumes ``check``-ed fields."""
    fields: list[tuple[str, list[_Unit]]] = [
        ("Date", [_Unit("", _date(out))]),
        ("From", _mailbox_units(out.sender)),
    ]
    if out.to:
        fields.append(("To", _address_units(out.to)))
    if out.cc:
        fields.append(("Cc", _address_units(out.cc)))
    fields.append(("Subject", _text_units(out.subject)))
    fields.append(("Message-ID", [_Unit("", out.message_id)]))
    if out.in_reply_to:
        fields.append(("In-Reply-To", [_Unit("", out.in_reply_to)]))
    if out.references:
        # folded between ids only, never encoded: an id is read whole or threading breaks
        fields.append(("References", [_Unit("", ref) for ref in out.references]))
    return [(name, _fold(name, units)) for name, units in fields]


def _as_text(out: Outgoing, name: str) -> str:
    """A field's value as text (what the message object answers for it)."""
    if name in ("From", "To", "Cc"):
        return format_mailboxes({"From": [out.sender], "To": out.to, "Cc": out.cc}[name])
    if name == "Subject":
        return out.subject
    if name == "Date":
        return _date(out)
    if name == "References":
        return " ".join(out.references)
    return out.message_id if name == "Message-ID" else out.in_reply_to or ""


# ---- reading what was built back ------------------------------------------------------

_MIME_FIELDS = frozenset({"mime-version", "content-type", "content-transfer-encoding"})


def verify(out: Outgoing, data: bytes, *, whole: bool = True) -> None:
    """Read the header block of ``data`` (a whole message; ``whole=False``: the header
    fields of ``header_fields`` alone) back as a mail client reads it, and raise HeaderError
    unless it holds exactly the fields asked for — each once — with the values asked for:
    the subject and the names and addresses decoded, the ids and the date as they are.
    Whatever a value holds, it cannot have added a header, a recipient or a body unseen."""
    headers = Headers(data)
    if headers.pairs is None:
        raise _unreadable("Headers", "its header block is not plain header fields")
    names = [name.lower() for name, _ in headers.pairs]
    asked = {"date", "from", "subject", "message-id"}
    asked.update(n for n, v in (("to", out.to), ("cc", out.cc)) if v)
    asked.update(
        n for n, v in (("in-reply-to", out.in_reply_to), ("references", out.references)) if v
    )
    if whole:
        asked.update({"mime-version", "content-type"})
    extra = sorted(set(names) - asked - (_MIME_FIELDS if whole else set()))
    if extra or len(names) != len(set(names)) or not asked <= set(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        what = (
            f"fields nobody asked for ({', '.join(extra)})"
            if extra
            else f"fields more than once ({', '.join(twice)})"
            if twice
            else f"no {', '.join(sorted(asked - set(names)))}"
        )
        raise _unreadable("Headers", what)

    def get(name: str) -> str:
        return headers.get(name) or ""

    if decode_words(get("Subject")) != one_line(out.subject):
        raise _unreadable("Subject", "its subject reads otherwise")
    for label, boxes in (("From", [out.sender]), ("To", out.to), ("Cc", out.cc)):
        if not boxes:
            continue
        found = [(one_line(m.name), m.address) for m in parse_addresses(get(label))]
        if found != [(one_line(b.name), b.address) for b in boxes]:
            raise _unreadable(label, f"its {label} field reads otherwise")
    written = {
        "Date": _date(out),
        "Message-ID": out.message_id,
        "In-Reply-To": out.in_reply_to or "",
        "References": " ".join(out.references),
    }
    for label, value in written.items():
        if one_line(get(label)) != value:
            raise _unreadable(label, f"its {label} field reads otherwise")
    if whole:
        wanted = "text/plain" if out.html is None else "multipart/alternative"
        if get("Content-Type").split(";")[0].strip().lower() != wanted:
            raise _unreadable("Message", f"it is not {wanted}")


def _unreadable(field_name: str, what: str) -> HeaderError:
    return HeaderError(
        field_name,
        f"the message built does not read back as written ({what}), so it is not sent: "
        "a value holds something a mail program would read as more than text.",
    )


def build(out: Outgoing) -> EmailMessage:
    """The message to send (``to_bytes`` gives its CRLF bytes, ``message_bytes`` them
    verified); HeaderError (a ValueError) names the field that cannot be used."""
    check(out)
    msg = EmailMessage(policy=POLICY)
    for name, lines in header_fields(out):
        msg[name] = _Written(name, _as_text(out, name), lines)
    msg.set_content(_lines(out.body), charset="utf-8")
    if out.html is not None:
        msg.add_alternative(_lines(out.html), subtype="html", charset="utf-8")
    return msg


def to_bytes(msg: EmailMessage) -> bytes:
    return msg.as_bytes(policy=POLICY)


def message_bytes(out: Outgoing) -> bytes:
    """The bytes to hand to the server: built, then read back (``verify``)."""
    data = to_bytes(build(out))
    verify(out, data)
    return data


def _lines(text: str) -> str:
    # One line-end convention in, CRLF out (the policy); a final line end keeps MIME tidy.
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text if text.endswith("\n") else text + "\n"
