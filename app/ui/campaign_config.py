"""Campaigns ▸ Configuration: the campaign group tree, a group's campaigns, and the
selected campaign's details with its Email Templates list."""

from __future__ import annotations

from PySide6.QtCore import QItemSelection, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from app.services.errors import ServiceError
from app.services.records import (
    AssignedTemplate,
    CampaignRecord,
    CampaignWithAssignments,
    GroupNode,
)
from app.ui.campaign_dialog import EditEmailCampaignDialog, NewCampaignDialog, group_paths
from app.ui.context import AppContext
from app.ui.forms import FormDialog, combo_select_data
from app.ui.messages import messages
from app.ui.models import ROW_ROLE, Column, GroupTreeModel, RecordTableModel, sortable
from app.ui.templates_screen import TemplateEditorDialog
from app.ui.widgets import (
    confirm_and_run,
    select_record,
    selected_record,
    table_view,
    yes_no,
)


class GroupDialog(FormDialog):
    """Create or edit a campaign group."""

    def __init__(
        self,
        ctx: AppContext,
        group: GroupNode | None,
        parent_id: int | None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent, "Edit Campaign Group" if group else "New Campaign Group")
        self.ctx, self.group = ctx, group
        self._loading = True
        form = QFormLayout()
        self.outer.addLayout(form)
        self.name_edit = QLineEdit(self)
        self.description_edit = QPlainTextEdit(self)
        self.description_edit.setTabChangesFocus(True)
        self.description_edit.setFixedHeight(60)
        self.parent_combo = QComboBox(self)
        self.parent_combo.addItem("(top level)", None)
        for gid, path in group_paths(ctx.campaigns.list_groups()):
            if group is None or gid != group.id:
                self.parent_combo.addItem(path, gid)
        self.add_field(form, "Group &Name:", self.name_edit)
        self.add_field(form, "&Description:", self.description_edit)
        self.add_field(form, "&Parent Group:", self.parent_combo)
        self.finish_layout()
        if group:
            self.name_edit.setText(group.name)
            self.description_edit.setPlainText(group.description)
            combo_select_data(self.parent_combo, group.parent_id)
        else:
            combo_select_data(self.parent_combo, parent_id)
        self._loading = False
        self.set_loaded()
        self.saved_id: int | None = None

    def save(self) -> None:
        args = (
            self.name_edit.text(),
            self.description_edit.toPlainText(),
            self.parent_combo.currentData(),
        )
        if self.group is None:
            self.saved_id = self.ctx.campaigns.create_group(*args).id
        else:
            self.saved_id = self.ctx.campaigns.update_group(self.group.id, *args).id


class TemplatePickerDialog(QDialog):
    """Choose templates to add to a campaign (those not assigned yet)."""

    def __init__(self, choices: list[tuple[int, str, str]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Add Email Templates")
        layout = QVBoxLayout(self)
        label = QLabel("&Templates to add (select one or more):", self)
        self.list = QListWidget(self)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        label.setBuddy(self.list)
        for template_id, name, subject in choices:
            item = QListWidgetItem(f"{name} — {subject}", self.list)
            item.setData(ROW_ROLE, template_id)
        layout.addWidget(label)
        layout.addWidget(self.list)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        self.add_button = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.add_button.setText("&Add")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def selected_ids(self) -> list[int]:
        return [item.data(ROW_ROLE) for item in self.list.selectedItems()]


class CampaignDetails(QGroupBox):
    """The seed's Campaign Details snapshot plus the Email Templates list."""

    changed = Signal()

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__("Campaign Details", parent)
        self.ctx = ctx
        self.campaign: CampaignWithAssignments | None = None
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.values: dict[str, QLabel] = {}
        for caption in (
            "Campaign Title",
            "Campaign Description",
            "Campaign Group",
            "Allow free-format emails",
            "Require email address confirmation",
            "Allow put back to queue",
            "Allow move to another campaign",
            "Allow save as a draft",
            "Email Channel",
            "Service Level",
            "Assigned Teams",
        ):
            value = QLabel(self)
            value.setWordWrap(True)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            form.addRow(f"{caption}:", value)
            self.values[caption] = value
        layout.addLayout(form)

        header = QHBoxLayout()
        title = QLabel("<b>Email Templates</b>", self)
        header.addWidget(title)
        header.addStretch(1)
        self.view_button = QPushButton("&View…", self)
        self.add_button = QPushButton("A&dd…", self)
        self.delete_button = QPushButton("De&lete", self)
        for button in (self.view_button, self.add_button, self.delete_button):
            header.addWidget(button)
        layout.addLayout(header)
        self.template_model: RecordTableModel[AssignedTemplate] = RecordTableModel(
            [
                Column("Template Name", lambda link: link.name),
                Column("Email Subject", lambda link: link.subject),
                Column(
                    "Added On",
                    lambda link: self.ctx.format_datetime(link.added_on),
                    sort_key=lambda link: link.added_on.timestamp(),
                ),
            ],
            self,
        )
        self.template_proxy = sortable(self.template_model, self)
        self.template_view = table_view(self, "Email Templates")
        self.template_view.setModel(self.template_proxy)
        title.setBuddy(self.template_view)
        layout.addWidget(self.template_view, 1)
        self.view_button.clicked.connect(self.view_template)
        self.add_button.clicked.connect(self.add_templates)
        self.delete_button.clicked.connect(self.delete_template)
        self.template_view.doubleClicked.connect(self.view_template)
        self.template_view.selectionModel().selectionChanged.connect(self._update_buttons)
        self.show_campaign(None)

    def show_campaign(self, campaign_id: int | None) -> None:
        self.campaign = self.ctx.campaigns.get_campaign(campaign_id) if campaign_id else None
        c = self.campaign
        if c is None:
            for label in self.values.values():
                label.setText("")
            self.values["Campaign Title"].setText("Select a campaign to see its details.")
            self.template_model.set_rows([])
        else:
            org = self.ctx.settings.get()
            org_default = "Organisation Default Email Channel" + (
                f" ({org.default_channel.name})" if org.default_channel else ""
            )
            texts = {
                "Campaign Title": c.title,
                "Campaign Description": c.description or "—",
                "Campaign Group": c.group.name,
                "Allow free-format emails": yes_no(c.allow_free_format),
                "Require email address confirmation": yes_no(c.require_address_confirmation),
                "Allow put back to queue": yes_no(c.allow_put_back),
                "Allow move to another campaign": yes_no(c.allow_move),
                "Allow save as a draft": yes_no(c.allow_draft),
                "Email Channel": c.channel.name if c.channel else org_default,
                "Service Level": f"{c.service_level_period} seconds",
                "Assigned Teams": ", ".join(t.name for t in c.teams) or "none",
            }
            for caption, text in texts.items():
                self.values[caption].setText(text)
            self.template_model.set_rows(c.templates)
            self.template_view.sortByColumn(2, Qt.SortOrder.AscendingOrder)
        self._update_buttons()

    def _selected_link(self) -> AssignedTemplate | None:
        rows = self.template_view.selectionModel().selectedRows()
        return self.template_proxy.data(rows[0], ROW_ROLE) if rows else None

    def _update_buttons(self, *_args: object) -> None:
        has_campaign = self.campaign is not None
        selected = self._selected_link() is not None
        self.add_button.setEnabled(has_campaign)
        self.view_button.setEnabled(selected)
        self.delete_button.setEnabled(selected)

    def view_template(self) -> TemplateEditorDialog | None:
        link = self._selected_link()
        if link is None:
            return None
        dialog = TemplateEditorDialog(
            self.ctx, self.ctx.templates.get_template(link.template_id), self
        )
        dialog.accepted.connect(self.refresh)
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        return dialog

    def add_templates(self) -> TemplatePickerDialog | None:
        if self.campaign is None:
            return None
        assigned = {link.template_id for link in self.template_model.rows()}
        choices = [
            (t.id, t.name, t.subject)
            for t in self.ctx.templates.list_templates()
            if t.id not in assigned
        ]
        if not choices:
            messages.info(
                self,
                "Add Email Templates",
                "Every template is already assigned to this campaign. Create new "
                "templates in Campaigns ▸ Email Templates.",
            )
            return None
        picker = TemplatePickerDialog(choices, self)
        campaign_id = self.campaign.id

        def add() -> None:
            try:
                for template_id in picker.selected_ids():
                    self.ctx.campaigns.add_template(campaign_id, template_id)
            except ServiceError as exc:
                messages.error(self, "Add Email Templates", str(exc))
            self.refresh()

        picker.accepted.connect(add)
        picker.finished.connect(picker.deleteLater)
        picker.open()
        return picker

    def delete_template(self) -> None:
        link = self._selected_link()
        if link is None or self.campaign is None:
            return
        if not messages.confirm(
            self,
            "Delete Email Template",
            f"Remove the template '{link.name}' from the campaign "
            f"'{self.campaign.title}'? The template itself is kept.",
            ok="Remove",
        ):
            return
        try:
            self.ctx.campaigns.remove_template(self.campaign.id, link.template_id)
        except ServiceError as exc:
            messages.error(self, "Delete Email Template", str(exc))
        self.refresh()

    def refresh(self) -> None:
        self.show_campaign(self.campaign.id if self.campaign else None)
        self.changed.emit()


class CampaignConfigurationScreen(QWidget):
    """Campaigns ▸ Configuration."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.shown_group_id: int | None = None
        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

        # Left: the group tree.
        left = QWidget(splitter)
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        self.group_model = GroupTreeModel(self)
        self.group_tree = QTreeView(left)
        self.group_tree.setModel(self.group_model)
        self.group_tree.setAccessibleName("Campaign Groups")
        self.group_tree.setHeaderHidden(True)
        self.group_tree.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        groups_label = QLabel("Campaign &Groups", left)
        groups_label.setBuddy(self.group_tree)
        left_layout.addWidget(groups_label)
        left_layout.addWidget(self.group_tree, 1)
        group_buttons = QHBoxLayout()
        self.show_button = QPushButton("&Show", left)
        self.new_group_button = QPushButton("New Gr&oup…", left)
        self.edit_group_button = QPushButton("Ed&it…", left)
        self.delete_group_button = QPushButton("Delete Gro&up", left)
        for b in (
            self.show_button,
            self.new_group_button,
            self.edit_group_button,
            self.delete_group_button,
        ):
            group_buttons.addWidget(b)
        left_layout.addLayout(group_buttons)

        # Right: the group's campaigns above the selected campaign's details.
        right = QSplitter(Qt.Orientation.Vertical, splitter)
        top = QWidget(right)
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        campaign_header = QHBoxLayout()
        self.campaigns_label = QLabel(top)
        campaign_header.addWidget(self.campaigns_label, 1)
        self.new_campaign_button = QPushButton("&New Campaign…", top)
        self.edit_campaign_button = QPushButton("&Edit Campaign…", top)
        self.delete_campaign_button = QPushButton("Dele&te Campaign", top)
        for b in (self.new_campaign_button, self.edit_campaign_button, self.delete_campaign_button):
            campaign_header.addWidget(b)
        top_layout.addLayout(campaign_header)
        self.campaign_model: RecordTableModel[CampaignRecord] = RecordTableModel(
            [
                Column("Campaign Title", lambda c: c.title),
                Column("Campaign Description", lambda c: c.description),
                Column(
                    "Service Level Period",
                    lambda c: f"{c.service_level_period} s",
                    sort_key=lambda c: c.service_level_period,
                ),
                Column("Allow free-format emails", lambda c: yes_no(c.allow_free_format)),
            ],
            self,
        )
        self.campaign_proxy = sortable(self.campaign_model, self)
        self.campaign_view = table_view(top, "Campaigns")
        self.campaign_view.setModel(self.campaign_proxy)
        self.campaigns_label.setBuddy(self.campaign_view)
        top_layout.addWidget(self.campaign_view)
        self.details = CampaignDetails(ctx, right)
        splitter.setStretchFactor(1, 3)
        right.setStretchFactor(1, 2)

        self.show_button.clicked.connect(self.show_selected_group)
        self.group_tree.activated.connect(self.show_selected_group)
        self.new_group_button.clicked.connect(self.new_group)
        self.edit_group_button.clicked.connect(self.edit_group)
        self.delete_group_button.clicked.connect(self.delete_group)
        self.new_campaign_button.clicked.connect(self.new_campaign)
        self.edit_campaign_button.clicked.connect(self.edit_campaign)
        self.delete_campaign_button.clicked.connect(self.delete_campaign)
        self.campaign_view.doubleClicked.connect(self.edit_campaign)
        self.campaign_view.selectionModel().selectionChanged.connect(self._campaign_selected)
        self.group_tree.selectionModel().selectionChanged.connect(self._update_buttons)
        self.details.changed.connect(self._reload_campaigns)
        self.reload()

    # ---- loading ------------------------------------------------------------
    def reload(self) -> None:
        selected = self.selected_group()
        self.group_model.set_groups(self.ctx.campaigns.list_groups())
        self.group_tree.expandAll()
        target = (selected.id if selected else None) or self.shown_group_id
        if target is not None:
            self.select_group(target)
        self._reload_campaigns()

    def selected_group(self) -> GroupNode | None:
        indexes = self.group_tree.selectionModel().selectedIndexes()
        return self.group_model.node(indexes[0]) if indexes else None

    def select_group(self, group_id: int) -> None:
        index = self.group_model.index_of(group_id)
        if index.isValid():
            self.group_tree.setCurrentIndex(index)

    def show_selected_group(self) -> None:
        group = self.selected_group()
        self.shown_group_id = group.id if group else None
        self._reload_campaigns()

    def _reload_campaigns(self) -> None:
        current = self.selected_campaign()
        group = self.group_model.node(self.group_model.index_of(self.shown_group_id or -1))
        if group is None:
            self.shown_group_id = None
            self.campaigns_label.setText("&Campaigns — select a group and press Show")
            self.campaign_model.set_rows([])
        else:
            self.campaigns_label.setText(f"&Campaigns in {group.name.replace('&', '&&')}")
            self.campaign_model.set_rows(self.ctx.campaigns.list_campaigns(group.id))
            self.campaign_view.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        if current is not None:
            self.select_campaign(current.id)
        self._campaign_selected()

    def selected_campaign(self) -> CampaignRecord | None:
        return selected_record(self.campaign_view)

    def select_campaign(self, campaign_id: int) -> bool:
        return select_record(self.campaign_view, campaign_id)

    def _campaign_selected(self, *_args: QItemSelection) -> None:
        campaign = self.selected_campaign()
        self.details.show_campaign(campaign.id if campaign else None)
        self._update_buttons()

    def _update_buttons(self, *_args: object) -> None:
        has_group = self.selected_group() is not None
        self.show_button.setEnabled(has_group)
        self.edit_group_button.setEnabled(has_group)
        self.delete_group_button.setEnabled(has_group)
        has_campaign = self.selected_campaign() is not None
        self.edit_campaign_button.setEnabled(has_campaign)
        self.delete_campaign_button.setEnabled(has_campaign)

    # ---- groups -------------------------------------------------------------
    def new_group(self) -> GroupDialog:
        parent = self.selected_group()
        return self._open_group_dialog(
            GroupDialog(self.ctx, None, parent.id if parent else None, self)
        )

    def edit_group(self) -> GroupDialog | None:
        group = self.selected_group()
        if group is None:
            return None
        return self._open_group_dialog(GroupDialog(self.ctx, group, group.parent_id, self))

    def _open_group_dialog(self, dialog: GroupDialog) -> GroupDialog:
        def saved() -> None:
            self.reload()
            if dialog.saved_id is not None:
                self.select_group(dialog.saved_id)

        dialog.accepted.connect(saved)
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        return dialog

    def delete_group(self) -> None:
        group = self.selected_group()
        if group is None or not confirm_and_run(
            self,
            "Delete Campaign Group",
            f"Delete the campaign group '{group.name}'?",
            lambda: self.ctx.campaigns.delete_group(group.id),
        ):
            return
        if self.shown_group_id == group.id:
            self.shown_group_id = None
        self.reload()

    # ---- campaigns ----------------------------------------------------------
    def new_campaign(self) -> NewCampaignDialog:
        """New Campaign → choose Email → Next → the Edit Email Campaign dialog."""
        chooser = NewCampaignDialog(self)
        chooser.accepted.connect(self._open_new_campaign_dialog)
        chooser.finished.connect(chooser.deleteLater)
        chooser.open()
        return chooser

    def _open_new_campaign_dialog(self) -> EditEmailCampaignDialog:
        group = self.selected_group()
        dialog = EditEmailCampaignDialog(
            self.ctx, None, self, default_group_id=group.id if group else None
        )
        dialog.saved.connect(self._campaign_saved)
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        return dialog

    def edit_campaign(self) -> EditEmailCampaignDialog | None:
        campaign = self.selected_campaign()
        if campaign is None:
            return None
        dialog = EditEmailCampaignDialog(
            self.ctx, self.ctx.campaigns.get_campaign(campaign.id), self
        )
        dialog.saved.connect(self._campaign_saved)
        dialog.open()
        return dialog

    def _campaign_saved(self, campaign_id: int) -> None:
        campaign = self.ctx.campaigns.get_campaign(campaign_id)
        self.shown_group_id = campaign.group_id
        self.reload()
        self.select_group(campaign.group_id)
        self._reload_campaigns()
        self.select_campaign(campaign_id)

    def delete_campaign(self) -> None:
        campaign = self.selected_campaign()
        if campaign is not None and confirm_and_run(
            self,
            "Delete Campaign",
            f"Delete the email campaign '{campaign.title}'?",
            lambda: self.ctx.campaigns.delete_campaign(campaign.id),
        ):
            self.reload()
