"""Routing: a channel's filters, tried in priority order; the first match wins.

Regular-expression filters run on the ``regex`` package (the syntax and meaning of Python's
``re`` for valid patterns, flags V0) with a time limit: a pattern that backtracks without end
on some email (``^(a|aa)+$`` on forty 'a's and a '!') is given up after
``REGEX_FILTER_SECONDS`` and the email goes on to the next filter, the filter named in its
History and counted for the channel's state. One email's regular-expression filters share
``REGEX_MESSAGE_SECONDS``: a channel with many slow filters still stores an email in bounded
time. The other operators scan the text once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import regex

from app.db.models import Filter, FilterField, FilterMatch
from app.mail.parse import Envelope

log = logging.getLogger(__name__)

# A match takes microseconds on a subject and milliseconds on a long body: these leave room
# for a slow machine and a busy one, and bound what one email can cost.
REGEX_FILTER_SECONDS = 0.1
REGEX_MESSAGE_SECONDS = 0.5

# (text, seconds it may take) -> matched; raises TimeoutError when it takes longer
Test = Callable[[str, float], bool]


@dataclass(frozen=True)
class CompiledFilter:
    id: int
    field: FilterField
    campaign_id: int
    description: str
    test: Test
    timed: bool = False  # a regular expression: run with a time limit


@dataclass(frozen=True)
class Routing:
    """Where routing got: the filter that matched (None: the channel's default campaign)
    and the filters given up on this email (they took too long)."""

    matched: CompiledFilter | None
    timed_out: tuple[CompiledFilter, ...] = ()


def compile_pattern(keyword: str) -> regex.Pattern[str]:
    """A regular-expression filter's pattern as routing runs it (``regex.error`` if invalid)."""
    return regex.compile(keyword, regex.V0)


def _never(_text: str, _seconds: float) -> bool:
    return False


def _matcher(match: FilterMatch, keyword: str) -> Test:
    if match == FilterMatch.REGEX:
        try:
            pattern = compile_pattern(keyword)
        except regex.error as exc:
            # saved before patterns were checked with this engine: never matches, said once
            log.warning("filter pattern %r cannot be used: %s", keyword, exc)
            return _never
        return lambda text, seconds: pattern.search(text, timeout=seconds) is not None
    needle = keyword.strip().casefold()
    if match == FilterMatch.EQUALS:
        return lambda text, _s: text.strip().casefold() == needle
    if match == FilterMatch.STARTS_WITH:
        return lambda text, _s: text.strip().casefold().startswith(needle)
    if match == FilterMatch.ENDS_WITH:
        return lambda text, _s: text.strip().casefold().endswith(needle)
    return lambda text, _s: needle in text.casefold()


def describe(field: FilterField, match: FilterMatch, keyword: str) -> str:
    return f"{field.label} {match.label} '{keyword}'"


def compile_filters(filters: Sequence[Filter]) -> list[CompiledFilter]:
    """Enabled filters in priority order, ready to test."""
    ordered = sorted((f for f in filters if f.enabled), key=lambda f: (f.priority, f.id))
    return [
        CompiledFilter(
            id=f.id,
            field=f.field,
            campaign_id=f.campaign_id,
            description=describe(f.field, f.match, f.keyword),
            test=_matcher(f.match, f.keyword),
            timed=f.match == FilterMatch.REGEX,
        )
        for f in ordered
    ]


def needs_body(filters: Sequence[CompiledFilter]) -> bool:
    return any(f.field == FilterField.BODY for f in filters)


def field_values(field: FilterField, env: Envelope, body_text: str | None) -> list[str]:
    """The texts a filter on ``field`` looks at; it matches if any of them matches."""
    if field == FilterField.SENDER:
        return [env.from_address, env.from_display]
    if field == FilterField.SUBJECT:
        return [env.subject]
    if field == FilterField.RECIPIENTS:
        return [*env.recipient_addresses, *env.to, *env.cc]
    return [body_text or ""]


def _timed_test(flt: CompiledFilter, values: list[str], until: float) -> bool:
    """``flt`` on ``values`` by the monotonic time ``until``; TimeoutError after it."""
    for value in values:
        left = until - time.monotonic()
        if left <= 0:
            raise TimeoutError(flt.description)
        if flt.test(value, left):
            return True
    return False


def route(filters: Sequence[CompiledFilter], env: Envelope, body_text: str | None) -> Routing:
    """The first filter that matches (None: the channel's default campaign), and the
    regular-expression filters that took too long on this email (skipped)."""
    timed_out: list[CompiledFilter] = []
    budget_end = time.monotonic() + REGEX_MESSAGE_SECONDS
    for flt in filters:
        values = field_values(flt.field, env, body_text)
        if not flt.timed:
            if any(flt.test(value, 0.0) for value in values):
                return Routing(flt, tuple(timed_out))
            continue
        until = min(budget_end, time.monotonic() + REGEX_FILTER_SECONDS)
        try:
            if _timed_test(flt, values, until):
                return Routing(flt, tuple(timed_out))
        except TimeoutError:
            timed_out.append(flt)
    return Routing(None, tuple(timed_out))
