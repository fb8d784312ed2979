"""Management ▸ Emails: every email record, searched and sorted in SQL, read safely.

The list is a lazy model: it keeps the total count of the current query and asks the
service for pages of rows as the view paints them, so that 100,000 emails cost no more
to show than 200. The detail pane (``app.ui.message_view``) shows the incoming email
first (sanitized HTML in a browser that never loads anything remote), its attachments,
the replies below it in time order, the raw source and the history.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from PySide6.QtCore import (
    QAbstractTableModel,
    QDate,
    QItemSelection,
    QModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import (
    QColor,
    QKeyEvent,
    QMouseEvent,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDateEdit,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.domain.enums import EmailStatus
from app.services.emails import PERMISSION as EMAILS_PERMISSION
from app.services.emails import (
    EmailQuery,
    EmailRow,
    EmailService,
    FilterOptions,
    SortKey,
)
from app.ui.changes import ChangeWatcher
from app.ui.context import AppContext
from app.ui.mail_display import QUARANTINE_COLOR, sender_parts, sender_text
from app.ui.message_view import EmailDetailPane
from app.ui.models import ROW_ROLE, Index
from app.ui.operations import READS, Failure, run

EMAIL_ID_ROLE = Qt.ItemDataRole.UserRole + 10
PAGE_SIZE = 200
SEARCH_DELAY_MS = 300


def _plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


class _SenderDelegate(QStyledItemDelegate):
    """The sender as “name” <address>, the name shortened to leave room for the whole
    address: a display name (``ceo@bank.example``) never hides who sent the email."""

    def initStyleOption(self, option: QStyleOptionViewItem, index: Index) -> None:
        super().initStyleOption(option, index)
        row = index.data(ROW_ROLE)
        if not isinstance(row, EmailRow):
            return
        name, address = sender_parts(row.from_addr)
        metrics = option.fontMetrics  # type: ignore[attr-defined]
        room = option.rect.width() - 12  # type: ignore[attr-defined]
        shown = f"<{address}>" if name else address
        room -= metrics.horizontalAdvance(f"“” {shown}")
        if name and room > metrics.horizontalAdvance("x…"):
            name = metrics.elidedText(name, Qt.TextElideMode.ElideRight, room)
            shown = f"“{name}” {shown}"
        option.text = shown  # type: ignore[attr-defined]
        # Too narrow even for the address: its end (the domain) stays.
        option.textElideMode = Qt.TextElideMode.ElideLeft  # type: ignore[attr-defined]


# ---- the lazy list model ------------------------------------------------------------


class EmailTableModel(QAbstractTableModel):
    """The rows of one ``EmailQuery``, fetched a page at a time when the view shows them.

    Only the total count and a few recently used pages are held; sorting re-queries. Every
    read runs on the reads lane: a new query shows its count and first page together when
    they arrive (the old rows stay until then); a row of a page not held yet is empty until
    its page arrives.
    """

    load_failed = Signal(str)
    loaded = Signal()  # a query's count and first page arrived
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
        self._asked: set[int] = set()  # pages asked for and not arrived
        self._generation = 0  # of the query: what arrives for an older one is dropped
        self._querying = False
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

    @property
    def busy(self) -> bool:
        """A query or a page is on its way."""
        return self._querying or bool(self._asked)

    def set_query(self, query: EmailQuery) -> None:
        """Count and read the first page of ``query`` off the GUI thread, then show them."""
        self._query = query
        self._generation += 1
        self._querying = True
        generation, count, page, size = self._generation, self._count, self._page, self.page_size

        def work() -> tuple[int, list[EmailRow]]:
            total = count(query)
            return total, page(query, 0, size) if total else []

        run(
            self,
            work,
            lambda found: self._reset(generation, *found),
            lambda failure: self._query_failed(generation, failure),
            lane=READS,
            coalesce="query",
        )

    def _reset(self, generation: int, total: int, first: list[EmailRow]) -> None:
        if generation == self._generation:
            self._show(total, first)
            self.loaded.emit()

    def _query_failed(self, generation: int, failure: Failure) -> None:
        if generation == self._generation:
            self._show(0, [])
            self.load_failed.emit(failure.message)

    def _show(self, total: int, first: list[EmailRow]) -> None:
        """The answer to the query asked last: its count and first page."""
        self._querying = False
        self.beginResetModel()
        self._pages.clear()
        self._asked.clear()
        self._total = total
        self.rows_fetched = len(first)
        if first:
            self._pages[0] = first
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
        """The row, if its page is held; else None, and its page is asked for."""
        if not 0 <= row < self._total:
            return None
        number, offset = divmod(row, self.page_size)
        page = self._pages.get(number)
        if page is None:
            self._fetch(number)
            return None
        self._pages.move_to_end(number)
        return page[offset] if offset < len(page) else None

    def _fetch(self, number: int) -> None:
        if number in self._asked:
            return
        self._asked.add(number)
        generation, query, size, page = self._generation, self._query, self.page_size, self._page
        run(
            self,
            lambda: page(query, number * size, size),
            lambda rows: self._arrived(generation, number, rows),
            lambda failure: self._page_failed(generation, number, failure),
            lane=READS,
        )

    def _arrived(self, generation: int, number: int, rows: list[EmailRow]) -> None:
        if generation != self._generation:
            return
        self._asked.discard(number)
        self.rows_fetched += len(rows)
        self._pages[number] = rows
        while len(self._pages) > self.max_pages:
            self._pages.popitem(last=False)
        first = number * self.page_size
        last = min(first + self.page_size, self._total) - 1
        if last >= first:
            self.dataChanged.emit(self.index(first, 0), self.index(last, len(self.COLUMNS) - 1))

    def _page_failed(self, generation: int, number: int, failure: Failure) -> None:
        if generation != self._generation:
            return
        self._asked.discard(number)
        self._pages[number] = []  # not asked again until the next query or reload
        self.load_failed.emit(failure.message)

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
            return sender_text(row.from_addr)
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


# ---- the screen ------------------------------------------------------------------------


class EmailsScreen(QWidget):
    """Filter bar, the lazy email list, and the selected email below it."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        ctx.actor.require(EMAILS_PERMISSION)
        self.service = EmailService(ctx.db, ctx.actor)
        options = FilterOptions(campaigns=[], agents=[], channels=[])  # read below

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
        self.view.setItemDelegateForColumn(1, _SenderDelegate(self.view))
        # The date column fits the organisation's date format; the others have room to read.
        sample = ctx.format_datetime(datetime(2026, 12, 28, 23, 59, tzinfo=UTC))
        date_width = self.view.fontMetrics().horizontalAdvance(sample) + 28
        for column, width in enumerate((date_width, 270, 260, 140, 95, 110, 120)):
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
        run(self, self.service.filter_options, self._options_read, self._options_failed, lane=READS)
        self.model.set_query(self.current_query())
        # Header clicks call model.sort(), which re-queries in SQL.
        self.view.horizontalHeader().setSortIndicator(
            self.model.sort_column(), Qt.SortOrder.DescendingOrder
        )
        self.view.setSortingEnabled(True)

    # ---- building -----------------------------------------------------------------
    def _options_read(self, options: FilterOptions) -> None:
        """The campaigns, agents and channels to filter by, read off the GUI thread."""
        self._applying = True
        try:
            for combo, items in (
                (self.campaign_combo, options.campaigns),
                (self.agent_combo, options.agents),
                (self.channel_combo, options.channels),
            ):
                for value, text in items:
                    combo.addItem(text, value)
        finally:
            self._applying = False

    def _options_failed(self, failure: Failure) -> None:
        self._show_error(failure.message)

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
