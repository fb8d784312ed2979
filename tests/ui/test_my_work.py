"""My Work driven like an agent: queues that follow the database, taking emails (next or a
chosen one), the whole reply without the mouse, drafts, failed sends and conflicts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractButton, QApplication, QLabel, QTabWidget, QWidget
from sqlalchemy import insert, select

from app.db.engine import Database
from app.db.models import Email, EmailStatus, Reply, ReplyState, Team, campaign_teams, utcnow
from app.services import outbox
from app.services.work import ReplyText, WorkService
from app.ui.my_work import MyWorkScreen, QueuedEmailsDialog, format_wait
from app.ui.shortcuts import ShortcutsDialog
from tests.conftest import actor_of, settle_operations
from tests.ui.keyboard import click, show_active, type_text
from tests.work_data import add_email, campaign_id

# Nothing of My Work may wait for the database on the GUI thread.

CTRL = Qt.KeyboardModifier.ControlModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier


def work(db: Database, login: str) -> WorkService:
    return WorkService(db, actor_of(db, login))


def email(db: Database, email_id: int) -> Email:
    with db.session() as s:
        return s.get_one(Email, email_id)


@pytest.fixture
def open_screen(qtbot, demo_db: Database, make_ctx):  # type: ignore[no-untyped-def]
    def make(login: str = "alice") -> MyWorkScreen:
        return show_active(qtbot, MyWorkScreen(make_ctx(demo_db, actor_of(demo_db, login))))

    return make


def press(
    qtbot, key: Qt.Key, modifiers: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier
) -> None:  # type: ignore[no-untyped-def]
    """A key typed wherever the focus is, as a user would."""
    focused = QApplication.focusWidget()
    assert focused is not None
    qtbot.keyClick(focused, key, modifiers)


def queue_rows(screen: MyWorkScreen) -> dict[str, tuple[str, str]]:
    model = screen.queue_model
    return {
        model.index(r, 0).data(): (model.index(r, 1).data(), model.index(r, 2).data())
        for r in range(model.rowCount())
    }


def held_ids(screen: MyWorkScreen) -> list[int]:
    return [h.email_id for h in screen.held_model.rows()]


# ---- queues ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "< 1 min"),
        (59, "< 1 min"),
        (12 * 60 + 30, "12 min"),
        (3 * 3600 + 5 * 60, "3 h 5 min"),
        (2 * 3600, "2 h"),
        (2 * 86400 + 4 * 3600 + 59, "2 d 4 h"),
        (86400, "1 d"),
    ],
)
def test_format_wait(seconds: int, text: str) -> None:
    assert format_wait(seconds) == text


def test_queues_show_the_agents_campaigns_with_counts_and_oldest_wait(  # type: ignore[no-untyped-def]
    open_screen, demo_db: Database
) -> None:
    now = utcnow()
    add_email(demo_db, "Orders", queued_at=now - timedelta(hours=3, minutes=5, seconds=10))
    add_email(demo_db, "Orders", queued_at=now - timedelta(minutes=2))
    add_email(demo_db, "Returns", queued_at=now - timedelta(minutes=12, seconds=20))
    add_email(demo_db, "Complaints")  # not Alice's
    screen = open_screen()
    assert queue_rows(screen) == {
        "General Enquiries": ("0", ""),
        "Orders": ("2", "3 h 5 min"),
        "Returns": ("1", "12 min"),
    }
    headers = [screen.queue_model.headerData(c, Qt.Orientation.Horizontal) for c in range(3)]
    assert headers == ["Campaign", "Waiting", "Oldest wait"]


def test_queues_follow_another_workstation_within_two_seconds(  # type: ignore[no-untyped-def]
    qtbot, open_screen, demo_db: Database
) -> None:
    screen = open_screen()
    screen.queues_view.selectRow(1)  # Orders
    assert screen.selected_queue().title == "Orders"
    other = Database(demo_db.url)  # another process, another connection pool
    try:
        arrived = add_email(other, "Orders")
        qtbot.waitUntil(lambda: queue_rows(screen)["Orders"][0] == "1", timeout=2500)
        assert screen.selected_queue().title == "Orders"  # the selection is kept
        work(other, "bob").take(arrived)
        qtbot.waitUntil(lambda: queue_rows(screen)["Orders"][0] == "0", timeout=2500)
        assert screen.selected_queue().title == "Orders"
        # A supervisor gives Front Line the Complaints campaign, listed before Orders: the
        # selection follows Orders to its new row.
        with other.session() as s:
            front_line = s.scalar(select(Team.id).where(Team.name == "Front Line"))
            s.execute(
                insert(campaign_teams).values(
                    campaign_id=campaign_id(other, "Complaints"), team_id=front_line
                )
            )
        add_email(other, "Complaints")
        qtbot.waitUntil(lambda: "Complaints" in queue_rows(screen), timeout=2500)
        assert screen.queue_model.row_at(2).title == "Orders"
        assert screen.selected_queue().title == "Orders"
    finally:
        other.dispose()


def test_a_change_feed_given_by_the_application_is_what_is_watched(  # type: ignore[no-untyped-def]
    qtbot, demo_db: Database, make_ctx
) -> None:
    class Feed:  # stands in for app.services.changes.ChangeFeed
        count = 0

        def token(self) -> int:
            return self.count

    ctx = make_ctx(demo_db, actor_of(demo_db, "alice"))
    ctx.change_feed = feed = Feed()
    screen = MyWorkScreen(ctx)
    qtbot.addWidget(screen)
    screen.show()
    screen.age_timer.stop()  # only the feed may trigger a reload here
    add_email(demo_db, "Orders")
    qtbot.wait(1300)
    assert queue_rows(screen)["Orders"][0] == "0"  # the feed has not moved
    feed.count += 1
    qtbot.waitUntil(lambda: queue_rows(screen)["Orders"][0] == "1", timeout=2500)


def test_the_open_email_taken_away_elsewhere_clears_the_pane(  # type: ignore[no-untyped-def]
    qtbot, open_screen, demo_db: Database
) -> None:
    e = add_email(demo_db, "Orders")
    screen = open_screen()
    press(qtbot, Qt.Key.Key_N, CTRL)
    assert screen.editor.email_id == e
    other = Database(demo_db.url)
    try:
        work(other, "alice").put_back(e)  # from Alice's other workstation
    finally:
        other.dispose()
    qtbot.waitUntil(lambda: screen.editor.email_id is None, timeout=2500)
    assert screen.pane.detail is None
    assert "no longer yours" in screen.status.text()
    assert held_ids(screen) == []


# ---- taking ---------------------------------------------------------------------------


def test_take_next_takes_the_oldest_across_campaigns_then_from_the_selected_one(  # type: ignore[no-untyped-def]
    qtbot, open_screen, demo_db: Database
) -> None:
    now = utcnow()
    newest = add_email(demo_db, "Orders", subject="Newest", queued_at=now - timedelta(minutes=1))
    oldest = add_email(demo_db, "Returns", subject="Oldest", queued_at=now - timedelta(hours=1))
    screen = open_screen()
    click(qtbot, screen.take_next_button)
    assert screen.editor.email_id == oldest
    assert screen.pane.detail is not None and screen.pane.detail.subject == "Oldest"
    assert held_ids(screen) == [oldest]
    assert queue_rows(screen)["Returns"][0] == "0"
    screen.queues_view.selectRow(0)  # General Enquiries: empty
    click(qtbot, screen.take_selected_button)
    assert screen.status.text() == "No email is waiting in General Enquiries."
    screen.queues_view.selectRow(1)  # Orders
    click(qtbot, screen.take_selected_button)
    assert screen.editor.email_id == newest
    assert held_ids(screen) == [oldest, newest]
    click(qtbot, screen.take_next_button)
    assert screen.status.text() == "No email is waiting in your queues."


def test_taking_a_chosen_email_from_the_queued_list(qtbot, open_screen, demo_db: Database) -> None:  # type: ignore[no-untyped-def]
    now = utcnow()
    add_email(demo_db, "Orders", subject="First", queued_at=now - timedelta(minutes=30))
    chosen = add_email(demo_db, "Orders", subject="Chosen", queued_at=now - timedelta(minutes=5))
    screen = open_screen()
    screen.queues_view.selectRow(1)
    screen.queues_view.setFocus()
    press(qtbot, Qt.Key.Key_Return)  # Enter on a queue row lists its emails
    dialog = screen.queued_dialog
    assert isinstance(dialog, QueuedEmailsDialog)
    qtbot.waitExposed(dialog)
    subjects = [dialog.model.index(r, 3).data() for r in range(dialog.model.rowCount())]
    assert subjects == ["First", "Chosen"]
    assert dialog.model.index(0, 0).data() == "30 min"
    dialog.view.selectRow(1)
    click(qtbot, dialog.take_button)
    assert email(demo_db, chosen).status == EmailStatus.ASSIGNED
    assert screen.editor.email_id == chosen
    assert queue_rows(screen)["Orders"][0] == "1"


def test_taking_a_chosen_email_someone_else_took_meanwhile(  # type: ignore[no-untyped-def]
    qtbot, open_screen, demo_db: Database, answers
) -> None:
    shown, _replies = answers
    e = add_email(demo_db, "Orders", subject="Contested")
    screen = open_screen()
    screen.queues_view.selectRow(1)
    click(qtbot, screen.queued_button)
    dialog = screen.queued_dialog
    assert dialog is not None
    work(demo_db, "bob").take(e)  # Bob was quicker
    click(qtbot, dialog.take_button)
    assert shown == [("error", "Too late: Bob Agent has already taken this email.")]
    assert dialog.model.rowCount() == 0
    assert screen.editor.email_id is None
    assert email(demo_db, e).agent_id == actor_of(demo_db, "bob").user_id


# ---- the whole flow from the keyboard ----------------------------------------------------


def test_take_choose_a_template_edit_and_send_without_the_mouse(  # type: ignore[no-untyped-def]
    qtbot, open_screen, demo_db: Database, answers
) -> None:
    e = add_email(demo_db, "Orders", sender="Zoe Adams <zoe@customers.example>")
    second = add_email(demo_db, "Orders", subject="Second")
    screen = open_screen()
    press(qtbot, Qt.Key.Key_N, CTRL)  # Take next
    assert screen.editor.email_id == e
    # Free-format is off in Orders: the cursor waits in the template picker.
    assert QApplication.focusWidget() is screen.editor.template_combo
    assert not screen.editor.send_action.isEnabled()
    press(qtbot, Qt.Key.Key_Return, CTRL)  # nothing to send yet
    assert email(demo_db, e).status == EmailStatus.ASSIGNED
    press(qtbot, Qt.Key.Key_Down)  # the first template: Acknowledgement
    assert screen.editor.template_combo.currentText() == "Acknowledgement"
    for _ in range(5):  # To, Cc, Bcc, Subject, Message
        press(qtbot, Qt.Key.Key_Tab)
    assert QApplication.focusWidget() is screen.editor.body_edit
    press(qtbot, Qt.Key.Key_End, CTRL)
    type_text(qtbot, screen.editor.body_edit, "\nPS: Größe 42 ships Monday.")
    press(qtbot, Qt.Key.Key_Return, CTRL)  # Send
    assert email(demo_db, e).status == EmailStatus.ACTIONED
    with demo_db.session() as s:
        reply = s.query(Reply).filter(Reply.email_id == e).one()
        assert reply.to_addrs == "Zoe Adams <zoe@customers.example>"
        assert reply.body.startswith("Dear Zoe Adams,")
        assert reply.body.endswith("PS: Größe 42 ships Monday.")
    assert answers[0] == []
    assert screen.editor.email_id is None
    assert screen.pane.detail is None
    assert queue_rows(screen)["Orders"][0] == "1"
    assert "Reply queued for sending" in screen.status.text()
    press(qtbot, Qt.Key.Key_N, CTRL)  # and the next one
    assert screen.editor.email_id == second


def test_after_sending_the_next_held_email_opens(qtbot, open_screen, demo_db: Database) -> None:  # type: ignore[no-untyped-def]
    first = add_email(demo_db, "General Enquiries", subject="First")
    later = add_email(demo_db, "General Enquiries", subject="Later")
    screen = open_screen()
    click(qtbot, screen.take_next_button)
    click(qtbot, screen.take_next_button)
    assert screen.editor.email_id == later
    press(qtbot, Qt.Key.Key_Return, CTRL)
    assert email(demo_db, later).status == EmailStatus.ACTIONED
    assert screen.editor.email_id == first
    assert screen.pane.detail is not None and screen.pane.detail.subject == "First"
    assert "Opened your next email" in screen.status.text()
    # Free-format on: the cursor is in the text.
    assert QApplication.focusWidget() is screen.editor.body_edit


@pytest.mark.parametrize(
    ("key", "modifiers", "status"),
    [
        (Qt.Key.Key_S, CTRL, EmailStatus.DRAFT),
        (Qt.Key.Key_B, CTRL | SHIFT, EmailStatus.QUEUED),
    ],
)
def test_draft_and_put_back_keys_work_anywhere_in_the_screen(  # type: ignore[no-untyped-def]
    qtbot, open_screen, demo_db: Database, key, modifiers, status
) -> None:
    e = add_email(demo_db, "Orders")
    screen = open_screen()
    press(qtbot, Qt.Key.Key_N, CTRL)
    screen.queues_view.setFocus()  # not in the editor
    press(qtbot, key, modifiers)
    assert email(demo_db, e).status == status


def test_move_from_the_keyboard(qtbot, open_screen, demo_db: Database) -> None:  # type: ignore[no-untyped-def]
    e = add_email(demo_db, "Orders")
    screen = open_screen()
    press(qtbot, Qt.Key.Key_N, CTRL)
    press(qtbot, Qt.Key.Key_M, CTRL)
    dialog = screen.editor.move_dialog
    assert dialog is not None
    qtbot.waitUntil(lambda: QApplication.activeWindow() is dialog, timeout=1000)
    target = next(
        i for i in range(dialog.list.count()) if dialog.list.item(i).text() == "Complaints"
    )
    for _ in range(target):
        press(qtbot, Qt.Key.Key_Down)
    press(qtbot, Qt.Key.Key_Return)
    moved = email(demo_db, e)
    assert (moved.status, moved.campaign_id) == (
        EmailStatus.QUEUED,
        campaign_id(demo_db, "Complaints"),
    )
    assert screen.editor.email_id is None
    assert held_ids(screen) == []


def test_campaign_flags_hide_buttons_and_disable_their_keys(  # type: ignore[no-untyped-def]
    qtbot, open_screen, demo_db: Database
) -> None:
    e = add_email(demo_db, "Complaints")  # put back off, move off, draft on
    screen = open_screen("jurgen")
    press(qtbot, Qt.Key.Key_N, CTRL)
    assert screen.editor.email_id == e
    editor = screen.editor
    assert not editor.put_back_button.isVisible() and not editor.move_button.isVisible()
    assert editor.draft_button.isVisible() and editor.send_button.isEnabled()
    press(qtbot, Qt.Key.Key_B, CTRL | SHIFT)
    press(qtbot, Qt.Key.Key_M, CTRL)
    assert editor.move_dialog is None
    assert email(demo_db, e).status == EmailStatus.ASSIGNED


# ---- the status line: only ever about the open email (or naming the one it is about) ------


def test_a_message_about_the_open_email_goes_when_another_opens(  # type: ignore[no-untyped-def]
    qtbot, open_screen, demo_db: Database
) -> None:
    first = add_email(demo_db, "Orders", subject="Parcel A")
    second = add_email(demo_db, "Orders", subject="Refund B")
    screen = open_screen()
    press(qtbot, Qt.Key.Key_N, CTRL)
    assert screen.editor.email_id == first
    press(qtbot, Qt.Key.Key_Down)  # a template
    press(qtbot, Qt.Key.Key_S, CTRL)  # Save as draft: about Parcel A, which stays open
    assert screen.status.text() == "Draft saved: it waits in My drafts."
    press(qtbot, Qt.Key.Key_N, CTRL)
    assert screen.editor.email_id == second
    assert "Draft saved" not in screen.status.text()
    assert "Parcel A" not in screen.status.text()


def test_after_sending_the_message_names_the_sent_email_until_another_opens(  # type: ignore[no-untyped-def]
    qtbot, open_screen, demo_db: Database
) -> None:
    first = add_email(demo_db, "General Enquiries", subject="Opening hours")
    add_email(demo_db, "General Enquiries", subject="Gift cards")
    third = add_email(demo_db, "General Enquiries", subject="Parking")
    screen = open_screen()
    press(qtbot, Qt.Key.Key_N, CTRL)
    press(qtbot, Qt.Key.Key_N, CTRL)  # Gift cards is open
    press(qtbot, Qt.Key.Key_Return, CTRL)  # Send
    assert screen.editor.email_id == first  # the next held email opened
    assert screen.status.text() == (
        "“Gift cards” — Reply queued for sending. Opened your next email."
    )
    press(qtbot, Qt.Key.Key_N, CTRL)
    assert screen.editor.email_id == third
    assert "Gift cards" not in screen.status.text()
    assert "Reply queued" not in screen.status.text()


def test_an_email_taken_away_is_named_and_forgotten_when_the_next_opens(  # type: ignore[no-untyped-def]
    qtbot, open_screen, demo_db: Database
) -> None:
    e = add_email(demo_db, "Orders", subject="Parcel A")
    later = add_email(demo_db, "Orders", subject="Refund B")
    screen = open_screen()
    press(qtbot, Qt.Key.Key_N, CTRL)
    assert screen.editor.email_id == e
    other = Database(demo_db.url)
    try:  # from Alice's other workstation, then Bob takes it
        work(other, "alice").put_back(e)
        work(other, "bob").take(e)
    finally:
        other.dispose()
    qtbot.waitUntil(lambda: screen.editor.email_id is None, timeout=2500)
    assert screen.status.text().startswith("“Parcel A” — It is no longer yours")
    press(qtbot, Qt.Key.Key_N, CTRL)
    assert screen.editor.email_id == later
    assert "Parcel A" not in screen.status.text()
    assert "no longer yours" not in screen.status.text()


# ---- drafts and failed sends ------------------------------------------------------------


def test_drafts_are_listed_and_resumed_with_their_text(  # type: ignore[no-untyped-def]
    qtbot, open_screen, demo_db: Database
) -> None:
    e = add_email(demo_db, "Orders", subject="Parcel")
    other = add_email(demo_db, "Orders", subject="Another")
    screen = open_screen()
    press(qtbot, Qt.Key.Key_N, CTRL)
    press(qtbot, Qt.Key.Key_Down)
    screen.editor.body_edit.setFocus()
    press(qtbot, Qt.Key.Key_End, CTRL)
    type_text(qtbot, screen.editor.body_edit, "\nI will call you back.")
    typed = screen.editor.current_text()
    press(qtbot, Qt.Key.Key_S, CTRL)  # Save as draft
    assert email(demo_db, e).status == EmailStatus.DRAFT
    assert "My drafts" in screen.status.text()
    assert screen.mine_tabs.tabText(1) == "My d&rafts (1)"
    assert [(h.email_id, h.subject) for h in screen.drafts_model.rows()] == [(e, "Parcel")]
    assert screen.held_model.index(0, 1).data() == "Draft"
    press(qtbot, Qt.Key.Key_N, CTRL)  # answer something else meanwhile
    assert screen.editor.email_id == other
    screen.mine_tabs.setCurrentIndex(1)
    screen.drafts_view.setFocus()
    screen.drafts_view.selectRow(0)  # resume the draft
    settle_operations()
    assert screen.editor.email_id == e
    assert screen.editor.current_text() == typed
    assert screen.pane.detail is not None and screen.pane.detail.subject == "Parcel"


def test_a_failed_send_is_shown_with_the_reason_and_corrected(  # type: ignore[no-untyped-def]
    qtbot, open_screen, demo_db: Database
) -> None:
    e = add_email(demo_db, "General Enquiries", subject="Hours")
    alice = work(demo_db, "alice")
    alice.take(e)
    reply_id = alice.send(
        e, ReplyText(to="nobody@customers.example", subject="Re: Hours", body="9-5")
    )
    assert outbox.claim_ids(demo_db, [reply_id], utcnow())
    reason = "550 5.1.1 <nobody@customers.example>: no such user"
    outbox.mark_failed(demo_db, reply_id, reason)
    screen = open_screen()
    assert screen.mine_tabs.tabText(2) == "&Failed sends (1)"
    assert screen.failed_model.index(0, 0).data() == "Re: Hours"
    assert screen.failed_model.index(0, 1).data() == reason
    assert not screen.rework_button.isEnabled()
    screen.mine_tabs.setCurrentIndex(2)
    screen.failed_view.selectRow(0)
    assert screen.rework_button.isEnabled()
    click(qtbot, screen.rework_button)
    assert screen.editor.email_id == e
    assert reason in screen.editor.banner.text()
    assert screen.editor.to_edit.text() == "nobody@customers.example"
    assert screen.failed_model.rowCount() == 0
    screen.editor.to_edit.setText("zoe@customers.example")
    press(qtbot, Qt.Key.Key_Return, CTRL)
    with demo_db.session() as s:
        assert s.get_one(Reply, reply_id).state == ReplyState.QUEUED


def test_an_uncertain_send_is_shown_but_left_to_a_supervisor(  # type: ignore[no-untyped-def]
    qtbot, open_screen, demo_db: Database
) -> None:
    e = add_email(demo_db, "General Enquiries", subject="Hours")
    alice = work(demo_db, "alice")
    alice.take(e)
    reply_id = alice.send(e, ReplyText(to="zoe@customers.example", subject="Re: Hours", body="9"))
    assert outbox.claim_ids(demo_db, [reply_id], utcnow())
    outbox.mark_uncertain(demo_db, reply_id, "connection lost after DATA")
    screen = open_screen()
    screen.mine_tabs.setCurrentIndex(2)
    screen.failed_view.selectRow(0)
    assert "a supervisor will check" in screen.failed_model.index(0, 1).data()
    assert "connection lost after DATA" in screen.failed_model.index(0, 1).data()
    assert not screen.rework_button.isEnabled()


def test_tab_goes_through_the_screen_in_reading_order(
    qtbot, open_screen, demo_db: Database
) -> None:  # type: ignore[no-untyped-def]
    add_email(demo_db, "Orders")
    screen = open_screen()
    click(qtbot, screen.take_next_button)
    editor = screen.editor
    editor.template_combo.setCurrentIndex(1)  # Send is enabled (and so in the chain)
    wanted = [
        screen.queues_view,
        screen.take_next_button,
        screen.take_selected_button,
        screen.queued_button,
        screen.held_view,
        screen.pane.browser,
        editor.template_combo,
        editor.to_edit,
        editor.cc_edit,
        editor.bcc_edit,
        editor.subject_edit,
        editor.body_edit,
        editor.send_button,
        editor.draft_button,
        editor.put_back_button,
        editor.move_button,
    ]
    screen.queues_view.setFocus()
    reached: list[QWidget] = []
    for _ in range(60):
        focused = QApplication.focusWidget()
        if focused in wanted and focused not in reached:
            reached.append(focused)
        press(qtbot, Qt.Key.Key_Tab)
    assert [w.accessibleName() or getattr(w, "text", str)() for w in reached] == [
        w.accessibleName() or getattr(w, "text", str)() for w in wanted
    ]
    assert reached == wanted


# ---- conflicts --------------------------------------------------------------------------


def test_sending_an_email_someone_else_now_holds_says_so_and_clears(  # type: ignore[no-untyped-def]
    qtbot, open_screen, demo_db: Database, answers
) -> None:
    shown, _replies = answers
    e = add_email(demo_db, "General Enquiries")
    screen = open_screen()
    screen.watcher.blockSignals(True)  # the conflict must be met by the action, not by a reload
    press(qtbot, Qt.Key.Key_N, CTRL)
    type_text(qtbot, screen.editor.body_edit, "Hello")
    alice = work(demo_db, "alice")
    alice.put_back(e)  # e.g. from her other workstation
    work(demo_db, "bob").take(e)
    press(qtbot, Qt.Key.Key_Return, CTRL)
    assert shown == [("error", "This email is now held by Bob Agent, not by you.")]
    assert screen.editor.email_id is None
    assert screen.pane.detail is None
    assert "Bob Agent" in screen.status.text()
    assert held_ids(screen) == []


# ---- keyboard: panes, shortcuts, mnemonics ---------------------------------------------


def test_f6_and_alt_digits_move_between_the_panes(qtbot, open_screen, demo_db: Database) -> None:  # type: ignore[no-untyped-def]
    add_email(demo_db, "General Enquiries")
    screen = open_screen()
    press(qtbot, Qt.Key.Key_N, CTRL)
    screen.queues_view.setFocus()
    visited = []
    for _ in range(4):
        press(qtbot, Qt.Key.Key_F6)
        visited.append(screen.current_pane())
    assert visited == [1, 2, 3, 0]
    press(qtbot, Qt.Key.Key_F6, SHIFT)
    assert screen.current_pane() == 3
    press(qtbot, Qt.Key.Key_2, Qt.KeyboardModifier.AltModifier)
    assert QApplication.focusWidget() is screen.held_view
    press(qtbot, Qt.Key.Key_3, Qt.KeyboardModifier.AltModifier)
    assert QApplication.focusWidget() is screen.pane.browser
    press(qtbot, Qt.Key.Key_4, Qt.KeyboardModifier.AltModifier)
    assert QApplication.focusWidget() is screen.editor.body_edit
    press(qtbot, Qt.Key.Key_1, Qt.KeyboardModifier.AltModifier)
    assert QApplication.focusWidget() is screen.queues_view


def test_f1_lists_every_shortcut_from_the_actions(qtbot, open_screen) -> None:  # type: ignore[no-untyped-def]
    screen = open_screen()
    press(qtbot, Qt.Key.Key_F1)
    dialog = screen.shortcuts_dialog
    assert isinstance(dialog, ShortcutsDialog)
    qtbot.waitExposed(dialog)
    rows = {action: keys for _section, action, keys in dialog.rows()}
    assert rows["Take next"] == "Ctrl+N"
    assert rows["Send"] == "Ctrl+Return or Ctrl+Enter"
    assert rows["Save as draft"] == "Ctrl+S"
    assert rows["Put back to queue"] == "Ctrl+Shift+B"
    assert rows["Move to another campaign…"] == "Ctrl+M"
    assert rows["Next pane"] == "F6"
    assert rows["Keyboard shortcuts"] == "F1"
    # Generated from the actions: every action of the screen with keys is listed.
    listed = {(a, k) for _s, a, k in dialog.rows()}
    for action in screen.shortcut_actions():
        assert (action.text().replace("&", ""), dialog_keys(action)) in listed


def test_f1_of_the_window_wins_over_the_screens_own(  # type: ignore[no-untyped-def]
    qtbot, demo_db: Database, make_ctx
) -> None:
    """Inside the Workspace, whose Help ▸ Keyboard Shortcuts binds F1, the screen's F1 steps
    aside (else Qt would ignore the key as ambiguous) and the list shows it once."""
    from app.ui.main_window import MainWindow

    window = MainWindow(make_ctx(demo_db, actor_of(demo_db, "alice")))
    qtbot.addWidget(window)
    window.show()
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=1000)
    screen = window.tabs.currentWidget()  # an agent starts on My Work
    assert isinstance(screen, MyWorkScreen)
    screen.queues_view.setFocus()
    press(qtbot, Qt.Key.Key_F1)
    dialog = getattr(window, "shortcuts_dialog", None)
    assert isinstance(dialog, ShortcutsDialog) and dialog.isVisible()
    rows = [(action, keys) for _section, action, keys in dialog.rows()]
    assert [r for r in rows if r[1] == "F1"] == [("Keyboard Shortcuts", "F1")]
    assert ("Take next", "Ctrl+N") in rows
    assert ("My Work", "Ctrl+1") in rows
    dialog.close()
    window.tabs.setCurrentIndex(0)  # the Home tab
    window.close()


def dialog_keys(action) -> str:  # type: ignore[no-untyped-def]
    from app.ui.shortcuts import keys_text

    return keys_text(action)


def test_mnemonics_are_unique_and_every_input_has_one(
    qtbot, open_screen, demo_db: Database
) -> None:  # type: ignore[no-untyped-def]
    add_email(demo_db, "Orders")
    screen = open_screen()
    click(qtbot, screen.take_next_button)
    keys: list[str] = []

    def mnemonic(text: str) -> str | None:
        if text.startswith("<"):
            return None  # rich text: "&" starts an entity there
        cleaned = text.replace("&&", "")
        return cleaned.split("&")[1][0].lower() if "&" in cleaned else None

    for widget in screen.findChildren(QWidget):
        if not widget.isVisible():
            continue
        if isinstance(widget, QLabel | QAbstractButton) and (m := mnemonic(widget.text())):
            keys.append(m)
        if isinstance(widget, QTabWidget):
            keys.extend(m for i in range(widget.count()) if (m := mnemonic(widget.tabText(i))))
    assert len(keys) == len(set(keys)), " ".join(sorted(keys))
    editor = screen.editor
    buddies = {label.buddy() for label in screen.findChildren(QLabel) if label.buddy()}
    for field in (
        editor.template_combo,
        editor.to_edit,
        editor.cc_edit,
        editor.bcc_edit,
        editor.subject_edit,
        editor.body_edit,
    ):
        assert field in buddies, field
    for button in (
        screen.take_next_button,
        screen.take_selected_button,
        screen.queued_button,
        editor.send_button,
        editor.draft_button,
        editor.put_back_button,
        editor.move_button,
    ):
        assert mnemonic(button.text()), button.text()


def test_closing_with_typed_text_asks_first(qtbot, open_screen, demo_db: Database, answers) -> None:  # type: ignore[no-untyped-def]
    shown, replies = answers
    add_email(demo_db, "General Enquiries")
    screen = open_screen()
    assert screen.confirm_close()
    assert shown == []
    press(qtbot, Qt.Key.Key_N, CTRL)
    assert screen.confirm_close()  # taken, nothing typed
    type_text(qtbot, screen.editor.body_edit, "Half an answer")
    replies.append(False)
    assert not screen.confirm_close()
    assert "neither sent nor saved" in shown[-1][1]
    assert screen.editor.body_edit.toPlainText() == "Half an answer"


# ---- hostile input (issue 11) ----------------------------------------------------------


def _header_value(screen: MyWorkScreen, label: str) -> str:
    from tests.ui.test_emails_screen import shown_text

    lines = shown_text(screen.pane.header.text()).splitlines()
    return lines[lines.index(label) + 1]


def _take_stored(qtbot, open_screen, demo_db: Database, raw: bytes) -> MyWorkScreen:  # type: ignore[no-untyped-def]
    """``raw`` through intake (to General Enquiries, one of Alice's queues), then taken by
    Alice in My Work and shown (its body read)."""
    from tests.ui.test_emails_screen import store

    email_id = store(demo_db, raw)
    screen = open_screen()
    screen.take_next()
    settle_operations()
    assert screen.editor.email_id == email_id
    qtbot.waitUntil(lambda: not screen.pane.busy(), timeout=20_000)
    return screen


def test_the_sender_is_shown_by_address_in_my_work(qtbot, open_screen, demo_db) -> None:  # type: ignore[no-untyped-def]
    from tests.ui.test_emails_screen import SPOOFED

    screen = _take_stored(qtbot, open_screen, demo_db, SPOOFED)
    assert _header_value(screen, "From") == "“ceo@bank.example” <attacker@evil.example>"
    assert "<b>attacker@evil.example</b>" in screen.pane.header.text()
    # The reply goes to the address, whatever the name says.
    assert screen.editor.to_edit.text().endswith("<attacker@evil.example>")


def test_hostile_attachment_names_open_in_my_work(qtbot, open_screen, demo_db) -> None:  # type: ignore[no-untyped-def]
    from tests.unit.test_emails_service import hostile_attachments_mail

    screen = _take_stored(qtbot, open_screen, demo_db, hostile_attachments_mail())
    pane = screen.pane
    assert pane.files_row.isVisible() and pane.attachments.count() == 5
    assert "See the files.\ufffd Thanks." in pane.browser.toPlainText()


def test_a_long_email_shows_its_first_part_in_my_work(qtbot, open_screen, demo_db) -> None:  # type: ignore[no-untyped-def]
    from tests.ui.test_emails_screen import long_mail

    screen = _take_stored(qtbot, open_screen, demo_db, long_mail(12_000, html=True))
    pane = screen.pane
    assert pane.rest_row.isVisible() and "The end." not in pane.browser.toPlainText()
    qtbot.mouseClick(pane.rest_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not pane.busy(), timeout=20_000)
    assert pane.browser.toPlainText().rstrip().endswith("The end.")
    assert screen.editor.email_id == pane.detail.id  # the reply stays open meanwhile
