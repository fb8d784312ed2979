"""Sign-in, the Workspace's menus by role, and the service refusing what a role may not do."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from app.services.campaigns import CampaignData, CampaignService
from app.services.errors import PermissionDenied
from app.services.people import PeopleService, TeamData
from app.ui.main_window import MainWindow
from app.ui.sign_in import SignInDialog, read_accounts
from tests.conftest import settle_operations
from tests.ui.keyboard import type_text


def menu_titles(window: MainWindow) -> list[str]:
    return [a.text() for a in window.menuBar().actions()]


@pytest.mark.sqlite_only  # the own file's demo accounts; a shared site lists none (test_start)
def test_sign_in_lists_demo_accounts_and_signs_in(qtbot, demo_db):  # type: ignore[no-untyped-def]
    dialog = SignInDialog(demo_db, accounts=read_accounts(demo_db))
    qtbot.addWidget(dialog)
    dialog.show()
    items = [dialog.demo_list.item(i).text() for i in range(dialog.demo_list.count())]
    assert "sam — Sam Supervisor (Supervisor)" in items
    assert any(i.startswith("akiko — 山田 明子") for i in items)
    type_text(qtbot, dialog.login_edit, "sam")
    type_text(qtbot, dialog.password_edit, "wrong password")
    qtbot.mouseClick(dialog.sign_in_button, Qt.MouseButton.LeftButton)
    assert dialog.error.isVisible()
    assert dialog.error.text() == "The login name or password is not correct."
    assert dialog.result() == 0
    dialog.password_edit.clear()
    type_text(qtbot, dialog.password_edit, "demo-password")
    with qtbot.waitSignal(dialog.accepted, timeout=3000):
        qtbot.keyClick(dialog.password_edit, Qt.Key.Key_Return)
    assert dialog.actor is not None and dialog.actor.login == "sam"


def test_sign_in_hides_demo_accounts_once_passwords_change(qtbot, demo_db, admin):  # type: ignore[no-untyped-def]
    people = PeopleService(demo_db, admin)
    for user in people.list_users():
        people.set_password(user.id, "a-real-password")
    dialog = SignInDialog(demo_db, accounts=read_accounts(demo_db))
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.demo_list.isHidden()
    assert "demo-password" not in " ".join(
        w.text() for w in dialog.findChildren(type(dialog.error))
    )


def test_agent_sees_no_configuration_and_the_service_refuses(qtbot, demo_db, agent, make_ctx):  # type: ignore[no-untyped-def]
    window = MainWindow(make_ctx(demo_db, agent))
    qtbot.addWidget(window)
    titles = menu_titles(window)
    assert "&Campaigns" not in titles and "&Administration" not in titles
    assert "configuration" not in window.menu_actions
    with pytest.raises(PermissionDenied):
        CampaignService(demo_db, agent).create_campaign(CampaignData("Sneaky", 1))


def test_supervisor_configures_campaigns_but_does_not_administer(
    qtbot,
    demo_db,
    supervisor,  # type: ignore[no-untyped-def]
    make_ctx,
):
    window = MainWindow(make_ctx(demo_db, supervisor))
    qtbot.addWidget(window)
    titles = menu_titles(window)
    assert "&Campaigns" in titles
    assert "&Administration" not in titles and "C&hannels" not in titles
    window.menu_actions["configuration"].trigger()
    assert window.tabs.tabText(window.tabs.currentIndex()) == "Campaign Configuration"
    with pytest.raises(PermissionDenied):
        PeopleService(demo_db, supervisor).create_team(TeamData("Sneaky"))


def test_administrator_opens_every_screen_once(qtbot, demo_db, admin, make_ctx):  # type: ignore[no-untyped-def]
    window = MainWindow(make_ctx(demo_db, admin))
    qtbot.addWidget(window)
    assert {"&Campaigns", "&Management", "C&hannels", "&Administration"} <= set(menu_titles(window))
    for key in ("configuration", "templates", "channels", "teams", "users", "settings"):
        window.menu_actions[key].trigger()
    count = window.tabs.count()
    window.menu_actions["configuration"].trigger()
    assert window.tabs.count() == count  # the open tab is reused
    assert window.tabs.tabText(window.tabs.currentIndex()) == "Campaign Configuration"
    window.menu_actions["emails"].trigger()
    assert window.tabs.tabText(window.tabs.currentIndex()) == "Emails"


def test_leaving_with_held_emails_warns_returns_them_and_keeps_drafts(  # type: ignore[no-untyped-def]
    qtbot, demo_db, agent, make_ctx, answers
):
    from app.db.models import Email, EmailStatus
    from app.services.work import ReplyText, WorkService
    from tests.work_data import add_email

    taken, drafted = add_email(demo_db, "Orders"), add_email(demo_db, "Orders")
    work = WorkService(demo_db, agent)
    work.take(taken)
    work.take(drafted)
    work.save_draft(drafted, ReplyText(to="zoe@customers.example", subject="Re", body="later"))
    window = MainWindow(make_ctx(demo_db, agent))
    qtbot.addWidget(window)
    window.show()
    shown, replies = answers
    replies.append(False)  # stay
    window.close()  # asks once the held emails are read (off the GUI thread)
    settle_operations()
    assert window.isVisible()
    assert shown[-1] == (
        "confirm",
        "You hold 1 email without a draft. They go back to their queues, keeping their place, "
        "for another agent to take.\n\nYour draft stays with you in My drafts.",
    )
    with demo_db.session() as s:
        assert s.get_one(Email, taken).status == EmailStatus.ASSIGNED
    with qtbot.waitSignal(window.signed_out):
        window.sign_out()  # answered OK
    with demo_db.session() as s:
        assert s.get_one(Email, taken).status == EmailStatus.QUEUED
        assert s.get_one(Email, drafted).status == EmailStatus.DRAFT


@pytest.mark.parametrize("login", ["admin", "sam"])
def test_a_user_who_holds_no_emails_by_role_closes_the_window_at_once(  # type: ignore[no-untyped-def]
    qtbot, demo_db, make_ctx, answers, login
):
    from tests.conftest import actor_of

    window = MainWindow(make_ctx(demo_db, actor_of(demo_db, login)))
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.closed, timeout=5000):
        window.close()
    assert not window.isVisible()
    assert answers[0] == []


def test_leaving_without_held_emails_asks_nothing(qtbot, demo_db, agent, make_ctx, answers):  # type: ignore[no-untyped-def]
    window = MainWindow(make_ctx(demo_db, agent))
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.closed):
        window.close()
    assert not window.isVisible()
    assert answers[0] == []
