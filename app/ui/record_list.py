"""A screen that lists records (templates, teams, users) with a filter and its buttons.

The list is read off the GUI thread (the LISTS lane) when the screen is made, after each
change made on it and whenever the change hub says something changed (on this or another
workstation: emails or the configuration); reads asked for while one waits make one. The
selection survives a reload, or the record just saved is selected; a reload that finds the
same rows leaves the list as it is.
A dialog opens with what it shows read first (``read_then_open``), as it is now.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QPushButton, QVBoxLayout, QWidget

from app.ui.changes import ChangeWatcher
from app.ui.context import AppContext
from app.ui.forms import ErrorLabel
from app.ui.messages import messages
from app.ui.models import Column, RecordTableModel, sortable
from app.ui.operations import LISTS, Failure, run
from app.ui.widgets import find_bar, select_record, selected_record, table_view

R = TypeVar("R")
T = TypeVar("T")


class RecordListScreen(QWidget, Generic[R]):
    """Subclasses give the columns, the buttons, how the list is read (``read_rows``) and
    what it is called in messages (``noun``), then call ``start()``."""

    noun = "records"  # "The <noun> could not be read"
    column_widths: Sequence[int] = ()  # the first columns' widths once rows are shown

    def __init__(
        self,
        ctx: AppContext,
        *,
        name: str,
        caption: str | None,
        placeholder: str,
        buttons: Sequence[str],
        columns: list[Column[R]],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self._select_next: int | None = None  # to select once the list is read again
        self._opening = False  # what a dialog needs is being read
        self._widths_set = False
        layout = QVBoxLayout(self)
        header, self.filter_edit, made = find_bar(self, placeholder, *buttons)
        self.buttons: list[QPushButton] = made
        layout.addLayout(header)
        self.model: RecordTableModel[R] = RecordTableModel(columns, self)
        self.proxy = sortable(self.model, self)
        self.view = table_view(self, name)
        self.view.setModel(self.proxy)
        self.view.sortByColumn(0, Qt.SortOrder.AscendingOrder)  # kept when read again
        if caption is not None:
            label = QLabel(caption, self)
            label.setBuddy(self.view)
            layout.addWidget(label)
        layout.addWidget(self.view)
        self.status = ErrorLabel(self)  # why the list could not be read
        layout.addWidget(self.status)
        self.filter_edit.textChanged.connect(self.proxy.setFilterFixedString)
        self.view.selectionModel().selectionChanged.connect(self._update_buttons)
        self.watcher = ChangeWatcher(ctx, self)
        self.watcher.changed.connect(self.reload)

    def start(self) -> None:
        """The buttons as nothing is selected, and the first read."""
        self._update_buttons()
        self.reload()

    def read_rows(self) -> Callable[[], list[R]]:
        """What reads the list (run off the GUI thread)."""
        raise NotImplementedError

    def _update_buttons(self, *_args: object) -> None:
        """Enable what the selection allows."""

    # ---- the list -------------------------------------------------------------------
    def reload(self, select_id: int | None = None) -> None:
        """Read the list again (off the GUI thread), keeping the selection, or selecting
        ``select_id``. Asked again while a reload waits, it is one reload."""
        if select_id is not None:
            self._select_next = select_id
        run(self, self.read_rows(), self._loaded, self._load_failed, lane=LISTS, coalesce="reload")

    def _loaded(self, rows: list[R]) -> None:
        current: Any = self.selected()
        target, self._select_next = self._select_next, None
        if target is None and current is not None:
            target = current.id
        if rows != self.model.rows():  # else the list stays as it is (scrolled, selected)
            self.model.set_rows(rows)
        if not self._widths_set:
            self._widths_set = True
            for column, width in enumerate(self.column_widths):
                self.view.setColumnWidth(column, width)
        if target is not None:
            self.select(target)
        self.status.show_message("")
        self._update_buttons()

    def _load_failed(self, failure: Failure) -> None:
        self.status.show_message(f"The {self.noun} could not be read: {failure.message}")

    def select(self, record_id: int) -> bool:
        """Select the record ``record_id``; False when it is not shown."""
        return select_record(self.view, record_id)

    def selected(self) -> R | None:
        return selected_record(self.view)  # type: ignore[no-any-return]

    # ---- dialogs --------------------------------------------------------------------
    def read_then(
        self,
        title: str,
        read: Callable[[], T],
        then: Callable[[T], object],
        record: Callable[[T], Any] = lambda found: found,
    ) -> None:
        """Read what a dialog (or a question) needs, off the GUI thread, then ``then`` with
        it. A record read that differs from its row (``record`` picks it out of what was
        read; None for a new one) has the list read again; a failure (the record deleted
        elsewhere, say) is shown and the list read again. A second ask while a read runs is
        ignored."""
        if self._opening:
            return
        self._opening = True

        def done(found: T) -> None:
            self._opening = False
            now = record(found)
            if now is not None and now != self.selected():
                self.reload()  # changed since the list was read: the list shows it too
            then(found)

        def failed(failure: Failure) -> None:
            self._opening = False
            messages.error(self, title, failure.message)
            self.reload()

        run(self, read, done, failed)


def first_of_pair(found: tuple[Any, Any]) -> Any:
    """The record of a (record, choices) pair read for a dialog (``read_then``)."""
    return found[0]
