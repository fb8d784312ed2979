"""Channels ▸ Email driven like an administrator: the channel list, the channel dialog
with its four tabs, passwords in the keyring, and the routing filters."""

from __future__ import annotations

import json
import re

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import (
    QAbstractButton,
    QApplication,
    QCheckBox,
    QComboBox,
    QLabel,
    QLineEdit,
    QTableView,
    QWidget,
)
from sqlalchemy import inspect, select, text

from app.db.models import AfterRetrieval, Channel, FilterMatch, Organisation, Security
from app.services.channels import ChannelService
from app.services.config_io import export_config
from app.services.secrets import PlainFileStore, channel_key
from app.ui import messages as messages_module
from app.ui.channels_screen import ChannelDialog, ChannelsScreen, FilterDialog
from app.ui.forms import ErrorLabel
from tests.conftest import settle_operations, stored_bytes
from tests.ui.keyboard import type_text

# Nothing of the Channels screen may wait for the database, the keyring or a mail server on
# the GUI thread.

IMAP_PASSWORD = "imap-S3cret!pw-7f3a"
SMTP_PASSWORD = "smtp-S3cret!pw-91c2"
DISPLAY = "Größe – 5 € 日本語"


# ---- fixtures and helpers --------------------------------------------------------------


@pytest.fixture
def ctx(demo_db, admin, make_ctx):  # type: ignore[no-untyped-def]
    return make_ctx(demo_db, admin)


@pytest.fixture
def channels(demo_db, admin, secrets) -> ChannelService:  # type: ignore[no-untyped-def]
    """The test's own look at the channels: its database, not the screens' (which refuses
    the GUI thread), and the same keyring."""
    return ChannelService(demo_db, admin, secrets)


@pytest.fixture
def screen(qtbot, ctx):  # type: ignore[no-untyped-def]
    widget = ChannelsScreen(ctx)
    qtbot.addWidget(widget)
    widget.resize(1000, 500)
    widget.show()
    settle_operations()  # the list is read
    return widget


@pytest.fixture(autouse=True)
def shown(monkeypatch):  # type: ignore[no-untyped-def]
    """Message boxes answered through the one factory (so none can block a test): confirm
    says yes unless a reply is queued in ``shown.replies``; everything shown is recorded."""

    class Shown(list):  # type: ignore[type-arg]
        replies: list[bool]

    record = Shown()
    record.replies = []

    def confirm(parent, title, text, **_kw):  # type: ignore[no-untyped-def]
        record.append(("confirm", text))
        return record.replies.pop(0) if record.replies else True

    monkeypatch.setattr(messages_module.messages, "confirm", confirm)
    monkeypatch.setattr(
        messages_module.messages, "error", lambda p, t, text: record.append(("error", text))
    )
    monkeypatch.setattr(
        messages_module.messages, "info", lambda p, t, text: record.append(("info", text))
    )
    return record


def click(qtbot, button: QAbstractButton) -> None:  # type: ignore[no-untyped-def]
    """Click where a user would: a check box on its box, a button in its middle."""
    assert button.isVisible(), button.text()
    assert button.isEnabled(), button.text()
    if isinstance(button, QCheckBox):
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton, pos=QPoint(8, button.height() // 2))
    else:
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def go_to_tab(qtbot, dialog: ChannelDialog, title: str) -> None:  # type: ignore[no-untyped-def]
    bar = dialog.tabs.tabBar()
    titles = [bar.tabText(i).replace("&", "") for i in range(bar.count())]
    index = titles.index(title)
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(index).center())
    assert dialog.tabs.currentIndex() == index


def current_tab(dialog: ChannelDialog) -> str:
    return dialog.tabs.tabText(dialog.tabs.currentIndex()).replace("&", "")


def choose(combo: QComboBox, item: str) -> None:
    """Pick an item with the keyboard, as a user would: Home, then Down until it shows."""
    combo.setFocus()
    QTest.keyClick(combo, Qt.Key.Key_Home)
    for _ in range(combo.count()):
        if combo.currentText() == item:
            return
        QTest.keyClick(combo, Qt.Key.Key_Down)
    assert combo.currentText() == item, f"{item!r} not in {combo.objectName() or 'combo'}"


def retype(qtbot, edit: QLineEdit, value: str) -> None:  # type: ignore[no-untyped-def]
    edit.selectAll()
    QTest.keyClick(edit, Qt.Key.Key_Delete)
    type_text(qtbot, edit, value)


def error_under(widget: QWidget) -> str:
    """The text of the visible error line right below ``widget`` ('' when none): where the
    user sees it, whatever the layout."""
    window = widget.window()
    QApplication.processEvents()  # let the layouts place an error that was just shown
    below = widget.mapTo(window, QPoint(0, widget.height()))
    for label in window.findChildren(ErrorLabel):
        if not label.isVisible() or label is getattr(window, "banner", None):
            continue
        top = label.mapTo(window, QPoint(0, 0))
        if 0 <= top.y() - below.y() <= 16 and abs(top.x() - below.x()) <= 8:
            return label.text()
    return ""


def keyring_user(db, channel_id: int, direction: str) -> str:  # type: ignore[no-untyped-def]
    """The keyring entry of a channel's password (its key material is the database's own:
    the services hand out neither the installation id nor the channel's uuid)."""
    with db.session() as s:
        org = s.scalars(select(Organisation)).one()
        return channel_key(org.installation_id, s.get_one(Channel, channel_id).uuid, direction)


def table_texts(view: QTableView, column: int) -> list[str]:
    model = view.model()
    return [model.index(r, column).data() for r in range(model.rowCount())]


def open_new_dialog(qtbot, screen: ChannelsScreen) -> ChannelDialog:  # type: ignore[no-untyped-def]
    click(qtbot, screen.new_button)
    dialog = screen.findChild(ChannelDialog)
    assert dialog is not None and dialog.isVisible()
    assert dialog.windowTitle() == "New Email Channel"
    return dialog


def open_edit_dialog(qtbot, screen: ChannelsScreen, name: str) -> ChannelDialog:  # type: ignore[no-untyped-def]
    row = table_texts(screen.view, 0).index(name)
    screen.view.selectRow(row)
    click(qtbot, screen.edit_button)
    dialogs = [d for d in screen.findChildren(ChannelDialog) if d.isVisible()]
    assert len(dialogs) == 1
    assert dialogs[0].name_edit.text() == name
    return dialogs[0]


def fill_general(qtbot, dialog: ChannelDialog, name: str, address: str) -> None:  # type: ignore[no-untyped-def]
    go_to_tab(qtbot, dialog, "General")
    type_text(qtbot, dialog.name_edit, name)
    type_text(qtbot, dialog.address_edit, address)


def open_filter_dialog(qtbot, dialog: ChannelDialog, button: QAbstractButton) -> FilterDialog:  # type: ignore[no-untyped-def]
    click(qtbot, button)
    opened = [d for d in dialog.findChildren(FilterDialog) if d.isVisible()]
    assert len(opened) == 1
    return opened[0]


def add_filter(  # type: ignore[no-untyped-def]
    qtbot, dialog: ChannelDialog, field: str, match: str, keyword: str, campaign: str
) -> None:
    flt = open_filter_dialog(qtbot, dialog, dialog.add_filter_button)
    assert flt.match_combo.currentText() == "contains"  # the default
    choose(flt.field_combo, field)
    choose(flt.match_combo, match)
    type_text(qtbot, flt.keyword_edit, keyword)
    choose(flt.campaign_combo, campaign)
    click(qtbot, flt.buttons.button(flt.buttons.StandardButton.Save))
    assert not flt.isVisible(), flt.banner.text()


def save(qtbot, dialog) -> None:  # type: ignore[no-untyped-def]
    click(qtbot, dialog.buttons.button(dialog.buttons.StandardButton.Save))


# ---- creating a channel, passwords ------------------------------------------------------


def test_create_channel_with_passwords_kept_only_in_the_keyring(  # type: ignore[no-untyped-def]
    qtbot, screen, channels, demo_db, memory_keyring
):
    dialog = open_new_dialog(qtbot, screen)
    fill_general(qtbot, dialog, "Retail Inbox 42", "retail42@example.com")
    type_text(qtbot, dialog.display_edit, DISPLAY)
    choose(dialog.default_campaign_combo, "General Enquiries")
    click(qtbot, dialog.enabled_check)

    go_to_tab(qtbot, dialog, "Incoming (IMAP)")
    assert dialog.imap_folder_edit.text() == "INBOX"
    assert dialog.imap_password_edit.echoMode() == QLineEdit.EchoMode.Password
    assert "Not stored yet" in dialog.imap_password_edit.placeholderText()
    assert "system keyring" in dialog.imap_storage_label.text()
    type_text(qtbot, dialog.imap_host_edit, "imap.example.net")
    type_text(qtbot, dialog.imap_username_edit, "retail42")
    type_text(qtbot, dialog.imap_password_edit, IMAP_PASSWORD)
    assert not dialog.move_folder_edit.isEnabled()
    choose(dialog.after_retrieval_combo, "Move to folder")
    assert dialog.move_folder_edit.isEnabled()
    type_text(qtbot, dialog.move_folder_edit, "Processed")

    go_to_tab(qtbot, dialog, "Outgoing (SMTP)")
    type_text(qtbot, dialog.smtp_host_edit, "smtp.example.net")
    type_text(qtbot, dialog.smtp_username_edit, "retail42")
    type_text(qtbot, dialog.smtp_password_edit, SMTP_PASSWORD)
    assert not dialog.sent_folder_edit.isEnabled()
    click(qtbot, dialog.save_sent_check)
    assert dialog.sent_folder_edit.isEnabled()
    save(qtbot, dialog)

    assert not dialog.isVisible(), dialog.banner.text()
    assert "Retail Inbox 42" in table_texts(screen.view, 0)
    row = table_texts(screen.view, 0).index("Retail Inbox 42")
    assert [screen.view.model().index(row, c).data() for c in range(5)] == [
        "Retail Inbox 42",
        "retail42@example.com",
        "General Enquiries",
        "Yes",
        "0",
    ]
    channel = next(c for c in channels.list_channels() if c.name == "Retail Inbox 42")
    assert channel.display_name == DISPLAY
    assert channel.after_retrieval == AfterRetrieval.MOVE and channel.move_folder == "Processed"
    assert channel.save_sent_copy and channel.sent_folder == "Sent"

    # In the keyring, under the channel's key ...
    assert channels.get_password(channel.id, "inbound") == IMAP_PASSWORD
    assert channels.get_password(channel.id, "outbound") == SMTP_PASSWORD
    stored = {user: secret for (_service, user), secret in memory_keyring.secrets.items()}
    assert stored[keyring_user(demo_db, channel.id, "inbound")] == IMAP_PASSWORD

    # ... and nowhere in the database: not in the file's bytes (main file and WAL; every row
    # on PostgreSQL) ...
    raw = stored_bytes(demo_db)
    assert b"Retail Inbox 42" in raw  # the search does find what was saved
    assert DISPLAY.encode() in raw
    for secret in (IMAP_PASSWORD, SMTP_PASSWORD):
        assert secret.encode() not in raw
    # ... not in any column of any table ...
    with demo_db.engine.connect() as conn:
        for table in inspect(demo_db.engine).get_table_names():
            for record in conn.execute(text(f'SELECT * FROM "{table}"')):
                for value in record:
                    assert IMAP_PASSWORD not in str(value) and SMTP_PASSWORD not in str(value)
    # ... nor in a configuration export.
    exported = json.dumps(export_config(demo_db), ensure_ascii=False)
    assert "Retail Inbox 42" in exported
    assert IMAP_PASSWORD not in exported and SMTP_PASSWORD not in exported

    # Reopened: the password fields are empty, saying a password is stored; saving with
    # them empty keeps the passwords.
    dialog = open_edit_dialog(qtbot, screen, "Retail Inbox 42")
    assert dialog.imap_password_edit.text() == ""
    assert dialog.imap_password_edit.placeholderText().startswith("Stored")
    assert dialog.smtp_password_edit.placeholderText().startswith("Stored")
    assert dialog.display_edit.text() == DISPLAY
    go_to_tab(qtbot, dialog, "Outgoing (SMTP)")
    type_text(qtbot, dialog.smtp_password_edit, "replaced-pw")
    save(qtbot, dialog)
    assert not dialog.isVisible(), dialog.banner.text()
    assert channels.get_password(channel.id, "inbound") == IMAP_PASSWORD
    assert channels.get_password(channel.id, "outbound") == "replaced-pw"


def test_invalid_email_address_is_shown_next_to_its_field_and_kept(qtbot, screen):  # type: ignore[no-untyped-def]
    dialog = open_new_dialog(qtbot, screen)
    fill_general(qtbot, dialog, "Bad address", "support at example")
    type_text(qtbot, dialog.display_edit, DISPLAY)
    go_to_tab(qtbot, dialog, "Outgoing (SMTP)")
    save(qtbot, dialog)

    assert dialog.isVisible()
    assert current_tab(dialog) == "General"  # switched to where the error is
    error = error_under(dialog.address_edit)
    assert error.startswith("Email Address ")
    assert "'support at example' is not a valid email address" in error
    assert error_under(dialog.name_edit) == ""
    assert dialog.banner.text() == ""
    assert dialog.address_edit.text() == "support at example"
    assert dialog.display_edit.text() == DISPLAY
    assert dialog.focusWidget() is dialog.address_edit
    assert dialog.address_edit.selectedText() == "support at example"

    # Corrected, it saves.
    retype(qtbot, dialog.address_edit, "bad.address@example.com")
    save(qtbot, dialog)
    assert not dialog.isVisible(), dialog.banner.text()
    assert "Bad address" in table_texts(screen.view, 0)


def test_unencrypted_imap_to_a_remote_host_is_refused_next_to_security(qtbot, screen, channels):  # type: ignore[no-untyped-def]
    dialog = open_new_dialog(qtbot, screen)
    fill_general(qtbot, dialog, "Plain", "plain@example.com")
    go_to_tab(qtbot, dialog, "Incoming (IMAP)")
    type_text(qtbot, dialog.imap_host_edit, "mail.example.net")
    assert dialog.imap_port_edit.text() == "993"
    choose(dialog.imap_security_combo, "None")
    assert dialog.imap_port_edit.text() == "143"  # the usual port follows the choice
    go_to_tab(qtbot, dialog, "General")
    save(qtbot, dialog)

    assert dialog.isVisible()
    assert current_tab(dialog) == "Incoming (IMAP)"
    error = error_under(dialog.imap_security_combo)
    assert error.startswith(
        "IMAP Security 'None' sends the password unencrypted to mail.example.net"
    )
    assert dialog.imap_security_combo.currentText() == "None"
    assert dialog.imap_host_edit.text() == "mail.example.net"
    assert "Plain" not in table_texts(screen.view, 0)

    # Explicitly allowed, it saves.
    click(qtbot, dialog.allow_insecure_check)
    save(qtbot, dialog)
    assert not dialog.isVisible(), dialog.banner.text()
    channel = next(c for c in channels.list_channels() if c.name == "Plain")
    assert channel.imap_security == Security.NONE and channel.allow_insecure
    assert channel.imap_port == 143


def test_max_recipients_per_reply_is_checked_next_to_its_field_and_saved(qtbot, screen, channels):  # type: ignore[no-untyped-def]
    dialog = open_edit_dialog(qtbot, screen, "Support mailbox")
    go_to_tab(qtbot, dialog, "Outgoing (SMTP)")
    assert dialog.max_recipients_edit.text() == "100"  # the default
    for typed, problem in (
        ("0", "must be 1 or more (got 0)."),
        ("lots", "'lots' is not a whole number."),
        ("100000", "must be at most 10000 (got 100000)."),
    ):
        retype(qtbot, dialog.max_recipients_edit, typed)
        go_to_tab(qtbot, dialog, "General")
        save(qtbot, dialog)
        assert dialog.isVisible()
        assert current_tab(dialog) == "Outgoing (SMTP)"  # switched to where the error is
        assert error_under(dialog.max_recipients_edit) == f"Max Recipients per Reply {problem}"
        assert dialog.max_recipients_edit.text() == typed
        assert dialog.focusWidget() is dialog.max_recipients_edit

    retype(qtbot, dialog.max_recipients_edit, "25")
    save(qtbot, dialog)
    assert not dialog.isVisible(), dialog.banner.text()
    channel = next(c for c in channels.list_channels() if c.name == "Support mailbox")
    assert channel.max_recipients == 25
    dialog = open_edit_dialog(qtbot, screen, "Support mailbox")
    assert dialog.max_recipients_edit.text() == "25"


# ---- filters ----------------------------------------------------------------------------


def test_new_channel_filters_added_and_reordered(qtbot, screen, channels):  # type: ignore[no-untyped-def]
    dialog = open_new_dialog(qtbot, screen)
    fill_general(qtbot, dialog, "Routing test", "routing")
    type_text(qtbot, dialog.display_edit, DISPLAY)
    go_to_tab(qtbot, dialog, "Filters")
    # A new channel has no id yet: the tab says so and offers to save it now.
    assert dialog.filters_notice.isVisible()
    assert "Save the channel first" in dialog.filters_notice.text()
    assert not dialog.add_filter_button.isEnabled()
    click(qtbot, dialog.save_now_button)
    assert current_tab(dialog) == "General"  # an error is shown where it belongs
    assert "not a valid email address" in error_under(dialog.address_edit)
    assert dialog.windowTitle() == "New Email Channel"
    dialog.address_edit.end(False)
    type_text(qtbot, dialog.address_edit, "@example.com")
    go_to_tab(qtbot, dialog, "Filters")
    click(qtbot, dialog.save_now_button)
    assert dialog.isVisible()
    assert dialog.windowTitle() == "Edit Email Channel"
    assert not dialog.filters_notice.isVisible()
    assert dialog.focusWidget() is dialog.add_filter_button
    go_to_tab(qtbot, dialog, "General")
    assert error_under(dialog.address_edit) == ""  # the corrected error is gone
    assert error_under(dialog.name_edit) == ""
    go_to_tab(qtbot, dialog, "Filters")
    assert dialog.display_edit.text() == DISPLAY  # nothing typed is lost
    assert "Routing test" in table_texts(screen.view, 0)

    add_filter(qtbot, dialog, "Subject", "contains", "alpha", "Orders")
    add_filter(qtbot, dialog, "Body", "equals", "beta", "Returns")
    add_filter(qtbot, dialog, "Sender", "ends with", "@gamma.example", "Complaints")
    view = dialog.filter_view
    assert table_texts(view, 3) == ["alpha", "beta", "@gamma.example"]
    assert table_texts(view, 0) == ["1", "2", "3"]
    assert [view.model().index(2, c).data() for c in range(6)] == [
        "3",
        "Sender",
        "ends with",
        "@gamma.example",
        "Complaints",
        "Yes",
    ]
    # The new filter is selected: it cannot move further down.
    assert not dialog.move_down_button.isEnabled()

    click(qtbot, dialog.move_up_button)
    click(qtbot, dialog.move_up_button)
    assert table_texts(view, 3) == ["@gamma.example", "alpha", "beta"]
    assert not dialog.move_up_button.isEnabled()  # at the top
    view.selectRow(1)
    click(qtbot, dialog.move_down_button)
    assert table_texts(view, 3) == ["@gamma.example", "beta", "alpha"]
    assert table_texts(view, 0) == ["1", "2", "3"]

    channel_id = dialog.channel.id  # type: ignore[union-attr]
    stored = channels.get_channel(channel_id).filters
    assert [(f.priority, f.keyword) for f in stored] == [
        (1, "@gamma.example"),
        (2, "beta"),
        (3, "alpha"),
    ]

    # Edit the middle one; delete the last one.
    view.selectRow(1)
    flt = open_filter_dialog(qtbot, dialog, dialog.edit_filter_button)
    assert flt.keyword_edit.text() == "beta" and flt.match_combo.currentText() == "equals"
    click(qtbot, flt.enabled_check)
    save(qtbot, flt)
    assert not flt.isVisible()
    assert table_texts(view, 5) == ["Yes", "No", "Yes"]
    view.selectRow(2)
    click(qtbot, dialog.delete_filter_button)
    assert table_texts(view, 3) == ["@gamma.example", "beta"]

    # The channel, saved once already, saves again without a conflict.
    save(qtbot, dialog)
    assert not dialog.isVisible(), dialog.banner.text()
    row = table_texts(screen.view, 0).index("Routing test")
    assert screen.view.model().index(row, 4).data() == "2"
    assert channels.get_channel(channel_id).display_name == DISPLAY


def test_invalid_regular_expression_is_shown_next_to_keyword_and_kept(qtbot, screen, ctx):  # type: ignore[no-untyped-def]
    dialog = open_edit_dialog(qtbot, screen, "Support mailbox")
    go_to_tab(qtbot, dialog, "Filters")
    before = table_texts(dialog.filter_view, 3)
    assert len(before) == 4
    flt = open_filter_dialog(qtbot, dialog, dialog.add_filter_button)
    choose(flt.match_combo, "regular expression")
    type_text(qtbot, flt.keyword_edit, r"(refund|Rücksendung")
    choose(flt.campaign_combo, "Returns")
    save(qtbot, flt)

    assert flt.isVisible()
    error = error_under(flt.keyword_edit)
    assert error.startswith("Keyword is not a valid regular expression")
    assert "missing )" in error
    assert flt.keyword_edit.text() == r"(refund|Rücksendung"
    assert flt.match_combo.currentText() == "regular expression"
    assert flt.campaign_combo.currentText() == "Returns"
    assert table_texts(dialog.filter_view, 3) == before

    flt.keyword_edit.end(False)
    type_text(qtbot, flt.keyword_edit, ")")
    save(qtbot, flt)
    assert not flt.isVisible(), flt.banner.text()
    assert table_texts(dialog.filter_view, 3) == [*before, r"(refund|Rücksendung)"]
    assert table_texts(dialog.filter_view, 2)[-1] == FilterMatch.REGEX.label


def test_filter_needs_a_target_campaign(qtbot, screen):  # type: ignore[no-untyped-def]
    dialog = open_edit_dialog(qtbot, screen, "Sales mailbox")
    go_to_tab(qtbot, dialog, "Filters")
    flt = open_filter_dialog(qtbot, dialog, dialog.add_filter_button)
    type_text(qtbot, flt.keyword_edit, "quote")
    save(qtbot, flt)
    assert flt.isVisible()
    assert error_under(flt.campaign_combo).startswith("Target Campaign is required")
    assert flt.keyword_edit.text() == "quote"


# ---- keyring ----------------------------------------------------------------------------


def test_without_a_keyring_passwords_wait_for_the_explicit_file_fallback(  # type: ignore[no-untyped-def]
    qtbot, screen, ctx, shown, isolated_home, request
):
    from app.ui.channel_status import ChannelEvents

    ctx.secrets = None  # no keyring backend, and no fallback chosen yet
    ctx.channel_events = ChannelEvents(ctx.db, None)  # not started: only its store matters
    # saving the channel starts the service (and its outbox thread): stopped at the end,
    # or it outlives the test's database
    request.addfinalizer(ctx.channel_events.stop)
    dialog = open_new_dialog(qtbot, screen)
    assert dialog.keyring_notice.isVisible()
    assert "No system keyring was found" in dialog.keyring_notice_label.text()
    assert dialog.plain_file_button.text().replace("&", "") == (
        "Store passwords in an unencrypted file…"
    )
    go_to_tab(qtbot, dialog, "Incoming (IMAP)")
    assert not dialog.imap_password_edit.isEnabled()
    assert not dialog.smtp_password_edit.isEnabled()
    assert "no system keyring" in dialog.imap_storage_label.text()

    # Declining changes nothing.
    shown.replies.append(False)
    click(qtbot, dialog.plain_file_button)
    assert shown[-1][0] == "confirm" and "NOT encrypted" in shown[-1][1]
    assert ctx.secrets is None
    assert not dialog.imap_password_edit.isEnabled()

    # Accepting chooses the unencrypted file, visibly.
    click(qtbot, dialog.plain_file_button)
    assert isinstance(ctx.secrets, PlainFileStore)
    assert not dialog.keyring_notice.isVisible()
    assert dialog.imap_password_edit.isEnabled() and dialog.smtp_password_edit.isEnabled()
    assert "an unencrypted file" in dialog.imap_storage_label.text()
    assert str(ctx.secrets.path) in dialog.smtp_storage_label.text()
    assert ctx.channel_events.service.secrets is ctx.secrets  # retrieval reads it too

    fill_general(qtbot, dialog, "File store", "file@example.com")
    go_to_tab(qtbot, dialog, "Incoming (IMAP)")
    type_text(qtbot, dialog.imap_password_edit, IMAP_PASSWORD)
    save(qtbot, dialog)
    assert not dialog.isVisible(), dialog.banner.text()
    assert IMAP_PASSWORD in ctx.secrets.path.read_text(encoding="utf-8")
    assert ctx.secrets.path.is_relative_to(isolated_home)


# ---- test connection, conflicts, cancelling ---------------------------------------------


def test_test_connection_names_the_failure_of_each_server(qtbot, screen, shown):  # type: ignore[no-untyped-def]
    import socket

    closed = []
    for _ in range(2):  # two ports nobody listens on
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        closed.append(probe.getsockname()[1])
        probe.close()
    dialog = open_edit_dialog(qtbot, screen, "Support mailbox")
    go_to_tab(qtbot, dialog, "Incoming (IMAP)")
    dialog.imap_host_edit.setText("127.0.0.1")
    dialog.imap_port_edit.setText(str(closed[0]))
    type_text(qtbot, dialog.imap_password_edit, "typed-secret")
    go_to_tab(qtbot, dialog, "Outgoing (SMTP)")
    dialog.smtp_host_edit.setText("127.0.0.1")
    dialog.smtp_port_edit.setText(str(closed[1]))
    dialog.test_button.click()  # (not waiting for the test to end: it says it runs)
    assert dialog.test_button.text() == "Testing…"
    qtbot.waitUntil(lambda: bool(shown), timeout=10000)
    kind, text = shown[-1]
    assert kind == "error"
    assert f"IMAP: The IMAP server 127.0.0.1:{closed[0]} refused the connection" in text
    assert f"SMTP: The SMTP server 127.0.0.1:{closed[1]} refused the connection" in text
    assert dialog.isVisible() and dialog.imap_password_edit.text() == "typed-secret"
    assert dialog.test_button.isEnabled()


def test_test_connection_with_a_bad_port_shows_it_next_to_the_field(qtbot, screen, shown):  # type: ignore[no-untyped-def]
    dialog = open_edit_dialog(qtbot, screen, "Support mailbox")
    go_to_tab(qtbot, dialog, "Outgoing (SMTP)")
    dialog.smtp_port_edit.setText("99999")
    click(qtbot, dialog.test_button)
    assert shown == []
    assert "at most 65535" in dialog._fields["SMTP Port"][1].text()
    assert dialog.focusWidget() is dialog.smtp_port_edit
    assert dialog.smtp_port_edit.selectedText() == "99999"  # the whole field


def test_the_dialog_stays_usable_and_saves_while_a_connection_test_runs(  # type: ignore[no-untyped-def]
    qtbot, screen, channels, shown
):
    import socket

    # A server that takes the connection and never answers: the test waits for its greeting.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    port = str(silent.getsockname()[1])
    try:
        dialog = open_edit_dialog(qtbot, screen, "Support mailbox")
        for host, port_edit in (
            (dialog.imap_host_edit, dialog.imap_port_edit),
            (dialog.smtp_host_edit, dialog.smtp_port_edit),
        ):
            host.setText("127.0.0.1")
            port_edit.setText(port)
        dialog.test_button.click()  # (not waiting: the test does not end by itself)
        assert dialog.test_button.text() == "Testing…" and not dialog.test_button.isEnabled()

        # Meanwhile the dialog takes typing and saves, without waiting for the test.
        assert current_tab(dialog) == "General"
        dialog.display_edit.selectAll()
        QTest.keyClicks(dialog.display_edit, "Typed during the test")
        assert dialog.display_edit.text() == "Typed during the test"
        dialog.buttons.button(dialog.buttons.StandardButton.Save).click()
        qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=5000)
        assert dialog.test_button.text() == "Testing…"  # the test is still running
        qtbot.waitUntil(
            lambda: (
                "Support mailbox" in table_texts(screen.view, 0)
                and channels.get_channel(dialog.channel.id).display_name == "Typed during the test"
            ),
            timeout=5000,
        )
    finally:
        silent.close()  # the connections waiting on it are reset: the test ends
    settle_operations()
    assert dialog.test_button.isEnabled()
    assert not [text for _kind, text in shown if "IMAP" in text]  # closed: nobody to tell


def test_save_is_off_while_saving_and_the_dialog_stays_usable(  # type: ignore[no-untyped-def]
    qtbot, screen, channels, monkeypatch
):
    import threading

    release = threading.Event()
    update = ChannelService.update_channel

    def slow_update(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        assert release.wait(20), "the test did not release the save"
        return update(self, *args, **kwargs)

    monkeypatch.setattr(ChannelService, "update_channel", slow_update)
    dialog = open_edit_dialog(qtbot, screen, "Sales mailbox")
    retype(qtbot, dialog.display_edit, "Saved slowly")
    save_button = dialog.buttons.button(dialog.buttons.StandardButton.Save)
    try:
        save_button.click()  # (not waiting: the save waits for the test)
        assert dialog.saving
        assert not save_button.isEnabled()
        assert not dialog.buttons.button(dialog.buttons.StandardButton.Cancel).isEnabled()
        QTest.keyClick(dialog, Qt.Key.Key_Escape)  # its outcome closes the dialog, not Escape
        assert dialog.isVisible()
        bar = dialog.tabs.tabBar()  # the GUI answers meanwhile (a click that does not wait)
        QTest.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(2).center())
        assert current_tab(dialog) == "Outgoing (SMTP)"
    finally:
        release.set()
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=5000)
    settle_operations()
    channel = next(c for c in channels.list_channels() if c.name == "Sales mailbox")
    assert channel.display_name == "Saved slowly"


def test_a_password_the_store_refuses_keeps_the_dialog_open_with_the_channel_saved(  # type: ignore[no-untyped-def]
    qtbot, screen, channels, memory_keyring, monkeypatch
):
    import keyring.errors

    def refuse(*_args):  # type: ignore[no-untyped-def]
        raise keyring.errors.KeyringError("the keyring is locked")

    monkeypatch.setattr(memory_keyring, "set_password", refuse)
    dialog = open_new_dialog(qtbot, screen)
    fill_general(qtbot, dialog, "Locked keyring", "locked@example.com")
    go_to_tab(qtbot, dialog, "Incoming (IMAP)")
    type_text(qtbot, dialog.imap_password_edit, IMAP_PASSWORD)
    go_to_tab(qtbot, dialog, "General")
    save(qtbot, dialog)

    assert dialog.isVisible()
    assert current_tab(dialog) == "Incoming (IMAP)"
    error = error_under(dialog.imap_password_edit)
    assert error.startswith("IMAP Password was not saved: The system keyring could not be written")
    assert "the keyring is locked" in error and "other settings were saved" in error
    assert dialog.imap_password_edit.text() == IMAP_PASSWORD  # kept, to try again
    assert dialog.windowTitle() == "Edit Email Channel"  # the channel itself was saved
    assert "Locked keyring" in table_texts(screen.view, 0)

    # The keyring unlocked, Save stores the password and updates the same channel.
    monkeypatch.undo()
    save(qtbot, dialog)
    assert not dialog.isVisible(), dialog.banner.text()
    saved = [c for c in channels.list_channels() if c.name == "Locked keyring"]
    assert len(saved) == 1
    assert channels.get_password(saved[0].id, "inbound") == IMAP_PASSWORD


def test_second_save_of_the_same_channel_shows_a_conflict(  # type: ignore[no-untyped-def]
    qtbot, demo_db, admin, make_ctx, channels
):
    # Two administrators, each at their own workstation.
    screens = []
    for _ in range(2):
        widget = ChannelsScreen(make_ctx(demo_db, admin))
        qtbot.addWidget(widget)
        widget.show()
        screens.append(widget)
    settle_operations()  # the lists are read
    first = open_edit_dialog(qtbot, screens[0], "Support mailbox")
    second = open_edit_dialog(qtbot, screens[1], "Support mailbox")
    retype(qtbot, first.display_edit, "First admin")
    save(qtbot, first)
    assert not first.isVisible(), first.banner.text()

    retype(qtbot, second.display_edit, "Second admin")
    save(qtbot, second)
    assert second.isVisible()
    assert second.banner.isVisible()
    assert "changed by someone else" in second.banner.text()
    assert "Support mailbox" in second.banner.text()
    assert second.display_edit.text() == "Second admin"  # kept for the user to redo
    channel = next(c for c in channels.list_channels() if c.name == "Support mailbox")
    assert channel.display_name == "First admin"


def test_escape_with_unsaved_changes_asks_first(qtbot, screen, shown):  # type: ignore[no-untyped-def]
    dialog = open_new_dialog(qtbot, screen)
    type_text(qtbot, dialog.name_edit, "Half typed")
    shown.replies.append(False)
    QTest.keyClick(dialog, Qt.Key.Key_Escape)
    assert shown[-1] == ("confirm", "You have unsaved changes. Discard them?")
    assert dialog.isVisible() and dialog.name_edit.text() == "Half typed"
    QTest.keyClick(dialog, Qt.Key.Key_Escape)
    assert not dialog.isVisible()
    assert "Half typed" not in table_texts(screen.view, 0)


def test_delete_channel_asks_and_removes_it_with_its_passwords(  # type: ignore[no-untyped-def]
    qtbot, screen, ctx, channels, demo_db, shown
):
    channel = next(c for c in channels.list_channels() if c.name == "Sales mailbox")
    channels.set_password(channel.id, "inbound", IMAP_PASSWORD)
    key = keyring_user(demo_db, channel.id, "inbound")
    assert ctx.secrets.get(key) == IMAP_PASSWORD  # type: ignore[union-attr]
    screen.view.selectRow(table_texts(screen.view, 0).index("Sales mailbox"))
    click(qtbot, screen.delete_button)
    assert shown[-1][0] == "confirm" and "'Sales mailbox'" in shown[-1][1]
    assert "Sales mailbox" not in table_texts(screen.view, 0)
    assert ctx.secrets.get(key) is None  # type: ignore[union-attr]

    # The organisation's default channel cannot go: the reason is shown.
    screen.view.selectRow(table_texts(screen.view, 0).index("Support mailbox"))
    click(qtbot, screen.delete_button)
    assert shown[-1][0] == "error" and "Organisation Default Email Channel" in shown[-1][1]
    assert "Support mailbox" in table_texts(screen.view, 0)


# ---- keyboard: labels, mnemonics, Tab ---------------------------------------------------

INPUTS = (QLineEdit, QComboBox, QCheckBox, QTableView)


def mnemonic(label: str) -> str | None:
    found = re.search(r"&([^&])", label.replace("&&", ""))
    return found.group(1).lower() if found else None


def keyboard_inputs(page: QWidget) -> list[QWidget]:
    return [w for w in page.findChildren(QWidget) if isinstance(w, INPUTS)]


def check_labels_and_mnemonics(dialog, pages: list[QWidget], always: list[str]) -> None:  # type: ignore[no-untyped-def]
    for page in pages:
        keys = list(always)
        buddies = {
            label.buddy(): label.text() for label in page.findChildren(QLabel) if label.buddy()
        }
        for widget in keyboard_inputs(page):
            if isinstance(widget, QCheckBox):
                keys.append(mnemonic(widget.text()) or "")
                assert mnemonic(widget.text()), f"check box {widget.text()!r} has no mnemonic"
            else:
                assert widget in buddies, f"{widget!r} has no label buddy"
                assert mnemonic(buddies[widget]), f"label {buddies[widget]!r} has no mnemonic"
                keys.append(mnemonic(buddies[widget]) or "")
        for button in page.findChildren(QAbstractButton):
            if not isinstance(button, QCheckBox) and mnemonic(button.text()):
                keys.append(mnemonic(button.text()) or "")
        duplicates = {k for k in keys if keys.count(k) > 1}
        assert not duplicates, f"{dialog.windowTitle()}: mnemonic(s) {duplicates} used twice"


def test_every_input_has_a_label_buddy_with_a_unique_mnemonic(qtbot, screen, shown):  # type: ignore[no-untyped-def]
    dialog = open_edit_dialog(qtbot, screen, "Support mailbox")
    bar = dialog.tabs.tabBar()
    always = [mnemonic(bar.tabText(i)) for i in range(bar.count())]
    always += [mnemonic(b.text()) for b in dialog.buttons.buttons()]
    always += [mnemonic(dialog.test_button.text()), mnemonic(dialog.plain_file_button.text())]
    pages = [dialog.tabs.widget(i) for i in range(dialog.tabs.count())]
    check_labels_and_mnemonics(dialog, pages, [k for k in always if k])

    go_to_tab(qtbot, dialog, "Filters")
    dialog.filter_view.selectRow(0)
    flt = open_filter_dialog(qtbot, dialog, dialog.edit_filter_button)
    check_labels_and_mnemonics(flt, [flt], [])


def focus_cycle(qtbot, dialog, start: QWidget) -> list[QWidget]:  # type: ignore[no-untyped-def]
    """Press Tab from ``start`` until focus comes back; return the widgets visited."""
    start.setFocus()
    qtbot.waitUntil(lambda: start.hasFocus())
    visited = [start]
    for _ in range(60):
        QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
        widget = QApplication.focusWidget()
        if widget is start:
            return visited
        visited.append(widget)
    raise AssertionError("Tab never came back to where it started")


def test_every_input_is_reachable_with_tab(qtbot, screen):  # type: ignore[no-untyped-def]
    dialog = open_edit_dialog(qtbot, screen, "Support mailbox")
    dialog.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is dialog)
    for index in range(dialog.tabs.count()):
        dialog.tabs.setCurrentIndex(index)
        page = dialog.tabs.widget(index)
        wanted = [w for w in keyboard_inputs(page) if w.isEnabled() and w.isVisibleTo(dialog)]
        visited = focus_cycle(qtbot, dialog, dialog.tabs.tabBar())
        missing = [w for w in wanted if w not in visited]
        assert not missing, f"{dialog.tabs.tabText(index)}: Tab never reaches {missing}"
        save_button = dialog.buttons.button(dialog.buttons.StandardButton.Save)
        assert visited.index(dialog.test_button) < visited.index(save_button)


# ---- models -----------------------------------------------------------------------------


def test_models_pass_the_model_tester(qtbot, qtmodeltester, screen):  # type: ignore[no-untyped-def]
    assert screen.model.rowCount() == 2
    qtmodeltester.check(screen.model)
    qtmodeltester.check(screen.proxy)
    dialog = open_edit_dialog(qtbot, screen, "Support mailbox")
    assert dialog.filter_model.rowCount() == 4
    qtmodeltester.check(dialog.filter_model)
