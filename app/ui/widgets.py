"""Small widget factories shared by the screens."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QAbstractItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QWidget,
)

from app.ui.models import ROW_ROLE

RESIZE_SAMPLE_ROWS = 100


def yes_no(value: bool) -> str:
    return "Yes" if value else "No"


class RecordTableView(QTableView):
    """A table that fits its columns to their contents whenever its rows are replaced."""

    def setModel(self, model: QAbstractItemModel | None) -> None:
        # Fit columns to a sample of rows, not to every row of a long list.
        self.horizontalHeader().setResizeContentsPrecision(RESIZE_SAMPLE_ROWS)
        super().setModel(model)
        if model is not None:
            model.modelReset.connect(self._fit_columns)
            model.layoutChanged.connect(self._fit_columns)

    def _fit_columns(self) -> None:
        header = self.horizontalHeader()
        self.resizeColumnsToContents()
        # Long free text (descriptions) should not push later columns off screen.
        limit = max(160, self.viewport().width() // 2)
        for column in range(header.count() - 1):
            if header.sectionSize(column) > limit:
                header.resizeSection(column, limit)


def table_view(parent: QWidget, name: str) -> QTableView:
    """A read-only, row-selecting, sortable table with an accessible name."""
    view = RecordTableView(parent)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setSortingEnabled(True)
    view.setTabKeyNavigation(False)
    view.verticalHeader().hide()
    view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    view.horizontalHeader().setStretchLastSection(True)
    view.setAccessibleName(name)
    return view


def selected_record(view: QTableView) -> Any:
    """The record behind the selected row of a table over a RecordTableModel (or a proxy)."""
    rows = view.selectionModel().selectedRows()
    return view.model().data(rows[0], ROW_ROLE) if rows else None


def select_record(view: QTableView, record_id: int) -> bool:
    """Select the row whose record has ``record_id``; False when it is not shown."""
    model = view.model()
    for row in range(model.rowCount()):
        if model.data(model.index(row, 0), ROW_ROLE).id == record_id:
            view.selectRow(row)
            return True
    return False


def confirm_then_run(
    parent: QWidget,
    title: str,
    question: str,
    work: Callable[[], object],
    done: Callable[[], object],
    ok: str = "Delete",
) -> bool:
    """Ask, then run ``work`` off the GUI thread; ``done()`` follows when it succeeded, a
    failure is shown. True when the user said yes."""
    from app.ui.messages import messages
    from app.ui.operations import Failure, run

    if not messages.confirm(parent, title, question, ok=ok):
        return False

    def failed(failure: Failure) -> None:
        messages.error(parent, title, failure.message)

    run(parent, work, lambda _result: done(), failed)
    return True


def find_bar(
    parent: QWidget, placeholder: str, *buttons: str
) -> tuple[QHBoxLayout, QLineEdit, list[QPushButton]]:
    """The header of a list screen: "Find:" with its filter box, then the action buttons."""
    header = QHBoxLayout()
    edit = QLineEdit(parent)
    edit.setPlaceholderText(placeholder)
    edit.setClearButtonEnabled(True)
    label = QLabel("&Find:", parent)
    label.setBuddy(edit)
    header.addWidget(label)
    header.addWidget(edit, 1)
    made = [QPushButton(text, parent) for text in buttons]
    for button in made:
        header.addWidget(button)
    return header, edit, made
