"""Administration ▸ Settings: the organisation's name, time zone, date format, default
email channel and message size limit.

Nothing here waits for the database on the GUI thread: the settings and the channels are
read on a lane (``app.ui.operations``); Save reads the fields on the GUI thread and saves
them off it, with Save and Revert off meanwhile.

Changes made elsewhere (the change hub: the settings or the channels saved on another
workstation) are read again and shown while nothing is being edited; edits are never
replaced: the screen says the saved settings changed, and Revert shows them."""

from __future__ import annotations

from PySide6.QtCore import QDateTime, Qt, QTimeZone, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QCompleter,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.services import validation
from app.services.errors import ServiceError, ValidationError
from app.services.records import ChannelRecord, OrganisationSettings
from app.services.settings import SettingsData
from app.ui.changes import ChangeWatcher
from app.ui.context import AppContext
from app.ui.field_focus import focus_error
from app.ui.forms import ErrorLabel, combo_select_data, plain, show_save_failure
from app.ui.messages import messages
from app.ui.operations import LISTS, Failure, run

MB = 1024 * 1024


class SettingsScreen(QWidget):
    """A form over the organisation settings, saved with an optimistic version check."""

    saved = Signal()

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.org: OrganisationSettings | None = None
        self._channels: list[ChannelRecord] | None = None  # in the combo box, as read
        self._fields: dict[str, tuple[QWidget, ErrorLabel]] = {}
        self._dirty = False
        self._loading = False
        self._busy = False  # reading or saving: Save and Revert are off
        self._edits = 0  # edits made, to know whether one came while a save ran
        outer = QVBoxLayout(self)
        self.banner = ErrorLabel(self)
        outer.addWidget(self.banner)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        outer.addLayout(form)

        self.name_edit = QLineEdit(self)
        self.name_edit.setMaxLength(200)
        self.timezone_combo = QComboBox(self)
        self.timezone_combo.setEditable(True)
        self.timezone_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.timezone_combo.addItems(validation.timezone_names())
        completer = QCompleter(self.timezone_combo.model(), self.timezone_combo)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)  # "sydney" finds Australia/Sydney
        self.timezone_combo.setCompleter(completer)
        line_edit = self.timezone_combo.lineEdit()
        assert line_edit is not None
        line_edit.setPlaceholderText("e.g. Australia/Sydney")
        self.date_format_edit = QLineEdit(self)
        self.date_format_edit.setMaxLength(40)
        self.date_format_edit.setToolTip(
            "Qt date format: yyyy year, MM month, dd day, HH hour, mm minute, ss second, "
            "MMM month name, ddd day name"
        )
        self.date_example = QLabel(self)
        self.date_example.setStyleSheet("color: palette(mid);")
        self.channel_combo = QComboBox(self)
        self.size_spin = QSpinBox(self)
        self.size_spin.setRange(1, 2000)
        self.size_spin.setToolTip("Larger incoming emails are kept but flagged as oversize")

        self._add(form, "Organisation &Name:", self.name_edit)
        self._add(form, "&Time Zone:", self.timezone_combo)
        self._add(form, "&Date Format:", self.date_format_edit)
        form.insertRow(form.rowCount() - 1, "", self.date_example)
        self._add(form, "Organisation Default &Email Channel:", self.channel_combo)
        self._add(form, "&Maximum Message Size (MB):", self.size_spin)
        self.held_spin = QSpinBox(self)
        self.held_spin.setRange(1, 7 * 24 * 60)
        self.held_spin.setToolTip(
            "When a workstation stops giving signs of life (it crashed, lost the network), "
            "the emails its agent held without a draft go back to their queues after this "
            "many minutes"
        )
        self._add(form, "Ret&urn Held Emails After (minutes):", self.held_spin)

        self.buttons = QDialogButtonBox(self)
        self.save_button = self.buttons.addButton("&Save", QDialogButtonBox.ButtonRole.AcceptRole)
        self.revert_button = self.buttons.addButton(
            "&Revert", QDialogButtonBox.ButtonRole.ResetRole
        )
        self.revert_button.setToolTip("Discard your changes and show the saved settings")
        self.status = QLabel(self)
        outer.addWidget(self.buttons)
        outer.addWidget(self.status)
        outer.addStretch(1)

        self.name_edit.textChanged.connect(self.mark_dirty)
        self.timezone_combo.editTextChanged.connect(self.mark_dirty)
        self.date_format_edit.textChanged.connect(self.mark_dirty)
        self.date_format_edit.textChanged.connect(self.update_example)
        self.timezone_combo.editTextChanged.connect(self.update_example)
        self.channel_combo.currentIndexChanged.connect(self.mark_dirty)
        self.size_spin.valueChanged.connect(self.mark_dirty)
        self.held_spin.valueChanged.connect(self.mark_dirty)
        self.save_button.clicked.connect(self.try_save)
        self.revert_button.clicked.connect(self.revert)
        self.watcher = ChangeWatcher(ctx, self)
        self.watcher.changed.connect(self.follow_changes)
        self.load()

    def _add(self, form: QFormLayout, label: str, widget: QWidget) -> None:
        caption = QLabel(label, self)
        caption.setBuddy(widget)
        form.addRow(caption, widget)
        error = ErrorLabel(self)
        form.addRow("", error)
        self._fields[plain(label)] = (widget, error)

    # ---- loading ------------------------------------------------------------
    def load(self) -> None:
        """Read the saved settings and the channels (off the GUI thread), then show them,
        discarding edits."""
        settings, channels = self.ctx.settings, self.ctx.channels
        self._set_busy(True)
        run(
            self,
            lambda: (settings.get(), channels.list_channels()),
            self._read,
            self._read_failed,
        )

    def _read(self, found: tuple[OrganisationSettings, list[ChannelRecord]]) -> None:
        org, channels = found
        self._channels = channels
        self._loading = True
        self.channel_combo.clear()
        self.channel_combo.addItem("(none)", None)
        for channel in channels:
            self.channel_combo.addItem(channel.name, channel.id)
        self._loading = False
        self._show(org)
        self._set_busy(False)

    def _read_failed(self, failure: Failure) -> None:
        self._set_busy(False)  # Revert reads again
        self.clear_errors()
        self.banner.show_message(f"The settings could not be read: {failure.message}")

    def follow_changes(self) -> None:
        """Something changed (here or on another workstation): read the settings and the
        channels again, off the GUI thread, and show them if nothing is being edited."""
        if self._busy or self.org is None:
            return  # being read or saved (what is shown next is read then); or never read
        settings, channels, edits = self.ctx.settings, self.ctx.channels, self._edits
        run(
            self,
            lambda: (settings.get(), channels.list_channels()),
            lambda found: self._read_again(found, edits),
            lambda _failure: None,  # the database is away: the window says so
            lane=LISTS,
            coalesce="follow",
        )

    def _read_again(
        self, found: tuple[OrganisationSettings, list[ChannelRecord]], edits: int
    ) -> None:
        """Show what was read again — unless the user edited (before or since the read),
        something is being read or saved, or it is older than what is shown (a save of
        this screen came in between)."""
        org, channels = found
        shown = self.org
        if self._busy or shown is None or org.version < shown.version:
            return
        if self._dirty or edits != self._edits:  # what was typed is kept
            if org.version != shown.version:
                self.status.setText(
                    "The settings have been changed elsewhere since you started editing: "
                    "Revert shows them (your changes are discarded)."
                )
            return
        if org != shown or channels != self._channels:
            self._read(found)
            self.status.setText("")

    def _show(self, org: OrganisationSettings) -> None:
        """Show ``org`` in the fields: from now on they are its unchanged values."""
        self._loading = True
        self.org = org
        self.name_edit.setText(org.name)
        self.timezone_combo.setCurrentText(org.timezone)
        self.date_format_edit.setText(org.date_format)
        combo_select_data(self.channel_combo, org.default_channel_id)
        self.size_spin.setValue(max(1, org.max_message_size // MB))
        self.held_spin.setValue(org.held_email_timeout)
        self._loading = False
        self._dirty = False
        self.clear_errors()
        self.update_example()

    def _set_busy(self, busy: bool) -> None:
        self._busy = busy
        self.save_button.setEnabled(not busy and self.org is not None)
        self.revert_button.setEnabled(not busy)
        for widget, _error in self._fields.values():  # nothing to edit until first read
            widget.setEnabled(self.org is not None)

    @property
    def busy(self) -> bool:
        """The settings are being read or saved."""
        return self._busy

    def update_example(self, *_args: object) -> None:
        zone = QTimeZone(self.timezone_combo.currentText().strip().encode())
        now = QDateTime.currentDateTime()
        if zone.isValid():
            now = now.toTimeZone(zone)
        text = now.toString(self.date_format_edit.text())
        self.date_example.setText(f"Now: {text}" if text else "")

    # ---- dirty tracking -----------------------------------------------------
    def mark_dirty(self, *_args: object) -> None:
        if not self._loading:
            self._dirty = True
            self._edits += 1
            self.status.setText("")

    @property
    def dirty(self) -> bool:
        return self._dirty

    def confirm_close(self) -> bool:
        """Asked by the main window before it closes: may unsaved edits be discarded?"""
        return not self._dirty or messages.confirm(
            self,
            "Settings",
            "You have unsaved changes to the settings. Discard them?",
            ok="Discard",
            cancel="Keep editing",
        )

    # ---- errors -------------------------------------------------------------
    def clear_errors(self) -> None:
        self.banner.show_message("")
        for _widget, error in self._fields.values():
            error.show_message("")

    def show_error(self, exc: ServiceError) -> None:
        self.clear_errors()
        if isinstance(exc, ValidationError) and exc.field in self._fields:
            widget, error = self._fields[exc.field]
            error.show_message(f"{exc.field} {exc.message}")
            focus_error(widget, exc.message)
        else:
            self.banner.show_message(str(exc))

    # ---- saving -------------------------------------------------------------
    def data(self) -> SettingsData:
        return SettingsData(
            name=self.name_edit.text(),
            timezone=self.timezone_combo.currentText(),
            date_format=self.date_format_edit.text(),
            default_channel_id=self.channel_combo.currentData(),
            max_message_size_mb=self.size_spin.value(),
            held_email_timeout=self.held_spin.value(),
        )

    def try_save(self) -> bool:
        """Read the fields and save them off the GUI thread; Save and Revert are off until
        it is done. An error is shown next to its field (or in the banner), every edit
        kept; success shows the saved settings and emits ``saved``. False when no save
        started (one is running, or the settings are not read yet)."""
        if self._busy or self.org is None:
            return False
        data, version = self.data(), self.org.version
        settings, edits = self.ctx.settings, self._edits
        self._set_busy(True)
        run(
            self,
            lambda: settings.update(data, expected_version=version),
            lambda org: self._saved(org, edits),
            self._save_failed,
        )
        return True

    def _saved(self, org: OrganisationSettings, edits: int) -> None:
        self._set_busy(False)
        self.ctx.apply_settings(org)  # what the rest of the window shows
        if edits == self._edits:
            self._show(org)
        else:  # typed while it was saved: kept, to be saved over this version
            self.org = org
            self.clear_errors()
        self.status.setText("The settings have been saved.")
        self.saved.emit()

    def _save_failed(self, failure: Failure) -> None:
        self._set_busy(False)
        show_save_failure(self, failure)

    def revert(self) -> None:
        self.load()
        self.status.setText("")
