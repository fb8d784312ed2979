"""Channels ▸ Email: the list of email channels (the channel editor is in
app.ui.channel_dialog, the filter editor in app.ui.channel_filters)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.services.errors import ServiceError
from app.services.records import ChannelRecord
from app.ui.channel_dialog import ChannelDialog
from app.ui.channel_filters import FilterDialog, hint
from app.ui.context import AppContext
from app.ui.messages import messages
from app.ui.models import ROW_ROLE, Column, RecordTableModel, sortable
from app.ui.widgets import confirm_and_run, selected_record, table_view, yes_no

__all__ = ["ChannelDialog", "ChannelsScreen", "FilterDialog"]


class ChannelsScreen(QWidget):
    """Channels ▸ Email: the list of mailboxes with New, Edit and Delete."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        layout = QVBoxLayout(self)
        header = QHBoxLayout()
        header.addWidget(
            hint(
                "Each channel is one mailbox: emails are retrieved from it and replies sent.", self
            ),
            1,
        )
        self.new_button = QPushButton("&New Channel…", self)
        self.edit_button = QPushButton("&Edit…", self)
        self.delete_button = QPushButton("&Delete", self)
        for button in (self.new_button, self.edit_button, self.delete_button):
            header.addWidget(button)
        layout.addLayout(header)
        self.model: RecordTableModel[ChannelRecord] = RecordTableModel(
            [
                Column("Channel Name", lambda c: c.name),
                Column("Email Address", lambda c: c.email_address),
                Column(
                    "Default Campaign",
                    lambda c: c.default_campaign.title if c.default_campaign else "",
                ),
                Column("Enabled", lambda c: yes_no(c.enabled)),
                Column("Filters", lambda c: len(c.filters)),
            ],
            self,
        )
        self.proxy = sortable(self.model, self)
        self.view = table_view(self, "Email Channels")
        self.view.setModel(self.proxy)
        layout.addWidget(self.view)
        status_row = QHBoxLayout()
        self.status_label = QLabel(self)
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.check_now_button = QPushButton("Check &now", self)
        self.check_now_button.setToolTip("Retrieve new email from the selected channel now")
        status_row.addWidget(self.status_label, 1)
        status_row.addWidget(self.check_now_button)
        layout.addLayout(status_row)
        self.check_now_button.clicked.connect(self.check_now)
        if ctx.channel_events is not None:
            ctx.channel_events.changed.connect(self._show_status)
        self.view.selectionModel().selectionChanged.connect(self._show_status)
        self.new_button.clicked.connect(self.new_channel)
        self.edit_button.clicked.connect(self.edit_channel)
        self.delete_button.clicked.connect(self.delete_channel)
        self.view.doubleClicked.connect(self.edit_channel)
        self.view.selectionModel().selectionChanged.connect(self._update_buttons)
        self.reload()
        self.view.resizeColumnsToContents()
        self._show_status()

    def _show_status(self, *_args: object) -> None:
        """The selected channel's retrieval state, as in the status bar, in full."""
        channel = self.selected()
        events = self.ctx.channel_events
        state = events.states.get(channel.id) if events is not None and channel else None
        if channel is None:
            text = "Select a channel to see its retrieval status."
        elif not channel.enabled:
            text = f"{channel.name}: disabled — enable it to retrieve email."
        elif events is None:
            text = f"{channel.name}: the channel service is not running in this window."
        elif state is None:
            text = f"{channel.name}: waiting for the channel service to start it."
        else:
            text = state.describe() + (f"\n{state.last_report}" if state.last_report else "")
        self.status_label.setText(text)
        self.check_now_button.setEnabled(
            events is not None and channel is not None and channel.enabled
        )

    def _restart_retrieval(self, *_args: object) -> None:
        """A newly enabled channel gets its worker; changed ones reconnect by themselves."""
        if self.ctx.channel_events is not None:
            self.ctx.channel_events.start()

    def check_now(self) -> None:
        channel = self.selected()
        if channel is not None and self.ctx.channel_events is not None:
            self.ctx.channel_events.check_now(channel.id)

    def reload(self, select_id: int | None = None) -> None:
        current = self.selected()
        keep = select_id if select_id is not None else (current.id if current else None)
        self.model.set_rows(self.ctx.channels.list_channels())
        self.view.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        for row in range(self.proxy.rowCount()):
            if self.proxy.data(self.proxy.index(row, 0), ROW_ROLE).id == keep:
                self.view.selectRow(row)
        self._update_buttons()

    def selected(self) -> ChannelRecord | None:
        return selected_record(self.view)

    def _update_buttons(self, *_args: object) -> None:
        has = self.selected() is not None
        self.edit_button.setEnabled(has)
        self.delete_button.setEnabled(has)

    def _open(self, channel: ChannelRecord | None) -> ChannelDialog:
        dialog = ChannelDialog(self.ctx, channel, self)
        dialog.saved.connect(self.reload)
        dialog.saved.connect(self._restart_retrieval)
        # Filters are saved at once, so even a cancelled dialog may have changed the list.
        dialog.finished.connect(lambda _result: self.reload())
        dialog.open()
        return dialog

    def new_channel(self) -> ChannelDialog:
        return self._open(None)

    def edit_channel(self, *_args: object) -> ChannelDialog | None:
        channel = self.selected()
        if channel is None:
            return None
        try:
            loaded = self.ctx.channels.get_channel(channel.id)
        except ServiceError as exc:
            messages.error(self, "Edit Email Channel", str(exc))
            self.reload()
            return None
        return self._open(loaded)

    def delete_channel(self) -> None:
        channel = self.selected()
        if channel is None:
            return
        confirm_and_run(  # SecretStoreError is a ServiceError: shown too
            self,
            "Delete Email Channel",
            f"Delete the channel '{channel.name}' with its {len(channel.filters)} filter(s) "
            "and stored passwords?",
            lambda: self.ctx.channels.delete_channel(channel.id),
        )
        self.reload()
