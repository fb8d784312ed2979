"""Channels ▸ Email: the list of email channels (the channel editor is in
app.ui.channel_dialog, the filters and their editor in app.ui.channel_filters).

The list is read on the LISTS lane, a channel's editor opens once what it shows has been
read (INTERACTIVE), and deleting runs off the GUI thread too: nothing here waits for the
database, the secret store or a mail server on the GUI thread. The list is read again
after each change made here, and when the change hub (app.ui.changes) says something
changed — a channel or its filters edited on another workstation among others.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from app.services.records import ChannelRecord
from app.ui.changes import ChangeWatcher
from app.ui.channel_dialog import ChannelDialog, ChannelSetup, read_setup
from app.ui.channel_filters import FilterDialog, hint
from app.ui.context import AppContext
from app.ui.forms import ErrorLabel
from app.ui.messages import messages
from app.ui.models import ROW_ROLE, Column, RecordTableModel, sortable
from app.ui.operations import BACKGROUND, LISTS, Failure, run
from app.ui.widgets import confirm_then_run, selected_record, table_view, yes_no

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
        self.error = ErrorLabel(self)  # the list could not be read
        layout.addWidget(self.error)
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
        self.view.sortByColumn(0, Qt.SortOrder.AscendingOrder)  # kept when read again
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
        self._select_id: int | None = None  # to select once the list is read again
        self._opening = False  # a channel's editor is being read
        # Changes made elsewhere (the change hub): the list is read again.
        self.watcher = ChangeWatcher(ctx, self)
        self.watcher.changed.connect(self.reload)
        self._update_buttons()
        self._show_status()
        self.reload()

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
        """A newly enabled channel gets its worker; changed ones reconnect by themselves.
        (Starting reads the enabled channels: on the BACKGROUND lane.)"""
        events = self.ctx.channel_events
        if events is not None:
            run(self, events.start, None, self._retrieval_failed, lane=BACKGROUND)

    def _retrieval_failed(self, failure: Failure) -> None:
        self.status_label.setText(f"Retrieval could not be started: {failure.message}")

    def check_now(self) -> None:
        channel = self.selected()
        if channel is not None and self.ctx.channel_events is not None:
            self.ctx.channel_events.check_now(channel.id)

    def reload(self, select_id: int | None = None) -> None:
        """Read the list again (on the LISTS lane), keeping the selection or selecting
        ``select_id``. Asked again while a reload waits, it is one reload."""
        if select_id is not None:
            self._select_id = select_id
        channels = self.ctx.channels
        run(
            self,
            channels.list_channels,
            self._loaded,
            self._load_failed,
            lane=LISTS,
            coalesce="reload",
        )

    def _loaded(self, rows: list[ChannelRecord]) -> None:
        current = self.selected()
        keep = self._select_id if self._select_id is not None else (current.id if current else None)
        self._select_id = None
        self.error.show_message("")
        if rows != self.model.rows():  # else the list stays as it is (scrolled, selected)
            self.model.set_rows(rows)
        for row in range(self.proxy.rowCount()):
            if self.proxy.data(self.proxy.index(row, 0), ROW_ROLE).id == keep:
                self.view.selectRow(row)
        self._update_buttons()
        self._show_status()

    def _load_failed(self, failure: Failure) -> None:
        self.error.show_message(f"The email channels could not be read: {failure.message}")

    def selected(self) -> ChannelRecord | None:
        return selected_record(self.view)

    def _update_buttons(self, *_args: object) -> None:
        has = self.selected() is not None
        self.new_button.setEnabled(not self._opening)
        self.edit_button.setEnabled(has and not self._opening)
        self.delete_button.setEnabled(has)

    # ---- the editor ---------------------------------------------------------
    def _open(self, channel_id: int | None) -> None:
        """Read what the editor shows (off the GUI thread), then open it."""
        if self._opening:
            return
        title = "Edit Email Channel" if channel_id is not None else "New Email Channel"

        def read(setup: ChannelSetup) -> None:
            self._set_opening(False)
            self._show_dialog(setup)

        def failed(failure: Failure) -> None:
            self._set_opening(False)
            messages.error(self, title, failure.message)
            self.reload()

        self._set_opening(True)
        run(self, read_setup(self.ctx, channel_id), read, failed)

    def _set_opening(self, opening: bool) -> None:
        self._opening = opening
        self._update_buttons()

    def _show_dialog(self, setup: ChannelSetup) -> ChannelDialog:
        dialog = ChannelDialog(self.ctx, setup, self)
        dialog.channel_saved.connect(self.reload)
        dialog.channel_saved.connect(self._restart_retrieval)
        # Filters are saved at once, so even a cancelled dialog may have changed the list.
        dialog.finished.connect(lambda _result: self.reload())
        dialog.open()
        return dialog

    def new_channel(self) -> None:
        """Open the editor of a new channel (once the campaigns have been read)."""
        self._open(None)

    def edit_channel(self, *_args: object) -> None:
        """Open the editor of the selected channel (once it has been read)."""
        channel = self.selected()
        if channel is not None:
            self._open(channel.id)

    def delete_channel(self) -> None:
        channel, channels = self.selected(), self.ctx.channels
        if channel is None:
            return
        confirm_then_run(  # SecretStoreError is a ServiceError: shown too
            self,
            "Delete Email Channel",
            f"Delete the channel '{channel.name}' with its {len(channel.filters)} filter(s) "
            "and stored passwords?",
            lambda: channels.delete_channel(channel.id),
            self.reload,
        )
