"""The email channel editor: General, Incoming (IMAP), Outgoing (SMTP) and Filters.

Channel settings are saved with the dialog's Save; passwords go to the secret store
(the system keyring, or a file the user explicitly chose), never to the database.
Filters need a saved channel and are saved as soon as they are added, changed,
moved or deleted (app.ui.channel_filters).

Nothing here waits on the GUI thread: what the dialog opens with is read first
(``read_setup``), saving and the passwords (the secret store may be slow) go through
FormDialog's save, and Test Connection logs in to the servers on the READS lane, so that
the dialog stays usable — and Save does not wait — while a test runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.channel_service.check import CheckResult, check_settings
from app.channel_service.servers import connection_settings
from app.domain.enums import AfterRetrieval, Security
from app.services import secrets as secret_store
from app.services import validation
from app.services.channels import MAX_RECIPIENTS, ChannelData, ChannelService
from app.services.errors import ServiceError, ValidationError
from app.services.records import CampaignRecord, ChannelRecord
from app.ui.channel_filters import FiltersPage, campaign_combo, hint
from app.ui.context import AppContext
from app.ui.forms import FormDialog, combo_select_data
from app.ui.messages import messages
from app.ui.operations import READS, Failure, run

IMAP_PORTS = {Security.SSL: 993, Security.STARTTLS: 143, Security.NONE: 143}
SMTP_PORTS = {Security.SSL: 465, Security.STARTTLS: 587, Security.NONE: 25}
DIRECTIONS = {"inbound": "IMAP Password", "outbound": "SMTP Password"}

# Whether a channel's password is in the secret store, by direction: None when the store
# could not be read.
Stored = Mapping[str, bool | None]


def stored_passwords(channels: ChannelService, channel_id: int | None) -> Stored:
    """(off the GUI thread: the secret store and the database)"""
    stored: dict[str, bool | None] = {}
    for direction in DIRECTIONS:
        try:
            stored[direction] = (
                channels.has_password(channel_id, direction) if channel_id is not None else False
            )
        except ServiceError:  # SecretStoreError among them
            stored[direction] = None
    return stored


@dataclass(frozen=True)
class ChannelSetup:
    """What the channel editor opens with: the channel (None for a new one), the campaigns
    to choose from and which passwords are stored."""

    channel: ChannelRecord | None
    campaigns: tuple[CampaignRecord, ...]
    stored: Stored


def read_setup(ctx: AppContext, channel_id: int | None) -> Callable[[], ChannelSetup]:
    """The work that reads what the editor of ``channel_id`` (None: a new channel) needs."""
    channels, campaigns = ctx.channels, ctx.campaigns

    def read() -> ChannelSetup:
        channel = channels.get_channel(channel_id) if channel_id is not None else None
        return ChannelSetup(
            channel,
            tuple(campaigns.list_campaigns()),
            stored_passwords(channels, channel_id),
        )

    return read


@dataclass(frozen=True)
class SavedChannel:
    """The outcome of a save: the channel as saved, the passwords stored now, and why a
    typed password was not stored (the channel's settings were saved all the same)."""

    channel: ChannelRecord
    stored: Stored
    passwords_saved: tuple[str, ...]
    password_problem: ValidationError | None


def save_work(
    channels: ChannelService,
    channel: ChannelRecord | None,
    data: ChannelData,
    passwords: Mapping[str, str],
) -> Callable[[], SavedChannel]:
    """The work of Save: the channel's settings, then each typed password."""

    def work() -> SavedChannel:
        if channel is None:
            saved = channels.create_channel(data)
        else:
            saved = channels.update_channel(channel.id, data, channel.version)
        done: list[str] = []
        problem: ValidationError | None = None
        for direction, password in passwords.items():
            try:
                channels.set_password(saved.id, direction, password)
            except secret_store.SecretStoreError as exc:
                problem = ValidationError(
                    DIRECTIONS[direction],
                    f"was not saved: {exc} The channel's other settings were saved.",
                )
            except ValidationError as exc:
                problem = exc
            if problem is not None:
                break
            done.append(direction)
        return SavedChannel(saved, stored_passwords(channels, saved.id), tuple(done), problem)

    return work


class ChannelDialog(FormDialog):
    """Every setting of an email channel; creating one when ``setup.channel`` is None.
    Open it with what ``read_setup`` read."""

    channel_saved = Signal(int)  # its id: saved (the dialog may stay open)

    def __init__(
        self,
        ctx: AppContext,
        setup: ChannelSetup,
        parent: QWidget | None = None,
    ) -> None:
        channel = setup.channel
        super().__init__(parent, "Edit Email Channel" if channel else "New Email Channel")
        self.ctx = ctx
        # The channel as loaded: its version guards against overwriting someone else's save.
        self.channel = channel
        self.campaigns = setup.campaigns
        self._stored = setup.stored
        self._stay_open = False  # after this save: Save the Channel Now, or a password failed
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
        self.filters_page.show_channel(
            channel.id if channel else None, channel.filters if channel else ()
        )
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
        page = self.filters_page = FiltersPage(self.ctx, self.campaigns, self)
        self.tabs.addTab(page, "&Filters")
        page.save_now_button.clicked.connect(self.save_channel_now)
        # (its widgets by the names they had in this dialog)
        self.filters_notice, self.save_now_button = page.notice, page.save_now_button
        self.filter_model, self.filter_view = page.model, page.view
        self.add_filter_button, self.edit_filter_button = page.add_button, page.edit_button
        self.delete_filter_button = page.delete_button
        self.move_up_button, self.move_down_button = page.move_up_button, page.move_down_button

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
        stored = self._stored.get(direction)
        if stored is None:
            return "Unknown: the password store could not be read"
        return (
            "Stored: leave empty to keep it, type to replace it"
            if stored
            else "Not stored yet: type it to store it"
        )

    def _typed_passwords(self) -> dict[str, str]:
        """The passwords typed to be stored (empty means unchanged)."""
        return {
            direction: edit.text()
            for direction, edit in self._password_edits().items()
            if edit.text() and edit.isEnabled()
        }

    def choose_plain_file(self) -> None:
        path = secret_store.PlainFileStore().path
        title = "Store Passwords Unencrypted"
        if not messages.confirm(
            self,
            title,
            f"Channel passwords will be kept in {path}, a file that is NOT encrypted: anyone "
            "who can read your files or their backups can read the passwords.\n\n"
            "Keep passwords in this unencrypted file?",
            ok="Use the Unencrypted File",
            cancel="Cancel",
        ):
            return
        db, actor = self.ctx.db, self.ctx.actor
        channel_id = self.channel.id if self.channel is not None else None

        def choose() -> tuple[secret_store.SecretStore, Stored]:
            store = secret_store.choose_plain_file_fallback()
            return store, stored_passwords(ChannelService(db, actor, store), channel_id)

        def chosen(outcome: tuple[secret_store.SecretStore, Stored]) -> None:
            self.plain_file_button.setEnabled(True)
            self.ctx.secrets, self._stored = outcome
            if self.ctx.channel_events is not None:  # retrieval and sending use it at once
                self.ctx.channel_events.use_secrets(self.ctx.secrets)
            self._update_password_fields()
            self.imap_password_edit.setFocus()

        def failed(failure: Failure) -> None:
            self.plain_file_button.setEnabled(True)
            messages.error(self, title, failure.message)

        self.plain_file_button.setEnabled(False)
        run(self, choose, chosen, failed)

    # ---- saving -------------------------------------------------------------
    def try_save(self) -> None:
        self._stay_open = False  # Save closes the dialog
        super().try_save()

    def save(self) -> Callable[[], SavedChannel]:
        return save_work(self.ctx.channels, self.channel, self.data(), self._typed_passwords())

    def saved(self, result: object) -> None:
        assert isinstance(result, SavedChannel)
        self.channel = result.channel  # from now on, saves update it (with its new version)
        self._stored = result.stored
        self._loading = True
        for direction in result.passwords_saved:
            self._password_edits()[direction].clear()
        self._loading = False
        self._refresh_saved_state()
        self.filters_page.show_channel(result.channel.id, result.channel.filters)
        self.channel_saved.emit(result.channel.id)
        self.clear_errors()  # of an earlier attempt
        if result.password_problem is not None:
            self._stay_open = True  # to show the password that was not stored, kept
            self.show_error(result.password_problem)
            self.mark_dirty()
        elif self._stay_open:  # Save the Channel Now
            self.tabs.setCurrentWidget(self.filters_page)
            self.add_filter_button.setFocus()

    def accept(self) -> None:
        if self._stay_open:
            return
        super().accept()

    def save_channel_now(self) -> None:
        """Save without closing, so that filters can be added to a new channel."""
        if self.saving:
            return
        self._stay_open = True
        super().try_save()

    def _refresh_saved_state(self) -> None:
        if self.channel is not None:
            self.setWindowTitle("Edit Email Channel")
        for direction, edit in self._password_edits().items():
            edit.setPlaceholderText(self._password_state(direction))

    def reveal(self, widget: QWidget) -> None:
        for index in range(self.tabs.count()):
            page = self.tabs.widget(index)
            if page is not None and (page is widget or page.isAncestorOf(widget)):
                self.tabs.setCurrentIndex(index)
                return

    # ---- test connection ----------------------------------------------------
    def test_work(self) -> Callable[[], CheckResult]:
        """Read the typed settings (a port that is none raises ServiceError here) and return
        the test: with the typed passwords, else the stored ones, log in to both servers."""
        data = self.data()
        for label, value in (("IMAP Port", data.imap_port), ("SMTP Port", data.smtp_port)):
            validation.whole_number(label, value, maximum=65535)
        typed = {direction: edit.text() for direction, edit in self._password_edits().items()}
        channels, channel_id = self.ctx.channels, self.channel.id if self.channel else None

        def test() -> CheckResult:
            passwords = {
                direction: password
                or (channels.get_password(channel_id, direction) if channel_id else None)
                or ""
                for direction, password in typed.items()
            }
            imap, smtp = connection_settings(
                data,
                inbound_password=passwords["inbound"],
                outbound_password=passwords["outbound"],
                timeout=15,
            )
            return check_settings(imap, smtp)

        return test

    def test_connection(self) -> None:
        """Log in to both servers (on the READS lane: Save never waits behind a test) and
        say what happened; the dialog stays usable meanwhile."""
        try:
            test = self.test_work()
        except ServiceError as exc:
            self.show_error(exc)
            return
        self.test_button.setEnabled(False)
        self.test_button.setText("Testing…")

        def finished() -> bool:
            """Whether there is still someone to tell (the dialog may have closed)."""
            self.test_button.setEnabled(True)
            self.test_button.setText("&Test Connection")
            return self.isVisible()

        def report(result: CheckResult) -> None:
            if not finished():
                return
            text = f"{result.imap_message}\n{result.smtp_message}"
            if result.ok:
                messages.info(self, "Test Connection", text)
            else:
                messages.error(self, "Test Connection", text)

        def failed(failure: Failure) -> None:
            if finished():
                messages.error(
                    self, "Test Connection", f"The test could not run: {failure.message}"
                )

        run(self, test, report, failed, lane=READS)

    def browse_ca_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Choose a CA File",
            self.ca_file_edit.text(),
            "Certificates (*.pem *.crt *.cer);;All files (*)",
        )
        if path:
            self.ca_file_edit.setText(path)
