"""Campaigns ▸ Configuration: the campaign group tree, a group's campaigns, and the
selected campaign's details with its Email Templates list.

Nothing here reads or writes the database on the GUI thread (``app.ui.operations``): the
lists are read again on the LISTS lane (after a change made here, or heard by the change
hub), the selected campaign, the data a dialog opens with, saves and deletes on the
INTERACTIVE lane. A reply that is no longer the latest asked for is not shown."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QItemSelection, Qt
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

from app.services.records import (
    AssignedTemplate,
    CampaignRecord,
    CampaignWithAssignments,
    GroupNode,
    TemplateRecord,
)
from app.ui.campaign_dialog import (
    CampaignDialogData,
    EditEmailCampaignDialog,
    NewCampaignDialog,
    group_paths,
    read_dialog_data,
)
from app.ui.changes import ChangeWatcher
from app.ui.context import AppContext
from app.ui.forms import ERROR_STYLE, FormDialog, combo_select_data
from app.ui.messages import messages
from app.ui.models import ROW_ROLE, Column, GroupTreeModel, RecordTableModel, sortable
from app.ui.operations import INTERACTIVE, LISTS, Failure, Job, run
from app.ui.templates_screen import TemplateEditorDialog
from app.ui.widgets import (
    confirm_then_run,
    select_record,
    selected_record,
    table_view,
    yes_no,
)


class GroupDialog(FormDialog):
    """Create or edit a campaign group; ``groups`` (read before it opens) are the parents
    it offers."""

    def __init__(
        self,
        ctx: AppContext,
        groups: list[GroupNode],
        group: GroupNode | None,
        parent_id: int | None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent, "Edit Campaign Group" if group else "New Campaign Group")
        self.ctx, self.group = ctx, group
        self.saved_id: int | None = None
        self._loading = True
        form = QFormLayout()
        self.outer.addLayout(form)
        self.name_edit = QLineEdit(self)
        self.description_edit = QPlainTextEdit(self)
        self.description_edit.setTabChangesFocus(True)
        self.description_edit.setFixedHeight(60)
        self.parent_combo = QComboBox(self)
        self.parent_combo.addItem("(top level)", None)
        for gid, path in group_paths(groups):
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

    def save(self) -> Callable[[], GroupNode]:
        """The fields as they are now; the work saves them (off the GUI thread)."""
        name = self.name_edit.text()
        description = self.description_edit.toPlainText()
        parent_id = self.parent_combo.currentData()
        service, group = self.ctx.campaigns, self.group
        if group is None:
            return lambda: service.create_group(name, description, parent_id)
        return lambda: service.update_group(group.id, name, description, parent_id)

    def saved(self, result: object) -> None:
        assert isinstance(result, GroupNode)
        self.saved_id = result.id


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

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__("Campaign Details", parent)
        self.ctx = ctx
        self.campaign: CampaignWithAssignments | None = None
        self._default_channel: str | None = None
        self.wanted_id: int | None = None  # the campaign to show (it may still be read)
        self._asked = 0  # only the latest reading is shown
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
        self._show(None)

    # ---- showing ------------------------------------------------------------
    def show_campaign(self, campaign_id: int | None) -> None:
        """Show the campaign ``campaign_id`` (read off the GUI thread), or none. Another
        campaign than the one shown is blank until it is read (nothing is done to the
        wrong one meanwhile), and read on the interactive lane: the user waits for it; the
        one shown is read again on the lists' lane, never ahead of a save."""
        self._asked += 1
        asked, again = self._asked, campaign_id == self.wanted_id
        self.wanted_id = campaign_id
        if campaign_id is None:
            self._show(None)
            return
        if self.campaign is not None and self.campaign.id != campaign_id:
            self._show(None, note="Reading the campaign…")
        campaigns, settings = self.ctx.campaigns, self.ctx.settings

        def read() -> tuple[CampaignWithAssignments, str | None]:
            org = settings.get()
            default = org.default_channel.name if org.default_channel else None
            return campaigns.get_campaign(campaign_id), default

        def failed(failure: Failure) -> None:
            if asked == self._asked:
                self._show(None, note=failure.message)

        run(
            self,
            read,
            lambda found: self._read(asked, *found),
            failed,
            lane=LISTS if again else INTERACTIVE,
            coalesce="campaign",
        )

    def _read(
        self, asked: int, campaign: CampaignWithAssignments, default_channel: str | None
    ) -> None:
        if asked != self._asked:
            return  # asked again since (another campaign, or after a change)
        if campaign == self.campaign and default_channel == self._default_channel:
            return  # as shown: the selected template stays selected
        self._show(campaign, default_channel)

    def _show(
        self,
        campaign: CampaignWithAssignments | None,
        default_channel: str | None = None,
        note: str = "",
    ) -> None:
        """Fill the labels and the template list from ``campaign`` (``default_channel``:
        the name of the organisation's default channel); without one, say ``note`` (why
        there is nothing to show)."""
        self.campaign, self._default_channel = campaign, default_channel
        c = campaign
        if c is None:
            for label in self.values.values():
                label.setText("")
            self.values["Campaign Title"].setText(note or "Select a campaign to see its details.")
            self.template_model.set_rows([])
        else:
            org_default = "Organisation Default Email Channel" + (
                f" ({default_channel})" if default_channel else ""
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

    def refresh(self) -> None:
        """Read the shown campaign again."""
        self.show_campaign(self.wanted_id)

    # ---- the campaign's templates -------------------------------------------
    def _report(self, title: str) -> Callable[[Failure], None]:
        """A failure shown over the details (what is shown is read again)."""

        def failed(failure: Failure) -> None:
            messages.error(self, title, failure.message)
            self.refresh()

        return failed

    def view_template(self) -> None:
        """Read the selected template (off the GUI thread), then open it in the editor."""
        link = self._selected_link()
        if link is None:
            return
        templates = self.ctx.templates

        def open_editor(template: TemplateRecord) -> None:
            dialog = TemplateEditorDialog(self.ctx, template, self)
            dialog.accepted.connect(self.refresh)
            dialog.finished.connect(dialog.deleteLater)
            dialog.open()

        run(
            self,
            lambda: templates.get_template(link.template_id),
            open_editor,
            self._report("View Email Template"),
        )

    def add_templates(self) -> None:
        """Read the templates (off the GUI thread), then offer those not assigned yet."""
        if self.campaign is None:
            return
        campaign_id = self.campaign.id
        templates = self.ctx.templates
        run(
            self,
            templates.list_templates,
            lambda found: self._choose_templates(campaign_id, found),
            self._report("Add Email Templates"),
        )

    def _choose_templates(self, campaign_id: int, templates: list[TemplateRecord]) -> None:
        if self.campaign is None or self.campaign.id != campaign_id:
            return  # another campaign is shown now
        assigned = {link.template_id for link in self.campaign.templates}
        choices = [(t.id, t.name, t.subject) for t in templates if t.id not in assigned]
        if not choices:
            messages.info(
                self,
                "Add Email Templates",
                "Every template is already assigned to this campaign. Create new "
                "templates in Campaigns ▸ Email Templates.",
            )
            return
        picker = TemplatePickerDialog(choices, self)
        campaigns = self.ctx.campaigns

        def add() -> None:
            chosen = picker.selected_ids()
            if not chosen:
                return

            def work() -> None:
                for template_id in chosen:
                    campaigns.add_template(campaign_id, template_id)

            run(self, work, lambda _none: self.refresh(), self._report("Add Email Templates"))

        picker.accepted.connect(add)
        picker.finished.connect(picker.deleteLater)
        picker.open()

    def delete_template(self) -> None:
        link = self._selected_link()
        if link is None or self.campaign is None:
            return
        campaign_id, campaigns = self.campaign.id, self.ctx.campaigns
        confirm_then_run(
            self,
            "Delete Email Template",
            f"Remove the template '{link.name}' from the campaign "
            f"'{self.campaign.title}'? The template itself is kept.",
            lambda: campaigns.remove_template(campaign_id, link.template_id),
            self.refresh,
            ok="Remove",
        )


class CampaignConfigurationScreen(QWidget):
    """Campaigns ▸ Configuration."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.shown_group_id: int | None = None
        self._groups: list[GroupNode] | None = None  # as last read
        # What to select once the lists being read arrive (a group or campaign just saved).
        self._select_group_id: int | None = None
        self._select_campaign_id: int | None = None
        self._campaigns_asked = 0  # only the latest reading of the campaign list is shown
        self._restoring = False  # the list is being filled: its selection is not the user's
        self._opening: Job[Any] | None = None  # the reading a dialog waits for to open
        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)
        self.note = QLabel(self)
        self.note.setWordWrap(True)
        self.note.setStyleSheet(ERROR_STYLE)
        self.note.hide()
        layout.addWidget(self.note)

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
        # Changes made elsewhere (the change hub): everything shown is read again.
        self.watcher = ChangeWatcher(ctx, self)
        self.watcher.changed.connect(self.reload)
        self._show_campaigns(None, [])
        self._update_buttons()
        self.reload()

    # ---- loading ------------------------------------------------------------
    def reload(
        self, select_group_id: int | None = None, select_campaign_id: int | None = None
    ) -> None:
        """Read the groups again (off the GUI thread), then the shown group's campaigns
        and the selected campaign; then select ``select_group_id``/``select_campaign_id``."""
        self._select_group_id = select_group_id or self._select_group_id
        self._select_campaign_id = select_campaign_id or self._select_campaign_id
        run(
            self,
            self.ctx.campaigns.list_groups,
            self._groups_read,
            self._list_failed,
            lane=LISTS,
            coalesce="groups",
        )

    def _groups_read(self, groups: list[GroupNode]) -> None:
        self._set_note("")
        wanted, self._select_group_id = self._select_group_id, None
        if groups != self._groups:  # else the tree stays as it is (and as it was opened)
            selected = self.selected_group()
            self._groups = groups
            self.group_model.set_groups(groups)
            self.group_tree.expandAll()
            wanted = wanted or (selected.id if selected else None) or self.shown_group_id
        if wanted is not None:
            self.select_group(wanted)
        self._update_buttons()
        self._reload_campaigns()

    def _list_failed(self, failure: Failure) -> None:
        self._set_note(failure.message)

    def _set_note(self, text: str) -> None:
        self.note.setText(text)
        self.note.setVisible(bool(text))

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
        self._reload_campaigns(lane=INTERACTIVE)

    def _reload_campaigns(self, lane: str = LISTS) -> None:
        """Read the shown group's campaigns (off the GUI thread), then show them."""
        self._campaigns_asked += 1
        asked = self._campaigns_asked
        group = self.group_model.node(self.group_model.index_of(self.shown_group_id or -1))
        if group is None:
            self.shown_group_id = None
            self._show_campaigns(None, [])
            return
        group_id, campaigns = group.id, self.ctx.campaigns
        run(
            self,
            lambda: campaigns.list_campaigns(group_id),
            lambda rows: self._campaigns_read(asked, group_id, rows),
            self._list_failed,
            lane=lane,
            coalesce="campaigns",
        )

    def _campaigns_read(self, asked: int, group_id: int, rows: list[CampaignRecord]) -> None:
        if asked != self._campaigns_asked:
            return  # asked again since (another group, or after a change)
        self._set_note("")
        group = self.group_model.node(self.group_model.index_of(group_id))
        self._show_campaigns(group, rows)

    def _show_campaigns(self, group: GroupNode | None, rows: list[CampaignRecord]) -> None:
        wanted, self._select_campaign_id = self._select_campaign_id, None
        if group is None:
            self.campaigns_label.setText("&Campaigns — select a group and press Show")
        else:
            self.campaigns_label.setText(f"&Campaigns in {group.name.replace('&', '&&')}")
        self._restoring = True
        try:
            if rows != self.campaign_model.rows():  # else the list stays as it is
                current = self.selected_campaign()
                self.campaign_model.set_rows(rows)
                self.campaign_view.sortByColumn(0, Qt.SortOrder.AscendingOrder)
                wanted = wanted or (current.id if current else None)
            if wanted is not None:
                self.select_campaign(wanted)
        finally:
            self._restoring = False
        self._campaign_selected()  # read again (it may have changed too)

    def selected_campaign(self) -> CampaignRecord | None:
        return selected_record(self.campaign_view)  # type: ignore[no-any-return]

    def select_campaign(self, campaign_id: int) -> bool:
        return select_record(self.campaign_view, campaign_id)

    def _campaign_selected(self, *_args: QItemSelection) -> None:
        if self._restoring:
            return
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

    # ---- opening a dialog ---------------------------------------------------
    def _read_then_open(
        self, title: str, read: Callable[[], Any], open_with: Callable[[Any], object]
    ) -> None:
        """Read what a dialog needs (off the GUI thread), then open it with that. Asked
        again while it is being read (a second click): nothing more."""
        if self._opening is not None and not self._opening.finished:
            return

        def failed(failure: Failure) -> None:
            messages.error(self, title, failure.message)
            if failure.kind == "refused":  # it may be gone: show what there is now
                self.reload()

        self._opening = run(self, read, open_with, failed, lane=INTERACTIVE)

    # ---- groups -------------------------------------------------------------
    def new_group(self) -> None:
        parent = self.selected_group()
        parent_id = parent.id if parent else None

        def open_with(groups: list[GroupNode]) -> None:
            self._open_group_dialog(GroupDialog(self.ctx, groups, None, parent_id, self))

        self._read_then_open("New Campaign Group", self.ctx.campaigns.list_groups, open_with)

    def edit_group(self) -> None:
        group = self.selected_group()
        if group is None:
            return
        group_id = group.id

        def open_with(groups: list[GroupNode]) -> None:
            found = next((g for g in groups if g.id == group_id), None)
            if found is None:
                messages.error(self, "Edit Campaign Group", "The campaign group no longer exists.")
                self.reload()
                return
            self._open_group_dialog(GroupDialog(self.ctx, groups, found, found.parent_id, self))

        self._read_then_open("Edit Campaign Group", self.ctx.campaigns.list_groups, open_with)

    def _open_group_dialog(self, dialog: GroupDialog) -> GroupDialog:
        dialog.accepted.connect(lambda: self.reload(select_group_id=dialog.saved_id))
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        return dialog

    def delete_group(self) -> None:
        group = self.selected_group()
        if group is None:
            return
        group_id, campaigns = group.id, self.ctx.campaigns

        def deleted() -> None:
            if self.shown_group_id == group_id:
                self.shown_group_id = None
            self.reload()

        confirm_then_run(
            self,
            "Delete Campaign Group",
            f"Delete the campaign group '{group.name}'?",
            lambda: campaigns.delete_group(group_id),
            deleted,
        )

    # ---- campaigns ----------------------------------------------------------
    def new_campaign(self) -> NewCampaignDialog:
        """New Campaign → choose Email → Next → the Edit Email Campaign dialog."""
        chooser = NewCampaignDialog(self)
        chooser.accepted.connect(self._open_new_campaign_dialog)
        chooser.finished.connect(chooser.deleteLater)
        chooser.open()
        return chooser

    def _open_new_campaign_dialog(self) -> None:
        group = self.selected_group()
        group_id, ctx = (group.id if group else None), self.ctx

        def open_with(data: CampaignDialogData) -> None:
            self._open_campaign_dialog(
                EditEmailCampaignDialog(ctx, data, self, default_group_id=group_id)
            )

        self._read_then_open("New Campaign", lambda: read_dialog_data(ctx), open_with)

    def edit_campaign(self) -> None:
        campaign = self.selected_campaign()
        if campaign is None:
            return
        campaign_id, ctx = campaign.id, self.ctx

        def open_with(data: CampaignDialogData) -> None:
            self._open_campaign_dialog(EditEmailCampaignDialog(ctx, data, self))

        self._read_then_open(
            "Edit Email Campaign", lambda: read_dialog_data(ctx, campaign_id), open_with
        )

    def _open_campaign_dialog(self, dialog: EditEmailCampaignDialog) -> None:
        dialog.campaign_saved.connect(self._campaign_saved)
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()

    def _campaign_saved(self, campaign: CampaignRecord) -> None:
        """Show the campaign saved: its group, in the list, its details."""
        self.shown_group_id = campaign.group_id
        self.reload(select_group_id=campaign.group_id, select_campaign_id=campaign.id)

    def delete_campaign(self) -> None:
        campaign = self.selected_campaign()
        if campaign is None:
            return
        campaign_id, campaigns = campaign.id, self.ctx.campaigns
        confirm_then_run(
            self,
            "Delete Campaign",
            f"Delete the email campaign '{campaign.title}'?",
            lambda: campaigns.delete_campaign(campaign_id),
            self.reload,
        )
