"""``email-campaigns report service-level``: JSON, the readable table, dates and errors."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert, select

from app.cli import main
from app.db.engine import Database
from app.db.models import Campaign, Email, EmailStatus

SYDNEY = ZoneInfo("Australia/Sydney")


@pytest.fixture
def url(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """The demo organisation (Australia/Sydney) with emails of 10 March 2026, which are
    long past: unanswered ones have waited beyond any period."""
    url = f"sqlite:///{tmp_path / 'report.sqlite3'}"
    assert main(["--database", url, "demo"]) == 0
    capsys.readouterr()
    db = Database(url)
    with db.session() as s:
        ids = {title: id_ for title, id_ in s.execute(select(Campaign.title, Campaign.id))}
        # 10 March local (AEDT, UTC+11) runs from 13:00 UTC on the 9th to 13:00 UTC on the 10th.
        start = datetime(2026, 3, 9, 13, 0, tzinfo=UTC)
        emails = [
            ("Orders", start, 180),  # exactly the period (Orders: 180 s)
            ("Orders", start + timedelta(hours=5), 181),
            ("Orders", start + timedelta(hours=6), None),
            ("Returns", start + timedelta(hours=23, minutes=59), 10),  # 23:59 local
            ("Returns", start + timedelta(hours=24), 10),  # 00:00 on the 11th
            ("Returns", start - timedelta(minutes=1), None),  # 23:59 on the 9th
        ]
        s.execute(
            insert(Email),
            [
                {
                    "campaign_id": ids[title],
                    "status": EmailStatus.ACTIONED if after is not None else EmailStatus.QUEUED,
                    "received_at": received,
                    "queued_at": received,
                    "first_reply_at": None
                    if after is None
                    else received + timedelta(seconds=after),
                    "raw": b"",
                }
                for title, received, after in emails
            ],
        )
    db.dispose()
    return url


def run_json(url: str, capsys: pytest.CaptureFixture[str], *args: str) -> dict:  # type: ignore[type-arg]
    assert main(["--database", url, "report", "service-level", "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def by_title(data: dict) -> dict:  # type: ignore[type-arg]
    return {c["campaign"]: c for c in data["campaigns"]}


def test_json_for_one_day(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    data = run_json(url, capsys, "--from", "2026-03-10", "--to", "2026-03-10")
    assert set(data) == {
        "first_day",
        "last_day",
        "timezone",
        "start",
        "end",
        "as_of",
        "campaigns",
        "overall",
    }
    assert (data["first_day"], data["last_day"]) == ("2026-03-10", "2026-03-10")
    assert data["timezone"] == "Australia/Sydney"
    assert data["start"] == "2026-03-10T00:00:00+11:00"
    assert data["end"] == "2026-03-11T00:00:00+11:00"
    campaigns = by_title(data)
    assert len(campaigns) == 6  # every campaign, with emails or not
    assert campaigns["Orders"] == {
        "campaign": "Orders",
        "service_level_period": 180,
        "answered": 2,
        "answered_within": 1,
        "waiting_beyond": 1,
        "service_level": 33.33,
    }
    assert campaigns["Returns"]["answered"] == 1
    assert campaigns["Returns"]["service_level"] == 100.0
    assert campaigns["Complaints"]["service_level"] is None
    assert data["overall"] == {
        "campaign": None,
        "service_level_period": None,
        "answered": 3,
        "answered_within": 2,
        "waiting_beyond": 1,
        "service_level": 50.0,
    }


def test_json_for_a_range(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    campaigns = by_title(run_json(url, capsys, "--from", "2026-03-09", "--to", "2026-03-11"))
    returns = campaigns["Returns"]
    assert (returns["answered"], returns["answered_within"], returns["waiting_beyond"]) == (2, 2, 1)
    # --from alone: from that day to today.
    data = run_json(url, capsys, "--from", "2026-03-11")
    assert data["first_day"] == "2026-03-11"
    assert by_title(data)["Returns"]["answered"] == 1


def test_default_is_today_in_the_organisations_time_zone(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = datetime.now(SYDNEY).date()
    data = run_json(url, capsys)
    after = datetime.now(SYDNEY).date()
    assert data["first_day"] == data["last_day"]
    assert date.fromisoformat(data["first_day"]) in {before, after}
    assert data["overall"]["answered"] == 0
    # --to alone: just that day.
    data = run_json(url, capsys, "--to", "2026-03-10")
    assert (data["first_day"], data["last_day"]) == ("2026-03-10", "2026-03-10")


def test_readable_table(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--database", url, "report", "service-level", "--from", "2026-03-10"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("Service level for 2026-03-10 to ")
    assert "(Australia/Sydney)" in lines[0]
    assert lines[1].split()[:2] == ["Campaign", "Period"]
    orders = next(line for line in lines if line.startswith("Orders "))
    assert orders.split() == ["Orders", "180", "s", "2", "1", "1", "33.3", "%"]
    complaints = next(line for line in lines if line.startswith("Complaints "))
    assert complaints.split()[-1] == "-"
    # The range reaches today: the Returns email of the 11th counts too.
    assert lines[-1].split() == ["Overall", "4", "3", "1", "60.0", "%"]


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--from", "2026-02-30"], "--from"),
        (["--to", "10/03/2026"], "--to"),
        (["--from", ""], "--from"),
    ],
)
def test_a_bad_date_names_the_option(
    url: str, capsys: pytest.CaptureFixture[str], args: list[str], option: str
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--database", url, "report", "service-level", "--json", *args])
    assert info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"argument {option}:" in captured.err and "YYYY-MM-DD" in captured.err


def test_last_day_before_first_day(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["--database", url, "report", "service-level", "--from", "2026-03-10", "--to", "2026-03-09"]
    )
    assert code == 3
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("email-campaigns: error: --to: 2026-03-09 is before")
