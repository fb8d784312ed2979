"""Management ▸ Emails driven like a supervisor would: filter, sort, read, save."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from PySide6.QtCore import QDate, QPoint, QRect, Qt, QUrl
from PySide6.QtGui import QDesktopServices, QImage, QTextDocument
from PySide6.QtWidgets import QAbstractButton, QLabel, QStyleOptionViewItem, QWidget
from sqlalchemy import func, select

from app.db.engine import Database
from app.db.models import Campaign, Email, User
from app.services.emails import EmailService, SortKey
from app.services.errors import PermissionDenied
from app.ui import messages as messages_module
from app.ui.email_rendering import INLINE_IMAGE
from app.ui.emails_screen import EmailsScreen, EmailTableModel
from app.ui.main_window import MainWindow
from app.ui.operations import operations
from tests.conftest import settle_operations
from tests.ui.keyboard import type_text
from tests.unit.test_emails_service import (
    PDF,
    SENDERS,
    UNICODE_SUBJECT,
    bulk_emails,
    seeded_database_fixtures,
    sqlite_lower,
)

# Nothing of the Emails screen may wait for the database on the GUI thread.

# ---- fixtures -------------------------------------------------------------------------


_emails_template, demo_db, seeded = seeded_database_fixtures("emails_ui")


@pytest.fixture
def ctx(demo_db, supervisor, make_ctx):  # type: ignore[no-untyped-def]
    return make_ctx(demo_db, supervisor)


@pytest.fixture
def screen(qtbot, ctx) -> Iterator[EmailsScreen]:  # type: ignore[no-untyped-def]
    widget = EmailsScreen(ctx)
    qtbot.addWidget(widget)
    widget.resize(1280, 860)
    widget.show()
    qtbot.waitExposed(widget)
    yield widget
    # A body still being read off the GUI thread finishes before its database goes.
    qtbot.waitUntil(lambda: operations().pending() == 0, timeout=20_000)


def column_texts(screen: EmailsScreen, column: int, rows: int | None = None) -> list[str]:
    model = screen.model
    count = model.rowCount() if rows is None else min(rows, model.rowCount())
    return [model.index(r, column).data() for r in range(count)]


def shown_ids(screen: EmailsScreen) -> list[int]:
    model = screen.model
    return [model.row_at(r).id for r in range(model.rowCount())]  # type: ignore[union-attr]


def click_header(qtbot, screen: EmailsScreen, title: str) -> None:  # type: ignore[no-untyped-def]
    header = screen.view.horizontalHeader()
    section = next(
        i
        for i in range(header.count())
        if screen.model.headerData(i, Qt.Orientation.Horizontal) == title
    )
    x = header.sectionViewportPosition(section) + header.sectionSize(section) // 2
    qtbot.mouseClick(
        header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, header.height() // 2)
    )


def select_email(qtbot, screen: EmailsScreen, email_id: int) -> None:  # type: ignore[no-untyped-def]
    """Select the email and wait until its body is shown (it is read off the GUI thread)."""
    assert screen.select_email(email_id)
    pane = screen.detail
    qtbot.waitUntil(
        lambda: pane.detail is not None and pane.detail.id == email_id and not pane.busy()
    )


def choose(combo, text: str) -> None:  # type: ignore[no-untyped-def]
    index = combo.findText(text)
    assert index >= 0, text
    combo.setCurrentIndex(index)
    settle_operations()  # the list is read again off the GUI thread


# ---- the list ---------------------------------------------------------------------------


def test_count_and_first_rows(qtbot, screen, seeded, demo_db) -> None:  # type: ignore[no-untyped-def]
    assert screen.count_label.text() == "50 emails"
    assert screen.model.rowCount() == 50
    newest = seeded.ids[-1]
    with demo_db.session() as s:
        subject = s.get_one(Email, newest).subject
    assert column_texts(screen, 2, 1) == [subject]
    assert column_texts(screen, 4, 1) == ["Quarantined"]
    qtbot.waitUntil(lambda: screen.model.rows_fetched > 0)
    assert screen.model.rows_fetched == 50 and screen.model.rows_held == 50
    assert screen.detail.placeholder.isVisible()


def test_sorting_by_header_click_is_done_in_sql(qtbot, screen, seeded, demo_db) -> None:  # type: ignore[no-untyped-def]
    with demo_db.session() as s:
        senders = dict(s.execute(select(Email.id, Email.from_addr)).all())
    expected = sorted(senders, key=lambda i: (sqlite_lower(senders[i]), i))
    click_header(qtbot, screen, "From")
    assert screen.model.query.sort == SortKey.FROM and not screen.model.query.descending
    assert shown_ids(screen) == expected
    click_header(qtbot, screen, "From")
    assert screen.model.query.descending
    assert shown_ids(screen) == list(reversed(expected))
    click_header(qtbot, screen, "Received")  # newest first on the first click
    assert shown_ids(screen) == list(reversed(seeded.ids))
    click_header(qtbot, screen, "Received")
    assert shown_ids(screen) == seeded.ids


def test_filters_narrow_the_list(qtbot, screen, seeded, demo_db) -> None:  # type: ignore[no-untyped-def]
    with demo_db.session() as s:
        orders = s.scalar(
            select(func.count(Email.id))
            .join(Campaign, Email.campaign_id == Campaign.id)
            .where(Campaign.title == "Orders")
        )
        alice = s.scalar(
            select(func.count(Email.id))
            .join(User, Email.agent_id == User.id)
            .where(User.login == "alice")
        )
    assert orders and alice
    choose(screen.campaign_combo, "Orders")
    assert screen.count_label.text() == f"{orders} emails"
    assert set(column_texts(screen, 3)) == {"Orders"}
    screen.clear_filters()
    settle_operations()
    choose(screen.status_combo, "Quarantined")
    assert screen.count_label.text() == "1 email"
    assert shown_ids(screen) == [seeded.quarantined_id]
    screen.clear_filters()
    settle_operations()
    choose(screen.agent_combo, "Alice Agent")
    assert screen.count_label.text() == f"{alice} emails"
    screen.clear_filters()
    settle_operations()
    # The search waits for a pause in typing, then runs once.
    screen.search_edit.setFocus()
    qtbot.keyClicks(screen.search_edit, "KETTLE")
    assert screen.count_label.text() == "50 emails"
    qtbot.waitUntil(lambda: screen.count_label.text() == "10 emails", timeout=2000)
    assert all("kettle" in t for t in column_texts(screen, 2))
    screen.search_edit.clear()
    type_text(qtbot, screen.search_edit, "日本語")
    qtbot.keyClick(screen.search_edit, Qt.Key.Key_Return)  # Enter searches at once
    assert screen.count_label.text() == "5 emails"
    assert set(column_texts(screen, 2)) == {UNICODE_SUBJECT}
    screen.clear_filters()
    settle_operations()
    assert screen.count_label.text() == "50 emails"
    # Dates are days in the organisation's time zone, both ends included.
    sydney = ZoneInfo("Australia/Sydney")
    with demo_db.session() as s:
        on_the_4th = s.scalar(
            select(func.count(Email.id)).where(
                Email.received_at >= datetime(2026, 11, 4, tzinfo=sydney),
                Email.received_at < datetime(2026, 11, 5, tzinfo=sydney),
            )
        )
    assert on_the_4th and on_the_4th < 50
    screen.from_date.setDate(QDate(2026, 11, 4))
    screen.to_date.setDate(QDate(2026, 11, 4))
    settle_operations()
    assert screen.count_label.text() == f"{on_the_4th} emails"
    assert all(t.startswith("2026-11-04") for t in column_texts(screen, 0))
    screen.clear_filters()
    settle_operations()
    assert screen.from_date.text() == "Any" and screen.count_label.text() == "50 emails"


# ---- the detail -------------------------------------------------------------------------


def test_html_email_is_shown_safely_with_replies(qtbot, screen, seeded) -> None:  # type: ignore[no-untyped-def]
    select_email(qtbot, screen, seeded.html_id)
    pane = screen.detail
    assert "I want to return a kettle #1" in pane.header.text()
    assert "bob@customers.example" in pane.header.text()
    shown = pane.browser.toHtml()
    assert "<script" not in shown and "alert" not in shown and "t.example" not in shown
    assert all(src.startswith("data:") for src in re.findall(r'src="([^"]*)"', shown))
    assert pane.browser.blocked == []  # nothing remote was even asked for
    text = pane.browser.toPlainText()
    assert "Hello team, my parcel is late." in text
    assert "[remote image blocked]" in text
    assert text.index("parcel is late") < text.index("First reply") < text.index("Second reply")
    assert not pane.files_row.isVisible()


def test_cid_image_is_shown_from_the_message(qtbot, screen, seeded) -> None:  # type: ignore[no-untyped-def]
    select_email(qtbot, screen, seeded.cid_id)
    pane = screen.detail
    # Decoded off the GUI thread from the message's part, shown under a local name.
    [src] = re.findall(r'src="([^"]*)"', pane.browser.toHtml())
    assert src.startswith(f"{INLINE_IMAGE}:")
    image = pane.browser.document().resource(QTextDocument.ResourceType.ImageResource, QUrl(src))
    assert isinstance(image, QImage) and image.width() == 24
    assert pane.browser.blocked == []
    assert pane.attachments.count() == 1 and "inline image/png" in pane.attachments.item(0).text()


def test_attachment_save_as_writes_its_bytes(qtbot, screen, seeded, tmp_path) -> None:  # type: ignore[no-untyped-def]
    select_email(qtbot, screen, seeded.attachment_id)
    pane = screen.detail
    assert pane.files_row.isVisible()
    assert pane.attachments.item(0).text().startswith("invoice 7.pdf")
    asked: list[tuple[str, str]] = []
    target = tmp_path / "saved.pdf"

    def choose_path(title: str, suggested: str) -> str:
        asked.append((title, suggested))
        return str(target)

    pane.choose_save_path = choose_path
    qtbot.mouseClick(pane.save_button, Qt.MouseButton.LeftButton)
    assert target.read_bytes() == PDF
    assert asked and Path(asked[0][1]).name == "invoice 7.pdf"


def test_raw_source_and_history(qtbot, screen, seeded, tmp_path, demo_db) -> None:  # type: ignore[no-untyped-def]
    select_email(qtbot, screen, seeded.unicode_id)
    pane = screen.detail
    raw = seeded.raw[seeded.unicode_id]
    assert pane.raw_tab.text.toPlainText() == ""  # read only when the tab is opened
    pane.tabs.setCurrentIndex(1)
    settle_operations()
    assert pane.raw_tab.text.toPlainText() == raw.decode().replace("\r\n", "\n")
    assert EmailService(demo_db, screen.ctx.actor).raw(seeded.unicode_id) == raw
    pane.choose_save_path = lambda _title, _suggested: str(tmp_path / "m.eml")
    pane.export_raw()
    settle_operations()
    assert (tmp_path / "m.eml").read_bytes() == raw
    assert UNICODE_SUBJECT in pane.header.text()
    pane.tabs.setCurrentIndex(2)
    actions = [pane.history_model.index(r, 2).data() for r in range(pane.history_model.rowCount())]
    assert actions == ["Arrived", "Routed"]


def test_quarantined_email_shows_its_reason(qtbot, screen, seeded) -> None:  # type: ignore[no-untyped-def]
    select_email(qtbot, screen, seeded.quarantined_id)
    assert "no default campaign" in screen.detail.header.text()


def test_a_quarantined_email_is_released_to_a_campaign(
    qtbot,
    screen,
    seeded,
    demo_db,  # type: ignore[no-untyped-def]
    agent,
) -> None:
    from app.db.models import Email, EmailStatus, History
    from app.services.emails import EmailService
    from app.services.errors import PermissionDenied, ValidationError

    select_email(qtbot, screen, seeded.quarantined_id)
    pane = screen.detail
    assert pane.release_row.isVisible()
    pane.release_combo.setCurrentIndex(pane.release_combo.findText("Complaints"))
    qtbot.mouseClick(pane.release_button, Qt.MouseButton.LeftButton)
    with demo_db.session() as s:
        email = s.get_one(Email, seeded.quarantined_id)
        assert (email.status, email.campaign.title) == (EmailStatus.QUEUED, "Complaints")
        last = s.query(History).filter_by(email_id=email.id).order_by(History.id.desc()).first()
        assert last.action == "released" and "no default campaign" in last.detail
    assert not pane.release_row.isVisible()  # shown again, now queued
    assert "Complaints" in pane.header.text()
    with pytest.raises(ValidationError):
        EmailService(demo_db, screen.ctx.actor).release(seeded.quarantined_id, email.campaign_id)
    with pytest.raises(PermissionDenied):
        EmailService(demo_db, agent).release(seeded.quarantined_id, email.campaign_id)


def test_links_open_only_after_confirmation(qtbot, screen, seeded, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    opened: list[str] = []
    answers = [False, True]
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url.toString()))
    monkeypatch.setattr(messages_module.messages, "confirm", lambda *_a, **_k: answers.pop(0))
    select_email(qtbot, screen, seeded.html_id)
    browser = screen.detail.browser
    browser.anchorClicked.emit(QUrl("https://shop.example/help"))
    assert opened == []
    browser.anchorClicked.emit(QUrl("https://shop.example/help"))
    assert opened == ["https://shop.example/help"]
    browser.anchorClicked.emit(QUrl("file:///etc/passwd"))
    assert opened == ["https://shop.example/help"] and answers == []


# ---- laziness and the model contract -----------------------------------------------------


def test_5000_emails_load_lazily(qtbot, demo_db, ctx) -> None:  # type: ignore[no-untyped-def]
    bulk_emails(demo_db, 5000)
    started = time.perf_counter()
    screen = EmailsScreen(ctx)
    qtbot.addWidget(screen)
    screen.resize(1280, 860)
    screen.show()
    model = screen.model
    qtbot.waitUntil(lambda: model.rows_fetched > 0)  # the view painted its first rows
    elapsed = time.perf_counter() - started
    print(f"\n5,050 emails: first rows shown after {elapsed * 1000:.0f} ms")
    assert screen.count_label.text() == "5,050 emails"
    assert model.rowCount() == 5050
    assert 0 < model.rows_fetched < 1000
    screen.view.scrollToBottom()
    qtbot.waitUntil(lambda: bool(model.index(5049, 2).data()))  # fetched when shown
    assert model.rows_fetched < 1000 and model.rows_held < 1000
    click_header(qtbot, screen, "Subject")
    assert model.rows_fetched < 1000
    assert column_texts(screen, 2, 3) == sorted(column_texts(screen, 2, 3))


def test_model_passes_qtmodeltester(qtmodeltester, demo_db, supervisor, ctx) -> None:  # type: ignore[no-untyped-def]
    service = EmailService(demo_db, supervisor)
    model = EmailTableModel(service.count, service.page, ctx.format_datetime, page_size=7)
    model.set_query(model.query)
    settle_operations()
    qtmodeltester.check(model)
    model.sort(1, Qt.SortOrder.AscendingOrder)
    settle_operations()
    qtmodeltester.check(model)
    settle_operations()  # the pages the tester asked for
    assert model.rowCount() == 50 and model.max_pages * model.page_size >= model.rows_held


# ---- access and keyboard ------------------------------------------------------------------


def test_agents_cannot_open_it(demo_db, agent, make_ctx) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PermissionDenied):
        EmailsScreen(make_ctx(demo_db, agent))


def test_management_menu_opens_it(qtbot, demo_db, admin, make_ctx) -> None:  # type: ignore[no-untyped-def]
    window = MainWindow(make_ctx(demo_db, admin))
    qtbot.addWidget(window)
    window.menu_actions["emails"].trigger()
    assert window.tabs.tabText(window.tabs.currentIndex()) == "Emails"
    assert isinstance(window.tabs.currentWidget(), EmailsScreen)


def mnemonic(text: str) -> str | None:
    match = re.search(r"&([^&])", text.replace("&&", ""))
    return match.group(1).lower() if match else None


def test_every_input_has_a_label_buddy_with_a_unique_mnemonic(screen) -> None:  # type: ignore[no-untyped-def]
    buddies = {
        label.buddy(): label.text() for label in screen.findChildren(QLabel) if label.buddy()
    }
    inputs: list[QWidget] = [
        screen.from_date,
        screen.to_date,
        screen.campaign_combo,
        screen.status_combo,
        screen.agent_combo,
        screen.channel_combo,
        screen.search_edit,
        screen.view,
        screen.detail.attachments,
    ]
    keys = []
    for widget in inputs:
        assert widget in buddies, widget.accessibleName() or type(widget).__name__
        assert mnemonic(buddies[widget]), buddies[widget]
        keys.append(mnemonic(buddies[widget]))
    keys += [mnemonic(b.text()) for b in screen.findChildren(QAbstractButton) if mnemonic(b.text())]
    tabs = screen.detail.tabs
    keys += [mnemonic(tabs.tabText(i)) for i in range(tabs.count())]
    assert len(keys) == len(set(keys)), keys
    assert not set(keys) & {"w", "c", "m", "h", "a"}  # the Workspace's menu bar


def test_a_supervisor_reopens_an_actioned_email(qtbot, screen, seeded, demo_db) -> None:  # type: ignore[no-untyped-def]
    from app.db.models import Email, EmailStatus, History, User

    actioned, assigned = seeded.assigned_ids[0], seeded.assigned_ids[1]
    select_email(qtbot, screen, assigned)
    pane = screen.detail
    assert not pane.reopen_row.isVisible()
    select_email(qtbot, screen, actioned)
    assert pane.reopen_row.isVisible()
    assert pane.reopen_combo.itemText(0) == "the queue of its campaign"
    choose(pane.reopen_combo, "Jürgen Größe")
    qtbot.mouseClick(pane.reopen_button, Qt.MouseButton.LeftButton)
    with demo_db.session() as s:
        email = s.get_one(Email, actioned)
        jurgen = s.query(User).filter_by(login="jurgen").one()
        assert (email.status, email.agent_id) == (EmailStatus.ASSIGNED, jurgen.id)
        last = s.query(History).filter_by(email_id=actioned).order_by(History.id.desc()).first()
        assert last.action == "re-opened" and "to Jürgen Größe" in last.detail
    assert not pane.reopen_row.isVisible()  # shown again: assigned now
    assert "Jürgen Größe" in pane.header.text()


def test_changes_from_another_workstation_show_within_2_seconds(qtbot, screen, demo_db) -> None:  # type: ignore[no-untyped-def]
    from tests.work_data import add_email

    other = Database(demo_db.url)  # another workstation
    add_email(other, "Orders", subject="Arrived elsewhere")
    other.dispose()
    qtbot.waitUntil(lambda: screen.count_label.text() == "51 emails", timeout=2000)
    # Deep in the list the view does not jump: it offers the reload instead.
    screen.view.verticalScrollBar().setValue(screen.view.verticalScrollBar().maximum())
    assert screen.view.verticalScrollBar().value() > 0
    add_email(demo_db, "Orders", subject="One more")
    qtbot.waitUntil(lambda: screen.changes_note.isVisible(), timeout=2000)
    assert screen.count_label.text() == "51 emails"
    qtbot.mouseClick(screen.reload_button, Qt.MouseButton.LeftButton)
    assert screen.count_label.text() == "52 emails"
    assert not screen.changes_note.isVisible()


# ---- hostile input (issue 11) --------------------------------------------------------------

SPOOFED = (
    b"From: =?utf-8?q?ceo=40bank.example?= <attacker@evil.example>\r\n"
    b"To: support@example.com\r\nSubject: Urgent transfer\r\n"
    b"Date: Mon, 02 Nov 2026 08:00:00 +0000\r\nMessage-ID: <spoof@evil.example>\r\n\r\n"
    b"Please pay the invoice today.\r\n"
)


def store(db: Database, raw: bytes, uid: int = 900) -> int:
    from app.services.intake import Fetched, Intake
    from tests.unit.test_emails_service import channel_id

    [stored] = Intake(db, channel_id(db)).store([Fetched("INBOX", 1, uid, raw)])
    return stored.email_id


def open_stored(qtbot, screen: EmailsScreen, email_id: int) -> None:  # type: ignore[no-untyped-def]
    screen.reload()
    settle_operations()  # the newest first: on the first page, read with the count
    select_email(qtbot, screen, email_id)


def shown_text(rich: str) -> str:
    """What a rich-text label shows, as plain text."""
    document = QTextDocument()
    document.setHtml(rich)
    return document.toPlainText().replace("\u200b", "")


@pytest.mark.parametrize(
    ("header", "name"),
    [
        (b"=?utf-8?q?ceo=40bank.example?=", "ceo@bank.example"),
        (b'"ceo@bank.example"', "ceo@bank.example"),
        # A right-to-left override shows "elpmaxe.knab@oec" as "ceo@bank.example".
        (b"=?utf-8?b?4oCuZWxwbWF4ZS5rbmFiQG9lYw==?=", "elpmaxe.knab@oec"),
        (b'"ceo@bank.example ' + b"x" * 900 + b'"', "ceo@bank.example xxxxx"),
    ],
)
def test_the_sender_is_shown_by_address_whatever_the_name_says(  # type: ignore[no-untyped-def]
    qtbot, screen, demo_db, header: bytes, name: str
) -> None:
    raw = SPOOFED.replace(b"=?utf-8?q?ceo=40bank.example?=", header)
    email_id = store(demo_db, raw)
    with demo_db.session() as s:
        assert s.get_one(Email, email_id).from_addr.endswith(" <attacker@evil.example>")
    open_stored(qtbot, screen, email_id)
    lines = shown_text(screen.detail.header.text()).splitlines()
    line = lines[lines.index("From") + 1]
    # The name quoted and short, the address whole.
    assert re.fullmatch(rf"“{re.escape(name)}[^”]*” <attacker@evil\.example>", line), line
    assert "\u202e" not in line and len(line) < 100
    assert "<b>attacker@evil.example</b>" in screen.detail.header.text()
    # The list too: however narrow the column, the name gives way to the address.
    row = screen.model.row_of(email_id)
    assert row is not None
    index = screen.model.index(row, 1)
    delegate = screen.view.itemDelegateForColumn(1)
    option = QStyleOptionViewItem()
    option.initFrom(screen.view)
    width = option.fontMetrics.horizontalAdvance("<attacker@evil.example>") + 60
    option.rect = QRect(0, 0, width, 20)
    delegate.initStyleOption(option, index)
    assert option.text.endswith("<attacker@evil.example>"), option.text
    assert option.fontMetrics.horizontalAdvance(option.text) <= width


def test_a_sender_without_an_address_is_said_to_have_none(qtbot, screen, demo_db) -> None:  # type: ignore[no-untyped-def]
    raw = SPOOFED.replace(b" <attacker@evil.example>", b" <>")
    email_id = store(demo_db, raw)
    open_stored(qtbot, screen, email_id)
    lines = shown_text(screen.detail.header.text()).splitlines()
    assert lines[lines.index("From") + 1] == "“ceo@bank.example” (no address)"


def nested_tables_mail(depth: int) -> bytes:
    from tests.unit.test_emails_service import _message

    msg = _message(9100 + depth, f"{depth} tables", SENDERS[0])
    cells = "".join(f"<table><tr><td>level{n} " for n in range(depth))
    msg.set_content(cells + "x" + "</td></tr></table>" * depth, subtype="html")
    return msg.as_bytes()


def frame_depth(pane) -> int:  # type: ignore[no-untyped-def]
    """How deep tables nest in the document shown."""

    def depth(frame) -> int:  # type: ignore[no-untyped-def]
        children = frame.childFrames()
        return 1 + max((depth(child) for child in children), default=0)

    return depth(pane.browser.document().rootFrame()) - 1


@pytest.mark.parametrize("depth", [20, 25, 100])
def test_deeply_nested_tables_are_shown_flattened(qtbot, screen, demo_db, depth: int) -> None:  # type: ignore[no-untyped-def]
    from app.mail.html import MAX_TABLE_DEPTH

    email_id = store(demo_db, nested_tables_mail(depth))
    open_stored(qtbot, screen, email_id)
    assert frame_depth(screen.detail) <= MAX_TABLE_DEPTH + 1  # + the frame of a piece
    words = screen.detail.browser.toPlainText().replace("\u200b", "").split()
    assert words == [f"level{n}" for n in range(depth - 1)] + [f"level{depth - 1}", "x"]


def long_mail(size: int, html: bool) -> bytes:
    from tests.unit.test_emails_service import _message

    lines = [f"Line {n:06d} of a very long message about the parcel." for n in range(size)]
    msg = _message(9500 + size, "A long email", SENDERS[0])
    if html:
        rows = "".join(f"<tr><td>{line}</td><td>cell</td></tr>" for line in lines)
        msg.set_content(f"<table>{rows}</table><p>The end.</p>", subtype="html", cte="base64")
    else:
        msg.set_content("\n".join([*lines, "The end."]), cte="base64")
    return msg.as_bytes()


@pytest.mark.parametrize("html", [False, True], ids=["text", "html"])
def test_a_long_body_shows_its_first_part_then_the_rest(qtbot, screen, demo_db, html) -> None:  # type: ignore[no-untyped-def]
    email_id = store(demo_db, long_mail(12_000, html))
    open_stored(qtbot, screen, email_id)
    pane = screen.detail
    shown = pane.browser.toPlainText()
    assert "Line 000000 of" in shown and "Line 001000 of" in shown
    assert "Line 011999" not in shown and "The end." not in shown
    assert pane.rest_row.isVisible()
    assert re.fullmatch(r"Show the rest \(\d+\.\d KB\)", pane.rest_button.text())
    assert "more of this email: Show the rest" in shown
    qtbot.mouseClick(pane.rest_button, Qt.MouseButton.LeftButton)
    assert pane.busy()  # a piece at a time
    qtbot.waitUntil(lambda: not pane.busy(), timeout=20_000)
    shown = pane.browser.toPlainText().replace("\u200b", "")
    numbers = [int(n) for n in re.findall(r"Line (\d{6}) of", shown)]
    assert numbers == list(range(12_000))  # all of it, once, in order
    assert shown.rstrip().endswith("The end.")
    assert "more of this email" not in shown and not pane.rest_row.isVisible()


def test_the_rest_comes_before_the_replies(qtbot, screen, demo_db) -> None:  # type: ignore[no-untyped-def]
    from app.db.models import Reply, ReplyState

    email_id = store(demo_db, long_mail(12_000, html=False))
    with demo_db.session() as s:
        s.add(
            Reply(
                email_id=email_id,
                to_addrs="zoe@customers.example",
                subject="Re: A long email",
                body="Our answer",
                message_id="<answer@example.com>",
                state=ReplyState.SENT,
            )
        )
    open_stored(qtbot, screen, email_id)
    pane = screen.detail
    shown = pane.browser.toPlainText()
    assert shown.index("more of this email") < shown.index("Our answer")
    pane.show_rest()
    qtbot.waitUntil(lambda: not pane.busy(), timeout=20_000)
    shown = pane.browser.toPlainText()
    assert shown.index("The end.") < shown.index("1 reply") < shown.index("Our answer")
    assert shown.count("Our answer") == 1


def test_attachments_with_hostile_names_open_and_save_safely(  # type: ignore[no-untyped-def]
    qtbot, screen, demo_db, tmp_path, answers
) -> None:
    from tests.unit.test_emails_service import LONG_NAME, hostile_attachments_mail

    email_id = store(demo_db, hostile_attachments_mail())
    open_stored(qtbot, screen, email_id)  # on PostgreSQL, NUL and 1,500 characters once broke it
    pane = screen.detail
    assert pane.files_row.isVisible() and pane.attachments.count() == 5
    shown = [pane.attachments.item(i).text() for i in range(5)]
    assert shown[0].startswith("../../.bashrc (") and shown[1].startswith("a\ufffdb.txt (")
    assert "\u202e" not in shown[3]  # the override is not obeyed in the list
    asked: list[str] = []
    folder = tmp_path / "chosen"
    folder.mkdir()

    def choose_path(_title: str, suggested: str) -> str:
        asked.append(suggested)
        return str(folder / Path(suggested).name)

    pane.choose_save_path = choose_path
    saved = []
    for row in range(5):
        pane.attachments.setCurrentRow(row)
        qtbot.mouseClick(pane.save_button, Qt.MouseButton.LeftButton)
        saved.append(Path(asked[-1]).name)
    assert (
        saved
        == [
            "bashrc",
            "a\ufffdb.txt",  # the NUL as stored
            LONG_NAME[: 200 - 4] + ".pdf",
            "invoicefdp.exe",
            f"attachment-{pane.detail.attachments[4].id}",
        ]
    )
    # The first proposal in the usual folder, the next ones where the user saved.
    assert all(Path(path).parent == folder for path in asked[1:])
    contents = [b"alias ls=rm", b"nul", b"long", b"rtl", b"png"]
    assert [(folder / name).read_bytes() for name in saved] == contents
    assert answers[0] == []  # no error shown


def test_a_path_with_nul_is_refused_with_a_message(qtbot, screen, seeded, answers) -> None:  # type: ignore[no-untyped-def]
    select_email(qtbot, screen, seeded.attachment_id)
    pane = screen.detail
    pane.choose_save_path = lambda _title, suggested: suggested + "\x00.exe"
    pane.save_attachment()  # nothing raised
    settle_operations()
    [(kind, text)] = answers[0]
    assert kind == "error" and "could not be written" in text


def test_open_link_shows_the_ascii_form_of_a_mixed_script_host(  # type: ignore[no-untyped-def]
    qtbot, screen, seeded, monkeypatch
) -> None:
    asked: list[str] = []
    monkeypatch.setattr(
        messages_module.messages, "confirm", lambda _p, _t, text, **_k: asked.append(text)
    )
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: None)
    select_email(qtbot, screen, seeded.html_id)
    browser = screen.detail.browser
    browser.anchorClicked.emit(QUrl("https://xn--pypal-4ve.com/login"))
    browser.anchorClicked.emit(QUrl("https://shop.example/help"))
    assert "pаypal.com (xn--pypal-4ve.com)" in asked[0]
    assert "mixed scripts: Latin and Cyrillic" in asked[0]
    assert "xn--" not in asked[1] and "mixed" not in asked[1]


def test_a_change_elsewhere_keeps_the_body_as_shown(qtbot, screen, demo_db) -> None:  # type: ignore[no-untyped-def]
    from app.db.models import Reply, ReplyState

    email_id = store(demo_db, long_mail(12_000, html=False))
    open_stored(qtbot, screen, email_id)
    pane = screen.detail
    pane.show_rest()
    qtbot.waitUntil(lambda: not pane.busy(), timeout=20_000)
    pane.browser.verticalScrollBar().setValue(500)
    screen.reload()  # what a change from another workstation does (the first view's too)
    settle_operations()
    assert not pane.busy() and pane.browser.verticalScrollBar().value() == 500
    assert pane.browser.toPlainText().rstrip().endswith("The end.")
    with demo_db.session() as s:  # a reply sent meanwhile: shown, the body from the start
        s.add(
            Reply(
                email_id=email_id,
                to_addrs="zoe@customers.example",
                subject="Re: A long email",
                body="Our answer",
                message_id="<answer-2@example.com>",
                state=ReplyState.SENT,
            )
        )
    screen.reload()
    qtbot.waitUntil(lambda: not pane.busy(), timeout=20_000)
    assert "Our answer" in pane.browser.toPlainText() and pane.rest_row.isVisible()
