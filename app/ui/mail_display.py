"""How the reading pane writes an email's people, links and header fields (pure text and
HTML, no widgets). The sender is shown by address, always in full: a display name (which
the sender chooses, ``ceo@bank.example`` say) is quoted, shortened if long, stripped of
invisible and direction-changing characters, and never stands for the address; a link to
an internationalised host name is shown with its ASCII form.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QUrl

from app.mail.fields import parse_addresses
from app.mail.html import to_html
from app.services.emails import ReplyRow

QUARANTINE_COLOR = "#b00020"
NAME_SHOWN = 64  # characters of a display name; the address is always shown whole


def shown_size(n: int) -> str:
    """A size in bytes as the pane says it: bytes, KB or MB."""
    if n < 1024:
        return f"{n} bytes"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n / (1024 * 1024):.1f} MB"


# ---- who sent it --------------------------------------------------------------------

# Invisible or direction-changing characters (a right-to-left override shows
# "\u202eelpmaxe.knab@oec" as "ceo@bank.example"), controls and separators.
_HIDDEN_CATEGORIES = {"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"}


# Roughly an addr-spec: a local part (quoted or not), "@", a domain.
_ADDRESS = re.compile(r'(?:"[^"]*"|[^"@\s]+)@[^"@\s]+\Z')


def visible_text(text: str, replacement: str = "") -> str:
    """``text`` without its invisible characters, or each replaced by ``replacement``."""
    return "".join(
        replacement if unicodedata.category(ch) in _HIDDEN_CATEGORIES else ch for ch in text
    )


def shown_name(name: str) -> str:
    """A display name as the pane shows it: visible characters only, one line, at most
    ``NAME_SHOWN`` characters (shortened in the middle)."""
    text = " ".join(visible_text(name).split())
    if len(text) > NAME_SHOWN:
        half = (NAME_SHOWN - 1) // 2
        text = f"{text[:half]}…{text[-half:]}"
    return text


def _breakable(text: str, every: int = 40) -> str:
    """Escaped ``text`` that may wrap every ``every`` characters (U+200B), for labels."""
    if len(text) <= every:
        return html.escape(text)
    return "\u200b".join(html.escape(text[i : i + every]) for i in range(0, len(text), every))


def mailbox_html(name: str, address: str) -> str:
    """One mailbox for the header: the name quoted (it is only what the sender calls
    themselves), the address in bold and in full — or said to be missing."""
    parts = []
    name = shown_name(name)
    if name:
        parts.append(f"“{html.escape(name)}” ")
    shown = visible_text(address, "\ufffd")
    bold = f"<b>{_breakable(shown)}</b>"
    if shown:
        parts.append(f"&lt;{bold}&gt;" if name else bold)
        if not _ADDRESS.match(shown):
            parts.append(f' <span style="color:{QUARANTINE_COLOR}">(not an email address)</span>')
    else:
        parts.append(f'<span style="color:{QUARANTINE_COLOR}">(no address)</span>')
    return "".join(parts)


def addresses_html(value: str) -> str:
    """An address header as stored (``Name <a@b>, …``), each mailbox by ``mailbox_html``."""
    if not value:
        return ""
    mailboxes = parse_addresses(value)
    if not mailboxes:
        return html.escape(visible_text(value, "\ufffd"))
    return ", ".join(mailbox_html(m.name, m.address) for m in mailboxes)


def sender_parts(value: str) -> tuple[str, str]:
    """The first mailbox of an address header: its name as shown (``shown_name``) and its
    address (invisible characters made visible); the text as is if it holds none."""
    mailboxes = parse_addresses(value) if value else []
    if not mailboxes:
        return "", visible_text(value, "\ufffd")
    return shown_name(mailboxes[0].name), visible_text(mailboxes[0].address, "\ufffd")


def sender_text(value: str) -> str:
    """An address header as plain text for lists: names quoted and cleaned, addresses
    whole (a list elides the middle of this, so both ends stay visible)."""
    mailboxes = parse_addresses(value) if value else []
    if not mailboxes:
        return visible_text(value, "\ufffd")
    shown = []
    for m in mailboxes:
        name, address = shown_name(m.name), visible_text(m.address, "\ufffd")
        shown.append(f"“{name}” <{address}>" if name else address)
    return ", ".join(shown)


# ---- where a link goes ----------------------------------------------------------------

# Scripts written together in one language are not "mixed" (Japanese: kanji and kana).
_SCRIPT_GROUPS = {"HIRAGANA": "CJK", "KATAKANA": "CJK", "HANGUL": "CJK", "KATAKANA-HIRAGANA": "CJK"}


def _scripts(label: str) -> list[str]:
    found: list[str] = []
    for ch in label:
        if not ch.isalpha():
            continue
        try:
            script = unicodedata.name(ch).split()[0]
        except ValueError:
            script = "UNKNOWN"
        script = _SCRIPT_GROUPS.get(script, script)
        if script not in found:
            found.append(script)
    return found


def _unicode_label(label: str) -> str:
    if label.lower().startswith("xn--"):
        try:
            return label[4:].encode("ascii").decode("punycode")
        except (UnicodeError, ValueError):
            return label
    return label


def link_host_note(url: QUrl) -> str:
    """What to say about where ``url`` goes: for an internationalised host name, its
    ASCII form beside the Unicode one, and a warning when a label mixes scripts (a
    Cyrillic "а" in "pаypal.com"). Empty for a plain ASCII host."""
    if url.scheme() == "mailto":
        host = url.path().rpartition("@")[2]
        ascii_host = bytes(QUrl.toAce(host).data()).decode("ascii", "replace") if host else ""
    else:
        ascii_host = url.host(QUrl.ComponentFormattingOption.FullyEncoded)
    labels = ascii_host.split(".")
    if not any(label.lower().startswith("xn--") for label in labels):
        return ""
    unicode_host = ".".join(_unicode_label(label) for label in labels)
    note = f"Site: {unicode_host} ({ascii_host})"
    mixed = [s for s in (_scripts(_unicode_label(label)) for label in labels) if len(s) > 1]
    if mixed:
        scripts = sorted(mixed[0], key=lambda script: (script != "LATIN", script))
        names = " and ".join(script.capitalize() for script in scripts)
        note += (
            f" — mixed scripts: {names} letters in one name. It may imitate the name of "
            "another site."
        )
    return note


# ---- header fields and replies -------------------------------------------------------


def _cells(label: str, value: str) -> str:
    if not label:
        return "<td></td><td></td>"
    return (
        f'<td style="padding-right:8px; color:#555555"><b>{label}</b></td>'
        f'<td style="padding-right:32px">{value}</td>'
    )


def _field_rows(rows: list[tuple[str, str]]) -> str:
    """Label/value pairs as a table; empty values are left out."""
    lines = "".join(f"<tr>{_cells(label, value)}</tr>" for label, value in rows if value)
    return f'<table cellspacing="0" cellpadding="1">{lines}</table>'


def two_columns(left: list[tuple[str, str]], right: list[tuple[str, str]]) -> str:
    """Two columns of label/value pairs side by side (empty values left out)."""
    a = [(label, value) for label, value in left if value]
    b = [(label, value) for label, value in right if value]
    lines = []
    for i in range(max(len(a), len(b))):
        first = a[i] if i < len(a) else ("", "")
        second = b[i] if i < len(b) else ("", "")
        lines.append(f"<tr>{_cells(*first)}{_cells(*second)}</tr>")
    return f'<table cellspacing="0" cellpadding="1">{"".join(lines)}</table>'


def replies_html(replies: list[ReplyRow], fmt: Callable[[Any], str]) -> str:
    """The replies shown below an email: each one's fields, then its text."""
    if not replies:
        return ""
    count = len(replies)
    parts = [f"<hr><h3>{count} {'reply' if count == 1 else 'replies'}</h3>"]
    for r in replies:
        when = fmt(r.sent_at or r.created_at)
        state = r.state.value.capitalize()
        error = (
            f'<span style="color:{QUARANTINE_COLOR}">{html.escape(r.last_error)}</span>'
            if r.last_error
            else ""
        )
        meta = _field_rows(
            [
                ("Reply", f"{html.escape(when)} — {state}"),
                ("By", html.escape(r.agent or "")),
                ("To", addresses_html(r.to_addrs)),
                ("Cc", addresses_html(r.cc_addrs)),
                ("Subject", html.escape(r.subject)),
                ("Error", error),
            ]
        )
        parts.append(
            '<table width="100%" cellpadding="6" cellspacing="0" '
            'style="background-color:#f3f6fa; margin-top:8px">'
            f'<tr><td>{meta}<div style="margin-top:6px">{to_html(r.body)}</div></td></tr>'
            "</table>"
        )
    return "".join(parts)
