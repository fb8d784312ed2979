"""Management ▸ Service Level: each campaign's service level and the overall one, as
numbers and as a bar chart, for today or for a chosen range of days.

The figures come from ``ServiceLevelService`` (definitions in its module and in
docs/service-level.md), queried off the GUI thread. The screen refreshes itself every few
seconds while it is visible, keeping the range the user chose, the selected row and the
scroll position.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from PySide6.QtCharts import (
    QBarCategoryAxis,
    QBarSet,
    QChart,
    QChartView,
    QHorizontalBarSeries,
    QValueAxis,
)
from PySide6.QtCore import (
    QAbstractTableModel,
    QDate,
    QEvent,
    QMargins,
    QModelIndex,
    QObject,
    Qt,
    QTimer,
)
from PySide6.QtGui import QColor, QFont, QHideEvent, QKeyEvent, QPainter, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDateEdit,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.services.service_level import (
    ServiceLevelReport,
    ServiceLevelRow,
    ServiceLevelService,
)
from app.ui.changes import ChangeWatcher
from app.ui.context import AppContext
from app.ui.models import Index
from app.ui.operations import READS, Failure, run

REFRESH_MS = 5000
SLOWDOWN = 10  # at least this many times the last query's duration between refreshes
ERROR_COLOR = "#b00020"
BAR_COLOR = "#2f6fb0"
NOTHING = "–"  # shown where nothing counts yet
NOTHING_TIP = (
    "Nothing counts yet: no email of this period has been answered and none has waited "
    "longer than the Service Level Period."
)


def percent(value: float | None) -> str:
    return NOTHING if value is None else f"{value:.1f}"


def _bar_figure(value: float | None) -> str:
    return "nothing counts yet" if value is None else f"{percent(value)} %"


def _qdate(day: date) -> QDate:
    return QDate(day.year, day.month, day.day)


def _day(value: QDate) -> date:
    return date(value.year(), value.month(), value.day())


def _days_text(report: ServiceLevelReport) -> str:
    def day(d: date) -> str:
        return f"{d:%a} {d.day} {d:%b %Y}"

    if report.is_single_day:
        return day(report.first_day)
    return f"{day(report.first_day)} – {day(report.last_day)}"


class ServiceLevelTableModel(QAbstractTableModel):
    """The campaigns' rows, then the Overall row (in bold)."""

    COLUMNS = (
        "Campaign",
        "Answered",
        "Answered within period",
        "Waiting beyond period",
        "Service level (%)",
        "Period (s)",
    )
    TIPS = (
        None,
        "Emails of this period with a sent reply",
        "Answered no later than the campaign's Service Level Period after arrival",
        "Not answered yet and waiting longer than the Service Level Period",
        "Answered within period ÷ (answered + waiting beyond period)",
        "The campaign's Service Level Period in seconds",
    )

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[ServiceLevelRow] = []

    def set_report(self, report: ServiceLevelReport) -> None:
        rows = [*report.rows, report.overall]
        if [r.campaign_id for r in rows] == [r.campaign_id for r in self._rows]:
            # Same campaigns: update in place so that selection and scrolling stay.
            self._rows = rows
            self.dataChanged.emit(
                self.index(0, 0), self.index(len(rows) - 1, len(self.COLUMNS) - 1)
            )
            return
        self.beginResetModel()
        self._rows = rows
        self.endResetModel()

    def row_at(self, row: int) -> ServiceLevelRow:
        return self._rows[row]

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.COLUMNS)

    def _text(self, row: ServiceLevelRow, column: int) -> str:
        if column == 0:
            return row.campaign
        if column == 1:
            return f"{row.answered:,}"
        if column == 2:
            return f"{row.answered_within:,}"
        if column == 3:
            return f"{row.waiting_beyond:,}"
        if column == 4:
            return percent(row.service_level)
        return "" if row.period is None else f"{row.period:,}"

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        row, column = self._rows[index.row()], index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(row, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == 4 and row.service_level is None:
                return NOTHING_TIP
            return self.TIPS[column]
        if role == Qt.ItemDataRole.TextAlignmentRole:
            horizontal = Qt.AlignmentFlag.AlignLeft if column == 0 else Qt.AlignmentFlag.AlignRight
            return int(horizontal | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.FontRole and row.campaign_id is None:
            font = QFont()
            font.setBold(True)
            return font
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(self.COLUMNS):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self.COLUMNS[section]
        if role == Qt.ItemDataRole.ToolTipRole:
            return self.TIPS[section]
        return None


class ServiceLevelChart(QChartView):
    """A horizontal bar per campaign: its service level from 0 to 100 %."""

    def __init__(self, parent: QWidget | None = None) -> None:
        self.chart_ = QChart()
        super().__init__(self.chart_, parent)
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.setAccessibleName("Service level chart")
        self.setMinimumHeight(180)
        chart = self.chart_
        chart.setAnimationOptions(QChart.AnimationOption.NoAnimation)
        chart.legend().hide()
        chart.setMargins(QMargins(8, 8, 16, 8))
        self.bars = QBarSet("Service level (%)")
        self.bars.setColor(QColor(BAR_COLOR))
        self.bars.setBorderColor(QColor(BAR_COLOR))
        self.series = QHorizontalBarSeries()
        self.series.append(self.bars)
        self.series.setBarWidth(0.6)
        chart.addSeries(self.series)
        self.categories = QBarCategoryAxis()
        self.categories.setTruncateLabels(False)  # campaign titles are what the chart is about
        chart.addAxis(self.categories, Qt.AlignmentFlag.AlignLeft)
        self.series.attachAxis(self.categories)
        self.values = QValueAxis()
        self.values.setRange(0, 100)
        self.values.setTickCount(11)
        self.values.setLabelFormat("%d %%")
        self.values.setTitleText("Service level")
        chart.addAxis(self.values, Qt.AlignmentFlag.AlignBottom)
        self.series.attachAxis(self.values)

    def set_report(self, report: ServiceLevelReport) -> None:
        # Categories run bottom-up: reversed, the first campaign is at the top as in the table.
        rows = list(reversed(report.rows))
        labels = [f"{r.campaign} ({_bar_figure(r.service_level)})" for r in rows]
        values = [r.service_level or 0.0 for r in rows]
        if self.categories.categories() != labels:
            self.categories.clear()
            self.categories.append(labels)
        if self.bars.count() != len(values):
            self.bars.remove(0, self.bars.count())
            self.bars.append(values)
        else:
            for i, value in enumerate(values):
                if self.bars.at(i) != value:
                    self.bars.replace(i, value)
        overall = report.overall.service_level
        self.chart_.setTitle(
            "Service level by campaign"
            + ("" if overall is None else f" — overall {percent(overall)} %")
        )


class ServiceLevelScreen(QWidget):
    """Today's or a range's service level per campaign and overall; refreshes itself."""

    def __init__(
        self,
        ctx: AppContext,
        parent: QWidget | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
        refresh_ms: int = REFRESH_MS,
    ) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.clock = clock or (lambda: datetime.now(UTC))
        self.service = ServiceLevelService(ctx.db, ctx.actor)
        self.report: ServiceLevelReport | None = None
        self.days: tuple[date, date] | None = None  # None: today, whatever day that is
        self._busy = False
        self._again = False

        self.today_button = QPushButton("&Today", self)
        self.today_button.setToolTip("Show today's service level (in the organisation's time zone)")
        self.from_edit = self._date_edit("First day")
        self.to_edit = self._date_edit("Last day")
        today = self._local_today()
        for edit in (self.from_edit, self.to_edit):
            edit.setDate(_qdate(today))
        self.show_button = QPushButton("&Show", self)
        self.show_button.setToolTip("Show the service level of the days from the first to the last")
        self.show_button.setDefault(True)
        from_label = QLabel("&From:", self)
        from_label.setBuddy(self.from_edit)
        to_label = QLabel("T&o:", self)
        to_label.setBuddy(self.to_edit)
        self.error_label = QLabel(self)
        self.error_label.setStyleSheet(f"color: {ERROR_COLOR};")
        self.error_label.setWordWrap(True)
        self.error_label.hide()
        bar = QHBoxLayout()
        bar.addWidget(self.today_button)
        bar.addSpacing(16)
        bar.addWidget(from_label)
        bar.addWidget(self.from_edit)
        bar.addWidget(to_label)
        bar.addWidget(self.to_edit)
        bar.addWidget(self.show_button)
        bar.addSpacing(16)
        bar.addWidget(self.error_label, 1)
        bar.addStretch(1)

        self.heading = QLabel(self)
        self.heading.setTextFormat(Qt.TextFormat.RichText)
        self.heading.setAccessibleName("Days shown")
        self.heading.setWordWrap(True)
        self.updated_label = QLabel(self)
        self.updated_label.setAccessibleName("Last updated")
        self.updated_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        heading = QHBoxLayout()
        heading.addWidget(self.heading, 1)
        heading.addWidget(self.updated_label)

        self.model = ServiceLevelTableModel(self)
        self.view = self._make_view()
        self.chart = ServiceLevelChart(self)
        self.splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.splitter.addWidget(self.view)
        self.splitter.addWidget(self.chart)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 3)

        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addLayout(heading)
        layout.addWidget(self.splitter, 1)

        self.refresh_ms = refresh_ms
        self.refresh_timer = QTimer(self)
        self.refresh_timer.setInterval(refresh_ms)
        self.refresh_timer.timeout.connect(self._tick)
        # An email answered or arriving anywhere shows within about a second; the timer
        # above keeps the waiting-beyond figures current when nothing happens.
        self.watcher = ChangeWatcher(ctx, self)
        self.watcher.changed.connect(self._tick)
        self.today_button.clicked.connect(self.show_today)
        self.show_button.clicked.connect(self.show_days)
        self.model.modelReset.connect(self._fit_table)
        self.refresh()

    # ---- building -----------------------------------------------------------------
    def _date_edit(self, name: str) -> QDateEdit:
        edit = QDateEdit(self)
        edit.installEventFilter(self)  # Enter shows the days, as the Show button
        edit.setCalendarPopup(True)
        edit.setDisplayFormat("yyyy-MM-dd")
        edit.setAccessibleName(name)
        edit.setMinimumDate(QDate(2000, 1, 1))
        return edit

    def _make_view(self) -> QTableView:
        view = QTableView(self)
        view.setModel(self.model)
        view.setAccessibleName("Service level per campaign")
        view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        view.setTabKeyNavigation(False)
        view.setWordWrap(False)
        view.setAlternatingRowColors(True)
        view.verticalHeader().hide()
        header = view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(False)
        return view

    def _fit_table(self) -> None:
        """Columns fit their contents; the table is as tall as its rows (up to half the
        screen), the chart has the rest."""
        self.view.resizeColumnsToContents()
        header = self.view.horizontalHeader()
        header.resizeSection(0, max(header.sectionSize(0), 220))
        for column in range(1, self.model.columnCount()):
            header.resizeSection(column, header.sectionSize(column) + 16)
        rows = self.view.verticalHeader().length()
        wanted = header.height() + rows + 2 * self.view.frameWidth() + 2
        if header.length() > self.view.width() - 2 * self.view.frameWidth():
            wanted += self.view.horizontalScrollBar().sizeHint().height()
        total = sum(self.splitter.sizes())
        if total > 0:
            table = min(wanted, total // 2)
            self.splitter.setSizes([table, total - table])

    def _local_today(self) -> date:
        try:
            zone = ZoneInfo(self.ctx.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            zone = ZoneInfo("UTC")
        return self.clock().astimezone(zone).date()

    # ---- choosing the days --------------------------------------------------------
    def show_today(self) -> None:
        today = _qdate(self._local_today())
        self.from_edit.setDate(today)
        self.to_edit.setDate(today)
        self.days = None
        self.refresh()

    def show_days(self) -> None:
        """Show the range in the date fields (checked by the service: From ≤ To)."""
        self.days = (_day(self.from_edit.date()), _day(self.to_edit.date()))
        self.refresh()

    # ---- loading ------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        """A query is running (tests wait for this to become False)."""
        return self._busy

    def refresh(self) -> None:
        """Query the figures for the chosen days in the background, then show them."""
        if self._busy:
            self._again = True  # asked again meanwhile: query once more when it returns
            return
        self._busy, self._again = True, False
        days, now, service = self.days, self.clock(), self.service

        def work() -> tuple[ServiceLevelReport, float]:
            started = time.monotonic()
            report = service.today(now) if days is None else service.report(*days, now)
            return report, time.monotonic() - started

        run(
            self,
            work,
            lambda result: self._loaded(days, *result),
            lambda failure: self._failed(days, failure),
            lane=READS,
        )

    def _loaded(
        self, days: tuple[date, date] | None, report: ServiceLevelReport, seconds: float
    ) -> None:
        self._busy = False
        # A long range over many emails may take seconds: then refresh less often, so that
        # a screen left open never keeps the database busy.
        self.refresh_timer.setInterval(max(self.refresh_ms, int(seconds * 1000 * SLOWDOWN)))
        if days == self.days:
            self.report = report
            self.error_label.hide()
            self.model.set_report(report)
            self.chart.set_report(report)
            self._show_heading(report)
        self._settle(days)

    def _failed(self, days: tuple[date, date] | None, failure: Failure) -> None:
        self._busy = False
        if days == self.days:
            # Shown next to the range, not in a box: the refresh would repeat it every few
            # seconds. The last figures stay.
            self.error_label.setText(failure.message)
            self.error_label.show()
        self._settle(days)

    def _settle(self, days: tuple[date, date] | None) -> None:
        if self._again or days != self.days:
            self.refresh()

    def _show_heading(self, report: ServiceLevelReport) -> None:
        overall = report.overall
        level = overall.service_level
        figure = "nothing counts yet" if level is None else f"overall <b>{percent(level)} %</b>"
        prefix = "Today, " if self.days is None else ""
        self.heading.setText(
            f"{prefix}{_days_text(report)} ({report.timezone}): {figure} · "
            f"{overall.answered:,} answered, {overall.answered_within:,} within the period, "
            f"{overall.waiting_beyond:,} waiting beyond it"
        )
        self.updated_label.setText(f"Updated {self.ctx.format_datetime(report.now)}")

    # ---- refreshing on its own ----------------------------------------------------
    def _tick(self) -> None:
        if self.isVisible():
            self.refresh()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        # Set default on a screen (not a dialog) is not triggered by Enter: do it here,
        # once the date field has taken what was typed.
        if (
            isinstance(watched, QDateEdit)
            and event.type() == QEvent.Type.KeyPress
            and cast(QKeyEvent, event).key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        ):
            QTimer.singleShot(0, self.show_days)
        return super().eventFilter(watched, event)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self.refresh_timer.isActive():
            self.refresh_timer.start()
            if self.report is not None:  # back on screen: the figures may be old
                self.refresh()

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self.refresh_timer.stop()
