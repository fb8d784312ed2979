"""The channel service inside the GUI: status bar, the channel screen's status and Check now,
against a real Dovecot."""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import Qt
from sqlalchemy import func, select

from app.db import migrate
from app.db.engine import Database
from app.db.models import AfterRetrieval, Email
from app.services import demo
from app.ui.channel_status import ChannelEvents
from app.ui.main_window import MainWindow
from tests.conftest import settle_operations
from tests.integration.test_retrieval import make_channel, raw_message

pytestmark = pytest.mark.server


def count(db) -> int:  # type: ignore[no-untyped-def]
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(Email)) or 0


def test_status_bar_and_check_now(
    qtbot,
    mail_server,
    mailbox,
    demo_db,
    admin,
    make_ctx,  # type: ignore[no-untyped-def]
    secrets,
):
    channel_id = make_channel(
        demo_db, mail_server, mailbox, secrets, name="Live", after=AfterRetrieval.MARK_READ
    )
    with demo_db.session() as s:  # a long interval: only Check now (or IDLE) brings mail
        from app.db.models import Channel

        s.get_one(Channel, channel_id).check_interval = 3600
    ctx = make_ctx(demo_db, admin)
    events = ChannelEvents(demo_db, secrets)
    ctx.channel_events = events
    window = MainWindow(ctx)
    qtbot.addWidget(window)
    window.show()
    events.start()
    try:
        qtbot.waitUntil(
            lambda: (
                channel_id in window.channel_status.labels
                and "idle" in window.channel_status.labels[channel_id].text()
            ),
            timeout=10000,
        )
        label = window.channel_status.labels[channel_id]
        assert label.text().startswith("Live: idle, last check ")
        screen = window.open_channels()
        settle_operations()  # the list is read
        row = next(
            r for r in range(screen.proxy.rowCount()) if screen.proxy.index(r, 0).data() == "Live"
        )
        screen.view.selectRow(row)
        assert screen.status_label.text().startswith("Live: idle, last check")
        assert "0 on the server" in screen.status_label.text()

        with mail_server.imap(mailbox.address) as client:  # not announced by IDLE: APPEND
            client.append("INBOX", raw_message(1, "appended order"))
        qtbot.waitUntil(lambda: count(demo_db) == 1, timeout=5000)
        qtbot.waitUntil(lambda: events.states[channel_id].state == "idle", timeout=5000)
        before = events.states[channel_id].last_check
        qtbot.wait(300)  # nothing new arrives: with an hour's interval no pass would run
        assert events.states[channel_id].last_check == before
        qtbot.mouseClick(screen.check_now_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: events.states[channel_id].last_check != before, timeout=3000)
        assert "1 already stored" in screen.status_label.text()
    finally:
        events.stop()
    qtbot.waitUntil(
        lambda: "stopped" in window.channel_status.labels[channel_id].text(), timeout=5000
    )


def test_a_workstation_started_while_the_database_is_away_retrieves_within_2_s_of_its_return(  # type: ignore[no-untyped-def]
    qtbot, mail_server, mailbox, postgres_server, postgres_url, secrets
):
    """The channels are read again every 0.5 s while the database cannot be reached, not
    every 30 s (that is for bugs)."""
    db = Database(postgres_url)
    migrate.upgrade(db)
    demo.seed(db)
    make_channel(db, mail_server, mailbox, secrets, name="Workstation")
    mail_server.deliver(mailbox.address, raw_message(1))
    db.dispose()
    events = ChannelEvents(db, secrets)
    postgres_server.stop()
    try:
        events.start()
        qtbot.wait(3000)  # tried again and again meanwhile
        postgres_server.start()
        back = time.monotonic()
        qtbot.waitUntil(lambda: count(db) == 1, timeout=10000)
        took = time.monotonic() - back
        print(f"workstation: retrieved {took:.2f} s after the database's return")
        assert took < 2
    finally:
        postgres_server.start()
        events.stop()
        settle_operations()
        db.dispose()
