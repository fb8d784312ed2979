"""The service level of each campaign and overall, for a day or a range of days.

Definitions (docs/service-level.md says the same for users of ``report service-level``):

* The report covers whole days in the organisation's time zone (``Organisation.timezone``):
  from the start of the first day up to, not including, the start of the day after the last
  day. Day boundaries follow daylight saving time, so a day may last 23 or 25 hours.
* An email counts for the period when it *arrived* (``received_at``) in it, belongs to a
  campaign and is not quarantined.
* ``answered``: it has a first sent reply (``first_reply_at`` is set).
* ``answered_within``: answered, and ``first_reply_at - received_at`` is at most the
  campaign's Service Level Period (whole seconds): a reply exactly at the period counts.
* ``waiting_beyond``: not answered, and it has waited longer than the period at ``now``
  (``now - received_at > period``).
* ``service_level = 100 × answered_within ÷ (answered + waiting_beyond)``; ``None`` when
  nothing counts (the divisor is 0). Unanswered emails still within their period count for
  neither side: they may yet be answered in time.
* The overall row adds up the campaigns' counts and computes its service level from the sums
  (it is not the mean of the campaigns' percentages).
* A campaign's *current* Service Level Period is used for every email of the period.

The counting is one SQL statement: campaigns left-joined to their emails of the period and
grouped by campaign, so a database of a million emails is never read into Python. On
SQLite, times are compared as whole microseconds computed from the stored text (SQLite's
own date functions keep only milliseconds); on PostgreSQL with interval arithmetic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import ColumnElement, Integer, and_, case, cast, func, literal, select

from app.db.functions import folded
from app.db.models import Campaign, Email, EmailStatus, Organisation
from app.services.auth import Permission
from app.services.base import Service
from app.services.errors import ServiceError, ValidationError

PERMISSION = Permission.CONFIGURE_CAMPAIGNS
FROM_FIELD = "From"
TO_FIELD = "To"
_MICROSECONDS = 1_000_000


@dataclass(frozen=True)
class ServiceLevelRow:
    """The counts of one campaign (or, with ``campaign_id`` None, of all of them)."""

    campaign_id: int | None
    campaign: str
    period: int | None  # the campaign's Service Level Period in seconds; None overall
    answered: int
    answered_within: int
    waiting_beyond: int

    @property
    def counted(self) -> int:
        """The divisor: answered plus waiting beyond the period."""
        return self.answered + self.waiting_beyond

    @property
    def service_level(self) -> float | None:
        """The percentage (0–100), or None when nothing counts."""
        if self.counted == 0:
            return None
        return 100.0 * self.answered_within / self.counted

    def to_json(self) -> dict[str, Any]:
        level = self.service_level
        return {
            "campaign": self.campaign if self.campaign_id is not None else None,
            "service_level_period": self.period,
            "answered": self.answered,
            "answered_within": self.answered_within,
            "waiting_beyond": self.waiting_beyond,
            "service_level": None if level is None else round(level, 2),
        }


@dataclass(frozen=True)
class ServiceLevelReport:
    """Every campaign's row (by title) and the overall row, for whole local days."""

    first_day: date
    last_day: date
    timezone: str
    start: datetime  # aware, in the organisation's time zone: the first day's start
    end: datetime  # aware, exclusive: the start of the day after the last day
    now: datetime  # aware UTC: the moment "waiting beyond" was judged at
    rows: tuple[ServiceLevelRow, ...]
    overall: ServiceLevelRow

    @property
    def is_single_day(self) -> bool:
        return self.first_day == self.last_day

    def to_json(self) -> dict[str, Any]:
        """The ``report service-level --json`` object (docs/service-level.md)."""
        return {
            "first_day": self.first_day.isoformat(),
            "last_day": self.last_day.isoformat(),
            "timezone": self.timezone,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "as_of": self.now.astimezone(UTC).isoformat(),
            "campaigns": [row.to_json() for row in self.rows],
            "overall": self.overall.to_json(),
        }


def overall_row(rows: Sequence[ServiceLevelRow]) -> ServiceLevelRow:
    return ServiceLevelRow(
        campaign_id=None,
        campaign="Overall",
        period=None,
        answered=sum(r.answered for r in rows),
        answered_within=sum(r.answered_within for r in rows),
        waiting_beyond=sum(r.waiting_beyond for r in rows),
    )


def day_bounds(first_day: date, last_day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[start of ``first_day``, start of the day after ``last_day``) in ``zone``.

    A midnight skipped by a daylight-saving change maps (fold=0) to the instant of the
    change, which is the first instant of that day."""
    if last_day < first_day:
        raise ValidationError(
            TO_FIELD,
            f"{last_day.isoformat()} is before the first day {first_day.isoformat()}; "
            "choose a last day on or after the first.",
        )
    try:
        start = datetime.combine(first_day, time(0), tzinfo=zone)
        end = datetime.combine(last_day + timedelta(days=1), time(0), tzinfo=zone)
        start.astimezone(UTC), end.astimezone(UTC)
    except OverflowError:
        raise ValidationError(
            FROM_FIELD if first_day <= date.min + timedelta(days=1) else TO_FIELD,
            "is outside the dates this report can cover.",
        ) from None
    return start, end


def _aware_utc(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(UTC)


class ServiceLevelService(Service):
    """The service level report (supervisors and administrators)."""

    def timezone(self) -> ZoneInfo:
        """The organisation's time zone (UTC until one is set)."""
        with self.read(PERMISSION) as s:
            name = s.scalar(select(Organisation.timezone).limit(1)) or "UTC"
        return _zone(name)

    def local_today(self, now: datetime | None = None) -> date:
        """The day ``now`` falls on in the organisation's time zone."""
        return _aware_utc(now).astimezone(self.timezone()).date()

    def today(self, now: datetime | None = None) -> ServiceLevelReport:
        """The report for the organisation's current day."""
        day = self.local_today(now)
        return self.report(day, day, now)

    def report(
        self, first_day: date, last_day: date, now: datetime | None = None
    ) -> ServiceLevelReport:
        """Every campaign's counts for the emails that arrived from ``first_day`` to
        ``last_day`` (both included, local days); ``now`` judges "waiting beyond"."""
        self.actor.require(PERMISSION)
        now_utc = _aware_utc(now)
        zone = self.timezone()
        start, end = day_bounds(first_day, last_day, zone)
        stmt = self._statement(start.astimezone(UTC), end.astimezone(UTC), now_utc)
        with self.read(PERMISSION) as s:
            rows = tuple(
                ServiceLevelRow(
                    campaign_id=r.id,
                    campaign=r.title,
                    period=r.service_level_period,
                    answered=int(r.answered or 0),
                    answered_within=int(r.answered_within or 0),
                    waiting_beyond=int(r.waiting_beyond or 0),
                )
                for r in s.execute(stmt)
            )
        return ServiceLevelReport(
            first_day=first_day,
            last_day=last_day,
            timezone=zone.key,
            start=start,
            end=end,
            now=now_utc,
            rows=rows,
            overall=overall_row(rows),
        )

    # ---- SQL ------------------------------------------------------------------
    def _statement(self, start: datetime, end: datetime, now: datetime) -> Any:
        period = Campaign.service_level_period
        received, replied = Email.received_at, Email.first_reply_at
        if self.db.is_sqlite:
            within = _sqlite_us(replied) - _sqlite_us(received) <= period * _MICROSECONDS
            beyond = _epoch_us(now) - _sqlite_us(received) > period * _MICROSECONDS
        else:
            # timestamptz + an interval of seconds is exact (no calendar arithmetic).
            limit = received + func.make_interval(0, 0, 0, 0, 0, 0, period)
            within = replied <= limit
            beyond = limit < literal(now, Email.received_at.type)
        answered = replied.is_not(None)
        waiting = and_(Email.id.is_not(None), replied.is_(None))

        def count(condition: ColumnElement[bool]) -> Any:
            return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

        return (
            select(
                Campaign.id,
                Campaign.title,
                period,
                count(answered).label("answered"),
                count(and_(answered, within)).label("answered_within"),
                count(and_(waiting, beyond)).label("waiting_beyond"),
            )
            .select_from(Campaign)
            .outerjoin(
                Email,
                and_(
                    Email.campaign_id == Campaign.id,
                    received >= start,
                    received < end,
                    Email.status != EmailStatus.QUARANTINED,
                ),
            )
            .group_by(Campaign.id, Campaign.title, period)
            .order_by(folded(Campaign.title), Campaign.id)
        )


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ServiceError(
            f"The organisation's time zone '{name}' is not known on this computer; "
            "choose another in Administration ▸ Settings."
        ) from exc


def _epoch_us(value: datetime) -> int:
    delta = value - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * _MICROSECONDS + delta.microseconds


def _sqlite_us(column: Any) -> Any:
    """Microseconds since 1970 of a UTCDateTime column as SQLite stores it.

    SQLAlchemy writes 'YYYY-MM-DD HH:MM:SS.ffffff'. The whole seconds go through
    strftime('%s') without the fraction (SQLite would round it to milliseconds, and
    .9996 s up into the next second); the six fraction digits are added as an integer."""
    seconds = cast(func.strftime("%s", func.substr(column, 1, 19)), Integer)
    micros = cast(func.substr(column, 21, 6), Integer)
    return seconds * _MICROSECONDS + micros
