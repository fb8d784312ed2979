"""The service level report against figures worked out by hand.

Australia/Sydney is UTC+11 in summer (AEDT, October to April) and UTC+10 in winter (AEST).
Daylight saving ended on 2026-04-05 (03:00 AEDT became 02:00 AEST: a 25-hour day) and
began on 2026-10-04 (02:00 AEST became 03:00 AEDT: a 23-hour day).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert

from app.db import migrate
from app.db.engine import Database
from app.db.models import Campaign, CampaignGroup, Email, EmailStatus, Organisation, Role
from app.services.auth import Actor
from app.services.errors import PermissionDenied, ValidationError
from app.services.service_level import ServiceLevelReport, ServiceLevelService

SUPERVISOR = Actor(user_id=None, login="sam", display_name="Sam Supervisor", role=Role.SUPERVISOR)
AGENT = Actor(user_id=None, login="alice", display_name="Alice Agent", role=Role.AGENT)
S = timedelta(seconds=1)
US = timedelta(microseconds=1)


@dataclass
class Org:
    db: Database
    orders: int  # period 180 s
    returns: int  # period 600 s
    quiet: int  # period 60 s, no emails

    def add(
        self,
        campaign: int | None,
        received: datetime,
        replied_after: timedelta | None = None,
        status: EmailStatus = EmailStatus.QUEUED,
    ) -> None:
        with self.db.session() as s:
            s.execute(
                insert(Email),
                [
                    {
                        "campaign_id": campaign,
                        "status": status,
                        "received_at": received,
                        "queued_at": received,
                        "first_reply_at": None
                        if replied_after is None
                        else received + replied_after,
                        "raw": b"",
                    }
                ],
            )

    def report(
        self, first: date, last: date | None = None, now: datetime | None = None
    ) -> ServiceLevelReport:
        return ServiceLevelService(self.db, SUPERVISOR).report(
            first, last or first, now or datetime(2027, 1, 1, tzinfo=UTC)
        )


def make_org(url: str, timezone: str) -> Iterator[Org]:
    """Three campaigns in an empty database at ``url`` (tests/integration reuses this
    module's tests on PostgreSQL)."""
    db = Database(url)
    migrate.upgrade(db)
    with db.session() as s:
        s.add(Organisation(id=1, timezone=timezone))
        group = CampaignGroup(name="Customer Service")
        s.add(group)
        s.flush()
        campaigns = [
            Campaign(title=title, group_id=group.id, service_level_period=period)
            for title, period in (("Orders", 180), ("Returns", 600), ("Quiet", 60))
        ]
        s.add_all(campaigns)
        s.flush()
        ids = [c.id for c in campaigns]
    yield Org(db, *ids)
    db.dispose()


@pytest.fixture
def sydney(tmp_path: Path) -> Iterator[Org]:
    yield from make_org(f"sqlite:///{tmp_path / 'sl.sqlite3'}", "Australia/Sydney")


@pytest.fixture
def utc(tmp_path: Path) -> Iterator[Org]:
    yield from make_org(f"sqlite:///{tmp_path / 'sl.sqlite3'}", "UTC")


def counts(report: ServiceLevelReport, title: str) -> tuple[int, int, int]:
    row = next(r for r in report.rows if r.campaign == title)
    return row.answered, row.answered_within, row.waiting_beyond


# ---- the day boundaries ----------------------------------------------------------------


def test_days_end_at_local_midnight_not_utc(sydney: Org) -> None:
    # 12:30 UTC is 23:30 on the 26th in Sydney; 13:30 UTC is 00:30 on the 27th.
    sydney.add(sydney.orders, datetime(2026, 11, 26, 12, 30, tzinfo=UTC), 60 * S)
    sydney.add(sydney.orders, datetime(2026, 11, 26, 13, 30, tzinfo=UTC), 60 * S)
    # The first minute of the 26th and the last microsecond before it.
    sydney.add(sydney.orders, datetime(2026, 11, 25, 13, 0, tzinfo=UTC), 60 * S)
    sydney.add(sydney.orders, datetime(2026, 11, 25, 13, 0, tzinfo=UTC) - US, 60 * S)

    day26 = sydney.report(date(2026, 11, 26))
    assert counts(day26, "Orders") == (2, 2, 0)
    assert day26.start.isoformat() == "2026-11-26T00:00:00+11:00"
    assert day26.end.isoformat() == "2026-11-27T00:00:00+11:00"
    assert day26.start.astimezone(UTC) == datetime(2026, 11, 25, 13, 0, tzinfo=UTC)
    assert counts(sydney.report(date(2026, 11, 27)), "Orders") == (1, 1, 0)
    assert counts(sydney.report(date(2026, 11, 25)), "Orders") == (1, 1, 0)
    assert counts(sydney.report(date(2026, 11, 25), date(2026, 11, 27)), "Orders") == (4, 4, 0)


def test_a_day_when_daylight_saving_begins_has_23_hours(sydney: Org) -> None:
    # 4 October 2026 starts at 00:00 AEST (14:00 UTC on the 3rd) and ends at 00:00 AEDT
    # (13:00 UTC on the 4th).
    sydney.add(sydney.orders, datetime(2026, 10, 3, 14, 30, tzinfo=UTC), 60 * S)  # 00:30 on the 4th
    sydney.add(sydney.orders, datetime(2026, 10, 4, 12, 30, tzinfo=UTC), 60 * S)  # 23:30 on the 4th
    sydney.add(sydney.orders, datetime(2026, 10, 4, 13, 30, tzinfo=UTC), 60 * S)  # 00:30 on the 5th
    report = sydney.report(date(2026, 10, 4))
    # (aware datetimes of one zone subtract as wall-clock times: compare in UTC)
    assert report.end.astimezone(UTC) - report.start.astimezone(UTC) == timedelta(hours=23)
    assert report.start.astimezone(UTC) == datetime(2026, 10, 3, 14, 0, tzinfo=UTC)
    assert report.end.astimezone(UTC) == datetime(2026, 10, 4, 13, 0, tzinfo=UTC)
    assert counts(report, "Orders") == (2, 2, 0)
    assert counts(sydney.report(date(2026, 10, 5)), "Orders") == (1, 1, 0)


def test_a_day_when_daylight_saving_ends_has_25_hours(sydney: Org) -> None:
    # 5 April 2026 starts at 00:00 AEDT (13:00 UTC on the 4th) and ends at 00:00 AEST
    # (14:00 UTC on the 5th): 13:30 UTC on the 5th is still 23:30 that day.
    sydney.add(sydney.returns, datetime(2026, 4, 5, 13, 30, tzinfo=UTC))
    sydney.add(sydney.returns, datetime(2026, 4, 5, 14, 0, tzinfo=UTC))  # 00:00 on the 6th
    report = sydney.report(date(2026, 4, 5))
    # (aware datetimes of one zone subtract as wall-clock times: compare in UTC)
    assert report.end.astimezone(UTC) - report.start.astimezone(UTC) == timedelta(hours=25)
    assert counts(report, "Returns") == (0, 0, 1)
    assert counts(sydney.report(date(2026, 4, 6)), "Returns") == (0, 0, 1)


# ---- the clock ---------------------------------------------------------------------------


def test_answered_at_exactly_the_period_counts_within(utc: Org) -> None:
    day = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    utc.add(utc.orders, day, 180 * S)  # exactly the period: within
    utc.add(utc.orders, day, 180 * S + US)  # a microsecond late
    utc.add(utc.orders, day, 179 * S)
    utc.add(utc.orders, day, 0 * S)
    # A fraction SQLite's date functions would round up into the next second.
    utc.add(utc.orders, day + timedelta(microseconds=999_700), 180 * S)
    utc.add(utc.orders, day + timedelta(microseconds=999_700), 180 * S + US)
    utc.add(utc.orders, day + timedelta(microseconds=999_700), 180 * S + 400 * US)
    # Answered long after: still answered, not within.
    utc.add(utc.orders, day, timedelta(days=3))
    assert counts(utc.report(date(2026, 11, 26)), "Orders") == (8, 4, 0)


def test_waiting_counts_only_beyond_the_period(utc: Org) -> None:
    arrived = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    now = arrived + 180 * S
    for age in (179 * S, 180 * S, 180 * S - US, 180 * S + US, 181 * S, timedelta(hours=5)):
        utc.add(utc.orders, now - age)
    utc.add(utc.orders, now + 5 * S)  # arrived after "now" (another workstation's clock)
    report = utc.report(date(2026, 11, 26), now=now)
    # Beyond: 180 s + 1 µs, 181 s and 5 hours; 179 s, 180 s and under 180 s may still be
    # answered in time and count for neither side.
    assert counts(report, "Orders") == (0, 0, 3)
    assert report.rows[0].service_level == 0.0
    # Half a second later the one of exactly 180 s and the one just under it have waited too long.
    later = utc.report(date(2026, 11, 26), now=now + S / 2)
    assert counts(later, "Orders") == (0, 0, 5)


def test_service_level_per_campaign_and_overall(utc: Org) -> None:
    day = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    now = day + timedelta(hours=1)
    # Orders (180 s): 3 within, 1 late, 2 waiting beyond, 1 waiting within the period.
    for after in (10 * S, 100 * S, 180 * S, 200 * S):
        utc.add(utc.orders, day, after, EmailStatus.ACTIONED)
    utc.add(utc.orders, day)
    utc.add(utc.orders, day + 30 * timedelta(minutes=1))
    utc.add(utc.orders, now - 60 * S)
    # Returns (600 s): 1 within.
    utc.add(utc.returns, day, 600 * S, EmailStatus.ACTIONED)

    report = utc.report(date(2026, 11, 26), now=now)
    assert [r.campaign for r in report.rows] == ["Orders", "Quiet", "Returns"]
    orders, quiet, returns = report.rows
    assert (orders.answered, orders.answered_within, orders.waiting_beyond) == (4, 3, 2)
    assert orders.period == 180
    assert orders.service_level == pytest.approx(50.0)  # 3 / (4 + 2)
    assert (returns.answered, returns.answered_within, returns.waiting_beyond) == (1, 1, 0)
    assert returns.service_level == pytest.approx(100.0)
    # A campaign with nothing to count has no service level (not 0 %, not 100 %).
    assert (quiet.answered, quiet.answered_within, quiet.waiting_beyond) == (0, 0, 0)
    assert quiet.service_level is None
    # Overall: the sums, 4 / (5 + 2) = 57.14 %, not the mean of 50 % and 100 %.
    overall = report.overall
    assert overall.campaign_id is None
    assert (overall.answered, overall.answered_within, overall.waiting_beyond) == (5, 4, 2)
    assert overall.service_level == pytest.approx(400 / 7)


def test_nothing_counts_while_everything_is_within_its_period(utc: Org) -> None:
    arrived = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    utc.add(utc.orders, arrived)
    report = utc.report(date(2026, 11, 26), now=arrived + 60 * S)
    assert counts(report, "Orders") == (0, 0, 0)
    assert report.rows[0].service_level is None
    assert report.overall.service_level is None


def test_quarantined_emails_and_emails_without_campaign_do_not_count(utc: Org) -> None:
    day = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    utc.add(utc.orders, day, 10 * S, EmailStatus.ACTIONED)
    utc.add(utc.orders, day, None, EmailStatus.QUARANTINED)  # released later, say
    utc.add(None, day, None, EmailStatus.QUARANTINED)
    utc.add(None, day, 10 * S, EmailStatus.ACTIONED)
    report = utc.report(date(2026, 11, 26))
    assert counts(report, "Orders") == (1, 1, 0)
    assert (report.overall.answered, report.overall.waiting_beyond) == (1, 0)


def test_every_email_status_counts_by_its_first_reply(utc: Org) -> None:
    day = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    # Re-opened after a reply (queued again) still has its first reply.
    utc.add(utc.orders, day, 10 * S, EmailStatus.QUEUED)
    utc.add(utc.orders, day, None, EmailStatus.ASSIGNED)
    utc.add(utc.orders, day, None, EmailStatus.DRAFT)
    assert counts(utc.report(date(2026, 11, 26)), "Orders") == (1, 1, 2)


# ---- today, JSON, errors ----------------------------------------------------------------


def test_today_is_the_organisations_day(sydney: Org) -> None:
    sydney.add(sydney.orders, datetime(2026, 11, 26, 12, 0, tzinfo=UTC), 60 * S)  # 23:00 on 26th
    sydney.add(sydney.orders, datetime(2026, 11, 26, 13, 10, tzinfo=UTC), 60 * S)  # 00:10 on 27th
    service = ServiceLevelService(sydney.db, SUPERVISOR)
    now = datetime(2026, 11, 26, 13, 30, tzinfo=UTC)  # 00:30 on the 27th in Sydney
    assert service.local_today(now) == date(2026, 11, 27)
    report = service.today(now)
    assert (report.first_day, report.last_day) == (date(2026, 11, 27), date(2026, 11, 27))
    assert counts(report, "Orders") == (1, 1, 0)
    assert report.timezone == "Australia/Sydney"


def test_json_has_stable_snake_case_keys(utc: Org) -> None:
    day = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    utc.add(utc.orders, day, 10 * S)
    utc.add(utc.orders, day, 400 * S)
    utc.add(utc.orders, day)
    data = utc.report(date(2026, 11, 26), now=day + timedelta(hours=1)).to_json()
    assert data == {
        "first_day": "2026-11-26",
        "last_day": "2026-11-26",
        "timezone": "UTC",
        "start": "2026-11-26T00:00:00+00:00",
        "end": "2026-11-27T00:00:00+00:00",
        "as_of": "2026-11-26T10:00:00+00:00",
        "campaigns": [
            {
                "campaign": "Orders",
                "service_level_period": 180,
                "answered": 2,
                "answered_within": 1,
                "waiting_beyond": 1,
                "service_level": 33.33,
            },
            {
                "campaign": "Quiet",
                "service_level_period": 60,
                "answered": 0,
                "answered_within": 0,
                "waiting_beyond": 0,
                "service_level": None,
            },
            {
                "campaign": "Returns",
                "service_level_period": 600,
                "answered": 0,
                "answered_within": 0,
                "waiting_beyond": 0,
                "service_level": None,
            },
        ],
        "overall": {
            "campaign": None,
            "service_level_period": None,
            "answered": 2,
            "answered_within": 1,
            "waiting_beyond": 1,
            "service_level": 33.33,
        },
    }


def test_last_day_before_first_day_names_the_field(utc: Org) -> None:
    with pytest.raises(ValidationError) as info:
        utc.report(date(2026, 11, 26), date(2026, 11, 25))
    assert info.value.field == "To"
    assert "2026-11-25" in info.value.message and "2026-11-26" in info.value.message


def test_a_long_range_is_fine(utc: Org) -> None:
    utc.add(utc.orders, datetime(2001, 1, 1, tzinfo=UTC), 1 * S)
    utc.add(utc.orders, datetime(2026, 11, 26, tzinfo=UTC), 1 * S)
    report = utc.report(date(2000, 1, 1), date(2099, 12, 31))
    assert counts(report, "Orders") == (2, 2, 0)


def test_now_must_be_aware(utc: Org) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ServiceLevelService(utc.db, SUPERVISOR).today(datetime(2026, 11, 26, 9, 0))


def test_agents_may_not_see_the_service_level(utc: Org) -> None:
    service = ServiceLevelService(utc.db, AGENT)
    with pytest.raises(PermissionDenied, match="Alice Agent"):
        service.report(date(2026, 11, 26), date(2026, 11, 26))
    with pytest.raises(PermissionDenied):
        service.today()


def test_administrators_may(utc: Org) -> None:
    admin = Actor(user_id=None, login="admin", display_name="Ada", role=Role.ADMINISTRATOR)
    assert len(ServiceLevelService(utc.db, admin).today().rows) == 3


def test_one_query_groups_a_thousand_emails(utc: Org) -> None:
    """The counting happens in SQL: the statement returns one row per campaign."""
    day = datetime(2026, 11, 26, tzinfo=UTC)
    rows = [
        {
            "campaign_id": (utc.orders, utc.returns)[i % 2],
            "status": EmailStatus.ACTIONED,
            "received_at": day + i * S,
            "queued_at": day + i * S,
            "first_reply_at": day + i * S + (i % 4) * 100 * S,
            "raw": b"",
        }
        for i in range(1000)
    ]
    with utc.db.session() as s:
        s.execute(insert(Email), rows)
    statements: list[str] = []

    from sqlalchemy import event

    def record(_conn, _cursor, statement, *_args):  # type: ignore[no-untyped-def]
        if "emails" in statement:
            statements.append(statement)

    event.listen(utc.db.engine, "before_cursor_execute", record)
    try:
        report = utc.report(date(2026, 11, 26))
    finally:
        event.remove(utc.db.engine, "before_cursor_execute", record)
    assert len(statements) == 1 and "GROUP BY" in statements[0]
    # Orders (even i, 180 s): delays 0 and 200 s alternate -> 250 of 500 within.
    # Returns (odd i, 600 s): delays 100 and 300 s -> all 500 within.
    assert counts(report, "Orders") == (500, 250, 0)
    assert counts(report, "Returns") == (500, 500, 0)
