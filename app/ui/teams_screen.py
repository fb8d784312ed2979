"""Administration ▸ Teams: the team list and the team editor with its member checklist.

Also holds the small checklist (a checkable, filterable list) that the user editor
reuses for a user's teams.

Nothing here waits for the database on the GUI thread: the list is read on a lane
(``app.ui.operations``), the team and the users are read before the editor opens, and
its Save runs off the GUI thread."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from app.services.errors import NotFound
from app.services.people import PeopleService, TeamData
from app.services.records import TeamRecord, UserRecord
from app.ui.context import AppContext
from app.ui.forms import FormDialog
from app.ui.models import ROW_ROLE, Column, Index
from app.ui.record_list import RecordListScreen, first_of_pair
from app.ui.widgets import (
    confirm_then_run,
    yes_no,
)


class CheckListModel(QAbstractListModel):
    """(id, text) items in alphabetical order, each with a check box; ``checked`` holds
    the checked ids."""

    checked_changed = Signal()

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._items: list[tuple[int, str]] = []
        self.checked: set[int] = set()

    def set_items(self, items: Sequence[tuple[int, str]], checked: set[int]) -> None:
        self.beginResetModel()
        self._items = sorted(items, key=lambda item: item[1].casefold())
        known = {item_id for item_id, _text in self._items}
        self.checked = set(checked) & known
        self.endResetModel()
        self.checked_changed.emit()

    def checked_ids(self) -> list[int]:
        return sorted(self.checked)

    def checked_texts(self) -> list[str]:
        return [text for item_id, text in self._items if item_id in self.checked]

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._items)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._items):
            return None
        item_id, text = self._items[index.row()]
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return text
        if role == Qt.ItemDataRole.CheckStateRole:
            return Qt.CheckState.Checked if item_id in self.checked else Qt.CheckState.Unchecked
        if role == ROW_ROLE:
            return item_id
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        base = super().flags(index)
        if index.isValid():
            return base | Qt.ItemFlag.ItemIsUserCheckable
        return base

    def setData(self, index: Index, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if not index.isValid() or role != Qt.ItemDataRole.CheckStateRole:
            return False
        item_id = self._items[index.row()][0]
        if Qt.CheckState(value) == Qt.CheckState.Checked:
            self.checked.add(item_id)
        else:
            self.checked.discard(item_id)
        self.dataChanged.emit(index, index, [Qt.ItemDataRole.CheckStateRole])
        self.checked_changed.emit()
        return True


class CheckList(QWidget):
    """A labelled checklist with a Find box above it and a summary of what is checked.

    ``label`` and ``find_label`` carry the mnemonics; they must be unique in the window."""

    def __init__(self, label: str, find_label: str, noun: str, parent: QWidget | None) -> None:
        super().__init__(parent)
        self.noun = noun
        self.model = CheckListModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.filter_edit = QLineEdit(self)
        self.filter_edit.setPlaceholderText(f"Type to filter the {noun}")
        self.filter_edit.setClearButtonEnabled(True)
        self.view = QListView(self)
        self.view.setModel(self.proxy)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setAccessibleName(label.replace("&", "").rstrip(":"))
        self.view.setToolTip("Space or a click on the box checks an item")
        self.caption = QLabel(label, self)
        self.caption.setBuddy(self.view)
        find = QLabel(find_label, self)
        find.setBuddy(self.filter_edit)
        self.summary = QLabel(self)
        self.summary.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.caption)
        row = QHBoxLayout()
        row.addWidget(find)
        row.addWidget(self.filter_edit, 1)
        layout.addLayout(row)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.summary)
        self.filter_edit.textChanged.connect(self.proxy.setFilterFixedString)
        self.model.checked_changed.connect(self._update_summary)
        self._update_summary()

    def _update_summary(self) -> None:
        names = self.model.checked_texts()
        self.summary.setText(
            f"{len(names)} {self.noun} checked: {', '.join(names)}"
            if names
            else f"No {self.noun} checked."
        )


def user_caption(user: UserRecord) -> str:
    inactive = "" if user.active else ", inactive"
    return f"{user.display_name} ({user.login}{inactive})"


class TeamDialog(FormDialog):
    """Create or edit a team: name, description, public, members (out of ``users``, read
    before the dialog opens)."""

    def __init__(
        self,
        ctx: AppContext,
        team: TeamRecord | None,
        users: Sequence[UserRecord],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent, "Edit Team" if team else "New Team")
        self.ctx, self.team = ctx, team
        self.saved_id: int | None = None
        self._loading = True
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.outer.addLayout(form)
        self.name_edit = QLineEdit(self)
        self.name_edit.setMaxLength(200)
        self.description_edit = QPlainTextEdit(self)
        self.description_edit.setTabChangesFocus(True)
        self.description_edit.setFixedHeight(60)
        self.public_check = QCheckBox(self)
        self.add_field(form, "Team &Name:", self.name_edit)
        self.add_field(form, "&Description:", self.description_edit)
        self.add_field(form, "&Public", self.public_check)
        self.members = CheckList("&Members:", "&Find:", "members", self)
        self.outer.addWidget(self.members, 1)
        self.outer.addWidget(self.register("Members", self.members.view))
        self.finish_layout()

        self.members.model.set_items(
            [(u.id, user_caption(u)) for u in users],
            {u.id for u in team.members} if team else set(),
        )
        self.members.model.checked_changed.connect(self.mark_dirty)
        if team is not None:
            self.name_edit.setText(team.name)
            self.description_edit.setPlainText(team.description)
            self.public_check.setChecked(team.is_public)
        else:
            self.public_check.setChecked(True)
        self._loading = False
        self.set_loaded()
        self.resize(460, 560)

    def data(self) -> TeamData:
        return TeamData(
            name=self.name_edit.text(),
            description=self.description_edit.toPlainText(),
            is_public=self.public_check.isChecked(),
            member_ids=self.members.model.checked_ids(),
        )

    def save(self) -> Callable[[], TeamRecord]:
        data, people, team = self.data(), self.ctx.people, self.team
        if team is None:
            return lambda: people.create_team(data)
        return lambda: people.update_team(team.id, data)

    def saved(self, result: object) -> None:
        assert isinstance(result, TeamRecord)
        self.saved_id = result.id


def team_now(people: PeopleService, team_id: int) -> TeamRecord:
    """The team ``team_id`` as it is now (off the GUI thread)."""
    for team in people.list_teams():
        if team.id == team_id:
            return team
    raise NotFound("The team no longer exists (it may have been deleted by someone else).")


class TeamsScreen(RecordListScreen[TeamRecord]):
    """The team list with New, Edit and Delete (see ``RecordListScreen``)."""

    noun = "teams"
    column_widths = (200,)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(
            ctx,
            name="Teams",
            caption="&Teams:",
            placeholder="Filter by team, member count or campaign",
            buttons=["&New Team…", "&Edit…", "&Delete"],
            columns=[
                Column("Team Name", lambda t: t.name),
                Column("Public", lambda t: yes_no(t.is_public)),
                Column("Members", lambda t: len(t.members)),
                Column("Assigned Campaigns", lambda t: ", ".join(c.title for c in t.campaigns)),
            ],
            parent=parent,
        )
        self.new_button, self.edit_button, self.delete_button = self.buttons
        self.new_button.clicked.connect(self.new_team)
        self.edit_button.clicked.connect(self.edit_team)
        self.delete_button.clicked.connect(self.delete_team)
        self.view.activated.connect(self.edit_team)
        self.start()

    def read_rows(self) -> Callable[[], list[TeamRecord]]:
        return self.ctx.people.list_teams

    def select_team(self, team_id: int) -> bool:
        return self.select(team_id)

    def _update_buttons(self, *_args: object) -> None:
        has = self.selected() is not None
        self.edit_button.setEnabled(has)
        self.delete_button.setEnabled(has)

    def _open(self, found: tuple[TeamRecord | None, list[UserRecord]]) -> TeamDialog:
        dialog = TeamDialog(self.ctx, *found, self)
        dialog.accepted.connect(lambda: self.reload(dialog.saved_id))
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        return dialog

    def new_team(self) -> None:
        """Open the dialog for a new team, once the users are read."""
        people = self.ctx.people
        self.read_then("New Team", lambda: (None, people.list_users()), self._open, first_of_pair)

    def edit_team(self, *_args: object) -> None:
        """Open the selected team (as it is now) in the dialog, once read."""
        team = self.selected()
        if team is None:
            return
        people, team_id = self.ctx.people, team.id
        self.read_then(
            "Edit Team",
            lambda: (team_now(people, team_id), people.list_users()),
            self._open,
            first_of_pair,
        )

    def delete_team(self) -> None:
        team = self.selected()
        if team is None:
            return
        people = self.ctx.people
        confirm_then_run(
            self,
            "Delete Team",
            f"Delete the team '{team.name}'?",
            lambda: people.delete_team(team.id),
            self.reload,
        )
