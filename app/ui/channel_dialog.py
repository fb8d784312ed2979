"""The email channel editor: General, Incoming (IMAP), Outgoing (SMTP) and Filters.

Channel settings are saved with the dialog's Save; passwords go to the secret store
(the system keyring, or a file the user explicitly chose), never to the database.
Filters need a saved channel and are saved as soon as they are added, changed,
moved or deleted.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.channel_service.check import CheckResult, check_settings
from app.channel_service.servers import ConnectionSettings, connection_settings
from app.domain.enums import AfterRetrieval, Security
from app.services import secrets as secret_store
from app.services import validation
from app.services.channels import MAX_RECIPIENTS, ChannelData
from app.services.errors import ServiceError, ValidationError
from app.services.records import ChannelRecord, FilterRecord
from app.ui.channel_filters import FilterDialog, campaign_combo, filter_summary, hint
from app.ui.context import AppContext
from app.ui.forms import FormDialog, combo_select_data
from app.ui.messages import messages
from app.ui.models import ROW_ROLE, Column, RecordTableModel
from app.ui.operations import Failure, run
from app.ui.widgets import table_view, yes_no

IMAP_PORTS = {Security.SSL: 993, Security.STARTTLS: 143, Security.NONE: 143}
SMTP_PORTS = {Security.SSL: 465, Security.STARTTLS: 587, Security.NONE: 25}
DIRECTIONS = {"inbound": "IMAP Password", "outbound": "SMTP Password"}


class ChannelDialog(FormDialog):
    """Every setting of an email channel; creating one when ``channel`` is None."""

    saved = Signal(int)

    def __init__(
        self,
        ctx: AppContext,
        channel: ChannelRecord | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent, "Edit Email Channel" if channel else "New Email Channel")
        self.ctx = ctx
        # The channel as loaded: its version guards against overwriting someone else's save.
        self.channel = channel
        self.campaigns = ctx.campaigns.list_campaigns()
        self._loading = True
        self._build_keyring_notice()
        self.tabs = QTabWidget(self)
        self.outer.addWidget(self.tabs, 1)
        self._build_general()
        self._build_incoming()
        self._build_outgoing()
        self._build_filters()
        self.test_button = QPushButton("&Test Connection", self)
        self.test_button.setToolTip("Log in to the IMAP and SMTP servers with these settings")
        self.test_button.clicked.connect(self.test_connection)
        bottom = QHBoxLayout()
        bottom.addWidget(self.test_button)
        bottom.addStretch(1)
        bottom.addWidget(self.buttons)
        self.outer.addLayout(bottom)
        self._order_focus_chain()
        self._fill(channel or ChannelData(name="", email_address=""))
        self._update_dependent_fields()
        self._update_password_fields()
        self._refresh_saved_state()
        self._loading = False
        self.set_loaded()
        self.name_edit.setFocus()  # not the keyring notice's button, first in the chain
        self.resize(640, 640)

    # ---- building -----------------------------------------------------------
    def _form_page(self, title: str) -> tuple[QWidget, QFormLayout]:
        page = QWidget(self)
        form = QFormLayout(page)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.tabs.addTab(page, title)
        return page, form

    def _build_keyring_notice(self) -> None:
        self.keyring_notice = QFrame(self)
        self.keyring_notice.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QVBoxLayout(self.keyring_notice)
        self.keyring_notice_label = QLabel(
            "<b>No system keyring was found.</b> Channel passwords cannot be kept safely on "
            "this computer, so the password fields are disabled. Install and unlock a keyring "
            "(for example GNOME Keyring or KWallet) and restart, or keep the passwords in a "
            "file that is not encrypted.",
            self.keyring_notice,
        )
        self.keyring_notice_label.setWordWrap(True)
        self.keyring_notice_label.setTextFormat(Qt.TextFormat.RichText)
        self.plain_file_button = QPushButton(
            "Store passwords in an &unencrypted file…", self.keyring_notice
        )
        self.plain_file_button.clicked.connect(self.choose_plain_file)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.plain_file_button)
        layout.addWidget(self.keyring_notice_label)
        layout.addLayout(row)
        self.outer.addWidget(self.keyring_notice)

    def _build_general(self) -> None:
        page, form = self._form_page("&General")
        self.name_edit = QLineEdit(page)
        self.name_edit.setMaxLength(200)
        self.name_edit.setPlaceholderText("e.g. Support mailbox")
        self.address_edit = QLineEdit(page)
        self.address_edit.setMaxLength(320)
        self.address_edit.setPlaceholderText("e.g. support@example.com")
        self.display_edit = QLineEdit(page)
        self.display_edit.setMaxLength(200)
        self.display_edit.setPlaceholderText("The sender name customers see, e.g. Example Support")
        self.default_campaign_combo = campaign_combo(page, self.campaigns, "(none)")
        self.enabled_check = QCheckBox(page)
        self.add_field(form, "Channel &Name:", self.name_edit, "Channel Name")
        self.add_field(form, "Email &Address:", self.address_edit, "Email Address")
        self.add_field(form, "&Display Name:", self.display_edit, "Display Name")
        self.add_field(form, "Default &Campaign:", self.default_campaign_combo, "Default Campaign")
        form.addRow("", hint("Where emails that match no filter go.", page))
        self.add_field(
            form,
            "&Enabled: retrieve and send mail through this channel",
            self.enabled_check,
            "Enabled",
        )

    def _build_incoming(self) -> None:
        page, form = self._form_page("&Incoming (IMAP)")
        self.imap_host_edit = QLineEdit(page)
        self.imap_host_edit.setPlaceholderText("e.g. imap.example.com")
        self.imap_port_edit = QLineEdit(page)
        self.imap_security_combo = self._security_combo(page)
        self.imap_username_edit = QLineEdit(page)
        self.imap_password_edit = self._password_edit(page)
        self.imap_folder_edit = QLineEdit(page)
        self.after_retrieval_combo = QComboBox(page)
        for choice in AfterRetrieval:
            self.after_retrieval_combo.addItem(choice.label, choice.value)
        self.move_folder_edit = QLineEdit(page)
        self.move_folder_edit.setPlaceholderText("e.g. Processed")
        self.check_interval_edit = QLineEdit(page)
        self.check_interval_edit.setPlaceholderText("seconds, e.g. 60")
        self.allow_insecure_check = QCheckBox(page)
        self.ca_file_edit = QLineEdit(page)
        self.ca_file_edit.setPlaceholderText(
            "Optional: a PEM file to trust instead of the system's"
        )
        self.ca_browse_button = QPushButton("&Browse…", page)
        self.ca_browse_button.clicked.connect(self.browse_ca_file)

        self.add_field(form, "&Host:", self.imap_host_edit, "IMAP Host")
        self.add_field(form, "&Port:", self.imap_port_edit, "IMAP Port")
        self.add_field(form, "Se&curity:", self.imap_security_combo, "IMAP Security")
        self.add_field(form, "User&name:", self.imap_username_edit, "IMAP Username")
        self.add_field(form, "Pass&word:", self.imap_password_edit, "IMAP Password")
        self.imap_storage_label = hint("", page)
        form.addRow("", self.imap_storage_label)
        self.add_field(form, "Fol&der:", self.imap_folder_edit, "Folder")
        self.add_field(form, "&After retrieval:", self.after_retrieval_combo, "After Retrieval")
        self.add_field(form, "&Move to folder:", self.move_folder_edit, "Move to Folder")
        self.add_field(
            form, "Check inter&val (seconds):", self.check_interval_edit, "Check Interval"
        )
        self.add_field(
            form,
            "Allow unencrypted conn&ections (IMAP and SMTP)",
            self.allow_insecure_check,
            "Allow Unencrypted Connections",
        )
        ca_label = QLabel("CA fi&le:", page)
        ca_label.setBuddy(self.ca_file_edit)
        ca_row = QHBoxLayout()
        ca_row.addWidget(self.ca_file_edit, 1)
        ca_row.addWidget(self.ca_browse_button)
        form.addRow(ca_label, ca_row)
        form.addRow("", self.register("CA File", self.ca_file_edit))
        self.watch(self.ca_file_edit)

        self.imap_security_combo.currentIndexChanged.connect(
            lambda: self._security_changed(
                self.imap_security_combo, self.imap_port_edit, IMAP_PORTS
            )
        )
        self.after_retrieval_combo.currentIndexChanged.connect(self._update_dependent_fields)

    def _build_outgoing(self) -> None:
        page, form = self._form_page("&Outgoing (SMTP)")
        self.smtp_host_edit = QLineEdit(page)
        self.smtp_host_edit.setPlaceholderText("e.g. smtp.example.com")
        self.smtp_port_edit = QLineEdit(page)
        self.smtp_security_combo = self._security_combo(page)
        self.smtp_username_edit = QLineEdit(page)
        self.smtp_username_edit.setPlaceholderText("Leave empty if the server needs no login")
        self.smtp_password_edit = self._password_edit(page)
        self.save_sent_check = QCheckBox(page)
        self.sent_folder_edit = QLineEdit(page)
        self.add_field(form, "&Host:", self.smtp_host_edit, "SMTP Host")
        self.add_field(form, "&Port:", self.smtp_port_edit, "SMTP Port")
        self.add_field(form, "Se&curity:", self.smtp_security_combo, "SMTP Security")
        self.add_field(form, "User&name:", self.smtp_username_edit, "SMTP Username")
        self.add_field(form, "Pass&word:", self.smtp_password_edit, "SMTP Password")
        self.smtp_storage_label = hint("", page)
        form.addRow("", self.smtp_storage_label)
        self.add_field(
            form,
            "Save a cop&y of each reply to the Sent folder",
            self.save_sent_check,
            "Save Sent Copy",
        )
        self.add_field(form, "Sent fol&der:", self.sent_folder_edit, "Sent Folder")
        self.max_recipients_edit = QLineEdit(page)
        self.max_recipients_edit.setPlaceholderText("e.g. 100")
        self.max_recipients_edit.setToolTip(
            "To, Cc and Bcc of one reply together; a reply with more is refused before it is "
            "queued. Keep it within what the SMTP server accepts."
        )
        self.add_field(form, "Max &recipients per reply:", self.max_recipients_edit, MAX_RECIPIENTS)
        form.addRow(
            "",
            hint(
                "Unencrypted connections are allowed or refused on the Incoming (IMAP) tab, "
                "for both servers.",
                page,
            ),
        )
        self.smtp_security_combo.currentIndexChanged.connect(
            lambda: self._security_changed(
                self.smtp_security_combo, self.smtp_port_edit, SMTP_PORTS
            )
        )
        self.save_sent_check.toggled.connect(self._update_dependent_fields)

    def _build_filters(self) -> None:
        page = self.filters_page = QWidget(self)
        layout = QVBoxLayout(page)
        self.filters_notice = QLabel(
            "Filters belong to a saved channel. Save the channel first: this dialog stays "
            "open with everything you typed, and you can then add its filters here.",
            page,
        )
        self.filters_notice.setWordWrap(True)
        self.save_now_button = QPushButton("Sa&ve the Channel Now", page)
        self.save_now_button.clicked.connect(self.save_channel_now)
        notice_row = QHBoxLayout()
        notice_row.addWidget(self.filters_notice, 1)
        notice_row.addWidget(self.save_now_button)
        layout.addLayout(notice_row)
        label = QLabel("Filter &list, in priority order:", page)
        self.filter_model: RecordTableModel[FilterRecord] = RecordTableModel(
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
        self.filter_view = table_view(page, "Filters")
        self.filter_view.setSortingEnabled(False)  # the order is the priority
        self.filter_view.setWordWrap(False)
        self.filter_view.setModel(self.filter_model)
        header = self.filter_view.horizontalHeader()
        header.setStretchLastSection(False)
        for column in (0, 1, 2, 5):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        for column in (3, 4):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Stretch)
        label.setBuddy(self.filter_view)
        layout.addWidget(label)
        buttons = QHBoxLayout()
        self.add_filter_button = QPushButton("&Add…", page)
        self.edit_filter_button = QPushButton("&Edit…", page)
        self.delete_filter_button = QPushButton("&Delete", page)
        self.move_up_button = QPushButton("Move U&p", page)
        self.move_down_button = QPushButton("Move Dow&n", page)
        row = QHBoxLayout()
        row.addWidget(self.filter_view, 1)
        for button in (
            self.add_filter_button,
            self.edit_filter_button,
            self.delete_filter_button,
        ):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.move_up_button)
        buttons.addWidget(self.move_down_button)
        layout.addLayout(row, 1)
        layout.addLayout(buttons)
        layout.addWidget(
            hint(
                "The first enabled filter that matches an email decides its campaign; an email "
                "that matches none goes to the default campaign. Changes to filters are saved "
                "at once.",
                page,
            )
        )
        self.tabs.addTab(page, "&Filters")
        self.add_filter_button.clicked.connect(self.add_filter)
        self.edit_filter_button.clicked.connect(self.edit_filter)
        self.delete_filter_button.clicked.connect(self.delete_filter)
        self.move_up_button.clicked.connect(lambda: self.move_filter(-1))
        self.move_down_button.clicked.connect(lambda: self.move_filter(1))
        self.filter_view.doubleClicked.connect(self.edit_filter)
        self.filter_view.selectionModel().selectionChanged.connect(self._update_filter_buttons)

    def _order_focus_chain(self) -> None:
        """Tab goes notice → tabs → fields → Test Connection → Save → Cancel (FormDialog
        creates its buttons first, which would put them at the start)."""
        last = self.test_button
        for button in (
            self.buttons.button(QDialogButtonBox.StandardButton.Save),
            self.buttons.button(QDialogButtonBox.StandardButton.Cancel),
        ):
            QWidget.setTabOrder(last, button)
            last = button

    def _security_combo(self, parent: QWidget) -> QComboBox:
        combo = QComboBox(parent)
        for choice in Security:
            combo.addItem(choice.label, choice.value)
        combo.setProperty("previous", None)
        return combo

    def _password_edit(self, parent: QWidget) -> QLineEdit:
        edit = QLineEdit(parent)
        edit.setEchoMode(QLineEdit.EchoMode.Password)
        edit.setInputMethodHints(Qt.InputMethodHint.ImhHiddenText)
        return edit

    # ---- data ---------------------------------------------------------------
    def _fill(self, c: ChannelRecord | ChannelData) -> None:
        self.name_edit.setText(c.name)
        self.address_edit.setText(c.email_address)
        self.display_edit.setText(c.display_name)
        combo_select_data(self.default_campaign_combo, c.default_campaign_id)
        self.enabled_check.setChecked(c.enabled)
        self.imap_host_edit.setText(c.imap_host)
        self.imap_port_edit.setText(str(c.imap_port))
        combo_select_data(self.imap_security_combo, Security(c.imap_security).value)
        self.imap_username_edit.setText(c.imap_username)
        self.imap_folder_edit.setText(c.imap_folder)
        combo_select_data(self.after_retrieval_combo, AfterRetrieval(c.after_retrieval).value)
        self.move_folder_edit.setText(c.move_folder)
        self.check_interval_edit.setText(str(c.check_interval))
        self.allow_insecure_check.setChecked(c.allow_insecure)
        self.ca_file_edit.setText(c.ca_file)
        self.smtp_host_edit.setText(c.smtp_host)
        self.smtp_port_edit.setText(str(c.smtp_port))
        combo_select_data(self.smtp_security_combo, Security(c.smtp_security).value)
        self.smtp_username_edit.setText(c.smtp_username)
        self.save_sent_check.setChecked(c.save_sent_copy)
        self.sent_folder_edit.setText(c.sent_folder)
        self.max_recipients_edit.setText(str(c.max_recipients))
        for combo in (self.imap_security_combo, self.smtp_security_combo):
            combo.setProperty("previous", combo.currentData())

    def data(self) -> ChannelData:
        return ChannelData(
            name=self.name_edit.text(),
            email_address=self.address_edit.text(),
            display_name=self.display_edit.text(),
            default_campaign_id=self.default_campaign_combo.currentData(),
            enabled=self.enabled_check.isChecked(),
            imap_host=self.imap_host_edit.text(),
            imap_port=self.imap_port_edit.text(),
            imap_security=self.imap_security_combo.currentData(),
            imap_username=self.imap_username_edit.text(),
            imap_folder=self.imap_folder_edit.text(),
            after_retrieval=self.after_retrieval_combo.currentData(),
            move_folder=self.move_folder_edit.text(),
            check_interval=self.check_interval_edit.text(),
            allow_insecure=self.allow_insecure_check.isChecked(),
            ca_file=self.ca_file_edit.text(),
            smtp_host=self.smtp_host_edit.text(),
            smtp_port=self.smtp_port_edit.text(),
            smtp_security=self.smtp_security_combo.currentData(),
            smtp_username=self.smtp_username_edit.text(),
            save_sent_copy=self.save_sent_check.isChecked(),
            sent_folder=self.sent_folder_edit.text(),
            max_recipients=self.max_recipients_edit.text(),
        )

    def _security_changed(self, combo: QComboBox, port_edit: QLineEdit, ports: dict) -> None:
        """Follow the security choice with its usual port, unless the port was typed."""
        previous, current = combo.property("previous"), combo.currentData()
        combo.setProperty("previous", current)
        if previous is not None and port_edit.text().strip() == str(ports[Security(previous)]):
            port_edit.setText(str(ports[Security(current)]))

    def _update_dependent_fields(self, *_args: object) -> None:
        self.move_folder_edit.setEnabled(
            self.after_retrieval_combo.currentData() == AfterRetrieval.MOVE.value
        )
        self.sent_folder_edit.setEnabled(self.save_sent_check.isChecked())

    # ---- passwords ----------------------------------------------------------
    def _password_edits(self) -> dict[str, QLineEdit]:
        return {"inbound": self.imap_password_edit, "outbound": self.smtp_password_edit}

    def _update_password_fields(self) -> None:
        store = self.ctx.secrets
        self.keyring_notice.setVisible(store is None)
        where = (
            f"Passwords are kept in {store.description}, never in the database."
            if store is not None
            else "Passwords cannot be stored: no system keyring was found (see the notice above)."
        )
        for label in (self.imap_storage_label, self.smtp_storage_label):
            label.setText(where)
        for direction, edit in self._password_edits().items():
            edit.setEnabled(store is not None)
            edit.setPlaceholderText(self._password_state(direction))

    def _password_state(self, direction: str) -> str:
        if self.ctx.secrets is None:
            return "Cannot be stored without a keyring"
        if self.channel is None:
            return "Not stored yet: type it to store it"
        try:
            stored = self.ctx.channels.has_password(self.channel.id, direction)
        except (secret_store.SecretStoreError, ServiceError):
            return "Unknown: the password store could not be read"
        return (
            "Stored: leave empty to keep it, type to replace it"
            if stored
            else "Not stored yet: type it to store it"
        )

    def _save_passwords(self, channel_id: int) -> None:
        for direction, edit in self._password_edits().items():
            password = edit.text()
            if not password or not edit.isEnabled():
                continue  # empty means unchanged
            try:
                self.ctx.channels.set_password(channel_id, direction, password)
            except secret_store.SecretStoreError as exc:
                raise ValidationError(
                    DIRECTIONS[direction],
                    f"was not saved: {exc} The channel's other settings were saved.",
                ) from exc
            self._loading = True
            edit.clear()
            self._loading = False

    def choose_plain_file(self) -> None:
        path = secret_store.PlainFileStore().path
        if not messages.confirm(
            self,
            "Store Passwords Unencrypted",
            f"Channel passwords will be kept in {path}, a file that is NOT encrypted: anyone "
            "who can read your files or their backups can read the passwords.\n\n"
            "Keep passwords in this unencrypted file?",
            ok="Use the Unencrypted File",
            cancel="Cancel",
        ):
            return
        self.ctx.secrets = secret_store.choose_plain_file_fallback()
        if self.ctx.channel_events is not None:  # retrieval and sending use it at once
            self.ctx.channel_events.use_secrets(self.ctx.secrets)
        self._update_password_fields()
        self.imap_password_edit.setFocus()

    # ---- saving -------------------------------------------------------------
    def _save_channel(self) -> None:
        if self.channel is None:
            saved = self.ctx.channels.create_channel(self.data())
        else:
            saved = self.ctx.channels.update_channel(
                self.channel.id, self.data(), self.channel.version
            )
        self.channel = saved  # from now on, later saves update it (with its new version)
        self.saved.emit(saved.id)
        self._save_passwords(saved.id)

    def save(self) -> None:
        try:
            self._save_channel()
        finally:
            self._refresh_saved_state()

    def save_channel_now(self) -> None:
        """Save without closing, so that filters can be added to a new channel."""
        try:
            self._save_channel()
        except ServiceError as exc:
            self._refresh_saved_state()
            self.show_error(exc)
            return
        self._refresh_saved_state()
        self.clear_errors()
        self.set_loaded()
        self.tabs.setCurrentWidget(self.filters_page)
        self.add_filter_button.setFocus()

    def _refresh_saved_state(self) -> None:
        saved = self.channel is not None
        if saved:
            self.setWindowTitle("Edit Email Channel")
        self.filters_notice.setVisible(not saved)
        self.save_now_button.setVisible(not saved)
        self.filter_view.setEnabled(saved)
        self.add_filter_button.setEnabled(saved)
        for direction, edit in self._password_edits().items():
            edit.setPlaceholderText(self._password_state(direction))
        self._reload_filters()

    def reveal(self, widget: QWidget) -> None:
        for index in range(self.tabs.count()):
            page = self.tabs.widget(index)
            if page is not None and (page is widget or page.isAncestorOf(widget)):
                self.tabs.setCurrentIndex(index)
                return

    def connection_settings(self) -> ConnectionSettings:
        """The typed settings, with the typed passwords or else the stored ones."""
        d = self.data()
        for label, value in (("IMAP Port", d.imap_port), ("SMTP Port", d.smtp_port)):
            validation.whole_number(label, value, maximum=65535)
        passwords = {}
        for direction, edit in self._password_edits().items():
            typed = edit.text()
            stored = (
                self.ctx.channels.get_password(self.channel.id, direction)
                if self.channel is not None and not typed
                else None
            )
            passwords[direction] = typed or stored or ""
        return connection_settings(
            d,
            inbound_password=passwords["inbound"],
            outbound_password=passwords["outbound"],
            timeout=15,
        )

    def test_connection(self) -> None:
        """Log in to both servers in the background and say what happened."""
        try:
            imap, smtp = self.connection_settings()
        except ServiceError as exc:
            self.show_error(exc)
            return
        self.test_button.setEnabled(False)
        self.test_button.setText("Testing…")

        def finished() -> None:
            self.test_button.setEnabled(True)
            self.test_button.setText("&Test Connection")

        def report(result: CheckResult) -> None:
            finished()
            text = f"{result.imap_message}\n{result.smtp_message}"
            if result.ok:
                messages.info(self, "Test Connection", text)
            else:
                messages.error(self, "Test Connection", text)

        def failed(failure: Failure) -> None:
            finished()
            messages.error(self, "Test Connection", f"The test could not run: {failure.message}")

        self.test_operation = run(self, lambda: check_settings(imap, smtp), report, failed)

    def browse_ca_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Choose a CA File",
            self.ca_file_edit.text(),
            "Certificates (*.pem *.crt *.cer);;All files (*)",
        )
        if path:
            self.ca_file_edit.setText(path)

    # ---- filters tab --------------------------------------------------------
    def _reload_filters(self, select_id: int | None = None) -> None:
        filters: list[FilterRecord] = []
        if self.channel is not None:
            try:
                filters = list(self.ctx.channels.get_channel(self.channel.id).filters)
            except ServiceError as exc:
                self.banner.show_message(str(exc))
        self.filter_model.set_rows(filters)
        for row, flt in enumerate(filters):
            if flt.id == select_id:
                self.filter_view.selectRow(row)
        self._update_filter_buttons()

    def selected_filter(self) -> FilterRecord | None:
        rows = self.filter_view.selectionModel().selectedRows()
        return self.filter_model.data(rows[0], ROW_ROLE) if rows else None

    def _update_filter_buttons(self, *_args: object) -> None:
        flt = self.selected_filter()
        rows = self.filter_model.rows()
        row = rows.index(flt) if flt is not None else -1
        self.edit_filter_button.setEnabled(flt is not None)
        self.delete_filter_button.setEnabled(flt is not None)
        self.move_up_button.setEnabled(row > 0)
        self.move_down_button.setEnabled(0 <= row < len(rows) - 1)

    def _open_filter_dialog(self, flt: FilterRecord | None) -> FilterDialog | None:
        if self.channel is None:
            return None
        dialog = FilterDialog(self.ctx, self.channel.id, flt, self.campaigns, self)
        dialog.accepted.connect(lambda: self._reload_filters(dialog.saved_id))
        dialog.open()
        return dialog

    def add_filter(self) -> FilterDialog | None:
        return self._open_filter_dialog(None)

    def edit_filter(self, *_args: object) -> FilterDialog | None:
        flt = self.selected_filter()
        return self._open_filter_dialog(flt) if flt is not None else None

    def delete_filter(self) -> None:
        flt = self.selected_filter()
        if flt is None or not messages.confirm(
            self, "Delete Filter", f"Delete the filter {filter_summary(flt)}?", ok="Delete"
        ):
            return
        try:
            self.ctx.channels.delete_filter(flt.id)
        except ServiceError as exc:
            messages.error(self, "Delete Filter", str(exc))
        self._reload_filters()

    def move_filter(self, delta: int) -> None:
        flt = self.selected_filter()
        if flt is None:
            return
        try:
            self.ctx.channels.move_filter(flt.id, delta)
        except ServiceError as exc:
            messages.error(self, "Move Filter", str(exc))
        self._reload_filters(flt.id)
