"""Small widget factories shared by the screens."""

from __future__ import annotations

from PySide6.QtCore import QAbstractItemModel
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QWidget


def yes_no(value: bool) -> str:
    return "Yes" if value else "No"


class RecordTableView(QTableView):
    """A table that fits its columns to their contents whenever its rows are replaced."""

    def setModel(self, model: QAbstractItemModel | None) -> None:
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
