"""New Campaign (type → Next) and the Edit Email Campaign dialog with its Assigned Teams tab.

The dialog is built from what ``read_dialog_data`` read off the GUI thread (the campaign, the
groups, channels and teams it offers); its Save reads the fields and saves them off the GUI
thread (``FormDialog``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.services.campaigns import CampaignData
from app.services.records import (
    CampaignRecord,
    CampaignWithAssignments,
    GroupNode,
    Ref,
    TeamRecord,
)
from app.ui.context import AppContext
from app.ui.forms import FormDialog, combo_select_data
from app.ui.models import ROW_ROLE, Column, RecordTableModel

ASSIGNED_FILTERS = ("All", "Assigned", "Unassigned")


class NewCampaignDialog(QDialog):
    """The seed's first step: choose the campaign type, then Next."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New Campaign")
        self.type_combo = QComboBox(self)
        self.type_combo.addItem("Email", "email")
        label = QLabel("Campaign &type:", self)
        label.setBuddy(self.type_combo)
        buttons = QDialogButtonBox(self)
        self.next_button = buttons.addButton("&Next", QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        row = QHBoxLayout()
        row.addWidget(label)
        row.addWidget(self.type_combo, 1)
        layout.addLayout(row)
        layout.addWidget(buttons)
        self.next_button.setDefault(True)


def group_paths(groups: list[GroupNode]) -> list[tuple[int, str]]:
    """Groups as (id, 'Parent › Child') in tree order, for a combo box."""
    by_id = {g.id: g for g in groups}
    children: dict[int | None, list[GroupNode]] = {}
    for g in groups:
        children.setdefault(g.parent_id if g.parent_id in by_id else None, []).append(g)
    result: list[tuple[int, str]] = []

    def walk(parent: int | None, prefix: str) -> None:
        for g in sorted(children.get(parent, []), key=lambda n: n.name.casefold()):
            path = f"{prefix}{g.name}"
            result.append((g.id, path))
            walk(g.id, f"{path} › ")

    walk(None, "")
    return result


@dataclass(frozen=True)
class CampaignDialogData:
    """What the Edit Email Campaign dialog shows, read before it is built."""

    campaign: CampaignWithAssignments | None  # None: a new campaign
    groups: tuple[GroupNode, ...]
    channels: tuple[Ref, ...]
    default_channel: str | None  # the name of the organisation's default channel
    teams: tuple[TeamRecord, ...]


def read_dialog_data(ctx: AppContext, campaign_id: int | None = None) -> CampaignDialogData:
    """Read what the dialog needs (the work of an operation: never on the GUI thread)."""
    campaign = ctx.campaigns.get_campaign(campaign_id) if campaign_id is not None else None
    org = ctx.settings.get()
    return CampaignDialogData(
        campaign=campaign,
        groups=tuple(ctx.campaigns.list_groups()),
        channels=tuple(Ref(c.id, c.name) for c in ctx.channels.list_channels()),
        default_channel=org.default_channel.name if org.default_channel else None,
        teams=tuple(ctx.people.list_teams()),
    )


class TeamAssignmentModel(RecordTableModel[TeamRecord]):
    """Teams with a checkable first column, Is Assigned."""

    assignment_changed = Signal()

    def __init__(self, parent: Any = None) -> None:
        super().__init__(
            [
                Column("Is Assigned", lambda t: ""),
                Column("Team", lambda t: t.name),
                Column("Public", lambda t: "Yes" if t.is_public else "No"),
                Column("Description", lambda t: t.description),
            ],
            parent,
        )
        self.assigned: set[int] = set()

    def set_assigned(self, team_ids: set[int]) -> None:
        self.assigned = set(team_ids)
        if self.rowCount():
            self.dataChanged.emit(self.index(0, 0), self.index(self.rowCount() - 1, 0))
        self.assignment_changed.emit()

    def assign(self, team_ids: set[int], assigned: bool) -> None:
        new = self.assigned | team_ids if assigned else self.assigned - team_ids
        if new != self.assigned:
            self.set_assigned(new)

    def is_assigned(self, row: int) -> bool:
        return self.row_at(row).id in self.assigned

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if index.isValid() and index.column() == 0:
            if role == Qt.ItemDataRole.CheckStateRole:
                return (
                    Qt.CheckState.Checked
                    if self.is_assigned(index.row())
                    else Qt.CheckState.Unchecked
                )
            if role == Qt.ItemDataRole.AccessibleTextRole:
                return "Assigned" if self.is_assigned(index.row()) else "Not assigned"
            if role == Qt.ItemDataRole.DisplayRole:
                return ""
        return super().data(index, role)

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        base = super().flags(index)
        if index.isValid() and index.column() == 0:
            return base | Qt.ItemFlag.ItemIsUserCheckable
        return base

    def setData(
        self,
        index: QModelIndex | QPersistentModelIndex,
        value: Any,
        role: int = Qt.ItemDataRole.EditRole,
    ) -> bool:
        if index.isValid() and index.column() == 0 and role == Qt.ItemDataRole.CheckStateRole:
            checked = Qt.CheckState(value) == Qt.CheckState.Checked
            self.assign({self.row_at(index.row()).id}, checked)
            return True
        return False


class AssignedFilterProxy(QSortFilterProxyModel):
    """Shows All, Assigned or Unassigned teams."""

    def __init__(self, source: TeamAssignmentModel, parent: Any = None) -> None:
        super().__init__(parent)
        self.setSourceModel(source)
        self.mode = "All"
        source.assignment_changed.connect(self.refilter)

    def refilter(self) -> None:
        self.beginFilterChange()
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def set_mode(self, mode: str) -> None:
        self.mode = mode
        self.refilter()

    def filterAcceptsRow(self, row: int, parent: QModelIndex | QPersistentModelIndex) -> bool:
        source = self.sourceModel()
        assert isinstance(source, TeamAssignmentModel)
        if self.mode == "Assigned":
            return source.is_assigned(row)
        if self.mode == "Unassigned":
            return not source.is_assigned(row)
        return True


class EditEmailCampaignDialog(FormDialog):
    """Every field of an email campaign; creating when ``data.campaign`` is None. Built from
    ``data`` (``read_dialog_data``): it reads nothing itself."""

    campaign_saved = Signal(object)  # the CampaignRecord as saved

    def __init__(
        self,
        ctx: AppContext,
        data: CampaignDialogData,
        parent: QWidget | None = None,
        default_group_id: int | None = None,
    ) -> None:
        super().__init__(parent, "Edit Email Campaign")
        self.ctx = ctx
        self.campaign = data.campaign
        self.campaign_id: int | None = data.campaign.id if data.campaign else None
        self._loading = True
        self.tabs = QTabWidget(self)
        self.outer.addWidget(self.tabs)
        self._build_details()
        self._build_teams()
        self.finish_layout()
        self._fill(data, default_group_id)
        self._loading = False
        self.set_loaded()
        self.resize(620, 560)

    # ---- building -----------------------------------------------------------
    def _build_details(self) -> None:
        page = QWidget(self)
        form = QFormLayout(page)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.title_edit = QLineEdit(page)
        self.title_edit.setMaxLength(200)
        self.title_edit.setPlaceholderText("A meaningful name, without quotation marks")
        self.description_edit = QPlainTextEdit(page)
        self.description_edit.setTabChangesFocus(True)
        self.description_edit.setFixedHeight(70)
        self.group_combo = QComboBox(page)
        self.free_format_check = QCheckBox(page)
        self.confirmation_check = QCheckBox(page)
        self.put_back_check = QCheckBox(page)
        self.move_check = QCheckBox(page)
        self.draft_check = QCheckBox(page)
        self.channel_combo = QComboBox(page)
        self.service_level_edit = QLineEdit(page)
        self.service_level_edit.setPlaceholderText("seconds, e.g. 180")
        self.add_field(form, "Campaign &Title:", self.title_edit)
        self.add_field(form, "Campaign &Description:", self.description_edit)
        self.add_field(form, "Campaign &Group:", self.group_combo)
        self.add_field(form, "Allow &free-format emails", self.free_format_check)
        self.add_field(form, "Require email address c&onfirmation", self.confirmation_check)
        self.add_field(form, "Allow &put back to queue", self.put_back_check)
        self.add_field(form, "Allow mo&ve to another campaign", self.move_check)
        self.add_field(form, "Allow save as a d&raft", self.draft_check)
        self.add_field(form, "Email C&hannel:", self.channel_combo)
        self.add_field(form, "Service &Level Period:", self.service_level_edit)
        seconds = QLabel(
            "Seconds within which an email should be answered, e.g. 180 for "
            "“80% answered within 180 seconds”.",
            page,
        )
        seconds.setWordWrap(True)
        seconds.setStyleSheet("color: palette(mid);")
        form.addRow("", seconds)
        self.tabs.addTab(page, "&Email Campaign")

    def _build_teams(self) -> None:
        page = QWidget(self)
        layout = QVBoxLayout(page)
        header = QHBoxLayout()
        self.assigned_filter = QComboBox(page)
        self.assigned_filter.addItems(ASSIGNED_FILTERS)
        filter_label = QLabel("Is Ass&igned:", page)
        filter_label.setBuddy(self.assigned_filter)
        self.add_team_button = QPushButton("&Add", page)
        self.remove_team_button = QPushButton("Remo&ve", page)
        self.add_team_button.setToolTip("Assign the selected teams to this campaign")
        self.remove_team_button.setToolTip("Remove the selected teams from this campaign")
        header.addWidget(filter_label)
        header.addWidget(self.assigned_filter)
        header.addStretch(1)
        header.addWidget(self.add_team_button)
        header.addWidget(self.remove_team_button)
        layout.addLayout(header)
        self.team_model = TeamAssignmentModel(self)
        self.team_proxy = AssignedFilterProxy(self.team_model, self)
        self.team_view = QTableView(page)
        self.team_view.setModel(self.team_proxy)
        self.team_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.team_view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.team_view.verticalHeader().hide()
        self.team_view.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents
        )
        self.team_view.horizontalHeader().setStretchLastSection(True)
        self.team_view.setAccessibleName("Teams")
        layout.addWidget(self.team_view)
        layout.addWidget(self.register("Assigned Teams", self.team_view))
        self.teams_summary = QLabel(page)
        layout.addWidget(self.teams_summary)
        hint = QLabel("Missing a team? Create it in Administration ▸ Teams.", page)
        hint.setStyleSheet("color: palette(mid);")
        layout.addWidget(hint)
        self.tabs.addTab(page, "Assigned Tea&ms")
        self.assigned_filter.currentTextChanged.connect(self.team_proxy.set_mode)
        self.add_team_button.clicked.connect(lambda: self._assign_selected(True))
        self.remove_team_button.clicked.connect(lambda: self._assign_selected(False))
        self.team_model.assignment_changed.connect(self._teams_changed)
        self.team_view.selectionModel().selectionChanged.connect(self._update_team_buttons)

    # ---- data ---------------------------------------------------------------
    def _fill(self, data: CampaignDialogData, default_group_id: int | None) -> None:
        for group_id, path in group_paths(list(data.groups)):
            self.group_combo.addItem(path, group_id)
        default_name = data.default_channel or "none set"
        self.channel_combo.addItem(f"Organisation Default Email Channel ({default_name})", None)
        for channel in data.channels:
            self.channel_combo.addItem(channel.name, channel.id)
        self.team_model.set_rows(data.teams)
        c = self.campaign
        if c is None:
            self.group_combo.setCurrentIndex(-1)
            if default_group_id is not None:
                combo_select_data(self.group_combo, default_group_id)
            self.confirmation_check.setChecked(True)
            self.put_back_check.setChecked(True)
            self.draft_check.setChecked(True)
            self.service_level_edit.setText("180")
            self.team_model.set_assigned(set())
            return
        self.title_edit.setText(c.title)
        self.description_edit.setPlainText(c.description)
        combo_select_data(self.group_combo, c.group_id)
        self.free_format_check.setChecked(c.allow_free_format)
        self.confirmation_check.setChecked(c.require_address_confirmation)
        self.put_back_check.setChecked(c.allow_put_back)
        self.move_check.setChecked(c.allow_move)
        self.draft_check.setChecked(c.allow_draft)
        combo_select_data(self.channel_combo, c.channel_id)
        self.service_level_edit.setText(str(c.service_level_period))
        self.team_model.set_assigned({t.id for t in c.teams})

    def data(self) -> CampaignData:
        return CampaignData(
            title=self.title_edit.text(),
            description=self.description_edit.toPlainText(),
            group_id=self.group_combo.currentData(),
            allow_free_format=self.free_format_check.isChecked(),
            require_address_confirmation=self.confirmation_check.isChecked(),
            allow_put_back=self.put_back_check.isChecked(),
            allow_move=self.move_check.isChecked(),
            allow_draft=self.draft_check.isChecked(),
            channel_id=self.channel_combo.currentData(),
            service_level_period=self.service_level_edit.text(),
            team_ids=sorted(self.team_model.assigned),
        )

    def save(self) -> Callable[[], CampaignRecord]:
        """The fields as they are now; the work saves them (off the GUI thread)."""
        data, service, campaign = self.data(), self.ctx.campaigns, self.campaign
        if campaign is None:
            return lambda: service.create_campaign(data)
        return lambda: service.update_campaign(campaign.id, data, campaign.version)

    def saved(self, result: object) -> None:
        assert isinstance(result, CampaignRecord)
        self.campaign_id = result.id
        self.campaign_saved.emit(result)

    def reveal(self, widget: QWidget) -> None:
        self.tabs.setCurrentIndex(0 if widget is not self.team_view else 1)

    # ---- teams tab ----------------------------------------------------------
    def _selected_team_ids(self) -> set[int]:
        ids = set()
        for index in self.team_view.selectionModel().selectedRows():
            team = self.team_proxy.data(index, ROW_ROLE)
            ids.add(team.id)
        return ids

    def _assign_selected(self, assigned: bool) -> None:
        self.team_model.assign(self._selected_team_ids(), assigned)

    def _teams_changed(self) -> None:
        self.mark_dirty()
        assigned = [t.name for t in self.team_model.rows() if t.id in self.team_model.assigned]
        self.teams_summary.setText(
            f"Assigned: {', '.join(assigned)}" if assigned else "No team is assigned yet."
        )
        self._update_team_buttons()

    def _update_team_buttons(self, *_args: object) -> None:
        selected = self._selected_team_ids()
        self.add_team_button.setEnabled(bool(selected - self.team_model.assigned))
        self.remove_team_button.setEnabled(bool(selected & self.team_model.assigned))
