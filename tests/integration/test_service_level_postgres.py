"""The service level's SQL on PostgreSQL: the hand-computed cases of the unit tests
(tests/unit/test_service_level.py) run again against a real server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.unit.test_service_level import (
    Org,
    make_org,
    test_a_day_when_daylight_saving_begins_has_23_hours,
    test_a_day_when_daylight_saving_ends_has_25_hours,
    test_a_long_range_is_fine,
    test_answered_at_exactly_the_period_counts_within,
    test_days_end_at_local_midnight_not_utc,
    test_every_email_status_counts_by_its_first_reply,
    test_json_has_stable_snake_case_keys,
    test_nothing_counts_while_everything_is_within_its_period,
    test_one_query_groups_a_thousand_emails,
    test_quarantined_emails_and_emails_without_campaign_do_not_count,
    test_service_level_per_campaign_and_overall,
    test_today_is_the_organisations_day,
    test_waiting_counts_only_beyond_the_period,
)

pytestmark = pytest.mark.server

__all__ = [
    "test_a_day_when_daylight_saving_begins_has_23_hours",
    "test_a_day_when_daylight_saving_ends_has_25_hours",
    "test_a_long_range_is_fine",
    "test_answered_at_exactly_the_period_counts_within",
    "test_days_end_at_local_midnight_not_utc",
    "test_every_email_status_counts_by_its_first_reply",
    "test_json_has_stable_snake_case_keys",
    "test_nothing_counts_while_everything_is_within_its_period",
    "test_one_query_groups_a_thousand_emails",
    "test_quarantined_emails_and_emails_without_campaign_do_not_count",
    "test_service_level_per_campaign_and_overall",
    "test_today_is_the_organisations_day",
    "test_waiting_counts_only_beyond_the_period",
]


@pytest.fixture
def sydney(postgres_url: str) -> Iterator[Org]:
    yield from make_org(postgres_url, "Australia/Sydney")


@pytest.fixture
def utc(postgres_url: str) -> Iterator[Org]:
    yield from make_org(postgres_url, "UTC")
