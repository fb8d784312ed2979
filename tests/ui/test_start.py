"""The application's start driven like a user: the sign-in dialog typed into, the Workspace
that follows and its first keys; signing out and in again."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from sqlalchemy import update

from app.db.engine import Database
from app.db.models import Channel, Email, EmailStatus
from app.ui.application import Workstation
from app.ui.main_window import MainWindow
from app.ui.my_work import MyWorkScreen
from tests.conftest import actor_of
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
def workstation(qtbot, demo_db: Database, secrets):  # type: ignore[no-untyped-def]
    """The application's start, on the demo organisation (its channels off: no mail server
    to retrieve from here). Whatever is still open at the end is closed."""
    with demo_db.session() as s:
        s.execute(update(Channel).values(enabled=False))
    station = Workstation(demo_db, secrets)
    yield station
    if station.window is not None:
        station.window.ctx.change_feed.stop()
        station.window.ctx.channel_events.stop()
        station.window.deleteLater()
    if station.sign_in is not None:
        station.sign_in.deleteLater()


def sign_in(qtbot, station: Workstation, login: str) -> MainWindow:  # type: ignore[no-untyped-def]
    """Type the login name and password into the sign-in dialog, press Enter, and wait for
    the Workspace."""
    dialog = station.sign_in
    assert dialog is not None and dialog.isVisible()
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


def test_escape_in_the_sign_in_ends(qtbot, workstation: Workstation) -> None:  # type: ignore[no-untyped-def]
    workstation.start()
    dialog = workstation.sign_in
    assert dialog is not None
    qtbot.waitExposed(dialog)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is dialog.login_edit, timeout=2000)
    with qtbot.waitSignal(workstation.finished, timeout=2000):
        press(qtbot, Qt.Key.Key_Escape)
    assert workstation.window is None
