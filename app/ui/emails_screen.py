"""Management ▸ Emails: every email record, searched and sorted in SQL, read safely.

The list is a lazy model: it keeps the total count of the current query and asks the
service for pages of rows as the view paints them, so that 100,000 emails cost no more
to show than 200. The detail pane shows the incoming email first (sanitized HTML in a
browser that never loads anything remote), its attachments, the replies below it in
time order, the raw source and the history.
"""

from __future__ import annotations

import html
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from PySide6.QtCore import (
    QAbstractTableModel,
    QByteArray,
    QDate,
    QItemSelection,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    QTimer,
    QUrl,
    Signal,
)
from PySide6.QtGui import (
    QColor,
    QDesktopServices,
    QFont,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDateEdit,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.exc import SQLAlchemyError

from app.db.models import EmailStatus
from app.mail.html import to_html
from app.services.auth import Permission
from app.services.emails import (
    FLAG_LABELS,
    EmailDetail,
    EmailQuery,
    EmailRow,
    EmailService,
    HistoryRow,
    SortKey,
)
from app.services.errors import ServiceError
from app.services.work import WorkService
from app.ui.changes import ChangeWatcher
from app.ui.context import AppContext
from app.ui.messages import messages
from app.ui.models import ROW_ROLE, Column, RecordTableModel
from app.ui.widgets import table_view

Index = QModelIndex | QPersistentModelIndex
EMAIL_ID_ROLE = Qt.ItemDataRole.UserRole + 10
PAGE_SIZE = 200
SEARCH_DELAY_MS = 300
RAW_SHOWN_LIMIT = 4 * 1024 * 1024  # more than this is exported rather than shown
QUARANTINE_COLOR = "#b00020"


def _plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n / (1024 * 1024):.1f} MB"


# ---- the lazy list model ------------------------------------------------------------


class EmailTableModel(QAbstractTableModel):
    """The rows of one ``EmailQuery``, fetched a page at a time when the view shows them.

    Only the total count and a few recently used pages are held; sorting re-queries.
    """

    load_failed = Signal(str)
    COLUMNS: tuple[tuple[str, SortKey], ...] = (
        ("Received", SortKey.RECEIVED),
        ("From", SortKey.FROM),
        ("Subject", SortKey.SUBJECT),
        ("Campaign", SortKey.CAMPAIGN),
        ("Status", SortKey.STATUS),
        ("Agent", SortKey.AGENT),
        ("Channel", SortKey.CHANNEL),
        ("Flags", SortKey.FLAGS),
    )

    def __init__(
        self,
        count: Callable[[EmailQuery], int],
        page: Callable[[EmailQuery, int, int], list[EmailRow]],
        format_time: Callable[[datetime], str],
        parent: Any = None,
        *,
        page_size: int = PAGE_SIZE,
        max_pages: int = 8,
    ) -> None:
        super().__init__(parent)
        self._count, self._page, self._format_time = count, page, format_time
        self.page_size, self.max_pages = page_size, max_pages
        self._query = EmailQuery()
        self._total = 0
        self._pages: OrderedDict[int, list[EmailRow]] = OrderedDict()
        self.rows_fetched = 0  # rows read from the database since the last query (for tests)

    # ---- query ----------------------------------------------------------------
    @property
    def query(self) -> EmailQuery:
        return self._query

    @property
    def total(self) -> int:
        return self._total

    @property
    def rows_held(self) -> int:
        return sum(len(p) for p in self._pages.values())

    def set_query(self, query: EmailQuery) -> None:
        self.beginResetModel()
        self._query = query
        self._pages.clear()
        self.rows_fetched = 0
        try:
            self._total = self._count(query)
        except (ServiceError, SQLAlchemyError) as exc:
            self._total = 0
            self.load_failed.emit(str(exc))
        self.endResetModel()

    def refresh(self) -> None:
        self.set_query(self._query)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(self.COLUMNS):
            return
        key = self.COLUMNS[column][1]
        descending = order == Qt.SortOrder.DescendingOrder
        if (key, descending) != (self._query.sort, self._query.descending):
            self.set_query(replace(self._query, sort=key, descending=descending))

    def sort_column(self) -> int:
        return next(i for i, (_t, key) in enumerate(self.COLUMNS) if key == self._query.sort)

    # ---- rows -----------------------------------------------------------------
    def row_at(self, row: int) -> EmailRow | None:
        if not 0 <= row < self._total:
            return None
        number, offset = divmod(row, self.page_size)
        page = self._pages.get(number)
        if page is None:
            page = self._fetch(number)
        else:
            self._pages.move_to_end(number)
        return page[offset] if offset < len(page) else None

    def _fetch(self, number: int) -> list[EmailRow]:
        try:
            page = self._page(self._query, number * self.page_size, self.page_size)
        except (ServiceError, SQLAlchemyError) as exc:
            self.load_failed.emit(str(exc))
            page = []
        self.rows_fetched += len(page)
        self._pages[number] = page
        while len(self._pages) > self.max_pages:
            self._pages.popitem(last=False)
        return page

    def row_of(self, email_id: int) -> int | None:
        """The row of ``email_id`` among the pages held, if any."""
        for number, page in self._pages.items():
            for offset, row in enumerate(page):
                if row.id == email_id:
                    return number * self.page_size + offset
        return None

    # ---- QAbstractTableModel ----------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else self._total

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.COLUMNS)

    def _text(self, row: EmailRow, column: int) -> str:
        key = self.COLUMNS[column][1]
        if key == SortKey.RECEIVED:
            return self._format_time(row.received_at)
        if key == SortKey.FROM:
            return row.from_addr
        if key == SortKey.SUBJECT:
            return row.subject or "(no subject)"
        if key == SortKey.CAMPAIGN:
            return row.campaign or "—"
        if key == SortKey.STATUS:
            return row.status.value.capitalize()
        if key == SortKey.AGENT:
            return row.agent or ""
        if key == SortKey.CHANNEL:
            return row.channel or ""
        return row.flags_text

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.column() < len(self.COLUMNS):
            return None
        if role not in (
            Qt.ItemDataRole.DisplayRole,
            Qt.ItemDataRole.ToolTipRole,
            Qt.ItemDataRole.ForegroundRole,
            ROW_ROLE,
            EMAIL_ID_ROLE,
        ):
            return None
        row = self.row_at(index.row())
        if row is None:
            return None
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return self._text(row, index.column())
        if role == Qt.ItemDataRole.ForegroundRole:
            return QColor(QUARANTINE_COLOR) if row.status == EmailStatus.QUARANTINED else None
        if role == EMAIL_ID_ROLE:
            return row.id
        return row

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(self.COLUMNS):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self.COLUMNS[section][0]
        if role == Qt.ItemDataRole.InitialSortOrderRole:
            # The first click on Received shows the newest first; on the others, A to Z.
            newest_first = self.COLUMNS[section][1] in (SortKey.RECEIVED, SortKey.FLAGS)
            return (
                Qt.SortOrder.DescendingOrder if newest_first else Qt.SortOrder.AscendingOrder
            ).value
        return None


# ---- small widgets ---------------------------------------------------------------------


class OptionalDateEdit(QDateEdit):
    """A date with a calendar popup that can also be "Any" (its minimum date)."""

    FLOOR = QDate(2000, 1, 1)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setCalendarPopup(True)
        self.setDisplayFormat("yyyy-MM-dd")
        self.setMinimumDate(self.FLOOR)
        self.setMaximumDate(QDate(2999, 12, 31))
        self.setSpecialValueText("Any")
        self.clear_value()

    def clear_value(self) -> None:
        self.setDate(self.FLOOR)

    def value(self) -> date | None:
        current = self.date()
        if current == self.FLOOR:
            return None
        return date(current.year(), current.month(), current.day())

    def _prepare_popup(self) -> None:
        # "Any" is stored as the year 2000: open the calendar on today instead.
        if self.value() is None:
            calendar = self.calendarWidget()
            today = QDate.currentDate()
            calendar.setCurrentPage(today.year(), today.month())

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self._prepare_popup()
        super().mousePressEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_F4, Qt.Key.Key_Down):
            self._prepare_popup()
        super().keyPressEvent(event)


class SafeBrowser(QTextBrowser):
    """Shows sanitized email HTML; loads nothing but the data: images we put in it."""

    link_requested = Signal(QUrl)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setOpenLinks(False)
        self.setOpenExternalLinks(False)
        self.anchorClicked.connect(self.link_requested.emit)
        self.blocked: list[str] = []  # what was asked for and refused (for tests)

    def loadResource(self, type: int, name: QUrl | str) -> Any:
        url = name if isinstance(name, QUrl) else QUrl(name)
        if url.scheme() == "data":
            return _data_url_image(url.toString())
        self.blocked.append(url.toString())
        return None


def _data_url_image(url: str) -> QImage | None:
    header, _sep, payload = url.partition(",")
    if not header.startswith("data:image/") or not header.endswith(";base64"):
        return None
    image = QImage()
    image.loadFromData(QByteArray.fromBase64(payload.encode("ascii", "ignore")))
    return None if image.isNull() else image


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


# ---- the detail pane -----------------------------------------------------------------


class EmailDetailPane(QWidget):
    """One email: its headers, then tabs with the conversation, raw source and history."""

    released = Signal(int)
    reopened = Signal(int)

    def __init__(self, ctx: AppContext, service: EmailService, parent: QWidget | None) -> None:
        super().__init__(parent)
        self.ctx, self.service = ctx, service
        self.detail: EmailDetail | None = None
        self._raw_loaded_for: int | None = None

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
        self.clear()

    # ---- showing ----------------------------------------------------------------
    def clear(self, text: str = "Select an email to see it here.") -> None:
        self.detail = None
        self._raw_loaded_for = None
        self.placeholder.setText(text)
        self.placeholder.show()
        self.header.hide()
        self.release_row.hide()
        self.reopen_row.hide()
        self.tabs.hide()

    def show_email(self, email_id: int) -> None:
        try:
            detail = self.service.detail(email_id)
        except ServiceError as exc:
            self.clear(str(exc))
            return
        except SQLAlchemyError as exc:
            self.clear(f"The email could not be read: {exc}")
            return
        self.show_detail(detail)

    def show_detail(self, d: EmailDetail) -> None:
        self.detail = d
        self._raw_loaded_for = None
        fmt = self.ctx.format_datetime
        esc = html.escape
        status = d.status.value.capitalize()
        if d.agent:
            status += f" — {esc(d.agent)}"
        flags = ", ".join(
            FLAG_LABELS[f] for f in d.flags if f != "quarantined"
        )  # the status says that one
        left = [
            ("From", esc(d.from_addr)),
            ("Reply-To", esc(d.reply_to) if d.reply_to and d.reply_to not in d.from_addr else ""),
            ("To", esc(d.to_addrs)),
            ("Cc", esc(d.cc_addrs)),
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
        subject = esc(d.subject) if d.subject else "<i>(no subject)</i>"
        self.header.setText(
            f'<div style="font-size:large; font-weight:bold">{subject}</div>{table}'
        )
        self.browser.setHtml(self._conversation_html(d))
        self.attachments.clear()
        for a in d.attachments:
            inline = " — inline" if a.content_id else ""
            item = QListWidgetItem(f"{a.display_name} ({_size(a.size)}{inline})")
            item.setData(Qt.ItemDataRole.UserRole, a.id)
            item.setToolTip(a.content_type)
            self.attachments.addItem(item)
        self.files_row.setVisible(bool(d.attachments))
        if d.attachments:
            self.attachments.setCurrentRow(0)
        self.history_model.set_rows(d.history)
        self.raw_text.clear()
        self.raw_note.clear()
        self.placeholder.hide()
        self.header.show()
        self.release_row.setVisible(d.status == EmailStatus.QUARANTINED)
        if d.status == EmailStatus.QUARANTINED and self.release_combo.count() == 0:
            for campaign_id, title in self.service.filter_options().campaigns:
                self.release_combo.addItem(title, campaign_id)
        can_reopen = d.status == EmailStatus.ACTIONED and self.ctx.can(
            Permission.CONFIGURE_CAMPAIGNS
        )
        self.reopen_row.setVisible(can_reopen)
        if can_reopen and self.reopen_combo.count() == 0:
            self.reopen_combo.addItem("the queue of its campaign", None)
            for agent_id, name in WorkService(self.ctx.db, self.ctx.actor).agents():
                self.reopen_combo.addItem(name, agent_id)
        self.tabs.show()
        self._update_buttons()
        if self.tabs.currentIndex() == 1:
            self._load_raw()

    def _conversation_html(self, d: EmailDetail) -> str:
        if d.safe_html is not None:
            body = d.safe_html
        elif d.text_body:
            body = to_html(d.text_body)
        else:
            body = '<p style="color:#666666"><i>This email has no text.</i></p>'
        parts = [f"<div>{body}</div>"]
        if d.replies:
            count = len(d.replies)
            parts.append(f"<hr><h3>{count} {'reply' if count == 1 else 'replies'}</h3>")
        fmt = self.ctx.format_datetime
        for r in d.replies:
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
                    ("To", html.escape(r.to_addrs)),
                    ("Cc", html.escape(r.cc_addrs)),
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

    def _tab_changed(self, index: int) -> None:
        if index == 1:
            self._load_raw()

    def _load_raw(self) -> None:
        if self.detail is None or self._raw_loaded_for == self.detail.id:
            return
        try:
            raw = self.service.raw(self.detail.id)
        except ServiceError as exc:
            self.raw_note.setText(str(exc))
            return
        shown = raw[:RAW_SHOWN_LIMIT]
        self.raw_text.setPlainText(shown.decode("utf-8", errors="backslashreplace"))
        self.raw_note.setText(
            f"{_size(len(raw))} as received."
            if len(shown) == len(raw)
            else f"The first {_size(len(shown))} of {_size(len(raw))}; export to see it all."
        )
        self._raw_loaded_for = self.detail.id

    def _update_buttons(self, *_args: object) -> None:
        self.save_button.setEnabled(self.attachments.currentItem() is not None)

    # ---- actions ------------------------------------------------------------------
    def release(self) -> None:
        """Release the shown quarantined email into the chosen campaign's queue."""
        if self.detail is None or self.release_combo.currentData() is None:
            return
        try:
            self.service.release(self.detail.id, self.release_combo.currentData())
        except ServiceError as exc:
            messages.error(self, "Release", str(exc))
            return
        self.released.emit(self.detail.id)
        self.show_email(self.detail.id)

    def reopen(self) -> None:
        """Re-open the shown actioned email to its queue or to the chosen agent."""
        if self.detail is None:
            return
        try:
            WorkService(self.ctx.db, self.ctx.actor).reopen(
                self.detail.id, self.reopen_combo.currentData()
            )
        except ServiceError as exc:
            messages.error(self, "Re-open", str(exc))
            return
        self.reopened.emit(self.detail.id)
        self.show_email(self.detail.id)

    def choose_save_path(self, title: str, suggested: str) -> str | None:
        """Ask where to save; tests replace this to bypass the dialog."""
        path, _filter = QFileDialog.getSaveFileName(self, title, suggested)
        return path or None

    def _write(self, title: str, suggested: str, data: Callable[[], bytes]) -> Path | None:
        target = self.choose_save_path(title, str(Path.home() / suggested))
        if not target:
            return None
        try:
            content = data()
            Path(target).write_bytes(content)
        except ServiceError as exc:
            messages.error(self, title, str(exc))
            return None
        except OSError as exc:
            messages.error(self, title, f"{target} could not be written: {exc.strerror}")
            return None
        return Path(target)

    def save_attachment(self) -> Path | None:
        item = self.attachments.currentItem()
        if self.detail is None or item is None:
            return None
        email_id, attachment_id = self.detail.id, int(item.data(Qt.ItemDataRole.UserRole))
        attachment = next(a for a in self.detail.attachments if a.id == attachment_id)
        # The name comes from the sender: never let it choose a folder.
        suggested = (
            Path(attachment.filename.replace("\\", "/")).name or f"attachment-{attachment_id}"
        )
        return self._write(
            "Save Attachment",
            suggested,
            lambda: self.service.attachment(email_id, attachment_id)[2],
        )

    def export_raw(self) -> Path | None:
        if self.detail is None:
            return None
        email_id = self.detail.id
        return self._write(
            "Export Message", f"email-{email_id}.eml", lambda: self.service.raw(email_id)
        )

    def open_link(self, url: QUrl) -> None:
        if url.scheme() not in ("http", "https", "mailto"):
            return
        if messages.confirm(
            self,
            "Open Link",
            f"Open this link from a customer's email?\n\n{url.toString()}",
            ok="Open",
        ):
            QDesktopServices.openUrl(url)


# ---- the screen ------------------------------------------------------------------------


class EmailsScreen(QWidget):
    """Filter bar, the lazy email list, and the selected email below it."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.service = EmailService(ctx.db, ctx.actor)
        options = self.service.filter_options()

        self.from_date = OptionalDateEdit(self)
        self.to_date = OptionalDateEdit(self)
        self.campaign_combo = self._combo(options.campaigns, "Any campaign")
        self.status_combo = self._combo(
            [(s, s.value.capitalize()) for s in EmailStatus], "Any status"
        )
        self.agent_combo = self._combo(options.agents, "Any agent")
        self.channel_combo = self._combo(options.channels, "Any channel")
        self.search_edit = QLineEdit(self)
        self.search_edit.setPlaceholderText("Subject, sender, recipients or text")
        self.search_edit.setClearButtonEnabled(True)
        self.clear_button = QPushButton("Clear f&ilters", self)
        self.reload_button = QPushButton("Re&load", self)
        self.reload_button.setShortcut("F5")
        self.reload_button.setToolTip("Read the list again (F5)")

        bar = QGridLayout()
        fields: list[tuple[str, QWidget, int, int, int]] = [
            ("&From:", self.from_date, 0, 0, 1),
            ("&To:", self.to_date, 0, 2, 1),
            ("Cam&paign:", self.campaign_combo, 0, 4, 1),
            ("&Status:", self.status_combo, 0, 6, 1),
            ("A&gent:", self.agent_combo, 1, 0, 1),
            ("Cha&nnel:", self.channel_combo, 1, 2, 1),
            ("Sea&rch:", self.search_edit, 1, 4, 3),
        ]
        for text, widget, row, column, span in fields:
            label = QLabel(text, self)
            label.setBuddy(widget)
            bar.addWidget(label, row, column)
            bar.addWidget(widget, row, column + 1, 1, span)
        buttons = QHBoxLayout()
        buttons.addWidget(self.clear_button)
        buttons.addWidget(self.reload_button)
        bar.addLayout(buttons, 1, 8)
        for column in (1, 3, 5, 7):
            bar.setColumnStretch(column, 1)

        self.model = EmailTableModel(
            self.service.count, self.service.page, ctx.format_datetime, self
        )
        self.view = self._make_view()
        self.view.setModel(self.model)
        # The date column fits the organisation's date format; the others have room to read.
        sample = ctx.format_datetime(datetime(2026, 12, 28, 23, 59, tzinfo=UTC))
        date_width = self.view.fontMetrics().horizontalAdvance(sample) + 28
        for column, width in enumerate((date_width, 210, 290, 140, 95, 110, 120)):
            self.view.setColumnWidth(column, width)
        caption = QLabel("&Emails:", self)
        caption.setBuddy(self.view)
        self.count_label = QLabel(self)
        self.count_label.setAccessibleName("Number of emails")
        self.changes_note = QLabel("Emails have changed — press F5 (Reload) to see them.", self)
        self.changes_note.setStyleSheet("color: #b35c00;")
        self.changes_note.hide()
        self.watcher = ChangeWatcher(ctx, self)
        self.watcher.changed.connect(self.follow_changes)
        self.error_label = QLabel(self)
        self.error_label.setStyleSheet(f"color: {QUARANTINE_COLOR};")
        self.error_label.hide()
        list_header = QHBoxLayout()
        list_header.addWidget(caption)
        list_header.addStretch(1)
        list_header.addWidget(self.error_label)
        list_header.addWidget(self.changes_note)
        list_header.addWidget(self.count_label)

        top = QWidget(self)
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addLayout(bar)
        top_layout.addLayout(list_header)
        top_layout.addWidget(self.view, 1)
        self.detail = EmailDetailPane(ctx, self.service, self)
        self.detail.released.connect(lambda _email_id: self.model.refresh())
        self.detail.reopened.connect(lambda _email_id: self.model.refresh())
        self.splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.splitter.addWidget(top)
        self.splitter.addWidget(self.detail)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.addWidget(self.splitter)

        self.search_timer = QTimer(self)
        self.search_timer.setSingleShot(True)
        self.search_timer.setInterval(SEARCH_DELAY_MS)
        self.search_timer.timeout.connect(self.apply_filters)
        self.search_edit.textChanged.connect(lambda _text: self.search_timer.start())
        self.search_edit.returnPressed.connect(self.apply_filters)
        for combo in (
            self.campaign_combo,
            self.status_combo,
            self.agent_combo,
            self.channel_combo,
        ):
            combo.currentIndexChanged.connect(self.apply_filters)
        self.from_date.dateChanged.connect(self.apply_filters)
        self.to_date.dateChanged.connect(self.apply_filters)
        self.clear_button.clicked.connect(self.clear_filters)
        self.reload_button.clicked.connect(self.reload)
        self.model.modelReset.connect(self._after_reset)
        self.model.load_failed.connect(self._show_error)
        self.view.selectionModel().selectionChanged.connect(self._selection_changed)

        self._applying = False
        self._shown = False
        self.model.set_query(self.current_query())
        # Header clicks call model.sort(), which re-queries in SQL.
        self.view.horizontalHeader().setSortIndicator(
            self.model.sort_column(), Qt.SortOrder.DescendingOrder
        )
        self.view.setSortingEnabled(True)

    # ---- building -----------------------------------------------------------------
    def _combo(self, items: list[tuple[Any, str]], any_text: str) -> QComboBox:
        combo = QComboBox(self)
        combo.addItem(any_text, None)
        for value, text in items:
            combo.addItem(text, value)
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        combo.setMinimumContentsLength(12)
        return combo

    def _make_view(self) -> QTableView:
        view = QTableView(self)
        view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        view.setTabKeyNavigation(False)
        view.setWordWrap(False)
        view.setAlternatingRowColors(True)
        view.verticalHeader().hide()
        # Fixed row heights: the view never asks the model for rows it does not show.
        view.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        header = view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        view.setAccessibleName("Emails")
        return view

    # ---- filters ------------------------------------------------------------------
    def _day_start(self, day: date) -> datetime:
        return datetime.combine(day, time.min, tzinfo=ZoneInfo(self.ctx.timezone))

    def current_query(self) -> EmailQuery:
        start, end = self.from_date.value(), self.to_date.value()
        previous = self.model.query
        return EmailQuery(
            received_from=self._day_start(start) if start else None,
            received_to=self._day_start(end + timedelta(days=1)) if end else None,
            campaign_id=self.campaign_combo.currentData(),
            status=self.status_combo.currentData(),
            agent_id=self.agent_combo.currentData(),
            channel_id=self.channel_combo.currentData(),
            text=self.search_edit.text().strip(),
            sort=previous.sort,
            descending=previous.descending,
        )

    def apply_filters(self, *_args: object) -> None:
        if self._applying:
            return
        self.search_timer.stop()
        query = self.current_query()
        if query != self.model.query:
            self.model.set_query(query)

    def clear_filters(self) -> None:
        self._applying = True
        try:
            self.from_date.clear_value()
            self.to_date.clear_value()
            for combo in (
                self.campaign_combo,
                self.status_combo,
                self.agent_combo,
                self.channel_combo,
            ):
                combo.setCurrentIndex(0)
            self.search_edit.clear()
        finally:
            self._applying = False
        self.apply_filters()

    def reload(self) -> None:
        self.model.refresh()
        self.changes_note.hide()
        if self.detail.detail is not None:
            self.detail.show_email(self.detail.detail.id)

    def follow_changes(self) -> None:
        """Emails changed somewhere: reload at once while the top of the list is shown;
        further down (the reader is somewhere in the list), offer it instead of jumping."""
        if self.view.verticalScrollBar().value() == 0:
            self.reload()
        else:
            self.changes_note.show()

    # ---- list and selection ---------------------------------------------------------
    def _after_reset(self) -> None:
        self.count_label.setText(_plural(self.model.total, "email"))
        self.error_label.hide()
        # Keep the shown email selected if it is among the first rows of the new list.
        shown = self.detail.detail
        if shown is not None and self.model.total:
            self.model.row_at(0)  # the first page is about to be painted anyway
            row = self.model.row_of(shown.id)
            if row is not None:
                self.view.selectionModel().blockSignals(True)
                self.view.selectRow(row)
                self.view.selectionModel().blockSignals(False)

    def _show_error(self, text: str) -> None:
        self.error_label.setText(f"The list could not be read: {text}")
        self.error_label.show()

    def _selection_changed(self, selected: QItemSelection, _deselected: QItemSelection) -> None:
        indexes = selected.indexes()
        if not indexes:
            return
        email_id = self.model.data(indexes[0], EMAIL_ID_ROLE)
        if email_id is not None:
            self.detail.show_email(int(email_id))

    def select_email(self, email_id: int) -> bool:
        row = self.model.row_of(email_id)
        if row is None:
            return False
        self.view.selectRow(row)
        self.view.scrollTo(self.model.index(row, 0), QAbstractItemView.ScrollHint.PositionAtCenter)
        return True

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._shown:
            self._shown = True
            self.view.setFocus()
            total = sum(self.splitter.sizes())
            self.splitter.setSizes([total * 2 // 5, total - total * 2 // 5])
