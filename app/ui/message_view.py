"""The reading pane of Management ▸ Emails and My Work: one email's headers, its body
shown safely, its attachments, the replies below it, the raw source and the history.

Nothing a sender wrote may freeze the window. The headers and the lists are read at once
(a quick query); the body is decoded, sanitized (``app.mail.html``: nesting capped) and cut
into pieces off the GUI thread, then shown a piece per turn of the event loop, each one
cheap to lay out. A body larger than ``PART_CHARS`` shows its first part; the rest comes
when asked for ("Show the rest"), its tables laid flat (nested tables cost Qt more than
anything else). Inline images are decoded off the GUI thread too.

The sender is shown by address, always in full: a display name (which the sender chooses,
``ceo@bank.example`` say) is quoted, shortened if long, stripped of invisible and
direction-changing characters, and never stands for the address.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QStandardPaths, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QFont, QImage, QTextCursor
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from app import paths
from app.domain.enums import EmailStatus
from app.mail.fields import parse_addresses
from app.mail.html import cap_nesting, html_pieces, text_pieces, to_html
from app.services.auth import Permission
from app.services.emails import (
    FLAG_LABELS,
    EmailBody,
    EmailDetail,
    EmailService,
    HistoryRow,
    ReplyRow,
)
from app.services.filenames import safe_file_name
from app.services.work import WorkService
from app.ui.context import AppContext
from app.ui.messages import messages
from app.ui.models import Column, RecordTableModel
from app.ui.operations import INTERACTIVE, READS, Failure, Job, run
from app.ui.widgets import table_view

RAW_SHOWN_LIMIT = 4 * 1024 * 1024  # more than this is exported rather than shown
RAW_AT_ONCE = 128 * 1024  # a larger source is read off the GUI thread, shown in pieces
RAW_PIECE = 64 * 1024
RAW_LINE = 4000  # longer lines of the source are shown folded (each is laid out whole)
QUARANTINE_COLOR = "#b00020"
# A message this small is read at once: however it is built, sanitizing it takes a few
# milliseconds (larger ones are read off the GUI thread).
BODY_AT_ONCE = 8 * 1024
PART_CHARS = 200_000  # of a body's HTML or text: shown at once; the rest when asked for
LOADING_NOTE_MS = 300  # a body not ready by then says it is coming
NAME_SHOWN = 64  # characters of a display name; the address is always shown whole
SAVE_FOLDER_FILE = "last-save-folder"


def _size(n: int) -> str:
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


def _visible(text: str, replacement: str = "") -> str:
    return "".join(
        replacement if unicodedata.category(ch) in _HIDDEN_CATEGORIES else ch for ch in text
    )


def shown_name(name: str) -> str:
    """A display name as the pane shows it: visible characters only, one line, at most
    ``NAME_SHOWN`` characters (shortened in the middle)."""
    text = " ".join(_visible(name).split())
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
    shown = _visible(address, "\ufffd")
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
        return html.escape(_visible(value, "\ufffd"))
    return ", ".join(mailbox_html(m.name, m.address) for m in mailboxes)


def sender_parts(value: str) -> tuple[str, str]:
    """The first mailbox of an address header: its name as shown (``shown_name``) and its
    address (invisible characters made visible); the text as is if it holds none."""
    mailboxes = parse_addresses(value) if value else []
    if not mailboxes:
        return "", _visible(value, "\ufffd")
    return shown_name(mailboxes[0].name), _visible(mailboxes[0].address, "\ufffd")


def sender_text(value: str) -> str:
    """An address header as plain text for lists: names quoted and cleaned, addresses
    whole (a list elides the middle of this, so both ends stay visible)."""
    mailboxes = parse_addresses(value) if value else []
    if not mailboxes:
        return _visible(value, "\ufffd")
    shown = []
    for m in mailboxes:
        name, address = shown_name(m.name), _visible(m.address, "\ufffd")
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


# ---- the raw source ------------------------------------------------------------------


@dataclass(frozen=True)
class RawSource:
    """The message's source to show: pieces of whole lines (joined by line breaks)."""

    pieces: list[str]
    size: int  # bytes received
    shown: int  # bytes shown
    folded: bool  # some line was longer than RAW_LINE


def raw_source(raw: bytes) -> RawSource:
    """``raw`` (at most ``RAW_SHOWN_LIMIT`` of it) as text in pieces of about
    ``RAW_PIECE``, lines longer than ``RAW_LINE`` folded."""
    shown = raw[:RAW_SHOWN_LIMIT]
    text = shown.decode("utf-8", errors="backslashreplace").replace("\r\n", "\n")
    lines = text.split("\n")
    folded = any(len(line) > RAW_LINE for line in lines)
    if folded:
        lines = [
            part
            for line in lines
            for part in ([line[i : i + RAW_LINE] for i in range(0, len(line), RAW_LINE)] or [""])
        ]
    pieces: list[str] = []
    start = size = 0
    for i, line in enumerate(lines):
        size += len(line) + 1
        if size >= RAW_PIECE:
            pieces.append("\n".join(lines[start : i + 1]))
            start, size = i + 1, 0
    if start < len(lines) or not pieces:
        pieces.append("\n".join(lines[start:]))
    return RawSource(pieces, len(raw), len(shown), folded)


# ---- the body, prepared off the GUI thread ------------------------------------------------

_DATA_SRC = re.compile(r'src="(data:image/[a-z]+;base64,[A-Za-z0-9+/=]*)"')
# Inline images are decoded beforehand and named by this scheme in what is shown: a
# data: URL of megabytes cost Qt's HTML reader as much as megabytes of text.
INLINE_IMAGE = "inline-image"
MAX_IMAGE_SIDE = 2048  # larger images are shown scaled down (decoded, they fill memory)
CUT_NOTE_STYLE = "color:#666666; margin-top:8px"
_FIRST_PART_ENDS = "<!-- the first part ends here -->"  # among the pieces, by identity


@dataclass
class Rendering:
    """A body cut into pieces to show: ``first`` at once, ``rest`` when asked for."""

    first: list[str]
    rest: list[str] = field(default_factory=list)
    rest_size: int = 0  # characters of the body not in ``first``
    images: dict[str, QImage] = field(default_factory=dict)  # by INLINE_IMAGE name
    attachments: list[Any] = field(default_factory=list)
    body: EmailBody | None = None


@dataclass(frozen=True)
class EmailRead:
    """What showing an email needs, read off the GUI thread."""

    detail: EmailDetail
    rendering: Rendering | None  # a small body, prepared
    campaigns: list[tuple[int, str]] | None  # to release a quarantined email into
    agents: list[tuple[int, str]] | None  # to re-open an actioned email to


def _inline_images(html: str) -> tuple[str, dict[str, QImage]]:
    """``html`` with its data: image URLs replaced by ``INLINE_IMAGE`` names, and the
    images decoded (made ready to paint, the largest scaled down)."""
    names: dict[str, str] = {}
    images: dict[str, QImage] = {}

    def named(match: re.Match[str]) -> str:
        url = match.group(1)
        name = names.get(url)
        if name is None:
            name = names[url] = f"{INLINE_IMAGE}:{len(names)}"
            image = _data_url_image(url)
            if image is not None:
                if max(image.width(), image.height()) > MAX_IMAGE_SIDE:
                    image = image.scaled(
                        MAX_IMAGE_SIDE,
                        MAX_IMAGE_SIDE,
                        Qt.AspectRatioMode.KeepAspectRatio,
                        Qt.TransformationMode.SmoothTransformation,
                    )
                images[name] = image.convertToFormat(QImage.Format.Format_ARGB32_Premultiplied)
        return f'src="{name}"'

    return _DATA_SRC.sub(named, html), images


def prepare(body: EmailBody, part_chars: int = PART_CHARS) -> Rendering:
    """The pieces of ``body`` (sanitized HTML, else its text), its images decoded. Pure
    work: runs off the GUI thread."""
    images: dict[str, QImage] = {}
    if body.safe_html is not None:
        shown, images = _inline_images(body.safe_html)
        pieces = html_pieces(shown)
    elif body.text_body:
        pieces = text_pieces(body.text_body)
    else:
        pieces = ['<p style="color:#666666"><i>This email has no text.</i></p>']
    first: list[str] = []
    size = 0
    for piece in pieces:
        if size >= part_chars:
            break
        first.append(piece)
        size += len(piece)
    rest = pieces[len(first) :]
    rest_size = sum(len(p) for p in rest)
    if rest and body.safe_html is not None:
        # The rest with its tables laid flat: they would cost too much here.
        rest = html_pieces(cap_nesting("".join(rest), max_table_depth=0))
    return Rendering(first, rest, rest_size, images, body.attachments, body)


def _data_url_image(url: str) -> QImage | None:
    header, _sep, payload = url.partition(",")
    if not header.startswith("data:image/") or not header.endswith(";base64"):
        return None
    image = QImage()
    image.loadFromData(QByteArray.fromBase64(payload.encode("ascii", "ignore")))
    return None if image.isNull() else image


class SafeBrowser(QTextBrowser):
    """Shows sanitized email HTML; loads nothing but the images we decoded for it (and
    data: images)."""

    link_requested = Signal(QUrl)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setOpenLinks(False)
        self.setOpenExternalLinks(False)
        self.document().setUndoRedoEnabled(False)
        self.anchorClicked.connect(self.link_requested.emit)
        self.blocked: list[str] = []  # what was asked for and refused (for tests)
        self.images: dict[str, QImage] = {}  # INLINE_IMAGE names: decoded beforehand

    def loadResource(self, type: int, name: QUrl | str) -> Any:
        url = name if isinstance(name, QUrl) else QUrl(name)
        if url.scheme() == INLINE_IMAGE:
            found = self.images.get(url.toString())
            if found is not None:
                return found
        elif url.scheme() == "data":
            return _data_url_image(url.toString())
        self.blocked.append(url.toString())
        return None


# ---- header tables ---------------------------------------------------------------------


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


def _two_columns(left: list[tuple[str, str]], right: list[tuple[str, str]]) -> str:
    """Two columns of label/value pairs side by side (empty values left out)."""
    a = [(label, value) for label, value in left if value]
    b = [(label, value) for label, value in right if value]
    lines = []
    for i in range(max(len(a), len(b))):
        first = a[i] if i < len(a) else ("", "")
        second = b[i] if i < len(b) else ("", "")
        lines.append(f"<tr>{_cells(*first)}{_cells(*second)}</tr>")
    return f'<table cellspacing="0" cellpadding="1">{"".join(lines)}</table>'


def _replies_html(replies: list[ReplyRow], fmt: Callable[[Any], str]) -> str:
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


# ---- the last folder saved to -----------------------------------------------------------


def last_save_folder() -> Path:
    """Where the last attachment or message was saved (this workstation), else the
    Downloads folder, else home."""
    try:
        saved = Path((paths.config_dir() / SAVE_FOLDER_FILE).read_text("utf-8").strip())
        if saved.is_dir():
            return saved
    except (OSError, ValueError):
        pass
    downloads = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DownloadLocation)
    if downloads and Path(downloads).is_dir():
        return Path(downloads)
    return Path.home()


def remember_save_folder(folder: Path) -> None:
    try:
        paths.config_dir().mkdir(parents=True, exist_ok=True)
        (paths.config_dir() / SAVE_FOLDER_FILE).write_text(str(folder), "utf-8")
    except (OSError, ValueError):
        pass  # a convenience only


# ---- the detail pane -----------------------------------------------------------------


class EmailDetailPane(QWidget):
    """One email: its headers, then tabs with the conversation, raw source and history."""

    released = Signal(int)
    reopened = Signal(int)
    shown = Signal(int)  # the email asked for is shown (or why it is not)
    saved = Signal(str)  # an attachment or the source was written there

    def __init__(self, ctx: AppContext, service: EmailService, parent: QWidget | None) -> None:
        super().__init__(parent)
        self.ctx, self.service = ctx, service
        self.detail: EmailDetail | None = None
        self._asked: int | None = None  # the email asked for last
        self._reading = False  # ``_asked`` is being read
        self._raw_loaded_for: int | None = None
        self._raw_loading: Job[RawSource] | None = None
        self._raw_pending: deque[str] = deque()
        self._shown = 0  # which showing the body on its way belongs to
        self._loading: Job[Rendering] | None = None
        self._pending: deque[str] = deque()  # pieces still to append
        self._tail: list[str] = []  # the replies, after the body's first part
        self._rest: list[str] = []
        self._cut: int | None = None  # where the first part ends in the document

        self.header = QLabel(self)
        self.header.setTextFormat(Qt.TextFormat.RichText)
        self.header.setWordWrap(True)
        self.header.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
            | Qt.TextInteractionFlag.TextSelectableByKeyboard
        )
        self.header.setAccessibleName("Email headers")

        # Quarantined emails can be released into a campaign's queue.
        self.release_row = QWidget(self)
        release_layout = QHBoxLayout(self.release_row)
        release_layout.setContentsMargins(0, 0, 0, 0)
        self.release_combo = QComboBox(self.release_row)
        release_label = QLabel("Release to campai&gn:", self.release_row)
        release_label.setBuddy(self.release_combo)
        self.release_button = QPushButton("Release &quarantined email", self.release_row)
        self.release_button.clicked.connect(self.release)
        release_layout.addWidget(release_label)
        release_layout.addWidget(self.release_combo, 1)
        release_layout.addWidget(self.release_button)

        # Supervisors re-open an actioned email: to its queue or straight to an agent.
        self.reopen_row = QWidget(self)
        reopen_layout = QHBoxLayout(self.reopen_row)
        reopen_layout.setContentsMargins(0, 0, 0, 0)
        self.reopen_combo = QComboBox(self.reopen_row)
        reopen_label = QLabel("Re-open, &back to:", self.reopen_row)
        reopen_label.setBuddy(self.reopen_combo)
        self.reopen_button = QPushButton("Re-open", self.reopen_row)
        self.reopen_button.setToolTip("Put the actioned email back to work")
        self.reopen_button.clicked.connect(self.reopen)
        reopen_layout.addWidget(reopen_label)
        reopen_layout.addWidget(self.reopen_combo, 1)
        reopen_layout.addWidget(self.reopen_button)

        self.tabs = QTabWidget(self)
        # Conversation: the body, its attachments, the replies below it.
        conversation = QWidget(self.tabs)
        self.browser = SafeBrowser(conversation)
        self.browser.setAccessibleName("Email and replies")
        self.browser.link_requested.connect(self.open_link)
        self.rest_row = QWidget(conversation)
        rest_layout = QHBoxLayout(self.rest_row)
        rest_layout.setContentsMargins(0, 0, 0, 0)
        self.rest_note = QLabel(self.rest_row)
        self.rest_note.setStyleSheet("color: #666666;")
        self.rest_button = QPushButton(self.rest_row)
        self.rest_button.setToolTip("Show the rest of this long email, its tables laid flat")
        self.rest_button.clicked.connect(self.show_rest)
        rest_layout.addWidget(self.rest_note, 1)
        rest_layout.addWidget(self.rest_button)
        self.rest_row.hide()
        self.attachments_label = QLabel("Attache&d files:", conversation)
        self.attachments = QListWidget(conversation)
        self.attachments.setAccessibleName("Attached files")
        self.attachments.setFlow(QListWidget.Flow.LeftToRight)
        self.attachments.setWrapping(True)
        self.attachments.setMaximumHeight(self.fontMetrics().height() * 2 + 12)
        self.attachments_label.setBuddy(self.attachments)
        self.save_button = QPushButton("Sa&ve as…", conversation)
        self.save_button.setToolTip("Save the selected attachment to a file")
        self.save_button.clicked.connect(self.save_attachment)
        self.attachments.itemActivated.connect(lambda _item: self.save_attachment())
        self.attachments.currentItemChanged.connect(self._update_buttons)
        files = QHBoxLayout()
        files.addWidget(self.attachments_label, 0, Qt.AlignmentFlag.AlignTop)
        files.addWidget(self.attachments, 1)
        files.addWidget(self.save_button, 0, Qt.AlignmentFlag.AlignTop)
        self.files_row = QWidget(conversation)
        self.files_row.setLayout(files)
        files.setContentsMargins(0, 0, 0, 0)
        conversation_layout = QVBoxLayout(conversation)
        conversation_layout.addWidget(self.browser, 1)
        conversation_layout.addWidget(self.rest_row)
        conversation_layout.addWidget(self.files_row)
        self.tabs.addTab(conversation, "C&onversation")

        raw_page = QWidget(self.tabs)
        self.raw_text = QPlainTextEdit(raw_page)
        self.raw_text.setReadOnly(True)
        self.raw_text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.raw_text.setFont(QFont("monospace"))
        self.raw_text.setAccessibleName("Raw source")
        self.raw_note = QLabel(raw_page)
        self.export_button = QPushButton("E&xport .eml…", raw_page)
        self.export_button.setToolTip("Save the message exactly as received")
        self.export_button.clicked.connect(self.export_raw)
        raw_bar = QHBoxLayout()
        raw_bar.addWidget(self.raw_note, 1)
        raw_bar.addWidget(self.export_button)
        raw_layout = QVBoxLayout(raw_page)
        raw_layout.addWidget(self.raw_text, 1)
        raw_layout.addLayout(raw_bar)
        self.tabs.addTab(raw_page, "Raw so&urce")

        self.history_model: RecordTableModel[HistoryRow] = RecordTableModel(
            [
                Column("When", lambda h: ctx.format_datetime(h.at)),
                Column("Who", lambda h: h.user or "System"),
                Column("Action", lambda h: h.action.replace("_", " ").capitalize()),
                Column("Detail", lambda h: h.detail),
            ],
            self,
        )
        self.history_view = table_view(self.tabs, "History")
        self.history_view.setSortingEnabled(False)
        self.history_view.setModel(self.history_model)
        self.tabs.addTab(self.history_view, "Histor&y")
        self.tabs.currentChanged.connect(self._tab_changed)

        self.placeholder = QLabel("Select an email to see it here.", self)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setStyleSheet("color: #666666;")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.placeholder)
        layout.addWidget(self.header)
        layout.addWidget(self.release_row)
        layout.addWidget(self.reopen_row)
        layout.addWidget(self.tabs, 1)

        # One piece of the body per turn of the event loop.
        self._append_timer = QTimer(self)
        self._append_timer.setSingleShot(True)
        self._append_timer.setInterval(0)
        self._append_timer.timeout.connect(self._append_next)
        self._loading_note = QTimer(self)
        self._loading_note.setSingleShot(True)
        self._loading_note.setInterval(LOADING_NOTE_MS)
        self._loading_note.timeout.connect(self._say_loading)
        self._raw_timer = QTimer(self)
        self._raw_timer.setSingleShot(True)
        self._raw_timer.setInterval(0)
        self._raw_timer.timeout.connect(self._append_raw)
        self.clear()

    # ---- showing ----------------------------------------------------------------
    def busy(self) -> bool:
        """Is the body still being read or shown?"""
        return self._reading or self._loading is not None or bool(self._pending)

    def clear(self, text: str = "Select an email to see it here.") -> None:
        self._stop_body()
        self.detail = None
        self._raw_loaded_for = None
        self.placeholder.setText(text)
        self.placeholder.show()
        self.header.hide()
        self.release_row.hide()
        self.reopen_row.hide()
        self.tabs.hide()

    def _stop_body(self) -> None:
        self._raw_loading = None
        self._raw_pending.clear()
        self._raw_timer.stop()
        self._shown += 1
        self._loading = None
        self._pending.clear()
        self._append_timer.stop()
        self._loading_note.stop()
        self._tail, self._rest, self._cut = [], [], None
        self.rest_row.hide()

    def show_email(self, email_id: int) -> None:
        """Read the email off the GUI thread (its headers; a small body with them, prepared
        for showing), then show it. A later call wins over one still on its way."""
        self.expect(email_id)
        read = self.reader()
        run(
            self,
            lambda: read(email_id),
            self._read,
            lambda f: self._read_failed(email_id, f),
            coalesce="show",
        )

    def expect(self, email_id: int) -> None:
        """``email_id`` is being read to be shown (by ``reader``, here or by another)."""
        self._asked, self._reading = email_id, True

    def reader(self) -> Callable[[int], EmailRead]:
        """What showing an email reads (to run off the GUI thread, alone or with more)."""
        service, complete = self.service, self.completer()
        return lambda email_id: complete(service.detail(email_id, body_limit=BODY_AT_ONCE))

    def completer(self) -> Callable[[EmailDetail], EmailRead]:
        """What showing an email read with its body (if small) needs besides (to run off
        the GUI thread): the body prepared, the choices of its actions if not read yet."""
        ctx = self.ctx
        service = self.service
        need_campaigns = self.release_combo.count() == 0
        need_agents = self.reopen_combo.count() == 0 and ctx.can(Permission.CONFIGURE_CAMPAIGNS)

        def complete(d: EmailDetail) -> EmailRead:
            rendering = prepare(d.body()) if d.body_loaded else None
            campaigns = (
                service.filter_options().campaigns
                if need_campaigns and d.status == EmailStatus.QUARANTINED
                else None
            )
            agents = (
                WorkService(ctx.db, ctx.actor).agents()
                if need_agents and d.status == EmailStatus.ACTIONED
                else None
            )
            return EmailRead(d, rendering, campaigns, agents)

        return complete

    def show_read(self, read: EmailRead) -> None:
        self._read(read)

    def show_unreadable(self, email_id: int, failure: Failure) -> None:
        self._read_failed(email_id, failure)

    def _read(self, read: EmailRead) -> None:
        if read.detail.id != self._asked:
            return  # another email was asked for meanwhile
        self._reading = False
        if read.campaigns is not None and self.release_combo.count() == 0:
            for campaign_id, title in read.campaigns:
                self.release_combo.addItem(title, campaign_id)
        if read.agents is not None and self.reopen_combo.count() == 0:
            self.reopen_combo.addItem("the queue of its campaign", None)
            for agent_id, name in read.agents:
                self.reopen_combo.addItem(name, agent_id)
        self.show_detail(read.detail, read.rendering)
        self.shown.emit(read.detail.id)

    def _read_failed(self, email_id: int, failure: Failure) -> None:
        if email_id != self._asked:
            return
        self._reading = False
        if failure.kind == "refused":
            self.clear(failure.message)
        else:
            self.clear(f"The email could not be read: {failure.message}")
        self.shown.emit(email_id)

    def show_detail(self, d: EmailDetail, rendering: Rendering | None = None) -> None:
        """Show ``d``: its headers at once, its body (read now unless ``d`` has it) a
        piece at a time. The email shown already, with the same replies (read again after
        a change somewhere), keeps its body as shown: the rest the user asked for, where
        they scrolled to."""
        previous = self.detail
        keep_body = (
            previous is not None
            and previous.id == d.id
            and previous.replies == d.replies
            and not d.body_loaded
            and (previous.body_loaded or self._loading is not None)
        )
        if keep_body:
            assert previous is not None
            d.text_body, d.html_body = previous.text_body, previous.html_body
            d.safe_html, d.body_loaded = previous.safe_html, previous.body_loaded
            d.attachments = d.attachments or previous.attachments
        else:
            self._stop_body()
            self._raw_loaded_for = None
        self.detail = d
        fmt = self.ctx.format_datetime
        esc = html.escape
        status = d.status.value.capitalize()
        if d.agent:
            status += f" — {esc(d.agent)}"
        flags = ", ".join(
            FLAG_LABELS[f] for f in d.flags if f != "quarantined"
        )  # the status says that one
        reply_to = d.reply_to if d.reply_to and d.reply_to not in d.from_addr else ""
        left = [
            ("From", addresses_html(d.from_addr) or "<i>(none)</i>"),
            ("Reply-To", addresses_html(reply_to)),
            ("To", addresses_html(d.to_addrs)),
            ("Cc", addresses_html(d.cc_addrs)),
            ("Channel", esc(d.channel or "")),
        ]
        right = [
            ("Received", esc(fmt(d.received_at))),
            ("Campaign", esc(d.campaign or "None")),
            ("Status", status),
            ("Flags", esc(flags)),
            ("Size", _size(d.size)),
        ]
        table = _two_columns(left, right)
        if d.quarantine_reason:
            table += (
                f'<p style="margin-top:4px; color:{QUARANTINE_COLOR}"><b>Quarantined:</b> '
                f"{esc(d.quarantine_reason)}</p>"
            )
        subject = esc(_visible(d.subject)) if d.subject else "<i>(no subject)</i>"
        self.header.setText(
            f'<div style="font-size:large; font-weight:bold">{subject}</div>{table}'
        )
        self._show_attachments(d.attachments)
        self.history_model.set_rows(d.history)
        if not keep_body:
            self.raw_text.clear()
            self.raw_note.clear()
        self.placeholder.hide()
        self.header.show()
        self.release_row.setVisible(d.status == EmailStatus.QUARANTINED)
        can_reopen = d.status == EmailStatus.ACTIONED and self.ctx.can(
            Permission.CONFIGURE_CAMPAIGNS
        )
        self.reopen_row.setVisible(can_reopen)
        self.tabs.show()
        self._update_buttons()
        if self.tabs.currentIndex() == 1:
            self._load_raw()
        if not keep_body:
            self._show_body(d, rendering)

    def _show_attachments(self, attachments: list[Any]) -> None:
        chosen = self.attachments.currentItem()
        chosen_id = chosen.data(Qt.ItemDataRole.UserRole) if chosen is not None else None
        self.attachments.clear()
        for a in attachments:
            inline = " — inline" if a.content_id else ""
            name = _visible(a.display_name, "\ufffd")
            if len(name) > 120:
                name = f"{name[:80]}…{name[-30:]}"
            item = QListWidgetItem(f"{name} ({_size(a.size)}{inline})")
            item.setData(Qt.ItemDataRole.UserRole, a.id)
            item.setToolTip(a.content_type)
            self.attachments.addItem(item)
            if a.id == chosen_id:
                self.attachments.setCurrentItem(item)
        self.files_row.setVisible(bool(attachments))
        if attachments and self.attachments.currentItem() is None:
            self.attachments.setCurrentRow(0)

    # ---- the body, a piece at a time ---------------------------------------------
    def _show_body(self, d: EmailDetail, prepared: Rendering | None = None) -> None:
        self.browser.images = {}
        self.browser.clear()
        replies = _replies_html(d.replies, self.ctx.format_datetime)
        self._tail = [p for p in html_pieces(replies) if p] if replies else []
        shown = self._shown
        if d.body_loaded:
            body = EmailBody(d.text_body, d.html_body, d.safe_html, d.attachments)
            self._body_ready(shown, prepare(body))
            return
        if prepared is not None:
            self._body_ready(shown, prepared)
            return
        email_id = d.id
        service = self.service

        def work() -> Rendering:
            return prepare(service.body(email_id))

        self._loading = run(
            self,
            work,
            lambda rendering: self._body_ready(shown, rendering),
            lambda failure: self._body_failed(shown, failure),
            lane=READS if d.size > BODY_AT_ONCE else INTERACTIVE,
        )
        self._loading_note.start()

    def _say_loading(self) -> None:
        if self._loading is not None:
            self.browser.setHtml('<p style="color:#666666"><i>Reading the email…</i></p>')

    def _body_failed(self, shown: int, failure: Failure) -> None:
        if shown != self._shown:
            return
        self._loading = None
        self._loading_note.stop()
        reason = failure.message
        self.browser.setHtml(
            f'<p style="color:{QUARANTINE_COLOR}">The email could not be read: '
            f"{html.escape(reason)}</p>"
        )

    def _body_ready(self, shown: int, rendering: Rendering) -> None:
        if shown != self._shown:  # another email (or this one again) was asked for
            return
        self._loading = None
        self._loading_note.stop()
        if rendering.body is not None and rendering.body.attachments and self.detail:
            self.detail.attachments = rendering.body.attachments
            self._show_attachments(rendering.body.attachments)
        if self.detail is not None and rendering.body is not None:
            self.detail.text_body = rendering.body.text_body
            self.detail.html_body = rendering.body.html_body
            self.detail.safe_html = rendering.body.safe_html
            self.detail.body_loaded = True
        self.browser.images = rendering.images
        self._rest = rendering.rest
        first, *more = rendering.first
        self.browser.setHtml(first)
        self._pending.extend(more)
        self._pending.append(_FIRST_PART_ENDS)
        if rendering.rest:
            self._pending.append(
                f'<p style="{CUT_NOTE_STYLE}"><i>[{_size(rendering.rest_size)} more of this '
                "email: Show the rest, under the email.]</i></p>"
            )
            self.rest_note.setText("This email is long: its first part is shown.")
            self.rest_button.setText(f"Show the rest ({_size(rendering.rest_size)})")
        self._pending.extend(self._tail)
        self._append_timer.start()

    def _append_next(self) -> None:
        if not self._pending:
            return
        piece = self._pending.popleft()
        document = self.browser.document()
        if piece is _FIRST_PART_ENDS:
            self._cut = document.characterCount() - 1
            self.rest_row.setVisible(bool(self._rest))
        elif piece:
            self._append(piece)
        if self._pending:
            self._append_timer.start()

    def _append(self, piece: str) -> None:
        """``piece`` at the end of the document, in blocks of its own (a lone U+200B
        takes the place of the last block's, which the insertion would merge)."""
        document = self.browser.document()
        cursor = QTextCursor(document)
        cursor.movePosition(QTextCursor.MoveOperation.End)
        at = cursor.position()
        cursor.insertHtml(f'<p style="margin:0">\u200b</p>{piece}')
        if document.characterAt(at) == "\u200b":
            cursor.setPosition(at)
            cursor.setPosition(at + 1, QTextCursor.MoveMode.KeepAnchor)
            cursor.removeSelectedText()

    def show_rest(self) -> None:
        """The rest of a long body, a piece at a time, where the first part ends."""
        if not self._rest or self._cut is None:
            return
        cursor = QTextCursor(self.browser.document())
        cursor.setPosition(self._cut)
        cursor.movePosition(QTextCursor.MoveOperation.End, QTextCursor.MoveMode.KeepAnchor)
        cursor.removeSelectedText()  # the note and the replies: they come after the rest
        self._pending.clear()
        self._pending.extend(self._rest)
        self._pending.extend(self._tail)
        self._rest = []
        self.rest_row.hide()
        self.browser.setFocus(Qt.FocusReason.OtherFocusReason)
        self._append_timer.start()

    # ---- raw source --------------------------------------------------------------------
    def _tab_changed(self, index: int) -> None:
        if index == 1:
            self._load_raw()

    def _load_raw(self) -> None:
        """The source, as received: read at once when small, else off the GUI thread and
        shown a piece per turn of the event loop."""
        if self.detail is None or self._raw_loaded_for == self.detail.id:
            return
        email_id, service = self.detail.id, self.service
        self._raw_loaded_for = email_id
        self._raw_pending.clear()
        self.raw_note.setText("Reading the source…")
        self._raw_loading = run(
            self,
            lambda: raw_source(service.raw(email_id)),
            lambda source: self._raw_ready(email_id, source),
            lambda failure: self._raw_failed(email_id, failure),
            lane=READS if self.detail.size > RAW_AT_ONCE else INTERACTIVE,
        )

    def raw_busy(self) -> bool:
        return self._raw_loading is not None or bool(self._raw_pending)

    def _raw_failed(self, email_id: int, failure: Failure) -> None:
        if self._raw_loaded_for == email_id:
            self._raw_loading = None
            self.raw_note.setText(failure.message)

    def _raw_ready(self, email_id: int, source: RawSource) -> None:
        if self._raw_loaded_for != email_id:
            return
        self._raw_loading = None
        first, *more = source.pieces
        self.raw_text.setPlainText(first)
        self._raw_pending.extend(more)
        note = (
            f"{_size(source.size)} as received."
            if source.shown == source.size
            else f"The first {_size(source.shown)} of {_size(source.size)}; export to see it all."
        )
        if source.folded:
            note += f" Lines longer than {RAW_LINE:,} characters are shown folded."
        self.raw_note.setText(note)
        if self._raw_pending:
            self._raw_timer.start()

    def _append_raw(self) -> None:
        if not self._raw_pending:
            return
        cursor = QTextCursor(self.raw_text.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        cursor.insertText("\n" + self._raw_pending.popleft())
        if self._raw_pending:
            self._raw_timer.start()

    def _update_buttons(self, *_args: object) -> None:
        self.save_button.setEnabled(self.attachments.currentItem() is not None)

    # ---- actions ------------------------------------------------------------------
    def release(self) -> None:
        """Release the shown quarantined email into the chosen campaign's queue."""
        if self.detail is None or self.release_combo.currentData() is None:
            return
        email_id, campaign_id, service = (
            self.detail.id,
            self.release_combo.currentData(),
            self.service,
        )
        self._act(
            "Release", lambda: service.release(email_id, campaign_id), email_id, self.released
        )

    def reopen(self) -> None:
        """Re-open the shown actioned email to its queue or to the chosen agent."""
        if self.detail is None:
            return
        email_id, agent_id = self.detail.id, self.reopen_combo.currentData()
        work = WorkService(self.ctx.db, self.ctx.actor)
        self._act("Re-open", lambda: work.reopen(email_id, agent_id), email_id, self.reopened)

    def _act(self, title: str, action: Callable[[], object], email_id: int, then: Any) -> None:
        """Run ``action`` off the GUI thread; then say ``then(email_id)`` and show the email
        again, or show why not."""

        def done(_result: object) -> None:
            then.emit(email_id)
            self.show_email(email_id)

        run(self, action, done, lambda f: messages.error(self, title, f.message))

    def choose_save_path(self, title: str, suggested: str) -> str | None:
        """Ask where to save; tests replace this to bypass the dialog."""
        path, _filter = QFileDialog.getSaveFileName(self, title, suggested)
        return path or None

    def _write(self, title: str, suggested: str, data: Callable[[], bytes]) -> None:
        """Ask where, read the data off the GUI thread, then write it; ``saved`` says where."""
        target = self.choose_save_path(title, str(last_save_folder() / suggested))
        if not target:
            return

        def write(content: bytes) -> None:
            try:
                Path(target).write_bytes(content)
            except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
                reason = getattr(exc, "strerror", None) or str(exc)
                messages.error(self, title, f"{target!r} could not be written: {reason}")
                return
            remember_save_folder(Path(target).parent)
            self.saved.emit(str(target))

        run(self, data, write, lambda f: messages.error(self, title, f.message), lane=READS)

    def save_attachment(self) -> None:
        item = self.attachments.currentItem()
        if self.detail is None or item is None:
            return
        email_id, attachment_id = self.detail.id, int(item.data(Qt.ItemDataRole.UserRole))
        attachment = next(a for a in self.detail.attachments if a.id == attachment_id)
        # The name comes from the sender: never let it choose a folder, a hidden file or
        # a device.
        suggested = safe_file_name(attachment.filename, f"attachment-{attachment_id}")
        service = self.service
        self._write(
            "Save Attachment",
            suggested,
            lambda: service.attachment(email_id, attachment_id)[2],
        )

    def export_raw(self) -> None:
        if self.detail is None:
            return
        email_id, service = self.detail.id, self.service
        self._write("Export Message", f"email-{email_id}.eml", lambda: service.raw(email_id))

    def open_link(self, url: QUrl) -> None:
        if url.scheme() not in ("http", "https", "mailto"):
            return
        text = f"Open this link from a customer's email?\n\n{url.toString()}"
        note = link_host_note(url)
        if note:
            text += f"\n\n{note}"
        if messages.confirm(self, "Open Link", text, ok="Open"):
            QDesktopServices.openUrl(url)
