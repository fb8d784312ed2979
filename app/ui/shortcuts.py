"""Help ▸ Keyboard Shortcuts: the list is read from the actions themselves, so it can never
disagree with what the keys do."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QFont, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.ui.forms import plain

SECTION_PROPERTY = "shortcut_section"
DEFAULT_SECTION = "Workspace"

STEPPED_ASIDE = "shortcut_stepped_aside"
HELP_KEYS = "F1"

Section = tuple[str, Sequence[QAction]]


def set_section(action: QAction, section: str) -> QAction:
    """File ``action`` under ``section`` in the shortcuts list."""
    action.setProperty(SECTION_PROPERTY, section)
    return action


def step_aside_for_window_help(action: QAction, screen: QWidget) -> None:
    """A screen's own F1 opens the same list as the window's Help ▸ Keyboard Shortcuts: when
    the window binds F1 itself, the screen's action steps aside (two enabled actions on one
    key would make Qt ignore the key as ambiguous)."""
    window = screen.window()
    theirs = window is not screen and any(
        other is not action
        and other.isEnabled()
        and other.shortcut() == QKeySequence(HELP_KEYS)
        and not screen.isAncestorOf(other.parent())  # type: ignore[arg-type]
        for other in [*window.actions(), *window.findChildren(QAction)]
        if isinstance(other.parent(), QWidget)
    )
    action.setEnabled(not theirs)
    action.setProperty(STEPPED_ASIDE, bool(theirs))


def keys_text(action: QAction) -> str:
    """The action's shortcuts as the user types them, e.g. "Ctrl+Return or Ctrl+Enter"."""
    return " or ".join(
        key.toString(QKeySequence.SequenceFormat.NativeText)
        for key in action.shortcuts()
        if not key.isEmpty()
    )


def sections_of(root: QWidget) -> list[tuple[str, list[QAction]]]:
    """Every action with a shortcut under ``root`` (a window, a screen), each once, grouped by
    its section in the order they were made."""
    found: list[QAction] = []
    seen: set[int] = set()
    for action in [*root.actions(), *root.findChildren(QAction)]:
        if id(action) in seen or not keys_text(action) or action.property(STEPPED_ASIDE):
            continue
        seen.add(id(action))
        found.append(action)
    sections: dict[str, list[QAction]] = {}
    for action in found:
        name = action.property(SECTION_PROPERTY) or DEFAULT_SECTION
        sections.setdefault(str(name), []).append(action)
    return list(sections.items())


class ShortcutsDialog(QDialog):
    """The keyboard shortcuts, by section: what each does and its keys."""

    def __init__(self, sections: Sequence[Section], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard Shortcuts")
        self.tree = QTreeWidget(self)
        self.tree.setColumnCount(2)
        self.tree.setHeaderLabels(["Action", "Keys"])
        self.tree.setRootIsDecorated(False)
        self.tree.setItemsExpandable(False)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setAccessibleName("Keyboard shortcuts")
        bold = QFont(self.font())
        bold.setBold(True)
        for title, actions in sections:
            heading = QTreeWidgetItem(self.tree, [title, ""])
            heading.setFont(0, bold)
            heading.setFirstColumnSpanned(True)
            heading.setFlags(Qt.ItemFlag.ItemIsEnabled)
            for action in actions:
                item = QTreeWidgetItem(heading, [plain(action.text()), keys_text(action)])
                tip = action.statusTip()
                if tip:
                    item.setToolTip(0, tip)
        self.tree.expandAll()
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        note = QLabel(
            "Buttons and fields also have an underlined letter: hold Alt and press it.", self
        )
        note.setWordWrap(True)
        note.setStyleSheet("color: #555555;")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tree, 1)
        layout.addWidget(note)
        layout.addWidget(buttons)
        first = self.tree.topLevelItem(0)
        first_action = first.child(0) if first is not None else None
        if first_action is not None:
            self.tree.setCurrentItem(first_action)
        rows = sum(len(actions) + 1 for _title, actions in sections)
        row_height = self.fontMetrics().height() + 6
        self.resize(540, min(720, max(240, (rows + 2) * row_height + 100)))

    def rows(self) -> list[tuple[str, str, str]]:
        """(section, action, keys) as listed."""
        found = []
        for i in range(self.tree.topLevelItemCount()):
            heading = self.tree.topLevelItem(i)
            assert heading is not None
            for j in range(heading.childCount()):
                child = heading.child(j)
                assert child is not None
                found.append((heading.text(0), child.text(0), child.text(1)))
        return found

    @classmethod
    def for_widget(cls, root: QWidget, parent: QWidget | None = None) -> ShortcutsDialog:
        """The shortcuts of everything under ``root`` — give it the main window to list the
        menus' shortcuts and those of every open screen."""
        return cls(sections_of(root), parent if parent is not None else root)
