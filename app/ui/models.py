"""Item models for the configuration screens (small lists, kept whole in memory)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeAlias, TypeVar

from PySide6.QtCore import (
    QAbstractItemModel,
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)

from app.services.records import GroupNode

T = TypeVar("T")
Index: TypeAlias = QModelIndex | QPersistentModelIndex  # what Qt passes as a model index
ROW_ROLE = Qt.ItemDataRole.UserRole + 1
SORT_ROLE = Qt.ItemDataRole.UserRole + 2


@dataclass(frozen=True)
class Column(Generic[T]):
    title: str
    value: Callable[[T], Any]
    sort_key: Callable[[T], Any] | None = None


class RecordTableModel(QAbstractTableModel, Generic[T]):
    """Rows of records shown through a list of columns."""

    def __init__(self, columns: Sequence[Column[T]], parent: Any = None) -> None:
        super().__init__(parent)
        self._columns = list(columns)
        self._rows: list[T] = []

    def set_rows(self, rows: Sequence[T]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def rows(self) -> list[T]:
        return list(self._rows)

    def refresh_all(self) -> None:
        """Show every cell again from the same records (times that age, "12 min")."""
        if self._rows:
            last = self.index(len(self._rows) - 1, len(self._columns) - 1)
            self.dataChanged.emit(self.index(0, 0), last)

    def row_at(self, row: int) -> T:
        return self._rows[row]

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._columns)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        record = self._rows[index.row()]
        column = self._columns[index.column()]
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            value = column.value(record)
            return "" if value is None else str(value)
        if role == ROW_ROLE:
            return record
        if role == SORT_ROLE:
            key = column.sort_key or column.value
            value = key(record)
            return value if isinstance(value, int | float) else str(value or "").casefold()
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if (
            orientation == Qt.Orientation.Horizontal
            and role == Qt.ItemDataRole.DisplayRole
            and 0 <= section < len(self._columns)
        ):
            return self._columns[section].title
        return None


def sortable(model: QAbstractItemModel, parent: Any = None) -> QSortFilterProxyModel:
    proxy = QSortFilterProxyModel(parent)
    proxy.setSourceModel(model)
    proxy.setSortRole(SORT_ROLE)
    proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
    proxy.setFilterKeyColumn(-1)
    return proxy


class GroupTreeModel(QAbstractItemModel):
    """The campaign group tree: each node is a GroupNode; children under their parent."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._nodes: dict[int, GroupNode] = {}
        self._children: dict[int | None, list[int]] = {None: []}

    def set_groups(self, groups: Sequence[GroupNode]) -> None:
        self.beginResetModel()
        self._nodes = {g.id: g for g in groups}
        self._children = {None: []}
        for g in groups:
            self._children.setdefault(g.id, [])
        for g in sorted(groups, key=lambda n: n.name.casefold()):
            parent = g.parent_id if g.parent_id in self._nodes else None
            self._children.setdefault(parent, []).append(g.id)
        self.endResetModel()

    def node(self, index: Index) -> GroupNode | None:
        return self._nodes.get(index.internalId()) if index.isValid() else None

    def index_of(self, group_id: int) -> QModelIndex:
        node = self._nodes.get(group_id)
        if node is None:
            return QModelIndex()
        parent = node.parent_id if node.parent_id in self._nodes else None
        return self.createIndex(self._children[parent].index(group_id), 0, group_id)

    def index(self, row: int, column: int, parent: Index = QModelIndex()) -> QModelIndex:  # noqa: B008
        parent_id = parent.internalId() if parent.isValid() else None
        children = self._children.get(parent_id, [])
        if column != 0 or not 0 <= row < len(children):
            return QModelIndex()
        return self.createIndex(row, 0, children[row])

    def parent(self, index: Index = QModelIndex()) -> QModelIndex:  # type: ignore[override]  # noqa: B008
        node = self.node(index)
        if node is None or node.parent_id not in self._nodes:
            return QModelIndex()
        assert node.parent_id is not None
        return self.index_of(node.parent_id)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        if parent.isValid() and parent.column() != 0:
            return 0
        parent_id = parent.internalId() if parent.isValid() else None
        return len(self._children.get(parent_id, []))

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 1

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        node = self.node(index)
        if node is None:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{node.name} ({node.campaign_count})"
        if role == Qt.ItemDataRole.ToolTipRole:
            return node.description or node.name
        if role == ROW_ROLE:
            return node
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return "Campaign Groups"
        return None
