"""The routing filters of an email channel: the Filters tab of the channel editor, the
filter editor, and the small widgets the channel editors share.

Filters need a saved channel and are saved as soon as they are added, changed, moved or
deleted, each change an operation of its own off the GUI thread (app.ui.operations).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.domain.enums import FilterField, FilterMatch
from app.services.channels import FilterData
from app.services.records import CampaignRecord, FilterRecord
from app.ui.context import AppContext
from app.ui.forms import ErrorLabel, FormDialog, combo_select_data
from app.ui.messages import messages
from app.ui.models import ROW_ROLE, Column, RecordTableModel
from app.ui.operations import Failure, run
from app.ui.widgets import confirm_then_run, table_view, yes_no


def hint(text: str, parent: QWidget) -> QLabel:
    # Normal text colour: explanations must stay readable (a faded hint is hard to read).
    label = QLabel(text, parent)
    label.setWordWrap(True)
    return label


def filter_summary(flt: FilterRecord) -> str:
    return f"{flt.field.label} {flt.match.label} “{flt.keyword}”"


def campaign_combo(
    parent: QWidget, campaigns: Sequence[CampaignRecord], none_label: str | None
) -> QComboBox:
    """Campaign titles with their ids as data; ``none_label`` adds a first 'no campaign' item."""
    combo = QComboBox(parent)
    if none_label is not None:
        combo.addItem(none_label, None)
    for campaign in campaigns:
        combo.addItem(campaign.title, campaign.id)
    return combo


class FilterDialog(FormDialog):
    """One routing filter of a channel: Field, Match, Keyword, Target Campaign, Enabled."""

    def __init__(
        self,
        ctx: AppContext,
        channel_id: int,
        flt: FilterRecord | None,
        campaigns: Sequence[CampaignRecord],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent, "Edit Filter" if flt else "New Filter")
        self.ctx, self.channel_id, self.filter = ctx, channel_id, flt
        self.saved_id: int | None = None
        self._loading = True
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.outer.addLayout(form)
        self.field_combo = QComboBox(self)
        for field in FilterField:
            self.field_combo.addItem(field.label, field.value)
        self.match_combo = QComboBox(self)
        for match in FilterMatch:
            self.match_combo.addItem(match.label, match.value)
        self.keyword_edit = QLineEdit(self)
        self.keyword_edit.setMaxLength(1000)
        self.campaign_combo = campaign_combo(self, campaigns, None)
        self.campaign_combo.setPlaceholderText("Choose an email campaign")
        self.enabled_check = QCheckBox(self)
        self.add_field(form, "&Field:", self.field_combo)
        self.add_field(form, "&Match:", self.match_combo)
        self.add_field(form, "&Keyword:", self.keyword_edit)
        self.add_field(form, "Target &Campaign:", self.campaign_combo)
        self.add_field(form, "&Enabled", self.enabled_check, name="Enabled")
        self.outer.addWidget(
            hint(
                "“contains” ignores letter case. Filters are tried in priority order; the "
                "first one that matches decides the campaign.",
                self,
            )
        )
        self.finish_layout()
        if flt is None:
            combo_select_data(self.match_combo, FilterMatch.CONTAINS.value)
            self.campaign_combo.setCurrentIndex(-1)
            self.enabled_check.setChecked(True)
        else:
            combo_select_data(self.field_combo, flt.field.value)
            combo_select_data(self.match_combo, flt.match.value)
            self.keyword_edit.setText(flt.keyword)
            combo_select_data(self.campaign_combo, flt.campaign_id)
            self.enabled_check.setChecked(flt.enabled)
        self.match_combo.currentIndexChanged.connect(self._update_placeholder)
        self._update_placeholder()
        self._loading = False
        self.set_loaded()
        self.resize(480, self.sizeHint().height())

    def _update_placeholder(self, *_args: object) -> None:
        regex = self.match_combo.currentData() == FilterMatch.REGEX.value
        self.keyword_edit.setPlaceholderText(
            r"e.g. \b(refund|return)\b" if regex else "Text to look for, e.g. order"
        )

    def data(self) -> FilterData:
        return FilterData(
            field=self.field_combo.currentData(),
            match=self.match_combo.currentData(),
            keyword=self.keyword_edit.text(),
            campaign_id=self.campaign_combo.currentData(),
            enabled=self.enabled_check.isChecked(),
        )

    def save(self) -> Callable[[], FilterRecord]:
        data, channels, channel_id = self.data(), self.ctx.channels, self.channel_id
        flt = self.filter
        if flt is None:
            return lambda: channels.add_filter(channel_id, data)
        return lambda: channels.update_filter(flt.id, data)

    def saved(self, result: object) -> None:
        assert isinstance(result, FilterRecord)
        self.saved_id = result.id


class FiltersPage(QWidget):
    """The Filters tab of the channel editor: the channel's filters in priority order, with
    Add, Edit, Delete, Move Up and Move Down, each saved at once. Until the channel is saved
    it has no filters: the tab says so and offers ``save_now_button``."""

    def __init__(
        self, ctx: AppContext, campaigns: Sequence[CampaignRecord], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.ctx, self.campaigns = ctx, campaigns
        self.channel_id: int | None = None
        layout = QVBoxLayout(self)
        self.notice = QLabel(
            "Filters belong to a saved channel. Save the channel first: this dialog stays "
            "open with everything you typed, and you can then add its filters here.",
            self,
        )
        self.notice.setWordWrap(True)
        self.save_now_button = QPushButton("Sa&ve the Channel Now", self)
        notice_row = QHBoxLayout()
        notice_row.addWidget(self.notice, 1)
        notice_row.addWidget(self.save_now_button)
        layout.addLayout(notice_row)
        label = QLabel("Filter &list, in priority order:", self)
        self.model: RecordTableModel[FilterRecord] = RecordTableModel(
            [
                Column("Priority", lambda f: f.priority),
                Column("Field", lambda f: f.field.label),
                Column("Match", lambda f: f.match.label),
                Column("Keyword", lambda f: f.keyword),
                Column("Target Campaign", lambda f: f.campaign.title),
                Column("Enabled", lambda f: yes_no(f.enabled)),
            ],
            self,
        )
        self.view = table_view(self, "Filters")
        self.view.setSortingEnabled(False)  # the order is the priority
        self.view.setWordWrap(False)
        self.view.setModel(self.model)
        header = self.view.horizontalHeader()
        header.setStretchLastSection(False)
        for column in (0, 1, 2, 5):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        for column in (3, 4):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Stretch)
        label.setBuddy(self.view)
        layout.addWidget(label)
        buttons = QHBoxLayout()
        self.add_button = QPushButton("&Add…", self)
        self.edit_button = QPushButton("&Edit…", self)
        self.delete_button = QPushButton("&Delete", self)
        self.move_up_button = QPushButton("Move U&p", self)
        self.move_down_button = QPushButton("Move Dow&n", self)
        row = QHBoxLayout()
        row.addWidget(self.view, 1)
        for button in (self.add_button, self.edit_button, self.delete_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.move_up_button)
        buttons.addWidget(self.move_down_button)
        layout.addLayout(row, 1)
        self.error = ErrorLabel(self)  # the filters could not be read or changed
        layout.addWidget(self.error)
        layout.addLayout(buttons)
        layout.addWidget(
            hint(
                "The first enabled filter that matches an email decides its campaign; an email "
                "that matches none goes to the default campaign. Changes to filters are saved "
                "at once.",
                self,
            )
        )
        self.add_button.clicked.connect(self.add_filter)
        self.edit_button.clicked.connect(self.edit_filter)
        self.delete_button.clicked.connect(self.delete_filter)
        self.move_up_button.clicked.connect(lambda: self.move_filter(-1))
        self.move_down_button.clicked.connect(lambda: self.move_filter(1))
        self.view.doubleClicked.connect(self.edit_filter)
        self.view.selectionModel().selectionChanged.connect(self._update_buttons)
        self.show_channel(None, ())

    # ---- the list -----------------------------------------------------------
    def show_channel(
        self, channel_id: int | None, filters: Sequence[FilterRecord], select_id: int | None = None
    ) -> None:
        """Show the filters of the saved channel ``channel_id`` (None: not saved yet)."""
        self.channel_id = channel_id
        saved = channel_id is not None
        self.notice.setVisible(not saved)
        self.save_now_button.setVisible(not saved)
        self.view.setEnabled(saved)
        self.add_button.setEnabled(saved)
        self._show(filters, select_id)

    def _show(self, filters: Sequence[FilterRecord], select_id: int | None = None) -> None:
        self.model.set_rows(list(filters))
        for row, flt in enumerate(filters):
            if flt.id == select_id:
                self.view.selectRow(row)
        self._update_buttons()

    def reload(self, select_id: int | None = None) -> None:
        """Read the channel's filters again (off the GUI thread), selecting ``select_id``."""
        channel_id, channels = self.channel_id, self.ctx.channels
        if channel_id is None:
            return

        def read() -> tuple[FilterRecord, ...]:
            return channels.get_channel(channel_id).filters

        def done(filters: tuple[FilterRecord, ...]) -> None:
            if channel_id == self.channel_id:
                self.error.show_message("")
                self._show(filters, select_id)

        def failed(failure: Failure) -> None:
            self.error.show_message(f"The filters could not be read: {failure.message}")

        run(self, read, done, failed, coalesce="reload")

    def selected_filter(self) -> FilterRecord | None:
        rows = self.view.selectionModel().selectedRows()
        return self.model.data(rows[0], ROW_ROLE) if rows else None

    def _update_buttons(self, *_args: object) -> None:
        flt = self.selected_filter()
        rows = self.model.rows()
        row = rows.index(flt) if flt is not None else -1
        self.edit_button.setEnabled(flt is not None)
        self.delete_button.setEnabled(flt is not None)
        self.move_up_button.setEnabled(row > 0)
        self.move_down_button.setEnabled(0 <= row < len(rows) - 1)

    # ---- changes ------------------------------------------------------------
    def _open_filter_dialog(self, flt: FilterRecord | None) -> FilterDialog | None:
        if self.channel_id is None:
            return None
        dialog = FilterDialog(self.ctx, self.channel_id, flt, self.campaigns, self)
        dialog.accepted.connect(lambda: self.reload(dialog.saved_id))
        dialog.open()
        return dialog

    def add_filter(self) -> FilterDialog | None:
        return self._open_filter_dialog(None)

    def edit_filter(self, *_args: object) -> FilterDialog | None:
        flt = self.selected_filter()
        return self._open_filter_dialog(flt) if flt is not None else None

    def delete_filter(self) -> None:
        flt, channels = self.selected_filter(), self.ctx.channels
        if flt is None:
            return
        confirm_then_run(
            self,
            "Delete Filter",
            f"Delete the filter {filter_summary(flt)}?",
            lambda: channels.delete_filter(flt.id),
            self.reload,
        )

    def move_filter(self, delta: int) -> None:
        flt, channels = self.selected_filter(), self.ctx.channels
        if flt is None:
            return

        def failed(failure: Failure) -> None:
            messages.error(self, "Move Filter", failure.message)
            self.reload(flt.id)

        run(
            self,
            lambda: channels.move_filter(flt.id, delta),
            lambda _none: self.reload(flt.id),
            failed,
        )
