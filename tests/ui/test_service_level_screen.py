"""Management ▸ Service Level as a supervisor sees it: today, a range, the chart, refreshing.

The demo organisation is in Australia/Sydney (UTC+11 in November): "today" at NOW is
27 November, which runs from 13:00 UTC on the 26th to 13:00 UTC on the 27th.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from PySide6.QtCore import QDate, Qt
from PySide6.QtGui import QFont
from sqlalchemy import insert, select, update

from app.db.engine import Database
from app.db.models import Campaign, Email, EmailStatus
from app.ui.operations import operations
from app.ui.service_level_screen import ServiceLevelScreen
from tests.conftest import actor_of
from tests.ui.keyboard import show_active

# Nothing of this screen may wait for the database on the GUI thread.

NOW = datetime(2026, 11, 27, 5, 0, tzinfo=UTC)  # 16:00 in Sydney
CAMPAIGNS = [
    "Complaints",
    "General Enquiries",
    "Größe – 5 € Aktion",
    "Orders",
    "Returns",
    "Sales Leads",
]


def add_email(
    db: Database, title: str, received: datetime, replied_after: int | None = None
) -> int:
    with db.session() as s:
        campaign = s.scalars(select(Campaign.id).where(Campaign.title == title)).one()
        return s.execute(
            insert(Email).returning(Email.id),
            {
                "campaign_id": campaign,
                "status": EmailStatus.QUEUED if replied_after is None else EmailStatus.ACTIONED,
                "received_at": received,
                "queued_at": received,
                "first_reply_at": None
                if replied_after is None
                else received + timedelta(seconds=replied_after),
                "raw": b"",
            },
        ).scalar_one()


@pytest.fixture
def fresh_email(demo_db: Database) -> int:
    """Today's figures: Orders 2 answered, 1 within, 1 waiting beyond (33.3 %); Returns 1
    within (100 %); overall 3, 2, 1 (50 %). Yesterday: one Complaints email answered in
    time. Returns the Orders email that arrived a minute ago (still within its period)."""
    add_email(demo_db, "Orders", NOW - timedelta(hours=2), 100)
    add_email(demo_db, "Orders", NOW - timedelta(hours=3), 300)
    add_email(demo_db, "Orders", NOW - timedelta(hours=1))
    fresh = add_email(demo_db, "Orders", NOW - timedelta(seconds=60))
    add_email(demo_db, "Returns", NOW - timedelta(hours=4), 200)
    add_email(demo_db, "Complaints", NOW - timedelta(days=1), 100)
    return fresh


def open_screen(qtbot, ctx, refresh_ms: int = 60_000) -> ServiceLevelScreen:  # type: ignore[no-untyped-def]
    screen = ServiceLevelScreen(ctx, clock=lambda: NOW, refresh_ms=refresh_ms)
    qtbot.addWidget(screen)
    screen.resize(1100, 760)
    screen.show()
    qtbot.waitExposed(screen)
    qtbot.waitUntil(lambda: screen.report is not None and not screen.busy)
    return screen


@pytest.fixture
def screen(qtbot, demo_db, supervisor, make_ctx, fresh_email) -> Iterator[ServiceLevelScreen]:  # type: ignore[no-untyped-def]
    widget = open_screen(qtbot, make_ctx(demo_db, supervisor))
    yield widget
    widget.refresh_timer.stop()
    # No query may outlive the test. pytest-qt may already have closed and deleted the
    # screen: a query still running then reports to nobody, and `busy` stays as it was.
    qtbot.waitUntil(lambda: operations().pending() == 0)


def table(screen: ServiceLevelScreen) -> list[list[str]]:
    model = screen.model
    return [
        [model.index(r, c).data() for c in range(model.columnCount())]
        for r in range(model.rowCount())
    ]


def row(screen: ServiceLevelScreen, title: str) -> list[str]:
    return next(r for r in table(screen) if r[0] == title)


def wait_for_days(qtbot, screen: ServiceLevelScreen, first: date, last: date) -> None:  # type: ignore[no-untyped-def]
    qtbot.waitUntil(
        lambda: (
            screen.report is not None
            and (screen.report.first_day, screen.report.last_day) == (first, last)
            and not screen.busy
        )
    )


# ---- today ------------------------------------------------------------------------------


def test_shows_todays_figures(screen: ServiceLevelScreen) -> None:
    model = screen.model
    headers = [model.headerData(c, Qt.Orientation.Horizontal) for c in range(model.columnCount())]
    assert headers == [
        "Campaign",
        "Answered",
        "Answered within period",
        "Waiting beyond period",
        "Service level (%)",
        "Period (s)",
    ]
    assert [r[0] for r in table(screen)] == [*CAMPAIGNS, "Overall"]
    assert row(screen, "Orders") == ["Orders", "2", "1", "1", "33.3", "180"]
    assert row(screen, "Returns") == ["Returns", "1", "1", "0", "100.0", "300"]
    # Yesterday's complaint is not today's.
    assert row(screen, "Complaints") == ["Complaints", "0", "0", "0", "–", "900"]
    assert "Nothing counts yet" in model.index(0, 4).data(Qt.ItemDataRole.ToolTipRole)
    assert screen.from_edit.date() == QDate(2026, 11, 27)
    assert screen.to_edit.date() == QDate(2026, 11, 27)
    heading = screen.heading.text()
    assert heading.startswith("Today, Fri 27 Nov 2026 (Australia/Sydney)")
    assert "<b>50.0 %</b>" in heading
    assert screen.updated_label.text() == "Updated 2026-11-27 16:00"
    assert not screen.error_label.isVisible()


def test_the_overall_row_is_last_and_bold(screen: ServiceLevelScreen, qtmodeltester) -> None:  # type: ignore[no-untyped-def]
    model = screen.model
    last = model.rowCount() - 1
    assert table(screen)[last] == ["Overall", "3", "2", "1", "50.0", ""]
    font = model.index(last, 0).data(Qt.ItemDataRole.FontRole)
    assert isinstance(font, QFont) and font.bold()
    assert model.index(0, 0).data(Qt.ItemDataRole.FontRole) is None
    assert model.index(0, 1).data(Qt.ItemDataRole.TextAlignmentRole) & Qt.AlignmentFlag.AlignRight
    qtmodeltester.check(model)


def test_the_chart_has_one_bar_per_campaign(screen: ServiceLevelScreen) -> None:
    chart = screen.chart
    assert chart.bars.count() == len(CAMPAIGNS)
    # Bars run bottom-up: the first campaign is at the top, as in the table.
    labels = list(reversed(chart.categories.categories()))
    assert labels[0] == "Complaints (nothing counts yet)"
    assert labels[3] == "Orders (33.3 %)"
    values = {title: chart.bars.at(len(CAMPAIGNS) - 1 - i) for i, title in enumerate(CAMPAIGNS)}
    assert values["Orders"] == pytest.approx(100 / 3)
    assert values["Returns"] == 100.0
    assert values["Sales Leads"] == 0.0
    assert (chart.values.min(), chart.values.max()) == (0.0, 100.0)
    assert chart.chart_.title() == "Service level by campaign — overall 50.0 %"


# ---- a range ------------------------------------------------------------------------------


def test_choose_a_range_and_show(qtbot, screen: ServiceLevelScreen) -> None:  # type: ignore[no-untyped-def]
    screen.from_edit.setDate(QDate(2026, 11, 26))
    qtbot.mouseClick(screen.show_button, Qt.MouseButton.LeftButton)
    wait_for_days(qtbot, screen, date(2026, 11, 26), date(2026, 11, 27))
    assert row(screen, "Complaints") == ["Complaints", "1", "1", "0", "100.0", "900"]
    assert row(screen, "Overall") == ["Overall", "4", "3", "1", "60.0", ""]
    assert screen.heading.text().startswith(
        "Thu 26 Nov 2026 – Fri 27 Nov 2026 (Australia/Sydney): overall <b>60.0 %</b>"
    )
    # Only the 26th.
    screen.to_edit.setDate(QDate(2026, 11, 26))
    qtbot.mouseClick(screen.show_button, Qt.MouseButton.LeftButton)
    wait_for_days(qtbot, screen, date(2026, 11, 26), date(2026, 11, 26))
    assert row(screen, "Overall") == ["Overall", "1", "1", "0", "100.0", ""]
    # Back to today.
    qtbot.mouseClick(screen.today_button, Qt.MouseButton.LeftButton)
    wait_for_days(qtbot, screen, date(2026, 11, 27), date(2026, 11, 27))
    assert screen.from_edit.date() == QDate(2026, 11, 27)
    assert row(screen, "Overall") == ["Overall", "3", "2", "1", "50.0", ""]


def test_enter_in_a_date_field_shows_the_days(qtbot, screen: ServiceLevelScreen) -> None:  # type: ignore[no-untyped-def]
    show_active(qtbot, screen, 900, 500)
    screen.from_edit.setFocus()
    screen.from_edit.setDate(QDate(2026, 11, 26))
    qtbot.keyClick(screen.from_edit, Qt.Key.Key_Return)
    wait_for_days(qtbot, screen, date(2026, 11, 26), date(2026, 11, 27))
    assert row(screen, "Overall") == ["Overall", "4", "3", "1", "60.0", ""]
    screen.to_edit.setDate(QDate(2026, 11, 26))
    qtbot.keyClick(screen.to_edit, Qt.Key.Key_Enter)
    wait_for_days(qtbot, screen, date(2026, 11, 26), date(2026, 11, 26))


def test_a_last_day_before_the_first_is_explained_and_the_figures_stay(
    qtbot, screen: ServiceLevelScreen
) -> None:  # type: ignore[no-untyped-def]
    screen.from_edit.setDate(QDate(2026, 11, 27))
    screen.to_edit.setDate(QDate(2026, 11, 20))
    qtbot.mouseClick(screen.show_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: screen.error_label.isVisible() and not screen.busy)
    assert screen.error_label.text().startswith("To: 2026-11-20 is before the first day 2026-11-27")
    assert row(screen, "Overall") == ["Overall", "3", "2", "1", "50.0", ""]
    screen.to_edit.setDate(QDate(2026, 11, 27))
    qtbot.mouseClick(screen.show_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not screen.error_label.isVisible() and not screen.busy)


def test_the_date_fields_have_calendar_popups_and_labels(screen: ServiceLevelScreen) -> None:
    assert screen.from_edit.calendarPopup() and screen.to_edit.calendarPopup()
    assert screen.from_edit.displayFormat() == "yyyy-MM-dd"
    labels = {w.buddy(): w.text() for w in screen.findChildren(type(screen.heading)) if w.buddy()}
    assert labels[screen.from_edit] == "&From:" and labels[screen.to_edit] == "T&o:"


# ---- refreshing on its own ----------------------------------------------------------------


def test_refreshes_on_its_own_and_keeps_the_range(
    qtbot, demo_db, supervisor, make_ctx, fresh_email
) -> None:  # type: ignore[no-untyped-def]
    screen = open_screen(qtbot, make_ctx(demo_db, supervisor), refresh_ms=50)
    try:
        screen.from_edit.setDate(QDate(2026, 11, 26))
        qtbot.mouseClick(screen.show_button, Qt.MouseButton.LeftButton)
        wait_for_days(qtbot, screen, date(2026, 11, 26), date(2026, 11, 27))
        screen.view.selectRow(3)
        assert row(screen, "Orders") == ["Orders", "2", "1", "1", "33.3", "180"]
        # An agent answers the email that arrived a minute ago, 50 s after it arrived.
        with demo_db.session() as s:
            s.execute(
                update(Email)
                .where(Email.id == fresh_email)
                .values(first_reply_at=NOW - timedelta(seconds=10), status=EmailStatus.ACTIONED)
            )
        qtbot.waitUntil(lambda: row(screen, "Orders")[1] == "3", timeout=5000)
        assert row(screen, "Orders") == ["Orders", "3", "2", "1", "50.0", "180"]
        assert row(screen, "Overall") == ["Overall", "5", "4", "1", "66.7", ""]
        assert screen.chart.chart_.title().endswith("overall 66.7 %")
        # The user's range and selection survived the refresh.
        assert (screen.report.first_day, screen.report.last_day) == (  # type: ignore[union-attr]
            date(2026, 11, 26),
            date(2026, 11, 27),
        )
        assert screen.from_edit.date() == QDate(2026, 11, 26)
        assert [i.row() for i in screen.view.selectionModel().selectedRows()] == [3]
    finally:
        screen.refresh_timer.stop()
        qtbot.waitUntil(lambda: not screen.busy)


def test_stops_refreshing_while_hidden(qtbot, screen: ServiceLevelScreen) -> None:  # type: ignore[no-untyped-def]
    assert screen.refresh_timer.isActive()
    screen.hide()
    assert not screen.refresh_timer.isActive()
    screen.show()
    qtbot.waitExposed(screen)
    assert screen.refresh_timer.isActive()


# ---- who may see it --------------------------------------------------------------------------


def test_an_agent_sees_why_there_are_no_figures(qtbot, demo_db, make_ctx, fresh_email) -> None:  # type: ignore[no-untyped-def]
    screen = ServiceLevelScreen(make_ctx(demo_db, actor_of(demo_db, "alice")), clock=lambda: NOW)
    qtbot.addWidget(screen)
    screen.show()
    qtbot.waitUntil(lambda: screen.error_label.isVisible() and not screen.busy)
    assert "may not configure campaigns" in screen.error_label.text()
    assert screen.model.rowCount() == 0
    screen.refresh_timer.stop()


def test_a_slow_query_makes_the_refresh_less_frequent(
    qtbot, demo_db, supervisor, make_ctx, fresh_email
) -> None:  # type: ignore[no-untyped-def]
    screen = open_screen(qtbot, make_ctx(demo_db, supervisor), refresh_ms=1000)
    screen.refresh_timer.stop()
    report = screen.report
    assert report is not None
    # (The real first query may take over 0.1 s on a busy machine: start from a quick one.)
    screen._loaded(None, report, 0.01)
    assert screen.refresh_timer.interval() == 1000
    screen._loaded(None, report, 2.5)  # as if the query had taken 2.5 s
    assert screen.refresh_timer.interval() == 25_000
    screen._loaded(None, report, 0.01)
    assert screen.refresh_timer.interval() == 1000


def test_a_reply_sent_anywhere_shows_within_2_seconds(
    qtbot, demo_db, supervisor, make_ctx, fresh_email
) -> None:  # type: ignore[no-untyped-def]
    """Without waiting for the periodic refresh (a minute here): the change feed."""
    from app.db.models import History

    screen = open_screen(qtbot, make_ctx(demo_db, supervisor))  # refreshes every 60 s
    try:
        assert row(screen, "Orders")[1] == "2"
        other = Database(demo_db.url)  # the channel service of another machine sends it
        with other.session() as s:
            s.execute(
                update(Email)
                .where(Email.id == fresh_email)
                .values(first_reply_at=NOW - timedelta(seconds=10), status=EmailStatus.ACTIONED)
            )
            s.add(History(email_id=fresh_email, at=NOW, action="sent", detail="test"))
        other.dispose()
        qtbot.waitUntil(lambda: row(screen, "Orders")[1] == "3", timeout=2000)
    finally:
        screen.refresh_timer.stop()
        qtbot.waitUntil(lambda: not screen.busy)
