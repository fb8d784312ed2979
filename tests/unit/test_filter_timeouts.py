"""Hostile regular-expression filters (issue 11, item 5): a pattern that backtracks without
end never stalls retrieval. The issue's own input — a filter ``^(a+)+$`` and 41 'a's
followed by '!' — runs through real intake; a pattern that really does time out is refused
at save, and one saved before that check is given up on the email (which goes on to the next
filter), named in its History and counted for the channel."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import func, select

from app.channel_service.runner import ChannelState, RetrievalWorker
from app.channel_service.sync import SyncReport
from app.db.engine import Database
from app.db.models import Filter, FilterField, FilterMatch
from app.services.auth import SYSTEM
from app.services.channels import ChannelData, ChannelService, FilterData
from app.services.errors import ValidationError
from app.services.intake import Fetched, Intake
from tests.unit.test_intake import campaign_id, history_of, mail

ISSUE_PATTERN = r"^(a+)+$"  # Python's re takes 2**41 steps on HOSTILE: hours
HOSTILE = "a" * 41 + "!"
# This one the regex engine backtracks on too: it stands for any pattern that times out.
SLOW_PATTERN = r"^(a|aa)+$"


def ops_channel(db: Database) -> int:
    channels = ChannelService(db, SYSTEM)
    return channels.create_channel(
        ChannelData(
            name="Ops",
            email_address="ops@example.com",
            default_campaign_id=campaign_id(db, "General Enquiries"),
        )
    ).id


def saved_earlier(db: Database, channel: int, field: str, keyword: str, target: int) -> None:
    """A filter as a database from before the check at save may hold it."""
    with db.session() as s:
        top = s.scalar(select(func.max(Filter.priority)).where(Filter.channel_id == channel))
        s.add(
            Filter(
                channel_id=channel,
                priority=(top or 0) + 1,
                field=FilterField(field),
                match=FilterMatch.REGEX,
                keyword=keyword,
                campaign_id=target,
            )
        )


@pytest.mark.timeout(120)  # the old code never returns (a hang fails here, not a timing)
@pytest.mark.parametrize("field", ["subject", "body"])
def test_the_issues_filter_and_input_route_on_to_the_next_filter(demo_db, field) -> None:  # type: ignore[no-untyped-def]
    channels = ChannelService(demo_db, SYSTEM)
    channel = ops_channel(demo_db)
    returns, complaints = campaign_id(demo_db, "Returns"), campaign_id(demo_db, "Complaints")
    channels.add_filter(channel, FilterData(field, "regex", ISSUE_PATTERN, returns))
    channels.add_filter(channel, FilterData(field, "contains", "aaa!", complaints))
    intake = Intake(demo_db, channel)
    hostile, plain, other = intake.store(
        [
            Fetched("INBOX", 1, 1, mail(message_id="<1@x>", **{field: HOSTILE})),
            Fetched("INBOX", 1, 2, mail(message_id="<2@x>", **{field: "a" * 41})),
            Fetched("INBOX", 1, 3, mail(message_id="<3@x>", **{field: "Hello"})),
        ]
    )
    default = campaign_id(demo_db, "General Enquiries")
    assert hostile.campaign_id == complaints  # the next filter
    # the pattern still matches what it should (a body ends with its line break, "\r\n",
    # before which re's "$" does not match either)
    assert plain.campaign_id == (returns if field == "subject" else default)
    assert other.campaign_id == default
    assert hostile.timed_out == plain.timed_out == other.timed_out == ()


def test_a_pattern_that_times_out_is_refused_at_save(demo_db) -> None:  # type: ignore[no-untyped-def]
    channels = ChannelService(demo_db, SYSTEM)
    channel = ops_channel(demo_db)
    target = campaign_id(demo_db, "Returns")
    for field in ("subject", "body"):
        with pytest.raises(ValidationError) as refused:
            channels.add_filter(channel, FilterData(field, "regex", SLOW_PATTERN, target))
        assert refused.value.field == "Keyword"
        assert "backtracks" in str(refused.value)
    ok = channels.add_filter(channel, FilterData("body", "regex", ISSUE_PATTERN, target))
    with pytest.raises(ValidationError, match="backtracks"):
        channels.update_filter(ok.id, FilterData("body", "regex", SLOW_PATTERN, target))
    # valid patterns, unusual ones included, are kept
    for keyword in (r"\b(refund|return)\b", r"(?i)^re:\s*", r"(a+)+b", r"^\[#\d{4}\]", "x*"):
        channels.add_filter(channel, FilterData("subject", "regex", keyword, target))


@pytest.mark.timeout(120)
@pytest.mark.parametrize("field", ["subject", "body"])
def test_a_filter_that_times_out_is_skipped_named_in_history_and_counted(demo_db, field) -> None:  # type: ignore[no-untyped-def]
    channels = ChannelService(demo_db, SYSTEM)
    channel = ops_channel(demo_db)
    returns, complaints = campaign_id(demo_db, "Returns"), campaign_id(demo_db, "Complaints")
    saved_earlier(demo_db, channel, field, SLOW_PATTERN, returns)
    channels.add_filter(channel, FilterData(field, "contains", "aaa!", complaints))
    intake = Intake(demo_db, channel)
    hostile, plain = intake.store(
        [
            Fetched("INBOX", 1, 1, mail(message_id="<1@x>", **{field: HOSTILE})),
            Fetched("INBOX", 1, 2, mail(message_id="<2@x>", **{field: "aaaa"})),
        ]
    )
    name = f"{FilterField(field).label} regular expression '{SLOW_PATTERN}'"
    assert hostile.campaign_id == complaints and hostile.timed_out == (name,)
    expected = returns if field == "subject" else campaign_id(demo_db, "General Enquiries")
    assert plain.campaign_id == expected and plain.timed_out == ()  # (body: see above)
    routed = dict(history_of(demo_db, hostile.email_id))["routed"]
    assert routed.startswith("Routed by filter")
    assert f"filter {name} skipped: the regular expression took longer than" in routed


@pytest.mark.timeout(120)
def test_many_slow_filters_share_one_budget_and_the_email_reaches_the_default(demo_db) -> None:  # type: ignore[no-untyped-def]
    channel = ops_channel(demo_db)
    returns = campaign_id(demo_db, "Returns")
    slow = [f"^(a|aa)+{'$' * n}$" for n in range(1, 21)]  # 20 distinct slow filters
    for keyword in slow:
        saved_earlier(demo_db, channel, "body", keyword, returns)
    [stored] = Intake(demo_db, channel).store(
        [Fetched("INBOX", 1, 1, mail(message_id="<1@x>", body=HOSTILE))]
    )
    assert stored.campaign_id == campaign_id(demo_db, "General Enquiries")
    assert len(stored.timed_out) == 20  # the later ones without running: no time left


def test_the_channel_state_warns_until_the_filter_is_gone(demo_db) -> None:  # type: ignore[no-untyped-def]
    name = f"Body regular expression '{SLOW_PATTERN}'"
    report = SyncReport(channel="Ops", stored=3, timed_out=Counter({name: 2}), filters=(name,))
    assert f"filter {name} timed out on 2 emails" in report.summary()
    worker = RetrievalWorker.__new__(RetrievalWorker)  # its warning alone: no thread, no lease
    worker.timed_out = Counter()
    warning = worker.filter_warning(report)
    assert warning is not None and f"filter {name} timed out on 2 emails" in warning
    again = SyncReport(channel="Ops", timed_out=Counter({name: 1}), filters=(name,))
    assert "timed out on 3 emails" in (worker.filter_warning(again) or "")
    state = ChannelState(1, "Ops", state="idle", warning=warning)
    assert state.describe().startswith("Ops: idle — warning: filter Body regular expression")
    assert worker.filter_warning(SyncReport(channel="Ops", filters=())) is None  # changed
