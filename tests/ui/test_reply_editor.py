"""The reply editor driven like an agent: templates, recipients, address confirmation, the
campaign's flags on and off, drafts, and refusals that never lose what was typed."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from PySide6.QtCore import Qt
from sqlalchemy import update

from app.db.engine import Database
from app.db.models import Campaign, Channel, Email, EmailStatus, Reply, ReplyState, utcnow
from app.services import outbox
from app.services.work import ReplyText, WorkService, confirmation_text
from app.ui.reply_editor import CHOOSE_TEMPLATE, MoveDialog, ReplyEditor
from tests.conftest import actor_of, settle_operations
from tests.ui.keyboard import click, show_active, type_text
from tests.work_data import add_email, campaign_id

# campaign → (agent, free format, confirmation, put back, move, draft), as the demo has them
DEMO_FLAGS = {
    "Orders": ("alice", False, True, True, True, True),
    "Returns": ("alice", False, True, True, False, True),
    "General Enquiries": ("alice", True, False, True, True, False),
    "Complaints": ("jurgen", True, True, False, False, True),
}


def work(db: Database, login: str) -> WorkService:
    return WorkService(db, actor_of(db, login))


def status(db: Database, email_id: int) -> EmailStatus:
    with db.session() as s:
        return s.get_one(Email, email_id).status


def set_flags(db: Database, title: str, **flags: object) -> None:
    with db.session() as s:
        s.execute(update(Campaign).where(Campaign.title == title).values(**flags))


@pytest.fixture
def open_reply(qtbot, demo_db: Database) -> Callable[..., tuple[ReplyEditor, int]]:  # type: ignore[no-untyped-def]
    """A taken email of ``campaign`` open in a shown editor (as its campaign's agent)."""

    def make(campaign: str, login: str | None = None, **email: object) -> tuple[ReplyEditor, int]:
        login = login or DEMO_FLAGS[campaign][0]
        email_id = add_email(demo_db, campaign, **email)  # type: ignore[arg-type]
        service = work(demo_db, login)
        service.take(email_id)
        editor = show_active(qtbot, ReplyEditor(service), 900, 560)
        open_in(editor, email_id)
        return editor, email_id

    return make


def open_in(editor: ReplyEditor, email_id: int) -> None:
    """Open ``email_id`` in ``editor`` and wait until it is shown."""
    editor.open_email(email_id)
    settle_operations()
    assert editor.email_id == email_id


def choose_template(qtbot, editor: ReplyEditor, name: str) -> None:  # type: ignore[no-untyped-def]
    """With the keyboard: focus the picker, then arrow up or down to ``name``."""
    combo = editor.template_combo
    combo.setFocus()
    target = combo.findText(name)
    assert target >= 0, f"{name} is not offered"
    for _ in range(combo.count()):
        if combo.currentIndex() == target:
            return
        key = Qt.Key.Key_Down if combo.currentIndex() < target else Qt.Key.Key_Up
        qtbot.keyClick(combo, key)
    raise AssertionError(f"could not reach {name}")


def fields(editor: ReplyEditor) -> tuple[str, str, str, str, str, str]:
    return (
        editor.to_edit.text(),
        editor.cc_edit.text(),
        editor.bcc_edit.text(),
        editor.subject_edit.text(),
        editor.body_edit.toPlainText(),
        editor.template_combo.currentText(),
    )


# ---- what the campaign allows -------------------------------------------------------------


@pytest.mark.parametrize("campaign", list(DEMO_FLAGS))
def test_only_the_actions_the_campaign_allows_are_shown(open_reply, campaign: str) -> None:  # type: ignore[no-untyped-def]
    _agent, _free, _confirm, put_back, move, draft = DEMO_FLAGS[campaign]
    editor, _email_id = open_reply(campaign)
    assert editor.send_button.isVisible()
    assert editor.put_back_button.isVisible() is put_back
    assert editor.move_button.isVisible() is move
    assert editor.draft_button.isVisible() is draft
    assert editor.put_back_action.isVisible() is put_back
    assert editor.move_action.isVisible() is move
    assert editor.draft_action.isVisible() is draft


@pytest.mark.parametrize(
    ("flag", "button"),
    [
        ("allow_put_back", "put_back_button"),
        ("allow_move", "move_button"),
        ("allow_draft", "draft_button"),
    ],
)
def test_each_flag_turned_off_hides_its_button_and_its_keys(  # type: ignore[no-untyped-def]
    qtbot, open_reply, demo_db: Database, flag: str, button: str
) -> None:
    set_flags(demo_db, "Orders", **{flag: False})
    editor, email_id = open_reply("Orders")
    assert not getattr(editor, button).isVisible()
    others = {"put_back_button", "move_button", "draft_button"} - {button}
    assert all(getattr(editor, b).isVisible() for b in others)
    choose_template(qtbot, editor, "Order status")
    keys = {
        "put_back_button": (
            Qt.Key.Key_B,
            Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
        ),
        "move_button": (Qt.Key.Key_M, Qt.KeyboardModifier.ControlModifier),
        "draft_button": (Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier),
    }[button]
    qtbot.keyClick(editor.body_edit, *keys)
    assert status(demo_db, email_id) == EmailStatus.ASSIGNED  # nothing happened
    assert editor.move_dialog is None


# ---- free format and templates ---------------------------------------------------------------


def test_free_format_off_send_waits_for_a_template_whose_text_stays_editable(  # type: ignore[no-untyped-def]
    qtbot, open_reply, demo_db: Database, answers
) -> None:
    editor, email_id = open_reply("Orders", sender="Zoe Adams <zoe@customers.example>")
    assert editor.template_combo.itemText(0) == CHOOSE_TEMPLATE
    assert not editor.send_button.isEnabled()
    assert "does not allow free-format" in editor.title.text()
    assert editor.to_edit.text() == "Zoe Adams <zoe@customers.example>"
    assert editor.subject_edit.text() == "Re: Where is my parcel?"
    choose_template(qtbot, editor, "Order status")
    assert editor.send_button.isEnabled()
    assert editor.body_edit.toPlainText().startswith("Dear Zoe Adams,")
    assert "Alice Agent" in editor.body_edit.toPlainText()
    editor.body_edit.moveCursor(editor.body_edit.textCursor().MoveOperation.End)
    type_text(qtbot, editor.body_edit, "\nPS: Größe 42 is in stock.")
    click(qtbot, editor.send_button)
    assert status(demo_db, email_id) == EmailStatus.ACTIONED
    with demo_db.session() as s:
        reply = s.query(Reply).filter(Reply.email_id == email_id).one()
        assert reply.body.endswith("PS: Größe 42 is in stock.")
        assert reply.template_id is not None
    assert answers[0] == []  # no question was needed


def test_going_back_to_no_template_disables_send_again(qtbot, open_reply) -> None:  # type: ignore[no-untyped-def]
    editor, _ = open_reply("Orders")
    choose_template(qtbot, editor, "Acknowledgement")
    assert editor.send_button.isEnabled()
    choose_template(qtbot, editor, CHOOSE_TEMPLATE)
    assert not editor.send_button.isEnabled()
    assert not editor.send()


def test_free_format_on_sends_without_a_template(qtbot, open_reply, demo_db: Database) -> None:  # type: ignore[no-untyped-def]
    editor, email_id = open_reply("General Enquiries")
    assert editor.send_button.isEnabled()
    assert "does not allow" not in editor.title.text()
    type_text(qtbot, editor.body_edit, "We open at nine.")
    click(qtbot, editor.send_button)
    assert status(demo_db, email_id) == EmailStatus.ACTIONED


def test_choosing_a_template_asks_before_replacing_typed_text(qtbot, open_reply, answers) -> None:  # type: ignore[no-untyped-def]
    shown, replies = answers
    editor, _ = open_reply("Orders")
    choose_template(qtbot, editor, "Acknowledgement")
    assert shown == []  # only filled-in text so far: nothing to lose
    choose_template(qtbot, editor, "Order status")
    assert shown == []  # switching between untouched templates does not ask either
    editor.body_edit.selectAll()
    type_text(qtbot, editor.body_edit, "My own words")
    typed = fields(editor)
    replies.append(False)  # Keep my text
    qtbot.keyClick(editor.template_combo, Qt.Key.Key_Down)  # to "Rückfrage (Deutsch)"
    assert shown[-1][0] == "confirm" and "Rückfrage (Deutsch)" in shown[-1][1]
    assert fields(editor) == typed  # the text and the chosen template are as they were
    replies.append(True)  # Replace
    qtbot.keyClick(editor.template_combo, Qt.Key.Key_Down)
    assert editor.template_combo.currentText() == "Rückfrage (Deutsch)"
    assert editor.body_edit.toPlainText().startswith("Guten Tag Zoe Adams,")
    assert editor.subject_edit.text() == "Ihre Anfrage – Where is my parcel?"


# ---- recipients and address confirmation -------------------------------------------------


@pytest.mark.parametrize(
    "to",
    [
        "zoe@customers.example, max@customers.example",
        "zoe@customers.example; max@customers.example",
        '"Adams, Zoe" <zoe@customers.example>; max@customers.example',
    ],
)
def test_comma_and_semicolon_separate_recipients_without_a_question(  # type: ignore[no-untyped-def]
    qtbot, open_reply, demo_db: Database, answers, to: str
) -> None:
    editor, email_id = open_reply("Complaints")  # confirmation on, free format
    editor.to_edit.clear()
    type_text(qtbot, editor.to_edit, to)
    click(qtbot, editor.send_button)
    assert answers[0] == []
    assert status(demo_db, email_id) == EmailStatus.ACTIONED
    with demo_db.session() as s:
        reply = s.query(Reply).filter(Reply.email_id == email_id).one()
        assert "zoe@customers.example" in reply.to_addrs
        assert "max@customers.example" in reply.to_addrs


def test_cancel_on_an_address_question_returns_with_everything_intact(  # type: ignore[no-untyped-def]
    qtbot, open_reply, demo_db: Database, answers
) -> None:
    shown, replies = answers
    editor, email_id = open_reply("Complaints")
    editor.to_edit.clear()
    type_text(qtbot, editor.to_edit, "zoe.customers.example")
    type_text(qtbot, editor.cc_edit, "max@customers.example")
    type_text(qtbot, editor.bcc_edit, "boss@example.com")
    editor.subject_edit.selectAll()
    type_text(qtbot, editor.subject_edit, "Ihre Beschwerde – Größe")
    type_text(qtbot, editor.body_edit, "Sorry for the trouble.\nWe will call you.")
    typed = fields(editor)
    replies.append(False)
    click(qtbot, editor.send_button)
    assert shown == [("confirm", confirmation_text("zoe.customers.example"))]
    assert shown[0][1] == (
        "The input email address 'zoe.customers.example' appears to be invalid. Please confirm "
        "that you do want to use this email address, by pressing OK, or press Cancel and go "
        "back and correct it."
    )
    assert fields(editor) == typed
    assert status(demo_db, email_id) == EmailStatus.ASSIGNED
    assert editor.to_edit.hasFocus()
    assert editor.to_edit.selectedText() == "zoe.customers.example"
    assert editor.email_id == email_id


def test_ok_on_every_address_question_sends_anyway(  # type: ignore[no-untyped-def]
    qtbot, open_reply, demo_db: Database, answers
) -> None:
    shown, replies = answers
    editor, email_id = open_reply("Complaints")
    editor.to_edit.clear()
    type_text(qtbot, editor.to_edit, "zoe@localhost")
    type_text(qtbot, editor.cc_edit, "max@intranet")
    replies.extend([True, True])
    sent: list[tuple[int, str]] = []
    editor.finished.connect(lambda e, what: sent.append((e, what)))
    click(qtbot, editor.send_button)
    assert [text for _kind, text in shown] == [
        confirmation_text("zoe@localhost"),
        confirmation_text("max@intranet"),
    ]
    assert status(demo_db, email_id) == EmailStatus.ACTIONED
    assert sent == [(email_id, "sent")]
    assert editor.email_id is None


def test_cancel_on_the_second_address_sends_nothing(
    qtbot, open_reply, demo_db: Database, answers
) -> None:  # type: ignore[no-untyped-def]
    shown, replies = answers
    editor, email_id = open_reply("Complaints")
    editor.to_edit.setText("zoe@localhost")
    editor.cc_edit.setText("max@intranet")
    replies.extend([True, False])
    click(qtbot, editor.send_button)
    assert len(shown) == 2
    assert status(demo_db, email_id) == EmailStatus.ASSIGNED
    assert editor.cc_edit.hasFocus() and editor.cc_edit.selectedText() == "max@intranet"
    assert editor.to_edit.text() == "zoe@localhost"


def test_a_space_between_two_addresses_asks_then_sends_to_both(  # type: ignore[no-untyped-def]
    qtbot, open_reply, demo_db: Database, answers
) -> None:
    """The seed: "if you use a space you will get this error too, although the email will
    still send"."""
    shown, replies = answers
    editor, email_id = open_reply("Complaints")
    editor.to_edit.clear()
    pair = "zoe@customers.example max@customers.example"
    type_text(qtbot, editor.to_edit, pair)
    type_text(qtbot, editor.body_edit, "Hello")
    replies.append(True)
    sent: list[tuple[int, str]] = []
    editor.finished.connect(lambda e, what: sent.append((e, what)))
    click(qtbot, editor.send_button)
    assert shown == [("confirm", confirmation_text(pair))]
    assert shown[0][1] == (
        "The input email address 'zoe@customers.example max@customers.example' appears to be "
        "invalid. Please confirm that you do want to use this email address, by pressing OK, "
        "or press Cancel and go back and correct it."
    )
    assert sent == [(email_id, "sent")]
    assert status(demo_db, email_id) == EmailStatus.ACTIONED
    with demo_db.session() as s:
        reply = s.query(Reply).filter(Reply.email_id == email_id).one()
        assert (reply.state, reply.to_addrs) == (
            ReplyState.QUEUED,
            "zoe@customers.example, max@customers.example",
        )
    prepared = outbox.prepare(demo_db, {reply.id: utcnow()})[0]
    assert prepared.recipients == ("zoe@customers.example", "max@customers.example")


def test_the_refused_recipient_is_selected_within_its_line(  # type: ignore[no-untyped-def]
    qtbot, open_reply, demo_db: Database, answers
) -> None:
    _shown, replies = answers
    editor, email_id = open_reply("Complaints")
    editor.to_edit.clear()
    line = "ann@customers.example; zoe@customers.example boss, bo@x.example"
    type_text(qtbot, editor.to_edit, line)
    replies.append(True)  # yes, use "zoe@… boss" (then 'boss' has no '@')
    click(qtbot, editor.send_button)
    assert "'boss', which is not an email address" in editor.errors["To"].text()
    assert editor.to_edit.hasFocus()
    assert editor.to_edit.selectedText() == "boss"
    assert editor.to_edit.selectionStart() == line.index("boss")
    assert editor.to_edit.text() == line
    assert status(demo_db, email_id) == EmailStatus.ASSIGNED


@pytest.mark.parametrize(
    ("field", "typed", "asked", "named"),
    [
        # a space between an address and a word that is none
        ("cc_edit", "max@customers.example boss", ["max@customers.example boss"], "boss"),
        # a comma inside an address: the part before it has no '@'
        ("to_edit", "zoe,adams@customers.example", ["zoe"], "zoe"),
        # no '@' at all
        ("bcc_edit", "zoe.customers.example", ["zoe.customers.example"], "zoe.customers.example"),
    ],
)
def test_ok_on_a_part_without_an_at_sign_explains_it_and_keeps_everything(  # type: ignore[no-untyped-def]
    qtbot, open_reply, demo_db: Database, answers, field: str, typed: str, asked, named: str
) -> None:
    shown, replies = answers
    editor, email_id = open_reply("Complaints")
    editor.to_edit.clear()
    type_text(qtbot, editor.to_edit, "zoe@customers.example")
    edit = getattr(editor, field)
    edit.clear()
    type_text(qtbot, edit, typed)
    type_text(qtbot, editor.body_edit, "Sorry for the trouble.")
    typed_fields = fields(editor)
    replies.extend([True] * len(asked))
    sent: list[tuple[int, str]] = []
    editor.finished.connect(lambda e, what: sent.append((e, what)))
    click(qtbot, editor.send_button)
    assert shown == [("confirm", confirmation_text(a)) for a in asked]
    label = {"to_edit": "To", "cc_edit": "Cc", "bcc_edit": "Bcc"}[field]
    error = editor.errors[label]
    assert error.isVisible()
    assert error.text().startswith(
        f"{label} holds '{named}', which is not an email address (it has no '@'): the reply "
        "cannot be sent to it"
    )
    assert fields(editor) == typed_fields
    assert edit.hasFocus() and edit.selectedText() == named
    assert sent == [] and editor.email_id == email_id
    assert status(demo_db, email_id) == EmailStatus.ASSIGNED
    with demo_db.session() as s:
        assert s.query(Reply).filter(Reply.email_id == email_id).count() == 0
    # Corrected: sent.
    edit.clear()
    type_text(qtbot, edit, "max@customers.example")
    click(qtbot, editor.send_button)
    assert sent == [(email_id, "sent")]


def test_cancel_selects_the_questioned_address_not_a_longer_one_holding_it(  # type: ignore[no-untyped-def]
    qtbot, open_reply, demo_db: Database, answers
) -> None:
    shown, replies = answers
    editor, email_id = open_reply("Complaints")
    editor.to_edit.clear()
    line = "bobby@customers.example, bob"
    type_text(qtbot, editor.to_edit, line)
    replies.append(False)
    click(qtbot, editor.send_button)
    assert shown == [("confirm", confirmation_text("bob"))]
    assert editor.to_edit.hasFocus()
    assert editor.to_edit.selectedText() == "bob"
    assert editor.to_edit.selectionStart() == line.rindex("bob")
    assert status(demo_db, email_id) == EmailStatus.ASSIGNED
    with demo_db.session() as s:
        assert s.query(Reply).filter(Reply.email_id == email_id).count() == 0


def test_confirmation_off_never_asks(qtbot, open_reply, demo_db: Database, answers) -> None:  # type: ignore[no-untyped-def]
    editor, email_id = open_reply("General Enquiries")
    editor.to_edit.setText("zoe@localhost")
    click(qtbot, editor.send_button)
    assert answers[0] == []
    assert status(demo_db, email_id) == EmailStatus.ACTIONED


def test_a_missing_recipient_is_explained_next_to_to(qtbot, open_reply, demo_db: Database) -> None:  # type: ignore[no-untyped-def]
    editor, email_id = open_reply("General Enquiries")
    editor.to_edit.clear()
    type_text(qtbot, editor.body_edit, "Hello")
    click(qtbot, editor.send_button)
    assert "To is required" in editor.errors["To"].text()
    assert editor.body_edit.toPlainText() == "Hello"
    assert status(demo_db, email_id) == EmailStatus.ASSIGNED
    editor.to_edit.setText("zoe@customers.example")
    click(qtbot, editor.send_button)
    assert status(demo_db, email_id) == EmailStatus.ACTIONED


def test_more_recipients_than_the_channel_allows_are_explained_next_to_to(  # type: ignore[no-untyped-def]
    qtbot, open_reply, demo_db: Database
) -> None:
    with demo_db.session() as s:
        s.execute(update(Channel).values(max_recipients=2))
    editor, email_id = open_reply("General Enquiries")
    editor.to_edit.setText("zoe@customers.example; bob@customers.example")
    editor.bcc_edit.setText("audit@example.com")
    type_text(qtbot, editor.body_edit, "Hello")
    click(qtbot, editor.send_button)
    assert editor.errors["To"].text() == (
        "To has 3 recipients (To, Cc and Bcc together): the channel Support mailbox sends a "
        "reply to at most 2 (its Max Recipients per Reply). Send it in parts, or ask an "
        "administrator to raise the limit."
    )
    assert editor.errors["To"].isVisible() and editor.to_edit.hasFocus()
    assert editor.bcc_edit.text() == "audit@example.com"
    assert editor.body_edit.toPlainText() == "Hello"
    assert status(demo_db, email_id) == EmailStatus.ASSIGNED
    editor.bcc_edit.clear()
    click(qtbot, editor.send_button)
    assert status(demo_db, email_id) == EmailStatus.ACTIONED


# ---- drafts, put back, move ------------------------------------------------------------------


def test_a_saved_draft_is_resumed_with_its_text_intact(  # type: ignore[no-untyped-def]
    qtbot, open_reply, demo_db: Database
) -> None:
    editor, email_id = open_reply("Orders")
    choose_template(qtbot, editor, "Order status")
    editor.cc_edit.setText("team@example.com")
    type_text(qtbot, editor.body_edit, "Größe 42 – ")
    typed = fields(editor)
    saved: list[int] = []
    editor.draft_saved.connect(saved.append)
    click(qtbot, editor.draft_button)
    assert saved == [email_id]
    assert status(demo_db, email_id) == EmailStatus.DRAFT
    assert not editor.is_dirty()
    again = ReplyEditor(work(demo_db, "alice"))
    qtbot.addWidget(again)
    open_in(again, email_id)
    assert fields(again) == typed
    assert "saved draft" in again.title.text()
    assert again.send_button.isEnabled()


def test_put_back_asks_only_when_a_reply_would_be_lost(  # type: ignore[no-untyped-def]
    qtbot, open_reply, demo_db: Database, answers
) -> None:
    shown, replies = answers
    editor, email_id = open_reply("Orders")
    click(qtbot, editor.put_back_button)
    assert shown == []
    assert status(demo_db, email_id) == EmailStatus.QUEUED
    editor, second = open_reply("Orders")
    choose_template(qtbot, editor, "Order status")
    replies.append(False)
    click(qtbot, editor.put_back_button)
    assert "will be discarded" in shown[-1][1]
    assert status(demo_db, second) == EmailStatus.ASSIGNED
    assert editor.template_combo.currentText() == "Order status"
    click(qtbot, editor.put_back_button)  # answered yes this time
    assert status(demo_db, second) == EmailStatus.QUEUED


def test_move_to_a_chosen_campaign(qtbot, open_reply, demo_db: Database) -> None:  # type: ignore[no-untyped-def]
    editor, email_id = open_reply("Orders")
    click(qtbot, editor.move_button)
    dialog = editor.move_dialog
    assert isinstance(dialog, MoveDialog)
    qtbot.waitExposed(dialog)
    titles = [dialog.list.item(i).text() for i in range(dialog.list.count())]
    assert "Orders" not in titles and "Returns" in titles
    dialog.list.setCurrentRow(titles.index("Returns"))
    qtbot.keyClick(dialog.list, Qt.Key.Key_Return)
    with demo_db.session() as s:
        moved = s.get_one(Email, email_id)
        assert (moved.status, moved.campaign_id) == (
            EmailStatus.QUEUED,
            campaign_id(demo_db, "Returns"),
        )
    assert editor.email_id is None


def test_move_cancelled_keeps_the_email(qtbot, open_reply, demo_db: Database) -> None:  # type: ignore[no-untyped-def]
    editor, email_id = open_reply("Orders")
    choose_template(qtbot, editor, "Order status")
    click(qtbot, editor.move_button)
    dialog = editor.move_dialog
    assert dialog is not None
    assert "will be discarded" in " ".join(
        w.text() for w in dialog.findChildren(type(editor.banner)) if w.isVisible()
    )
    dialog.reject()
    assert status(demo_db, email_id) == EmailStatus.ASSIGNED
    assert editor.template_combo.currentText() == "Order status"


# ---- someone else was quicker; a failed send comes back -------------------------------------


def test_an_email_put_back_elsewhere_meanwhile_gives_a_clear_message_and_clears(  # type: ignore[no-untyped-def]
    qtbot, open_reply, demo_db: Database, answers
) -> None:
    shown, _replies = answers
    editor, email_id = open_reply("General Enquiries")
    other = Database(demo_db.url)  # Alice's second workstation
    try:
        work(other, "alice").put_back(email_id)
        work(other, "bob").take(email_id)
    finally:
        other.dispose()
    lost: list[tuple[int, str]] = []
    editor.lost.connect(lambda e, why: lost.append((e, why)))
    type_text(qtbot, editor.body_edit, "Hello")
    click(qtbot, editor.send_button)
    assert shown == [("error", "This email is now held by Bob Agent, not by you.")]
    assert lost == [(email_id, "This email is now held by Bob Agent, not by you.")]
    assert editor.email_id is None
    assert editor.stack.currentIndex() == 0
    assert "Bob Agent" in editor.placeholder.text()


def test_a_reworked_failed_send_shows_why_it_failed(qtbot, demo_db: Database) -> None:  # type: ignore[no-untyped-def]
    email_id = add_email(demo_db, "General Enquiries")
    service = work(demo_db, "alice")
    service.take(email_id)
    reply_id = service.send(
        email_id, ReplyText(to="nobody@customers.example", subject="Re: x", body="y")
    )
    assert outbox.claim_ids(demo_db, [reply_id], utcnow())
    outbox.mark_failed(demo_db, reply_id, "550 5.1.1 <nobody@customers.example>: no such user")
    service.rework_failed(reply_id)
    editor = ReplyEditor(service)
    qtbot.addWidget(editor)
    editor.show()
    open_in(editor, email_id)
    assert editor.banner.isVisible()
    assert "550 5.1.1 <nobody@customers.example>: no such user" in editor.banner.text()
    assert editor.to_edit.text() == "nobody@customers.example"
    editor.to_edit.setText("zoe@customers.example")
    click(qtbot, editor.send_button)
    with demo_db.session() as s:
        assert s.get_one(Reply, reply_id).state == ReplyState.QUEUED


def test_text_typed_for_an_email_switched_away_from_comes_back(
    qtbot, open_reply, demo_db: Database
) -> None:  # type: ignore[no-untyped-def]
    editor, first = open_reply("General Enquiries")
    second = add_email(demo_db, "General Enquiries", subject="Opening hours")
    work(demo_db, "alice").take(second)
    type_text(qtbot, editor.body_edit, "Half-written answer")
    assert editor.unsent_count() == 1
    open_in(editor, second)
    assert editor.body_edit.toPlainText() == ""
    assert editor.subject_edit.text() == "Re: Opening hours"
    open_in(editor, first)
    assert editor.body_edit.toPlainText() == "Half-written answer"
    assert editor.is_dirty()


def test_a_flag_turned_off_meanwhile_is_explained_and_its_button_hidden(  # type: ignore[no-untyped-def]
    qtbot, open_reply, demo_db: Database
) -> None:
    editor, email_id = open_reply("Orders")
    choose_template(qtbot, editor, "Order status")
    type_text(qtbot, editor.body_edit, "Größe 42 ")
    typed = fields(editor)
    set_flags(demo_db, "Orders", allow_draft=False)  # a supervisor, meanwhile
    click(qtbot, editor.draft_button)
    assert editor.banner.text() == "This campaign does not allow saving drafts."
    assert not editor.draft_button.isVisible()
    assert editor.put_back_button.isVisible()
    assert fields(editor) == typed
    assert status(demo_db, email_id) == EmailStatus.ASSIGNED
