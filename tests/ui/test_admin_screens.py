"""Administration ▸ Teams, Users and Settings driven like an administrator would."""

from __future__ import annotations

import re

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSpinBox,
    QApplication,
    QCheckBox,
    QComboBox,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QWidget,
)

from app.services.errors import AuthenticationError, PermissionDenied
from app.services.people import PeopleService, TeamData
from app.services.settings import DEFAULT_CHANNEL, SettingsData, SettingsService
from app.ui.forms import plain
from app.ui.settings_screen import SettingsScreen
from app.ui.teams_screen import CheckList, TeamDialog, TeamsScreen
from app.ui.users_screen import PasswordDialog, UserDialog, UsersScreen
from tests.conftest import settle_operations, sign_in_as
from tests.ui.keyboard import type_text

# Nothing of these screens may wait for the database on the GUI thread: the test's own
# set-up and checks use the database directly (``demo_db``), never the screens' context.

# ---- helpers ----------------------------------------------------------------


@pytest.fixture
def ctx(demo_db, admin, make_ctx):  # type: ignore[no-untyped-def]
    return make_ctx(demo_db, admin)


def show(qtbot, widget: QWidget, width: int = 1000, height: int = 600) -> QWidget:  # type: ignore[no-untyped-def]
    qtbot.addWidget(widget)
    widget.resize(width, height)
    widget.show()
    settle_operations()  # what it shows is read off the GUI thread
    return widget


def click(qtbot, button: QAbstractButton) -> None:  # type: ignore[no-untyped-def]
    """Click where a user would: a check box on its box, a button in its middle."""
    assert button.isVisible() and button.isEnabled(), button.text()
    if isinstance(button, QCheckBox):
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton, pos=QPoint(8, button.height() // 2))
    else:
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def save_button(dialog) -> QAbstractButton:  # type: ignore[no-untyped-def]
    return dialog.buttons.button(dialog.buttons.StandardButton.Save)


def save_and_close(qtbot, dialog) -> None:  # type: ignore[no-untyped-def]
    accepted = dialog.DialogCode.Accepted.value
    with qtbot.waitSignal(dialog.finished, timeout=2000) as closed:
        click(qtbot, save_button(dialog))
    assert closed.args == [accepted]  # (the dialog itself may be deleted by now)


def retype(qtbot, edit: QLineEdit, text: str) -> None:  # type: ignore[no-untyped-def]
    edit.selectAll()
    qtbot.keyClick(edit, Qt.Key.Key_Delete)
    type_text(qtbot, edit, text)


def check_item(qtbot, checklist: CheckList, find: str) -> None:  # type: ignore[no-untyped-def]
    """Filter the checklist down to one item and press Space on it."""
    retype(qtbot, checklist.filter_edit, find)
    assert checklist.proxy.rowCount() == 1, find
    checklist.view.setFocus()
    checklist.view.setCurrentIndex(checklist.proxy.index(0, 0))
    before = checklist.proxy.index(0, 0).data(Qt.ItemDataRole.CheckStateRole)
    qtbot.keyClick(checklist.view, Qt.Key.Key_Space)
    after = checklist.proxy.index(0, 0).data(Qt.ItemDataRole.CheckStateRole)
    assert after != before, f"Space did not toggle {find}"
    checklist.filter_edit.clear()


def column(view, col: int) -> list[str]:  # type: ignore[no-untyped-def]
    model = view.model()
    return [model.index(r, col).data() for r in range(model.rowCount())]


def row_of(view, first_column_text: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """The row whose first cell is ``first_column_text``, as {header: text}."""
    model = view.model()
    for r in range(model.rowCount()):
        if model.index(r, 0).data() == first_column_text:
            return {
                model.headerData(c, Qt.Orientation.Horizontal): model.index(r, c).data()
                for c in range(model.columnCount())
            }
    raise AssertionError(f"{first_column_text!r} not in {column(view, 0)}")


def select_row(view, first_column_text: str) -> None:  # type: ignore[no-untyped-def]
    rows = column(view, 0)
    assert first_column_text in rows, rows
    view.selectRow(rows.index(first_column_text))


def field_error(form, name: str) -> QLabel:  # type: ignore[no-untyped-def]
    _widget, error = form._fields[name]
    return error


def opened(qtbot, screen: QWidget, kind: type):  # type: ignore[no-untyped-def]
    """The one dialog of ``kind`` open over ``screen``, once what it needed was read."""
    settle_operations()
    dialogs = [d for d in screen.findChildren(kind) if d.isVisible()]
    assert len(dialogs) == 1, dialogs
    qtbot.waitUntil(lambda: QApplication.activeWindow() is dialogs[0], timeout=1000)
    return dialogs[0]


def open_dialog(qtbot, screen: QWidget, button: QAbstractButton, kind: type):  # type: ignore[no-untyped-def]
    click(qtbot, button)
    return opened(qtbot, screen, kind)


# ---- teams ------------------------------------------------------------------


@pytest.fixture
def teams(qtbot, ctx):  # type: ignore[no-untyped-def]
    return show(qtbot, TeamsScreen(ctx))


def test_teams_table_shows_public_members_and_campaigns(teams):  # type: ignore[no-untyped-def]
    assert column(teams.view, 0) == ["Escalations", "Front Line", "Sales Desk"]
    assert row_of(teams.view, "Front Line") == {
        "Team Name": "Front Line",
        "Public": "Yes",
        "Members": "3",
        "Assigned Campaigns": "General Enquiries, Orders, Returns",
    }
    assert row_of(teams.view, "Escalations")["Public"] == "No"
    assert not teams.edit_button.isEnabled() and not teams.delete_button.isEnabled()


def test_find_filters_the_teams(qtbot, teams):  # type: ignore[no-untyped-def]
    type_text(qtbot, teams.filter_edit, "Größe")  # a campaign of Sales Desk
    assert column(teams.view, 0) == ["Sales Desk"]
    teams.filter_edit.clear()
    assert len(column(teams.view, 0)) == 3


def test_create_a_team_with_two_members(qtbot, teams, demo_db, admin):  # type: ignore[no-untyped-def]
    dialog = open_dialog(qtbot, teams, teams.new_button, TeamDialog)
    assert dialog.windowTitle() == "New Team"
    assert dialog.public_check.isChecked()
    type_text(qtbot, dialog.name_edit, "Support 日本語")
    type_text(qtbot, dialog.description_edit, "Nachtschicht – Größe")
    click(qtbot, dialog.public_check)
    check_item(qtbot, dialog.members, "alice")
    check_item(qtbot, dialog.members, "山田")
    assert dialog.members.summary.text() == (
        "2 members checked: Alice Agent (alice), 山田 明子 (akiko)"
    )
    save_and_close(qtbot, dialog)

    assert row_of(teams.view, "Support 日本語") == {
        "Team Name": "Support 日本語",
        "Public": "No",
        "Members": "2",
        "Assigned Campaigns": "",
    }
    assert teams.selected().name == "Support 日本語"
    saved = next(t for t in PeopleService(demo_db, admin).list_teams() if t.id == dialog.saved_id)
    assert saved.description == "Nachtschicht – Größe"
    assert [u.login for u in saved.members] == ["akiko", "alice"]


def test_edit_a_team_unchecks_a_member(qtbot, teams):  # type: ignore[no-untyped-def]
    select_row(teams.view, "Front Line")
    dialog = open_dialog(qtbot, teams, teams.edit_button, TeamDialog)
    assert dialog.windowTitle() == "Edit Team"
    assert dialog.name_edit.text() == "Front Line"
    assert "Bob Agent (bob)" in dialog.members.summary.text()
    check_item(qtbot, dialog.members, "bob")
    save_and_close(qtbot, dialog)
    assert row_of(teams.view, "Front Line")["Members"] == "2"


def test_a_duplicate_team_name_is_shown_next_to_the_name(qtbot, teams):  # type: ignore[no-untyped-def]
    dialog = open_dialog(qtbot, teams, teams.new_button, TeamDialog)
    type_text(qtbot, dialog.name_edit, "front line")
    check_item(qtbot, dialog.members, "bob")
    click(qtbot, save_button(dialog))
    assert dialog.isVisible()
    error = field_error(dialog, "Team Name")
    assert error.isVisible() and "already used" in error.text()
    assert dialog.name_edit.text() == "front line"
    assert dialog.focusWidget() is dialog.name_edit
    assert dialog.name_edit.selectedText() == "front line"
    assert dialog.members.model.checked_texts() == ["Bob Agent (bob)"]


def test_deleting_a_team_assigned_to_campaigns_names_them(qtbot, teams, answers):  # type: ignore[no-untyped-def]
    shown, _ = answers
    select_row(teams.view, "Escalations")
    click(qtbot, teams.delete_button)
    assert shown[0][0] == "confirm" and "Escalations" in shown[0][1]
    kind, text = shown[-1]
    assert kind == "error"
    assert "Complaints" in text and "Returns" in text
    assert "Escalations" in column(teams.view, 0)


def test_deleting_an_unassigned_team_removes_it(qtbot, teams, demo_db, admin, answers):  # type: ignore[no-untyped-def]
    shown, replies = answers
    PeopleService(demo_db, admin).create_team(TeamData("Night Shift"))
    teams.reload()
    settle_operations()
    select_row(teams.view, "Night Shift")
    replies.append(False)  # the user thinks again
    click(qtbot, teams.delete_button)
    assert "Night Shift" in column(teams.view, 0)
    click(qtbot, teams.delete_button)
    assert "Night Shift" not in column(teams.view, 0)
    assert [kind for kind, _text in shown] == ["confirm", "confirm"]


def test_edit_opens_the_team_as_it_is_now(qtbot, teams, demo_db, admin):  # type: ignore[no-untyped-def]
    select_row(teams.view, "Front Line")
    people = PeopleService(demo_db, admin)
    front = next(t for t in people.list_teams() if t.name == "Front Line")
    alice = next(u for u in front.members if u.login == "alice")
    # Changed elsewhere after the list was read: the dialog shows the team as it is now.
    people.update_team(
        front.id,
        TeamData(
            front.name,
            "Changed elsewhere",
            front.is_public,
            [u.id for u in front.members if u.id != alice.id],
        ),
    )
    dialog = open_dialog(qtbot, teams, teams.edit_button, TeamDialog)
    assert dialog.description_edit.toPlainText() == "Changed elsewhere"
    assert "Alice Agent (alice)" not in dialog.members.model.checked_texts()
    assert row_of(teams.view, "Front Line")["Members"] == "2"  # the list read again too


def test_a_team_deleted_elsewhere_is_said_and_dropped(qtbot, teams, demo_db, admin, answers):  # type: ignore[no-untyped-def]
    shown, _replies = answers
    people = PeopleService(demo_db, admin)
    night = people.create_team(TeamData("Night Shift"))
    teams.reload()
    settle_operations()
    select_row(teams.view, "Night Shift")
    people.delete_team(night.id)
    click(qtbot, teams.edit_button)
    assert shown == [
        ("error", "The team no longer exists (it may have been deleted by someone else).")
    ]
    assert not [d for d in teams.findChildren(TeamDialog) if d.isVisible()]
    assert "Night Shift" not in column(teams.view, 0)


def test_the_lists_are_read_again_when_the_change_hub_fires(qtbot, teams, users, demo_db, admin):  # type: ignore[no-untyped-def]
    people = PeopleService(demo_db, admin)
    people.create_team(TeamData("Night Shift"))
    select_row(teams.view, "Sales Desk")
    teams.watcher.changed.emit()  # as the hub does when something changed
    settle_operations()
    assert "Night Shift" in column(teams.view, 0)
    assert teams.selected().name == "Sales Desk"  # the selection survives
    bob = next(u for u in people.list_users() if u.login == "bob")
    people.set_password(bob.id, "another-pass")  # nothing the list shows
    people.delete_user(bob.id)
    users.watcher.changed.emit()
    settle_operations()
    assert "bob" not in column(users.view, 0)


def test_escape_with_unsaved_changes_asks_first(qtbot, teams, answers):  # type: ignore[no-untyped-def]
    shown, replies = answers
    dialog = open_dialog(qtbot, teams, teams.new_button, TeamDialog)
    check_item(qtbot, dialog.members, "sam")
    replies.append(False)  # Keep editing
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert shown[-1] == ("confirm", "You have unsaved changes. Discard them?")
    assert dialog.isVisible() and dialog.members.model.checked_texts() == ["Sam Supervisor (sam)"]
    with qtbot.waitSignal(dialog.finished, timeout=2000):
        qtbot.keyClick(dialog, Qt.Key.Key_Escape)  # Discard
    assert len(column(teams.view, 0)) == 3


# ---- users ------------------------------------------------------------------


@pytest.fixture
def users(qtbot, ctx):  # type: ignore[no-untyped-def]
    return show(qtbot, UsersScreen(ctx))


def fill_new_user(qtbot, dialog: UserDialog, password: str, confirmation: str) -> None:  # type: ignore[no-untyped-def]
    type_text(qtbot, dialog.login_edit, "jgrosse")
    type_text(qtbot, dialog.display_name_edit, "Jürgen Größe – 5 €")
    type_text(qtbot, dialog.email_edit, "jg@example.com")
    dialog.role_combo.setFocus()
    dialog.role_combo.setCurrentIndex(dialog.role_combo.findText("Supervisor"))
    assert dialog.password_edit is not None and dialog.confirm_edit is not None
    type_text(qtbot, dialog.password_edit, password)
    type_text(qtbot, dialog.confirm_edit, confirmation)


def test_users_table(users):  # type: ignore[no-untyped-def]
    assert row_of(users.view, "akiko") == {
        "Login Name": "akiko",
        "Display Name": "山田 明子",
        "Email Address": "akiko@example.com",
        "Role": "Agent",
        "Teams": "Sales Desk",
        "Active": "Yes",
    }
    assert row_of(users.view, "admin")["Role"] == "Administrator"
    select_row(users.view, "admin")
    assert users.edit_button.isEnabled()
    assert not users.delete_button.isEnabled()  # nobody deletes their own account
    select_row(users.view, "bob")
    assert users.delete_button.isEnabled()


def test_create_a_user_with_a_non_ascii_name(qtbot, users, demo_db):  # type: ignore[no-untyped-def]
    dialog = open_dialog(qtbot, users, users.new_button, UserDialog)
    assert dialog.windowTitle() == "New User"
    assert dialog.role_combo.currentText() == "Agent" and dialog.active_check.isChecked()
    assert [dialog.role_combo.itemText(i) for i in range(dialog.role_combo.count())] == [
        "Agent",
        "Supervisor",
        "Administrator",
    ]
    fill_new_user(qtbot, dialog, "s3cret-pass", "s3cret-pass")
    check_item(qtbot, dialog.teams, "escal")
    check_item(qtbot, dialog.teams, "sales")
    save_and_close(qtbot, dialog)

    assert row_of(users.view, "jgrosse") == {
        "Login Name": "jgrosse",
        "Display Name": "Jürgen Größe – 5 €",
        "Email Address": "jg@example.com",
        "Role": "Supervisor",
        "Teams": "Escalations, Sales Desk",
        "Active": "Yes",
    }
    assert users.selected().login == "jgrosse"
    actor = sign_in_as(demo_db, "jgrosse", "s3cret-pass")
    assert actor.display_name == "Jürgen Größe – 5 €"


def test_invalid_email_is_shown_next_to_the_field_and_typing_is_kept(qtbot, users):  # type: ignore[no-untyped-def]
    dialog = open_dialog(qtbot, users, users.new_button, UserDialog)
    fill_new_user(qtbot, dialog, "s3cret-pass", "s3cret-pass")
    retype(qtbot, dialog.email_edit, "jürgen at example.com")
    click(qtbot, save_button(dialog))

    assert dialog.isVisible()
    error = field_error(dialog, "Email Address")
    assert error.isVisible()
    assert error.text().startswith("Email Address 'jürgen at example.com' is not a valid")
    assert dialog.email_edit.text() == "jürgen at example.com"
    assert dialog.display_name_edit.text() == "Jürgen Größe – 5 €"
    assert dialog.password_edit.text() == "s3cret-pass"
    assert QApplication.focusWidget() is dialog.email_edit
    assert dialog.email_edit.selectedText() == "jürgen at example.com"
    assert "jgrosse" not in column(users.view, 0)

    retype(qtbot, dialog.email_edit, "jg@example.com")
    save_and_close(qtbot, dialog)
    assert row_of(users.view, "jgrosse")["Email Address"] == "jg@example.com"


def test_password_mismatch_is_shown_next_to_the_confirmation(qtbot, users, demo_db, admin):  # type: ignore[no-untyped-def]
    dialog = open_dialog(qtbot, users, users.new_button, UserDialog)
    fill_new_user(qtbot, dialog, "s3cret-pass", "s3cret-pasz")
    click(qtbot, save_button(dialog))
    assert dialog.isVisible()
    error = field_error(dialog, "Confirm Password")
    assert error.isVisible() and "does not match the Password" in error.text()
    assert dialog.password_edit.text() == "s3cret-pass"
    assert dialog.confirm_edit.text() == "s3cret-pasz"
    assert dialog.display_name_edit.text() == "Jürgen Größe – 5 €"

    # Too short: the service's check, shown next to Password; nothing is created.
    retype(qtbot, dialog.password_edit, "short")
    retype(qtbot, dialog.confirm_edit, "short")
    click(qtbot, save_button(dialog))
    assert not error.isVisible()
    password_error = field_error(dialog, "Password")
    assert password_error.isVisible() and "at least 8 characters" in password_error.text()
    assert "jgrosse" not in [u.login for u in PeopleService(demo_db, admin).list_users()]


def test_edit_a_user_and_keep_the_last_administrator(qtbot, users):  # type: ignore[no-untyped-def]
    select_row(users.view, "bob")
    dialog = open_dialog(qtbot, users, users.edit_button, UserDialog)
    assert dialog.windowTitle() == "Edit User"
    assert dialog.password_edit is None  # passwords have their own dialog
    assert dialog.login_edit.text() == "bob" and dialog.role_combo.currentText() == "Agent"
    dialog.role_combo.setCurrentIndex(dialog.role_combo.findText("Supervisor"))
    check_item(qtbot, dialog.teams, "sales")
    save_and_close(qtbot, dialog)
    assert row_of(users.view, "bob")["Role"] == "Supervisor"
    assert row_of(users.view, "bob")["Teams"] == "Front Line"

    select_row(users.view, "admin")
    dialog = open_dialog(qtbot, users, users.edit_button, UserDialog)
    click(qtbot, dialog.active_check)
    click(qtbot, save_button(dialog))
    assert dialog.isVisible()
    assert "last active administrator" in field_error(dialog, "Role").text()
    assert not dialog.active_check.isChecked()


def test_the_buttons_are_off_while_a_password_is_saved(qtbot, users, demo_db, answers):  # type: ignore[no-untyped-def]
    """The password is hashed (scrypt, a good part of a second) off the GUI thread: the
    dialog stays open with its buttons off, and Escape waits for the outcome."""
    shown, _ = answers
    select_row(users.view, "alice")
    dialog = open_dialog(qtbot, users, users.password_button, PasswordDialog)
    type_text(qtbot, dialog.password_edit, "new-pässword")
    type_text(qtbot, dialog.confirm_edit, "new-pässword")
    closed: list[int] = []
    dialog.finished.connect(closed.append)
    dialog.try_save()  # as the Save button does, without waiting for the outcome
    assert dialog.saving
    assert not save_button(dialog).isEnabled()
    assert not dialog.buttons.button(dialog.buttons.StandardButton.Cancel).isEnabled()
    dialog.reject()  # Escape meanwhile: the save's outcome decides
    dialog.try_save()  # a second Save is not a second save
    assert dialog.isVisible() and shown == []
    settle_operations()
    assert closed == [dialog.DialogCode.Accepted.value]
    assert shown == [("info", "The password of alice has been changed.")]
    assert sign_in_as(demo_db, "alice", "new-pässword").login == "alice"


def test_set_password(qtbot, users, demo_db, answers):  # type: ignore[no-untyped-def]
    shown, _ = answers
    select_row(users.view, "alice")
    dialog = open_dialog(qtbot, users, users.password_button, PasswordDialog)
    type_text(qtbot, dialog.password_edit, "new-pässword")
    type_text(qtbot, dialog.confirm_edit, "new-password")
    click(qtbot, save_button(dialog))
    assert "does not match" in field_error(dialog, "Confirm Password").text()
    retype(qtbot, dialog.confirm_edit, "new-pässword")
    save_and_close(qtbot, dialog)
    assert shown == [("info", "The password of alice has been changed.")]
    assert sign_in_as(demo_db, "alice", "new-pässword").login == "alice"
    with pytest.raises(AuthenticationError):
        sign_in_as(demo_db, "alice", "demo")


# ---- settings ---------------------------------------------------------------


@pytest.fixture
def settings(qtbot, ctx):  # type: ignore[no-untyped-def]
    return show(qtbot, SettingsScreen(ctx), 800, 500)


def timezone_edit(screen: SettingsScreen) -> QLineEdit:
    edit = screen.timezone_combo.lineEdit()
    assert edit is not None
    return edit


def test_settings_show_the_saved_values(settings):  # type: ignore[no-untyped-def]
    assert settings.name_edit.text() == "Example Retail"
    assert settings.timezone_combo.currentText() == "Australia/Sydney"
    assert settings.date_format_edit.text() == "yyyy-MM-dd HH:mm"
    combo = settings.channel_combo
    assert [combo.itemText(i) for i in range(combo.count())] == [
        "(none)",
        "Sales mailbox",
        "Support mailbox",
    ]
    assert combo.currentText() == "Support mailbox"
    assert settings.size_spin.value() == 25
    captions = {plain(label.text()) for label in settings.findChildren(QLabel) if label.buddy()}
    assert DEFAULT_CHANNEL in captions
    assert re.fullmatch(r"Now: \d{4}-\d\d-\d\d \d\d:\d\d", settings.date_example.text())


def test_invalid_time_zone_is_shown_next_to_the_field(qtbot, settings, ctx, demo_db, admin):  # type: ignore[no-untyped-def]
    retype(qtbot, timezone_edit(settings), "Mars/Olympus")
    click(qtbot, settings.save_button)
    error = field_error(settings, "Time Zone")
    assert error.isVisible()
    assert error.text() == (
        "Time Zone 'Mars/Olympus' is not a known time zone (e.g. Australia/Sydney)."
    )
    assert settings.timezone_combo.currentText() == "Mars/Olympus"
    assert timezone_edit(settings).selectedText() == "Mars/Olympus"
    assert settings.dirty
    assert SettingsService(demo_db, admin).get().timezone == "Australia/Sydney"
    assert ctx.timezone == "Australia/Sydney"


def test_time_zone_completer_finds_a_city(qtbot, settings):  # type: ignore[no-untyped-def]
    retype(qtbot, timezone_edit(settings), "berl")
    completer = settings.timezone_combo.completer()
    assert completer is not None
    assert completer.currentCompletion() == "Europe/Berlin"


def test_date_format_example_follows_typing(qtbot, settings):  # type: ignore[no-untyped-def]
    retype(qtbot, settings.date_format_edit, "yyyy")
    assert re.fullmatch(r"Now: \d{4}", settings.date_example.text())
    retype(qtbot, settings.date_format_edit, "dd.MM.yyyy")
    assert re.fullmatch(r"Now: \d\d\.\d\d\.\d{4}", settings.date_example.text())


def test_valid_settings_are_saved_and_reloaded(qtbot, settings, ctx, demo_db, admin):  # type: ignore[no-untyped-def]
    retype(qtbot, settings.name_edit, "Größe GmbH – 5 € 日本語")
    retype(qtbot, timezone_edit(settings), "Europe/Berlin")
    retype(qtbot, settings.date_format_edit, "dd.MM.yyyy HH:mm")
    settings.channel_combo.setFocus()
    settings.channel_combo.setCurrentIndex(settings.channel_combo.findText("Sales mailbox"))
    spin_edit = settings.size_spin.findChild(QLineEdit)
    spin_edit.selectAll()
    qtbot.keyClicks(spin_edit, "30")
    held_edit = settings.held_spin.findChild(QLineEdit)
    held_edit.selectAll()
    qtbot.keyClicks(held_edit, "45")
    assert settings.dirty
    with qtbot.waitSignal(settings.saved, timeout=2000):
        click(qtbot, settings.save_button)

    assert settings.status.text() == "The settings have been saved."
    assert not settings.dirty
    assert (ctx.timezone, ctx.date_format) == ("Europe/Berlin", "dd.MM.yyyy HH:mm")
    org = SettingsService(demo_db, admin).get()
    assert org.name == "Größe GmbH – 5 € 日本語"
    assert org.default_channel is not None and org.default_channel.name == "Sales mailbox"
    assert org.max_message_size == 30 * 1024 * 1024
    assert org.held_email_timeout == 45

    reopened = show(qtbot, SettingsScreen(ctx), 800, 500)
    assert reopened.name_edit.text() == "Größe GmbH – 5 € 日本語"
    assert reopened.timezone_combo.currentText() == "Europe/Berlin"
    assert reopened.channel_combo.currentText() == "Sales mailbox"
    assert reopened.size_spin.value() == 30

    # Saving again works: the screen holds the new version.
    settings.channel_combo.setCurrentIndex(0)
    with qtbot.waitSignal(settings.saved, timeout=2000):
        assert settings.try_save()
    assert SettingsService(demo_db, admin).get().default_channel_id is None


def test_settings_changed_elsewhere_are_not_overwritten(qtbot, settings, demo_db, admin):  # type: ignore[no-untyped-def]
    SettingsService(demo_db, admin).update(SettingsData("Other Name", "UTC"))
    retype(qtbot, settings.name_edit, "Mine")
    click(qtbot, settings.save_button)
    assert "changed by someone else" in settings.banner.text()
    assert settings.name_edit.text() == "Mine"
    assert SettingsService(demo_db, admin).get().name == "Other Name"


def test_save_and_revert_are_off_while_the_settings_are_saved(qtbot, settings, demo_db, admin):  # type: ignore[no-untyped-def]
    retype(qtbot, settings.name_edit, "Größe GmbH")
    saved: list[bool] = []
    settings.saved.connect(lambda: saved.append(True))
    assert settings.try_save()  # as the Save button does, without waiting for the outcome
    assert settings.busy
    assert not settings.save_button.isEnabled() and not settings.revert_button.isEnabled()
    assert not settings.try_save()  # a second Save is not a second save
    settings.name_edit.insert(" 日本語")  # typed while it is saved: kept
    settle_operations()
    assert saved == [True]
    assert settings.save_button.isEnabled() and settings.revert_button.isEnabled()
    assert settings.status.text() == "The settings have been saved."
    assert SettingsService(demo_db, admin).get().name == "Größe GmbH"
    assert settings.name_edit.text() == "Größe GmbH 日本語" and settings.dirty
    with qtbot.waitSignal(settings.saved, timeout=2000):  # over the version just saved
        click(qtbot, settings.save_button)
    assert SettingsService(demo_db, admin).get().name == "Größe GmbH 日本語"
    assert not settings.dirty


def test_leaving_settings_with_unsaved_changes_asks(qtbot, settings, answers):  # type: ignore[no-untyped-def]
    shown, replies = answers
    assert settings.confirm_close() and shown == []
    type_text(qtbot, settings.name_edit, "!")
    replies.append(False)
    assert not settings.confirm_close()
    assert "unsaved changes" in shown[-1][1]
    click(qtbot, settings.revert_button)
    assert settings.name_edit.text() == "Example Retail" and not settings.dirty


# ---- keyboard, models, roles ------------------------------------------------


INPUTS = (QLineEdit, QPlainTextEdit, QComboBox, QAbstractSpinBox, QAbstractItemView, QCheckBox)


def inputs_of(window: QWidget) -> list[QWidget]:
    found = []
    for widget in window.findChildren(QWidget):
        if not isinstance(widget, INPUTS) or not widget.isVisible():
            continue
        if isinstance(widget.parent(), QComboBox | QAbstractSpinBox) or isinstance(
            widget, QHeaderView
        ):
            continue  # the line edit inside a combo or spin box, a table's header
        found.append(widget)
    return found


def assert_keyboard_friendly(qtbot, window: QWidget, first: QWidget) -> None:  # type: ignore[no-untyped-def]
    """Every input has a mnemonic (its own or its label's), all unique; Tab reaches it."""
    keys: list[str] = []
    labelled: set[QWidget] = set()
    for label in window.findChildren(QLabel):
        if label.buddy() is not None and label.isVisible():
            assert "&" in label.text(), label.text()
            keys.append(label.text().split("&")[1][0].lower())
            labelled.add(label.buddy())
    for button in window.findChildren(QAbstractButton):
        if "&" in button.text() and button.isVisible():
            keys.append(button.text().split("&")[1][0].lower())
    assert len(keys) == len(set(keys)), sorted(keys)
    inputs = inputs_of(window)
    for widget in inputs:
        assert widget in labelled or "&" in getattr(widget, "text", str)(), widget

    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=1000)
    first.setFocus()
    reached = set()
    for _ in range(3 * len(inputs) + 10):
        focused = QApplication.focusWidget()
        reached.add(focused.parent() if isinstance(focused.parent(), QComboBox) else focused)
        qtbot.keyClick(focused, Qt.Key.Key_Tab)
    missing = [w for w in inputs if w not in reached]
    assert not missing, missing


def test_every_window_is_keyboard_friendly(qtbot, teams, users, settings, answers):  # type: ignore[no-untyped-def]
    assert_keyboard_friendly(qtbot, teams, teams.filter_edit)
    assert_keyboard_friendly(qtbot, users, users.filter_edit)
    assert_keyboard_friendly(qtbot, settings, settings.name_edit)
    teams.new_team()
    team_dialog = opened(qtbot, teams, TeamDialog)
    assert_keyboard_friendly(qtbot, team_dialog, team_dialog.name_edit)
    team_dialog.done(0)
    users.new_user()
    new_user = opened(qtbot, users, UserDialog)
    assert_keyboard_friendly(qtbot, new_user, new_user.login_edit)
    new_user.done(0)
    select_row(users.view, "bob")
    users.edit_user()
    edit_user = opened(qtbot, users, UserDialog)
    assert_keyboard_friendly(qtbot, edit_user, edit_user.login_edit)
    edit_user.done(0)
    password = users.set_password()
    assert_keyboard_friendly(qtbot, password, password.password_edit)


def test_models_pass_the_model_tester(qtbot, teams, users, qtmodeltester):  # type: ignore[no-untyped-def]
    qtmodeltester.check(teams.model)
    qtmodeltester.check(teams.proxy)
    qtmodeltester.check(users.model)
    qtmodeltester.check(users.proxy)
    users.new_user()
    dialog = opened(qtbot, users, UserDialog)
    assert dialog.teams.model.rowCount() == 3
    qtmodeltester.check(dialog.teams.model)
    qtmodeltester.check(dialog.teams.proxy)
    check_item(qtbot, dialog.teams, "front")
    qtmodeltester.check(dialog.teams.model)


def test_only_administrators_manage_teams_users_and_settings(demo_db, supervisor, agent):  # type: ignore[no-untyped-def]
    with pytest.raises(PermissionDenied, match="may not administer"):
        PeopleService(demo_db, supervisor).create_team(TeamData("Shadow Team"))
    with pytest.raises(PermissionDenied):
        PeopleService(demo_db, agent).delete_team(1)
    with pytest.raises(PermissionDenied):
        SettingsService(demo_db, supervisor).update(SettingsData("X", "UTC"))
    names = [t.name for t in PeopleService(demo_db, supervisor).list_teams()]
    assert "Shadow Team" not in names
