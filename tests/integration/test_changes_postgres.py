"""Changes reach other workstations within 2 s on PostgreSQL (LISTEN/NOTIFY), also after
the database server was restarted; and taking stays atomic there."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text

from app.db.engine import Database
from app.services.changes import ChangeFeed
from app.services.work import WorkService
from tests.conftest import actor_of, settle_operations
from tests.ui.keyboard import click
from tests.waiting import wait_for
from tests.work_data import add_email

pytestmark = pytest.mark.server


def test_a_change_on_another_workstation_is_noticed_within_2_s(pg_demo, postgres_server) -> None:  # type: ignore[no-untyped-def]
    feed = ChangeFeed(pg_demo)
    feed.start()
    try:
        assert wait_for(lambda: feed.listening, 10)
        other = Database(pg_demo.url)  # another workstation: its own engine and connections
        before = feed.token()
        add_email(other, "Orders")
        started = time.monotonic()
        assert wait_for(lambda: feed.token() != before, 2)
        assert time.monotonic() - started < 2

        # The token costs no query while listening: it stays put when nothing happens.
        quiet = feed.token()
        time.sleep(1.2)
        assert feed.token() == quiet

        postgres_server.restart()  # the listening connection is cut off
        assert wait_for(lambda: not feed.listening, 10)
        assert wait_for(lambda: feed.listening, 30), "did not listen again after the restart"
        other.dispose()
        other = Database(pg_demo.url)
        before = feed.token()
        WorkService(other, actor_of(other, "alice")).take_next()
        assert wait_for(lambda: feed.token() != before, 2)
        other.dispose()
    finally:
        feed.stop()


def test_take_next_on_postgresql_skips_locked_rows(pg_demo) -> None:  # type: ignore[no-untyped-def]
    ids = [add_email(pg_demo, "Orders") for _ in range(3)]
    alice = WorkService(pg_demo, actor_of(pg_demo, "alice"))
    bob = WorkService(pg_demo, actor_of(pg_demo, "bob"))
    # Alice's transaction holds the oldest row locked (as if mid-take): Bob gets the next
    # one at once instead of waiting.
    with pg_demo.session() as s:
        s.execute(text("SELECT id FROM emails WHERE id = :id FOR UPDATE"), {"id": ids[0]})
        started = time.monotonic()
        assert bob.take_next() == ids[1]
        assert time.monotonic() - started < 1
    assert alice.take_next() == ids[0]
    assert bob.take_next() == ids[2]
    assert alice.take_next() is None


def test_the_workspace_shows_reconnecting_and_carries_on(  # type: ignore[no-untyped-def]
    qtbot, pg_demo, postgres_server, make_ctx, answers
) -> None:
    """The database goes away while an agent is typing: the window says it is reconnecting,
    nothing typed is lost, and once the database is back the reply is sent and a new email
    shows up in the queues."""
    from PySide6.QtWidgets import QApplication

    from app.db.models import Email, EmailStatus
    from app.ui.main_window import MainWindow
    from app.ui.my_work import MyWorkScreen

    first = add_email(pg_demo, "General Enquiries")
    ctx = make_ctx(pg_demo, actor_of(pg_demo, "alice"))
    feed = ChangeFeed(pg_demo)
    ctx.change_feed = feed
    feed.start()
    window = MainWindow(ctx)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    try:
        screen = window.tabs.currentWidget()
        assert isinstance(screen, MyWorkScreen)
        qtbot.waitUntil(lambda: feed.listening, timeout=10_000)
        click(qtbot, screen.take_next_button)
        assert screen.editor.email_id == first
        screen.editor.body_edit.setPlainText("Our shop opens at nine.")

        postgres_server.stop()
        qtbot.waitUntil(lambda: window.database_label.isVisible(), timeout=10_000)
        assert window.database_label.text() == "Reconnecting to the database…"
        qtbot.waitUntil(
            lambda: "Reconnecting to the database" in screen.status.text(), timeout=5000
        )
        screen.editor.send()  # refused while the database is away ...
        settle_operations()
        assert "cannot be reached" in screen.editor.banner.text()
        assert screen.editor.email_id == first
        assert screen.editor.body_edit.toPlainText() == "Our shop opens at nine."  # ... kept

        postgres_server.start()
        qtbot.waitUntil(lambda: not window.database_label.isVisible(), timeout=30_000)
        qtbot.waitUntil(lambda: "again" in screen.status.text(), timeout=5000)
        other = Database(pg_demo.url)  # another workstation adds work meanwhile
        second = add_email(other, "Orders")
        other.dispose()
        qtbot.waitUntil(
            lambda: any(q.title == "Orders" and q.waiting == 1 for q in screen.queue_model.rows()),
            timeout=3000,
        )
        screen.editor.send()
        settle_operations()
        assert screen.editor.email_id != first
        with pg_demo.session() as s:
            assert s.get_one(Email, first).status == EmailStatus.ACTIONED
            assert s.get_one(Email, second).status == EmailStatus.QUEUED
        assert QApplication.instance() is not None
    finally:
        window.close()
        feed.stop()
