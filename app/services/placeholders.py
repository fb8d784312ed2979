"""Template placeholders such as ``{{ customer.name }}``: checking and safe rendering.

Rendering is a plain lookup of known names in a dictionary of strings: nothing is
evaluated, no attribute is reached, so a template can never run code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from app.services.errors import ValidationError

PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)

# name -> (description, sample value shown in the preview)
PLACEHOLDERS: dict[str, tuple[str, str]] = {
    "customer.name": ("The customer's name, from the email's From header", "Renée Größe"),
    "customer.email": ("The customer's email address", "renee.groesse@example.com"),
    "email.subject": ("The subject of the customer's email", "Order 4711 – where is it?"),
    "email.received": ("When the customer's email arrived", "2026-11-27 09:15"),
    "agent.name": ("The name of the agent replying", "Akiko 日本"),
    "agent.email": ("The agent's email address", "akiko@example.com"),
    "campaign.title": ("The title of the email campaign", "Orders"),
    "organisation.name": ("The organisation's name", "Example Retail"),
    "channel.address": ("The address replies are sent from", "support@example.com"),
}

SAMPLE_VALUES: dict[str, str] = {name: sample for name, (_, sample) in PLACEHOLDERS.items()}


def used_names(text: str) -> list[str]:
    """The placeholder names used in ``text``, in order of first use."""
    seen: dict[str, None] = {}
    for match in PLACEHOLDER.finditer(text):
        seen.setdefault(match.group(1).strip(), None)
    return list(seen)


def check(field: str, text: str) -> None:
    """Raise if ``text`` uses a placeholder that does not exist."""
    unknown = [name for name in used_names(text) if name not in PLACEHOLDERS]
    if unknown:
        names = ", ".join("{{ %s }}" % name for name in unknown)  # noqa: UP031
        known = ", ".join(PLACEHOLDERS)
        raise ValidationError(field, f"unknown placeholder {names}. Known placeholders: {known}.")
    if "{%" in text:
        raise ValidationError(
            field, "'{% … %}' template logic is not supported; use {{ placeholders }} only."
        )
    if text.count("{{") != len(PLACEHOLDER.findall(text)):
        raise ValidationError(field, "has a '{{' without a matching '}}'.")


def render(text: str, values: Mapping[str, str]) -> str:
    """Replace each known placeholder by its value; unknown ones are left as typed."""

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1).strip()
        value = values.get(name) if name in PLACEHOLDERS else None
        return match.group(0) if value is None else str(value)

    return PLACEHOLDER.sub(substitute, text)
