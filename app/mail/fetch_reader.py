"""A lean reader of ``UID FETCH ... (BODY.PEEK[])`` responses.

imapclient parses every response into Python objects token by token and imaplib keeps
each untagged response in a list; for a pass over thousands of messages that costs more
than the transfer. Here the response is read as lines and literals straight from imaplib's
buffered socket file (``IMAP4.readline`` and ``IMAP4.read``), and only the items a FETCH
response carries are tokenized; a literal is taken whole, without looking into it.

Untagged responses other than FETCH (EXISTS, EXPUNGE, FLAGS, OK ...) may come in between:
they are read to their end, literals included, and left alone. FETCH responses without a
body (flag changes made by another client) are left alone too.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

from imapclient.exceptions import IMAPClientAbortError, IMAPClientError

# a literal at the end of a line: {size} or literal8 ~{size}, and the non-synchronizing {size+}
_LITERAL = re.compile(rb"~?\{(\d+)\+?\}\r?\n\Z")
# the tokens of a response line outside literals: parentheses, quoted strings, atoms (with a
# section in brackets, which may hold spaces and parentheses, and a <partial> suffix)
_TOKEN = re.compile(
    rb'[()]|"(?:[^"\\]|\\.)*"|[^\s()"\[\]]*\[[^\]]*\](?:<\d+>)?|[^\s()"\[\]]+', re.S
)
_QUOTED_ESCAPE = re.compile(rb"\\(.)", re.S)


class LineReader(Protocol):
    """What is read from: imaplib.IMAP4 gives both (on its buffered socket file)."""

    def readline(self) -> bytes: ...

    def read(self, size: int) -> bytes: ...


class _Literal:
    """A literal's position among the tokens of a response."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


Token = bytes | _Literal


def read_response(reader: LineReader) -> tuple[bytes, list[bytes]]:
    """One whole response: its text with every literal replaced by ``{n}`` (n: the literal's
    index), and the literals. Raises IMAPClientAbortError when the connection ends."""
    text: list[bytes] = []
    literals: list[bytes] = []
    while True:
        line = reader.readline()
        if not line:
            raise IMAPClientAbortError("the IMAP server closed the connection")
        found = _LITERAL.search(line)
        if found is None:
            text.append(line.rstrip(b"\r\n"))
            return b"".join(text), literals
        size = int(found.group(1))
        data = reader.read(size)
        while len(data) < size:  # a file on a socket may return less: read on
            more = reader.read(size - len(data))
            if not more:
                raise IMAPClientAbortError("the IMAP server closed the connection in a literal")
            data += more
        text.append(line[: found.start()] + b"{%d}" % len(literals))
        literals.append(data)


def _tokens(text: bytes, literals: list[bytes]) -> list[Token]:
    out: list[Token] = []
    for token in _TOKEN.findall(text):
        if token[:1] == b"{" and token[-1:] == b"}" and token[1:-1].isdigit():
            out.append(_Literal(literals[int(token[1:-1])]))
        else:
            out.append(token)
    return out


def fetch_items(text: bytes, literals: list[bytes]) -> tuple[int, dict[bytes, object]] | None:
    """(message sequence number, {item name in upper case: value}) of an untagged
    ``* n FETCH (...)`` response; None for any other response. Values: bytes (atoms,
    numbers, strings and literals, without quotes), None for NIL, lists for parentheses."""
    head = text.split(b" ", 3)
    if len(head) < 4 or head[0] != b"*" or head[2].upper() != b"FETCH" or not head[1].isdigit():
        return None
    tokens = _tokens(head[3], literals)
    stack: list[list[object]] = [[]]
    for token in tokens:
        if token == b"(":
            stack.append([])
        elif token == b")":
            if len(stack) == 1:
                raise IMAPClientError(f"unbalanced FETCH response: {text[:200]!r}")
            done = stack.pop()
            stack[-1].append(done)
        else:
            stack[-1].append(_value(token))
    if len(stack) != 1 or len(stack[0]) != 1 or not isinstance(stack[0][0], list):
        raise IMAPClientError(f"unreadable FETCH response: {text[:200]!r}")
    pairs = stack[0][0]
    items: dict[bytes, object] = {}
    for at in range(0, len(pairs) - 1, 2):
        name = pairs[at]
        if isinstance(name, bytes):
            items[name.upper()] = pairs[at + 1]
    return int(head[1]), items


def _value(token: Token) -> bytes | None:
    if isinstance(token, _Literal):
        return token.data
    if token[:1] == b'"':
        return _QUOTED_ESCAPE.sub(rb"\1", token[1:-1])
    if token.upper() == b"NIL":
        return None
    return token


def uid_set(uids: Sequence[int]) -> bytes:
    """``uids`` as an IMAP sequence set, runs as ranges: 1:200,205,207:210."""
    parts: list[bytes] = []
    ordered = sorted(set(uids))
    at = 0
    while at < len(ordered):
        end = at
        while end + 1 < len(ordered) and ordered[end + 1] == ordered[end] + 1:
            end += 1
        first, last = ordered[at], ordered[end]
        parts.append(b"%d" % first if first == last else b"%d:%d" % (first, last))
        at = end + 1
    return b",".join(parts)


def body_of(items: dict[bytes, object]) -> bytes | None:
    """The BODY[] of a FETCH response's items (b'' for NIL), or None if it has none."""
    for name, value in items.items():
        if name.startswith(b"BODY[]"):
            return value if isinstance(value, bytes) else b""
    return None


def read_fetch(reader: LineReader, tag: bytes, wanted: Sequence[int]) -> dict[int, bytes]:
    """The bodies of the tagged ``UID FETCH`` command just sent, by UID (of ``wanted``
    only), reading up to its tagged completion. A NO or BAD completion raises
    IMAPClientError."""
    wanted_set = set(wanted)
    bodies: dict[int, bytes] = {}
    prefix = tag + b" "
    while True:
        text, literals = read_response(reader)
        if text.startswith(prefix):
            status = text[len(prefix) :].split(b" ", 1)
            if status[0].upper() != b"OK":
                raise IMAPClientError(f"UID FETCH failed: {text.decode(errors='replace')}")
            return bodies
        if text[:5].upper() == b"* BYE":
            raise IMAPClientAbortError(f"the IMAP server ended the session: {text!r}")
        found = fetch_items(text, literals) if text[:2] == b"* " else None
        if found is None:
            continue  # EXISTS, EXPUNGE, FLAGS ...: not this command's
        items = found[1]
        uid = items.get(b"UID")
        body = body_of(items)
        if body is None or not isinstance(uid, bytes) or not uid.isdigit():
            continue  # a flag change, or a response without its UID
        if int(uid) in wanted_set:
            bodies[int(uid)] = body
