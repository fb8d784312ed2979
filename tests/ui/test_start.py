"""The application's start driven like a user: the sign-in dialog typed into, the Workspace
that follows and its first keys; signing out and in again; the sign-in at any font size."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QApplication, QWidget
from sqlalchemy import update
from sqlalchemy.exc import OperationalError

from app.db.engine import Database
from app.db.models import Channel, Email, EmailStatus
from app.services.settings import SettingsService
from app.services.site import SiteAccess
from app.ui.application import Workstation
from app.ui.main_window import MainWindow
from app.ui.my_work import MyWorkScreen
from app.ui.sign_in import SignInDialog, read_accounts
from tests.conftest import ON_POSTGRES, actor_of, settle_operations
from tests.ui.keyboard import type_text
from tests.work_data import add_email


def press(
    qtbot, key: Qt.Key, modifiers: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier
) -> None:  # type: ignore[no-untyped-def]
    """A key typed wherever the focus is, as a user would."""
    focused = QApplication.focusWidget()
    assert focused is not None, "no widget has the keyboard focus"
    qtbot.keyClick(focused, key, modifiers)


def type_here(qtbot, text: str) -> None:  # type: ignore[no-untyped-def]
    focused = QApplication.focusWidget()
    assert focused is not None, "no widget has the keyboard focus"
    type_text(qtbot, focused, text)


@pytest.fixture
def workstation(qtbot, demo_db: Database, secrets, gui_database):  # type: ignore[no-untyped-def]
    """The application's start, on the demo organisation (its channels off: no mail server
    to retrieve from here), never using the database on the GUI thread. Whatever is still
    open at the end is closed."""
    with demo_db.session() as s:
        s.execute(update(Channel).values(enabled=False))
    if ON_POSTGRES:  # a shared site: each person signs in with their own login (its copy's)
        personal: list[Database] = []
        gui_thread = threading.get_ident()

        def opened(database: Database) -> None:
            personal.append(database)
            database.refuse_thread(gui_thread)

        access = SiteAccess(demo_db.url, opened=opened)
    else:
        access = SiteAccess.of(gui_database(demo_db))
    station = Workstation(access, secrets)
    yield station
    if station.window is not None:
        station.window.ctx.change_feed.stop()
        if station.window.ctx.channel_events is not None:
            station.window.ctx.channel_events.stop()
        station.window.deleteLater()
    if station.sign_in is not None:
        station.sign_in.deleteLater()
    if ON_POSTGRES:
        settle_operations()
        for database in personal:
            database.refuse_thread(None)
            database.dispose()


def asked(qtbot, station: Workstation) -> SignInDialog:  # type: ignore[no-untyped-def]
    """The sign-in dialog, once shown (after the demo accounts are read)."""
    qtbot.waitUntil(
        lambda: station.sign_in is not None and station.sign_in.isVisible(), timeout=5000
    )
    assert station.sign_in is not None
    return station.sign_in


def sign_in(qtbot, station: Workstation, login: str) -> MainWindow:  # type: ignore[no-untyped-def]
    """Type the login name and password into the sign-in dialog, press Enter, and wait for
    the Workspace."""
    dialog = asked(qtbot, station)
    qtbot.waitExposed(dialog)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is dialog.login_edit, timeout=2000)
    type_here(qtbot, login)
    press(qtbot, Qt.Key.Key_Tab)
    type_here(qtbot, "demo-password")
    press(qtbot, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: station.window is not None and station.window.isVisible(), timeout=5000)
    window = station.window
    assert window is not None
    qtbot.waitExposed(window)
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=2000)
    return window


def test_ctrl_n_takes_the_next_email_right_after_signing_in(  # type: ignore[no-untyped-def]
    qtbot, workstation: Workstation, demo_db: Database, answers
) -> None:
    e = add_email(demo_db, "Orders", subject="First of the day")
    workstation.start()
    window = sign_in(qtbot, workstation, "alice")
    screen = window.screens["my_work"]
    assert isinstance(screen, MyWorkScreen)
    assert window.tabs.currentWidget() is screen
    press(qtbot, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)  # no click, no Tab first
    assert screen.editor.email_id == e
    assert screen.pane.detail is not None and screen.pane.detail.subject == "First of the day"
    with demo_db.session() as s:
        taken = s.get_one(Email, e)
        assert taken.status == EmailStatus.ASSIGNED
        assert taken.agent_id == actor_of(demo_db, "alice").user_id
    with qtbot.waitSignal(workstation.finished, timeout=15000):
        window.close()  # the held email goes back (answered OK)
    assert workstation.window is None


def test_my_work_reopened_with_ctrl_1_has_the_keyboard(  # type: ignore[no-untyped-def]
    qtbot, workstation: Workstation, demo_db: Database, answers
) -> None:
    e = add_email(demo_db, "Orders")
    workstation.start()
    window = sign_in(qtbot, workstation, "alice")
    window.close_tab(window.tabs.indexOf(window.screens["my_work"]))
    assert window.tabs.count() == 1  # Home alone
    press(qtbot, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    screen = window.tabs.currentWidget()
    assert isinstance(screen, MyWorkScreen)
    press(qtbot, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert screen.editor.email_id == e


def test_signing_out_asks_who_works_next_and_closing_ends(  # type: ignore[no-untyped-def]
    qtbot, workstation: Workstation, answers
) -> None:
    workstation.start()
    first = sign_in(qtbot, workstation, "alice")
    with qtbot.waitSignal(first.signed_out, timeout=15000):
        first.menu_actions["sign_out"].trigger()
    assert workstation.window is None
    second = sign_in(qtbot, workstation, "sam")
    assert second is not first and second.ctx.actor.login == "sam"
    with qtbot.waitSignal(workstation.finished, timeout=15000):
        second.menu_actions["quit"].trigger()
    assert workstation.window is None and workstation.sign_in is None
    assert answers[0] == []  # nothing was held: nothing to ask


def test_the_database_lost_after_signing_in_is_said_and_the_sign_in_asks_again(  # type: ignore[no-untyped-def]
    qtbot, workstation: Workstation, answers, monkeypatch
) -> None:
    """The password was checked, then the settings the Workspace starts with could not be
    read: the sign-in says so and stays, what was typed kept; Enter again signs in."""
    shown, _replies = answers
    workstation.start()
    dialog = asked(qtbot, workstation)
    original = SettingsService.get

    def unreachable(_self):  # type: ignore[no-untyped-def]
        raise OperationalError(
            "SELECT", {}, Exception("server closed the connection"), connection_invalidated=True
        )

    monkeypatch.setattr(SettingsService, "get", unreachable)
    qtbot.waitExposed(dialog)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is dialog.login_edit, timeout=2000)
    type_here(qtbot, "alice")
    press(qtbot, Qt.Key.Key_Tab)
    type_here(qtbot, "demo-password")
    with qtbot.assertNotEmitted(workstation.finished):
        press(qtbot, Qt.Key.Key_Return)
    assert "The database cannot be reached" in dialog.error.text()
    assert "server closed the connection" in dialog.error.text()
    assert workstation.window is None and workstation.sign_in is dialog and dialog.isVisible()
    assert (dialog.login_edit.text(), dialog.password_edit.text()) == ("alice", "demo-password")
    assert dialog.sign_in_button.isEnabled() and shown == []
    monkeypatch.setattr(SettingsService, "get", original)  # the database is back
    press(qtbot, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: workstation.window is not None, timeout=5000)
    assert workstation.window is not None and workstation.window.ctx.actor.login == "alice"


def test_escape_in_the_sign_in_ends(qtbot, workstation: Workstation) -> None:  # type: ignore[no-untyped-def]
    workstation.start()
    dialog = asked(qtbot, workstation)
    qtbot.waitExposed(dialog)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is dialog.login_edit, timeout=2000)
    with qtbot.waitSignal(workstation.finished, timeout=2000):
        press(qtbot, Qt.Key.Key_Escape)
    assert workstation.window is None


@pytest.mark.skipif(not ON_POSTGRES, reason="a shared site's schema is checked at sign-in")
def test_a_shared_site_behind_this_program_is_said_at_sign_in_and_the_workstation_ends(  # type: ignore[no-untyped-def]
    qtbot, workstation: Workstation, demo_db: Database, answers
) -> None:
    from sqlalchemy import text

    shown, _replies = answers
    with demo_db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0010'"))
    workstation.start()
    dialog = asked(qtbot, workstation)
    qtbot.waitExposed(dialog)
    assert dialog.demo_list.isHidden()  # a shared site lists no demo accounts
    qtbot.waitUntil(lambda: QApplication.focusWidget() is dialog.login_edit, timeout=2000)
    type_here(qtbot, "alice")
    press(qtbot, Qt.Key.Key_Tab)
    type_here(qtbot, "demo-password")
    with qtbot.waitSignal(workstation.finished, timeout=10000):
        press(qtbot, Qt.Key.Key_Return)
    assert workstation.window is None and workstation.unusable is not None
    assert [kind for kind, _text in shown] == ["error"]
    assert "behind this program" in shown[0][1] and "db upgrade" in shown[0][1]


# ---- rights taken away on another workstation (issue 11, item 7) --------------------------


def change_user(db: Database, login: str, **changes: object) -> None:
    """An administrator's change, made through the services of another workstation."""
    from app.services.people import PeopleService, UserData

    other = Database(db.url)
    try:
        people = PeopleService(other, actor_of(other, "admin"))
        user = next(u for u in people.list_users() if u.login == login)
        data = UserData(
            user.login,
            user.display_name,
            user.email,
            user.role,
            user.active,
            [t.id for t in user.teams],
        )
        for name, value in changes.items():
            setattr(data, name, value)
        people.update_user(user.id, data)
    finally:
        other.dispose()


def test_a_disabled_user_is_signed_out_within_two_seconds_and_told_why(  # type: ignore[no-untyped-def]
    qtbot, workstation: Workstation, demo_db: Database, answers
) -> None:
    e = add_email(demo_db, "Orders")
    workstation.start()
    window = sign_in(qtbot, workstation, "alice")
    press(qtbot, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)  # holds an email
    window.menu_actions["shortcuts"].trigger()  # and has a dialog open
    change_user(demo_db, "alice", active=False)
    qtbot.waitUntil(lambda: workstation.window is None, timeout=2500)
    dialog = asked(qtbot, workstation)
    assert dialog.error.isVisible()
    assert dialog.error.text() == (
        "Your account was disabled by an administrator: you have been signed out."
    )
    assert answers[0] == []  # nothing was asked: nothing more may be done as alice
    with demo_db.session() as s:
        assert s.get_one(Email, e).status == EmailStatus.QUEUED  # back in its queue


def test_a_demoted_user_is_signed_out_and_signs_in_to_the_new_roles_menus(  # type: ignore[no-untyped-def]
    qtbot, workstation: Workstation, demo_db: Database, answers
) -> None:
    from app.db.models import Role

    workstation.start()
    window = sign_in(qtbot, workstation, "sam")
    assert "configuration" in window.menu_actions
    window.open_configuration()
    change_user(demo_db, "sam", role=Role.AGENT)
    qtbot.waitUntil(lambda: workstation.window is None, timeout=2500)
    dialog = asked(qtbot, workstation)
    assert dialog.error.text() == (
        "Your role changed from Supervisor to Agent: please sign in again to work with the "
        "new role."
    )
    again = sign_in(qtbot, workstation, "sam")
    assert again.ctx.actor.role == Role.AGENT
    assert "configuration" not in again.menu_actions and "my_work" in again.menu_actions


def test_repeated_wrong_passwords_block_the_login_and_say_until_when(  # type: ignore[no-untyped-def]
    qtbot, workstation: Workstation
) -> None:
    """Issue 11, item 8: the sign-in dialog shows the back-off."""
    workstation.start()
    dialog = asked(qtbot, workstation)
    qtbot.waitExposed(dialog)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is dialog.login_edit, timeout=2000)
    type_here(qtbot, "alice")
    press(qtbot, Qt.Key.Key_Tab)
    for _attempt in range(5):
        type_here(qtbot, "not-the-password")  # (the password is selected after an error)
        press(qtbot, Qt.Key.Key_Return)
    assert "blocked until" in dialog.error.text()
    type_here(qtbot, "demo-password")  # the right one, but too soon
    press(qtbot, Qt.Key.Key_Return)
    assert workstation.window is None
    assert dialog.error.text().startswith("Too many attempts to sign in without success")


# ---- the sign-in dialog at any font size -------------------------------------------------


@pytest.fixture
def app_font():  # type: ignore[no-untyped-def]
    """Set the application's font size for one test; the font is restored afterwards."""
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    original = app.font()

    def use(points: int) -> None:
        font = QFont(original)
        font.setPointSize(points)
        app.setFont(font)

    yield use
    app.setFont(original)


def clashes(dialog: SignInDialog) -> list[str]:
    """Visible widgets of the dialog that overlap each other or reach outside it."""
    widgets = [
        w for w in dialog.findChildren(QWidget) if w.parentWidget() is dialog and w.isVisible()
    ]
    found = [f"{w!r} outside" for w in widgets if not dialog.rect().contains(w.geometry())]
    for n, first in enumerate(widgets):
        found.extend(
            f"{first!r} overlaps {second!r}"
            for second in widgets[n + 1 :]
            if first.geometry().intersects(second.geometry())
        )
    return found


@pytest.mark.parametrize(("points", "all_rows"), [(9, True), (16, True), (28, False)])
def test_the_demo_accounts_never_overlap_the_buttons(  # type: ignore[no-untyped-def]
    qtbot, demo_db: Database, app_font, points: int, all_rows: bool
) -> None:
    app_font(points)
    dialog = SignInDialog(demo_db, accounts=read_accounts(demo_db))
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    buttons = dialog.sign_in_button.parentWidget()
    assert buttons.isVisible() and dialog.demo_list.isVisible()
    assert clashes(dialog) == []
    assert dialog.demo_list.geometry().bottom() < buttons.geometry().top()
    row = dialog.demo_list.sizeHintForRow(0)
    # Every account is shown, unless the dialog would not fit the (offscreen, 800 x 800) screen.
    shown = dialog.demo_list.count() if all_rows else 3
    assert dialog.demo_list.viewport().height() >= shown * row
    # Made as small as it goes, and then with an error to show: still nothing overlaps, and
    # the list keeps three rows.
    dialog.resize(1, 1)
    qtbot.waitUntil(lambda: dialog.size() == dialog.minimumSize(), timeout=2000)
    assert clashes(dialog) == []
    assert dialog.demo_list.viewport().height() >= 3 * row
    dialog.login_edit.setFocus()
    type_text(qtbot, dialog.login_edit, "alice")
    type_text(qtbot, dialog.password_edit, "not the password")
    qtbot.keyClick(dialog.password_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: dialog.error.isVisible() and clashes(dialog) == [], timeout=2000)


# ---- which database the application starts on (issue 11, items 11 and 12) ---------------


def _counts(db: Database) -> tuple[int, int]:
    from sqlalchemy import func, select

    from app.db.models import CampaignGroup, User

    with db.session() as s:
        return (
            s.scalar(select(func.count()).select_from(User)) or 0,
            s.scalar(select(func.count()).select_from(CampaignGroup)) or 0,
        )


@pytest.mark.parametrize("given_by", ["--database", "environment"])
def test_an_empty_shared_database_is_left_to_its_owner_and_nothing_is_seeded(  # type: ignore[no-untyped-def]
    qtbot, db: Database, answers, monkeypatch, tmp_path, given_by: str
) -> None:
    """On PostgreSQL runs ``db`` is an empty PostgreSQL database: a site's, not the demo's."""
    from app import paths
    from app.cli import main
    from app.ui.application import run_gui

    shown, _replies = answers
    if ON_POSTGRES:  # a shared site: nothing is read before someone signs in
        from app.ui.application import open_database

        if given_by == "environment":
            monkeypatch.setenv(paths.DATABASE_ENV, db.url)
        access = open_database(None if given_by == "environment" else db.url)
        assert access is not None and access.shared and shown == []
        assert access.demo_accounts() == []
        assert _counts(db) == (0, 0)  # no demo organisation, no admin / demo-password
        assert not paths.default_database_path().exists()
        return
    if given_by == "environment":
        monkeypatch.setenv(paths.DATABASE_ENV, db.url)
        code = run_gui(None)
    else:
        code = run_gui(db.url)
    assert code == 4  # ended before any window
    assert _counts(db) == (0, 0)  # no demo organisation, no admin / demo-password
    assert len(shown) == 1 and shown[0][0] == "error"
    text = shown[0][1]
    assert "no users yet" in text and "The site's owner sets it up" in text
    assert "db upgrade" in text and "config import" in text
    assert "user create LOGIN --role administrator" in text
    assert not paths.default_database_path().exists()  # nor a demo file made instead
    # the site's owner can then import its configuration (a seeded demo refused it)
    site = tmp_path / "site.json"
    site.write_text('{"groups": [{"name": "Customer Service"}]}', encoding="utf-8")
    assert main(["--database", db.url, "config", "import", str(site)]) == 0
    assert _counts(db) == (0, 1)


def test_the_first_start_on_the_users_own_database_creates_the_demo(  # type: ignore[no-untyped-def]
    qtbot, answers
) -> None:
    """``make run``: no --database, no environment: the user's own SQLite file."""
    from app import paths
    from app.ui.application import open_database

    shown, _replies = answers
    access = open_database(None)
    assert access is not None and shown == []
    try:
        assert access.database is not None
        assert access.database.sqlite_path == paths.default_database_path()
        assert {login for login, _name, _role in access.demo_accounts()} >= {
            "admin",
            "sam",
            "alice",
        }
        assert access.sign_in("admin", "demo-password").actor.login == "admin"
    finally:
        access.close()


@pytest.mark.sqlite_only  # a shared site says so at sign-in: test_roles_postgres
def test_a_database_newer_than_the_program_is_said_and_left_alone(  # type: ignore[no-untyped-def]
    qtbot, db: Database, answers, tmp_path
) -> None:
    from sqlalchemy import text

    from app.ui.application import run_gui

    shown, _replies = answers
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0042'"))
    assert run_gui(db.url) == 4
    assert len(shown) == 1 and shown[0][0] == "error"
    assert "schema revision 0042, newer than this program knows" in shown[0][1]
    assert not list(tmp_path.rglob("*.bak"))
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0042"
