"""Header field values as a person reads them: encoded words (RFC 2047) decoded, address
lists split into display names and addresses.

Written here rather than taken from the email package because its answers differ from one
patch release of a Python to the next (Debian's 3.11.2 carries a strict ``getaddresses``,
3.11.7 does not; ``decode_header`` drops the space after an encoded word; ``policy.default``
is ten times slower and drops an encoded word it cannot decode). The reference for what is
right is ``email.policy.default``, and the tests compare with it over corpora and generated
headers; where this module deliberately differs, it says so:

- an encoded word that cannot be decoded (``=?utf-8?b?!!!?=``) is shown as it was sent,
  not dropped: a person should see what was sent;
- adjacent encoded words of one charset are decoded together, so a character split between
  two of them (as some mailers do) is one character, not two broken ones;
- an unknown charset is read as UTF-8, else Windows-1252, and noted;
- encoded words inside a quoted display name are decoded wherever they stand (Outlook
  writes "M=?iso-8859-1?Q?=FC?=ller, Hans"), as mail clients do;
- in a display name, the white space between two encoded words is dropped, as RFC 2047
  (6.2) says for every header; policy.default does so only in unstructured ones.

Nothing here raises on bad input; what was wrong is added to ``problems``.
"""

from __future__ import annotations

import binascii
import codecs
import re
from dataclasses import dataclass
from functools import lru_cache

FALLBACK_CHARSET = "windows-1252"  # what unlabelled or mislabelled 8-bit mail usually is

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


def raw_text(value: str) -> str:
    """A header value as the email parser hands it over (8-bit bytes kept as surrogate
    escapes) as text: raw UTF-8 (RFC 6532) or, failing that, the fallback charset."""
    if not value.isascii() and any("\udc80" <= ch <= "\udcff" for ch in value):
        return decode_bytes(value.encode("ascii", "surrogateescape"), None)
    return value


def one_line(text: str) -> str:
    """``text`` on one line: every run of white space (line breaks included) one space."""
    return " ".join(text.split())


# ---- encoded words ---------------------------------------------------------------

# An encoded word: charset (with an optional *language), B or Q, the encoded text. White
# space inside the text is tolerated (folded by some mailers), as policy.default does.
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?]*?)\?=")
_QP_ESCAPE = re.compile(rb"=([0-9A-Fa-f]{2})")
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")


def _encoded_bytes(encoding: str, text: str) -> bytes | None:
    """The bytes an encoded word's text stands for; None when it is not valid B or Q."""
    if encoding in "bB":
        compact = "".join(text.split())
        if _BASE64.fullmatch(compact) is None or len(compact.rstrip("=")) % 4 == 1:
            return None
        compact = compact.rstrip("=")
        try:
            return binascii.a2b_base64(compact + "=" * (-len(compact) % 4))
        except binascii.Error:  # pragma: no cover - the pattern admits only valid text
            return None
    data = text.replace("_", " ").encode("ascii", "surrogateescape")
    return _QP_ESCAPE.sub(lambda m: bytes.fromhex(m.group(1).decode()), data)


def _charset_of(word_charset: str) -> str:
    return word_charset.partition("*")[0]  # RFC 2231: charset*language


def decode_words(value: str, problems: list[str] | None = None) -> str:
    """An unstructured header (Subject) as one line of text: folding undone, encoded words
    decoded (the white space between two of them dropped, all other kept), 8-bit bytes
    read as UTF-8 or the fallback."""
    text = raw_text(value)
    if "=?" not in text:
        return one_line(text)
    return one_line(_decode_words(text.replace("\r", "").replace("\n", ""), problems))


def _decode_words(text: str, problems: list[str] | None) -> str:
    out: list[str] = []
    pending: list[bytes] = []  # bytes of adjacent encoded words of one charset
    pending_charset = ""
    position = 0
    for found in _ENCODED_WORD.finditer(text):
        between = text[position : found.start()]
        data = _encoded_bytes(found.group(2), found.group(3))
        if data is None:
            if problems is not None:
                problems.append(f"encoded word {found.group(0)[:60]!r} is invalid; shown as sent")
            if pending:
                out.append(decode_bytes(b"".join(pending), pending_charset, problems))
                pending = []
            out.append(between + found.group(0))
            position = found.end()
            continue
        charset = _charset_of(found.group(1))
        adjacent = bool(pending) and not between.strip(" \t")
        if adjacent and charset.lower() == pending_charset.lower():
            pending.append(data)
        else:
            if pending:
                out.append(decode_bytes(b"".join(pending), pending_charset, problems))
            if not adjacent:
                out.append(between)
            pending, pending_charset = [data], charset
        position = found.end()
    if pending:
        out.append(decode_bytes(b"".join(pending), pending_charset, problems))
    out.append(text[position:])
    return "".join(out)


# ---- addresses -------------------------------------------------------------------


@dataclass(frozen=True)
class Mailbox:
    """One address of an address header: the display name decoded, the address as sent."""

    name: str
    address: str

    def __str__(self) -> str:
        return format_address(self.name, self.address)


# What makes a display name need quotes (as email.utils.formataddr decides).
_NEEDS_QUOTES = re.compile(r'[][\\()<>@,:;".]')


def format_address(name: str, address: str) -> str:
    """'Name <address>', the name quoted where it holds a special character (a comma, a
    dot, quotes, ...) so that the text splits back into the same one address."""
    if not name:
        return address
    if not address:
        return name
    if _NEEDS_QUOTES.search(name):
        escaped = name.replace("\\", "\\\\").replace('"', '\\"')
        name = f'"{escaped}"'
    return f"{name} <{address}>"


# The tokens of an address list (RFC 5322, with its obsolete forms): quoted strings and
# comments (with escapes; unterminated ones run to the end), angle brackets, specials,
# encoded words (which may hold specials), atoms, white space.
_TOKEN = re.compile(
    r"""
      (?P<quoted>"(?:[^"\\]|\\.?)*"?)
    | (?P<comment>\()
    | (?P<ew>=\?[^?\s]+\?[bBqQ]\?[^?]*?\?=)
    | (?P<special>[<>,;:@.\[\]])
    | (?P<atom>[^\s"(),;:<>@.\[\]\\]+|\\)
    | (?P<space>\s+)
    | (?P<close>\))
    """,
    re.VERBOSE | re.DOTALL,
)


def _skip_comment(text: str, start: int) -> int:
    """Where the comment opening at ``start`` ends (nested comments, escapes)."""
    depth = 0
    position = start
    while position < len(text):
        ch = text[position]
        if ch == "\\":
            position += 2
            continue
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return position + 1
        position += 1
    return len(text)


def _tokens(text: str) -> list[tuple[str, str]]:
    """(kind, text) pairs; comments and white space come out as one 'space' token."""
    out: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        found = _TOKEN.match(text, position)
        if found is None:  # pragma: no cover - every character matches some kind
            out.append(("atom", text[position]))
            position += 1
            continue
        kind = found.lastgroup or "atom"
        if kind == "comment":
            position = _skip_comment(text, position)
            kind, value = "space", " "
        else:
            value = found.group(0)
            position = found.end()
            if kind == "close":  # a stray ')'
                kind = "atom"
        if kind == "space" and out and out[-1][0] == "space":
            continue
        out.append((kind, value))
    return out


def _unquote(quoted: str) -> str:
    inner = quoted[1:-1] if len(quoted) > 1 and quoted.endswith('"') else quoted[1:]
    return re.sub(r"\\(.)", r"\1", inner, flags=re.DOTALL)


def _phrase(tokens: list[tuple[str, str]], problems: list[str] | None) -> str:
    """A display name: quoted strings unquoted, comments dropped, then the encoded words
    decoded once over the whole phrase (so that the space between two of them goes, as
    RFC 2047 says; policy.default decodes them inside quotes too)."""
    parts = [
        _unquote(value) if kind == "quoted" else " " if kind == "space" else value
        for kind, value in tokens
    ]
    text = "".join(parts)
    return one_line(_decode_words(text, problems) if "=?" in text else text)


def _addr_spec(tokens: list[tuple[str, str]]) -> str:
    """An address from its tokens, white space and comments left out (quoted local parts
    kept quoted)."""
    return "".join(value for kind, value in tokens if kind != "space").strip()


def _mailbox(tokens: list[tuple[str, str]], problems: list[str] | None) -> Mailbox | None:
    """One mailbox from its tokens: 'phrase <addr>' or a bare addr-spec."""
    if not any(kind != "space" for kind, _ in tokens):
        return None
    opening = next((i for i, (k, v) in enumerate(tokens) if k == "special" and v == "<"), None)
    if opening is not None:
        closing = next(
            (
                i
                for i, (k, v) in enumerate(tokens[opening + 1 :], opening + 1)
                if k == "special" and v == ">"
            ),
            None,
        )
        if closing is None and problems is not None:
            problems.append("an address has an unclosed '<'")
        inside = tokens[opening + 1 : closing]
        route_end = next(
            (i for i, (k, v) in enumerate(inside) if k == "special" and v == ":"), None
        )
        if route_end is not None:  # obsolete source route: @a,@b:user@host
            inside = inside[route_end + 1 :]
        return Mailbox(_phrase(tokens[:opening], problems), _addr_spec(inside))
    words = [(k, v) for k, v in tokens if k != "space"]
    if any(k == "special" and v == "@" for k, v in words) or len(words) == 1:
        return Mailbox("", _addr_spec(tokens))
    # words without an '@' or '<': a name with no address
    return Mailbox(_phrase(tokens, problems), "")


# The everyday forms, 'Some Name <local@domain>' and 'local@domain', the name free of quotes,
# comments and other specials (encoded words allowed): what the tokens would give, read at
# once (tests hold the two equal).
_ADDR = r"[^\s\"<>,;:()\\\[\]@]+@[^\s\"<>,;:()\\\[\]@]+"
_SIMPLE_MAILBOX = re.compile(
    rf"\s*(?:(?P<name>[^\"<>,;:()\\\[\]@]*?)\s*<(?P<named>{_ADDR})>|(?P<bare>{_ADDR}))\s*"
)


def _simple_mailbox(text: str) -> Mailbox | None:
    found = _SIMPLE_MAILBOX.fullmatch(text)
    if found is None:
        return None
    if found["bare"] is not None:
        return Mailbox("", found["bare"])
    name = found["name"]
    if "=?" in name:
        problems: list[str] = []
        name = _decode_words(name, problems)
        if problems:  # read again by the tokens, which note them
            return None
    return Mailbox(one_line(name), found["named"])


@lru_cache(maxsize=4096)  # the same few addresses come again and again (To: support@...)
def _parse_addresses(value: str) -> tuple[tuple[Mailbox, ...], tuple[str, ...]]:
    text = _unfolded(value)
    simple = _simple_mailbox(text)
    if simple is not None:
        return (simple,), ()
    return _parse_tokens(text)


def _unfolded(value: str) -> str:
    """A header value as the address readers take it: raw text, its line breaks removed."""
    return raw_text(value).replace("\r", "").replace("\n", "")


def _parse_tokens(text: str) -> tuple[tuple[Mailbox, ...], tuple[str, ...]]:
    """The mailboxes (and problems) of an unfolded address list, token by token: the general
    reader, for whatever ``_simple_mailbox`` (the common single address, read at once, with
    the same result) does not take."""
    problems: list[str] = []
    found: list[Mailbox] = []
    current: list[tuple[str, str]] = []
    angle = False

    def flush() -> None:
        mailbox = _mailbox(current, problems)
        if mailbox is not None and (mailbox.address or mailbox.name):
            found.append(mailbox)
        current.clear()

    for kind, token in _tokens(text):
        if kind == "special" and not angle:
            if token in ",;":
                flush()
                continue
            if token == ":":  # 'group name:' -- the mailboxes follow
                current.clear()
                continue
            if token == "<":
                angle = True
        elif kind == "special" and token == ">":
            angle = False
        current.append((kind, token))
    flush()
    return tuple(found), tuple(problems)


def parse_addresses(value: str, problems: list[str] | None = None) -> list[Mailbox]:
    """The mailboxes of an address header (From, To, Cc, Reply-To): groups flattened, display
    names decoded, addresses as sent (case kept). The address comes from the addr-spec
    only, never from a display name, however it is encoded."""
    mailboxes, found = _parse_addresses(value)
    if problems is not None:
        problems.extend(found)
    return list(mailboxes)
