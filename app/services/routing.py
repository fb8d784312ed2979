"""Routing: a channel's filters, tried in priority order; the first match wins."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from app.db.models import Filter, FilterField, FilterMatch
from app.mail.parse import Envelope


@dataclass(frozen=True)
class CompiledFilter:
    id: int
    field: FilterField
    campaign_id: int
    description: str
    test: Callable[[str], bool]


def _matcher(match: FilterMatch, keyword: str) -> Callable[[str], bool]:
    if match == FilterMatch.REGEX:
        pattern = re.compile(keyword)
        return lambda text: pattern.search(text) is not None
    needle = keyword.strip().casefold()
    if match == FilterMatch.EQUALS:
        return lambda text: text.strip().casefold() == needle
    if match == FilterMatch.STARTS_WITH:
        return lambda text: text.strip().casefold().startswith(needle)
    if match == FilterMatch.ENDS_WITH:
        return lambda text: text.strip().casefold().endswith(needle)
    return lambda text: needle in text.casefold()


def compile_filters(filters: Sequence[Filter]) -> list[CompiledFilter]:
    """Enabled filters in priority order, ready to test."""
    ordered = sorted((f for f in filters if f.enabled), key=lambda f: (f.priority, f.id))
    return [
        CompiledFilter(
            id=f.id,
            field=f.field,
            campaign_id=f.campaign_id,
            description=f"{f.field.label} {f.match.label} '{f.keyword}'",
            test=_matcher(f.match, f.keyword),
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


def route(
    filters: Sequence[CompiledFilter], env: Envelope, body_text: str | None
) -> CompiledFilter | None:
    """The first filter that matches, or None (the channel's default campaign)."""
    for flt in filters:
        if any(flt.test(value) for value in field_values(flt.field, env, body_text)):
            return flt
    return None
