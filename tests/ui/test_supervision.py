"""Management ▸ Failed Sends and Held Emails: what supervisors see and do."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from PySide6.QtCore import Qt
from sqlalchemy import select

from app.db.models import Email, EmailStatus, Reply, ReplyState, utcnow
from app.services import outbox
from app.services.work import ReplyText, WorkService
from app.ui.supervision import FailedSendsScreen, HeldEmailsScreen, waited
from tests.conftest import actor_of
from tests.work_data import add_email

# Nothing of this screen may wait for the database on the GUI thread.


def show(qtbot, widget):  # type: ignore[no-untyped-def]
    qtbot.addWidget(widget)
    widget.resize(1000, 500)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def texts(screen, column: int) -> list[str]:  # type: ignore[no-untyped-def]
    model = screen.model
    return [model.index(r, column).data() for r in range(model.rowCount())]


def failed_reply(db, *, uncertain: bool = False) -> int:  # type: ignore[no-untyped-def]
    e = add_email(db, "General Enquiries")
    alice = WorkService(db, actor_of(db, "alice"))
    alice.take(e)
    reply_id = alice.send(e, ReplyText(to="nobody@customers.example", subject="Re: x", body="y"))
    assert outbox.claim_ids(db, [reply_id], utcnow())
    if uncertain:
        assert outbox.mark_uncertain(db, reply_id, "Connection lost after DATA")
    else:
        assert outbox.mark_failed(db, reply_id, "550 5.1.1 no such user")
    return reply_id


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(5, "5 s"), (12 * 60, "12 min"), (3 * 3600 + 5 * 60, "3 h 05 min"), (50 * 3600, "2 d 2 h")],
)
def test_waited(seconds: int, text: str) -> None:
    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    assert waited(now - timedelta(seconds=seconds), now) == text


def test_failed_sends_show_the_reason_and_retry(
    qtbot, demo_db, supervisor, make_ctx, answers
) -> None:  # type: ignore[no-untyped-def]
    reply_id = failed_reply(demo_db)
    screen = show(qtbot, FailedSendsScreen(make_ctx(demo_db, supervisor)))
    assert texts(screen, 6) == ["550 5.1.1 no such user"]
    assert texts(screen, 4) == ["Alice Agent"]
    screen.view.selectRow(0)
    assert screen.retry_button.isEnabled()
    assert not screen.accept_button.isEnabled()  # only for uncertain sends
    qtbot.mouseClick(screen.retry_button, Qt.MouseButton.LeftButton)
    shown, _replies = answers
    assert shown[-1][0] == "confirm" and "nobody@customers.example" in shown[-1][1]
    with demo_db.session() as s:
        assert s.get_one(Reply, reply_id).state == ReplyState.QUEUED
    assert screen.model.rowCount() == 0
    assert "No failed sends" in screen.note.text()


def test_an_uncertain_send_is_accepted_as_sent(
    qtbot, demo_db, supervisor, make_ctx, answers
) -> None:  # type: ignore[no-untyped-def]
    reply_id = failed_reply(demo_db, uncertain=True)
    screen = show(qtbot, FailedSendsScreen(make_ctx(demo_db, supervisor)))
    screen.view.selectRow(0)
    assert "Check with the customer" in screen.note.text()
    qtbot.mouseClick(screen.accept_button, Qt.MouseButton.LeftButton)
    with demo_db.session() as s:
        reply = s.get_one(Reply, reply_id)
        assert reply.state == ReplyState.SENT
        assert s.get_one(Email, reply.email_id).first_reply_at is not None


def partly_refused_reply(db) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """A reply to three recipients whose Cc and Bcc the server refused while it took the To:
    (the sent reply, the reply left for the refused ones)."""
    e = add_email(db, "General Enquiries")
    alice = WorkService(db, actor_of(db, "alice"))
    alice.take(e)
    text = ReplyText(
        to="zoe@customers.example",
        cc="gone@customers.example",
        bcc="old@customers.example",
        subject="Re: x",
        body="y",
    )
    reply_id = alice.send(e, text)
    claimer = outbox.sender_name()
    assert outbox.claim_ids(db, [reply_id], utcnow(), claimer)
    refused = [
        outbox.Refusal(address, 550, f"5.1.1 <{address}>: Recipient address rejected: gone")
        for address in ("gone@customers.example", "old@customers.example")
    ]
    assert outbox.split_refused(db, reply_id, refused, utcnow(), claimer)
    assert outbox.mark_sent(db, reply_id, utcnow(), recipients=["zoe@customers.example"])
    with db.session() as s:
        left = s.scalars(select(Reply.id).where(Reply.email_id == e, Reply.id != reply_id)).one()
    return reply_id, left


def test_refused_recipients_show_with_the_servers_words_and_retry_goes_to_them_only(
    qtbot, demo_db, supervisor, make_ctx, answers
) -> None:  # type: ignore[no-untyped-def]
    sent_id, left_id = partly_refused_reply(demo_db)
    screen = show(qtbot, FailedSendsScreen(make_ctx(demo_db, supervisor)))
    assert texts(screen, 2) == ["Cc: gone@customers.example; Bcc: old@customers.example"]
    assert texts(screen, 1) == ["Failed"]
    [reason] = texts(screen, 6)
    assert reason.startswith(
        "The mail server refused the recipient(s) gone@customers.example: 550 5.1.1 "
        "<gone@customers.example>: Recipient address rejected: gone; old@customers.example: "
        "550 5.1.1 <old@customers.example>: Recipient address rejected: gone. The reply is "
        "sent to the other recipient(s) (zoe@customers.example) separately"
    )
    screen.view.selectRow(0)
    qtbot.mouseClick(screen.retry_button, Qt.MouseButton.LeftButton)
    shown, _replies = answers
    assert shown[-1] == (
        "confirm",
        "Send the reply to Cc: gone@customers.example; Bcc: old@customers.example again?",
    )
    with demo_db.session() as s:
        assert s.get_one(Reply, left_id).state == ReplyState.QUEUED
        assert s.get_one(Reply, sent_id).state == ReplyState.SENT  # never again
    [prepared] = outbox.prepare(demo_db, {left_id: utcnow()})
    assert prepared.recipients == ("gone@customers.example", "old@customers.example")
    assert screen.model.rowCount() == 0


def test_failed_sends_appear_on_their_own(qtbot, demo_db, supervisor, make_ctx) -> None:  # type: ignore[no-untyped-def]
    screen = show(qtbot, FailedSendsScreen(make_ctx(demo_db, supervisor)))
    assert screen.model.rowCount() == 0
    failed_reply(demo_db)
    qtbot.waitUntil(lambda: screen.model.rowCount() == 1, timeout=5000)


def test_held_emails_and_returning_one_to_the_queue(
    qtbot, demo_db, supervisor, make_ctx, answers
) -> None:  # type: ignore[no-untyped-def]
    first = add_email(demo_db, "Orders", subject="Parcel late")
    second = add_email(demo_db, "Complaints", subject="Rude driver")
    alice = WorkService(demo_db, actor_of(demo_db, "alice"))
    jurgen = WorkService(demo_db, actor_of(demo_db, "jurgen"))
    alice.take(first, now=utcnow() - timedelta(minutes=42))
    jurgen.take(second)
    jurgen.save_draft(second, ReplyText(to="zoe@customers.example", subject="Re", body="..."))
    screen = show(qtbot, HeldEmailsScreen(make_ctx(demo_db, supervisor)))
    assert texts(screen, 0) == ["Alice Agent", "Jürgen Größe"]
    assert texts(screen, 1)[0] == "42 min"
    assert texts(screen, 2) == ["Taken", "Draft"]
    screen.view.selectRow(1)
    qtbot.mouseClick(screen.return_button, Qt.MouseButton.LeftButton)
    shown, _ = answers
    assert "draft reply will be discarded" in shown[-1][1]
    with demo_db.session() as s:
        assert s.get_one(Email, second).status == EmailStatus.QUEUED
        assert s.scalar(select(Reply.id).where(Reply.email_id == second)) is None
    assert texts(screen, 4) == ["Parcel late"]


def test_agents_cannot_open_the_supervision_screens(demo_db, agent, make_ctx) -> None:  # type: ignore[no-untyped-def]
    from app.services.errors import PermissionDenied

    for screen in (HeldEmailsScreen, FailedSendsScreen):
        with pytest.raises(PermissionDenied):
            screen(make_ctx(demo_db, agent))


def test_the_management_menu_opens_them(qtbot, demo_db, supervisor, make_ctx) -> None:  # type: ignore[no-untyped-def]
    from app.ui.main_window import MainWindow

    window = MainWindow(make_ctx(demo_db, supervisor))
    qtbot.addWidget(window)
    window.menu_actions["failed_sends"].trigger()
    assert isinstance(window.tabs.currentWidget(), FailedSendsScreen)
    window.menu_actions["held_emails"].trigger()
    assert isinstance(window.tabs.currentWidget(), HeldEmailsScreen)
    assert window.tabs.tabText(window.tabs.currentIndex()) == "Held Emails"


def queued_reply(db) -> int:  # type: ignore[no-untyped-def]
    e = add_email(db, "General Enquiries")
    alice = WorkService(db, actor_of(db, "alice"))
    alice.take(e)
    return alice.send(e, ReplyText(to="zoe@customers.example", subject="Re: x", body="y"))


def test_a_reply_made_uncertain_elsewhere_is_shown_at_once(  # type: ignore[no-untyped-def]
    qtbot, demo_db, supervisor, make_ctx
) -> None:
    reply_id = queued_reply(demo_db)
    assert outbox.claim_ids(demo_db, [reply_id], utcnow(), "serve-host pid 7 (abcdef)")
    screen = show(qtbot, FailedSendsScreen(make_ctx(demo_db, supervisor)))
    assert screen.model.rowCount() == 0  # being sent: nothing to look at
    qtbot.waitUntil(lambda: screen.watcher.hub._token is not None, timeout=3000)
    # the channel service, on its own connection
    assert outbox.mark_uncertain(demo_db, reply_id, "Connection lost after DATA", utcnow())
    marked = time.monotonic()
    qtbot.waitUntil(lambda: texts(screen, 1) == ["Uncertain"], timeout=3000)
    print(f"uncertain shown {time.monotonic() - marked:.2f} s after it was marked")


def test_a_send_whose_sender_went_silent_is_shown_when_its_claim_runs_out(  # type: ignore[no-untyped-def]
    qtbot, demo_db, supervisor, make_ctx
) -> None:
    reply_id = queued_reply(demo_db)
    other = "other-host pid 7 (abcdef)"
    # claimed by a sender of another machine that stops renewing: it runs out in 1.5 s
    runs_out = utcnow() + timedelta(seconds=1.5)
    assert outbox.claim_ids(demo_db, [reply_id], runs_out - outbox.LEASE, other)
    screen = show(qtbot, FailedSendsScreen(make_ctx(demo_db, supervisor)))
    assert screen.model.rowCount() == 0
    assert screen.look_again_at == runs_out  # nothing will tell: the screen looks itself
    qtbot.waitUntil(lambda: texts(screen, 1) == ["Stalled"], timeout=5000)
    late = (utcnow() - runs_out).total_seconds()
    print(f"stalled send shown {late:.2f} s after its claim ran out")
    assert late < 1.5
    [reason] = texts(screen, 6)
    assert other in reason and "never handed to the mail server" in reason
    screen.view.selectRow(0)
    assert not screen.retry_button.isEnabled() and not screen.accept_button.isEnabled()
    assert "Stalled" in screen.note.text()
    # the next pass of a sender gives it back: gone from the list
    assert outbox.give_back_untransmitted(demo_db, utcnow()) == [reply_id]
    qtbot.waitUntil(lambda: screen.model.rowCount() == 0, timeout=3000)


def test_a_stalled_send_that_may_have_been_handed_over_says_it_is_never_resent(
    demo_db, supervisor
) -> None:  # type: ignore[no-untyped-def]
    reply_id = queued_reply(demo_db)
    long_ago = utcnow() - timedelta(hours=1)
    assert outbox.claim_ids(demo_db, [reply_id], long_ago, "h pid 1 (abcdef)")
    assert outbox.start_transmission(demo_db, reply_id, "h pid 1 (abcdef)", long_ago)
    [stalled] = outbox.failed_sends(demo_db)
    assert stalled.stalled and stalled.state == ReplyState.SENDING
    assert "never sent again automatically" in (stalled.last_error or "")
    assert outbox.review(demo_db).look_again_at is not None  # looked at again soon
