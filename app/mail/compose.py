"""Outgoing messages: built from plain data, with every header checked first.

Header injection is refused here, before the email package sees a value: a subject, a name
or an address holding a line break is an error naming the field, never a header split in two.
Bcc recipients go to the envelope only (``Outgoing.envelope_recipients``), never to a header.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.policy import Policy
from email.utils import format_datetime
from functools import lru_cache
from typing import Any


class _MessageIdsHeader(UnstructuredHeader):
    """In-Reply-To and References: folded between ids only. The email package treats them as
    free text and would fold right after the colon, or turn an id longer than a line into an
    RFC 2047 encoded word, which breaks threading."""

    @classmethod
    def parse(cls, value: str, kwds: dict[str, Any]) -> None:
        super().parse(value, kwds)
        kwds["decoded"] = " ".join(value.split())

    def fold(self, *, policy: Policy) -> str:
        limit = policy.max_line_length or 998
        # The registry mixes BaseHeader (with .name) into this class when it is used.
        start = f"{self.name}:"  # type: ignore[attr-defined]
        lines, line = [], start
        for word in str(self).split():
            if len(line) + 1 + len(word) > limit and line not in ("", start):
                lines.append(line)
                line = ""
            line += f" {word}"
        lines.append(line)
        return policy.linesep.join(lines) + policy.linesep


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
_HEADERS.map_to_type("in-reply-to", _MessageIdsHeader)  # type: ignore[arg-type]
_HEADERS.map_to_type("references", _MessageIdsHeader)  # type: ignore[arg-type]
# SMTP line endings; bodies and headers 7-bit (quoted-printable/base64, RFC 2047), so the
# message needs neither 8BITMIME nor SMTPUTF8 from the server.
POLICY = policy.SMTP.clone(cte_type="7bit", header_factory=_HEADERS)

# Everything str.splitlines() treats as a line end: the email package splits headers on them.
_LINE_BREAKS = frozenset("\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
_MSG_ID = re.compile(r"<[^<>\s\"\\]+@[^<>\s\"\\]+>")
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


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates, from pasting broken text
        return False
    return True


def build(out: Outgoing) -> EmailMessage:
    """The message to send (``to_bytes`` gives its CRLF bytes); HeaderError (a ValueError)
    names the field that cannot be used."""
    check(out)
    msg = EmailMessage(policy=POLICY)
    msg["Date"] = format_datetime(out.date.astimezone(UTC))
    msg["From"] = out.sender.header()
    if out.to:
        msg["To"] = [m.header() for m in out.to]
    if out.cc:
        msg["Cc"] = [m.header() for m in out.cc]
    msg["Subject"] = out.subject
    msg["Message-ID"] = out.message_id
    if out.in_reply_to:
        msg["In-Reply-To"] = out.in_reply_to
    if out.references:
        msg["References"] = " ".join(out.references)
    msg.set_content(_lines(out.body), charset="utf-8")
    if out.html is not None:
        msg.add_alternative(_lines(out.html), subtype="html", charset="utf-8")
    return msg


def to_bytes(msg: EmailMessage) -> bytes:
    return msg.as_bytes(policy=POLICY)


def _lines(text: str) -> str:
    # One line-end convention in, CRLF out (the policy); a final line end keeps MIME tidy.
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text if text.endswith("\n") else text + "\n"
