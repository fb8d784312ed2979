"""The recipients an agent types: split, checked, asked about and expanded, before the outbox
parses them strictly. With **Require email address confirmation** on, every address that
fails validation is asked about with the seed's question (``confirmation_text``)."""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence

from email_validator import EmailNotValidError, validate_email

from app.mail import compose
from app.services.errors import ServiceError, ValidationError

CONFIRMATION_TEXT = (
    "The input email address '{address}' appears to be invalid. Please confirm that you do "
    "want to use this email address, by pressing OK, or press Cancel and go back and "
    "correct it."
)


class AddressesNeedConfirmation(ServiceError):
    """The campaign requires confirmation of addresses that fail validation."""

    def __init__(self, addresses: Sequence[str]) -> None:
        super().__init__(
            "Please confirm these recipient addresses before sending: " + ", ".join(addresses)
        )
        self.addresses = list(addresses)


class NotAnAddress(ValidationError):
    """A recipient (or a part of one) without an '@': no mail server can deliver it to the
    customer (one would append its own domain), so nothing is queued. ``address`` is the
    part as typed."""

    def __init__(self, field: str, address: str) -> None:
        super().__init__(
            field,
            f"holds '{address}', which is not an email address (it has no '@'): the reply "
            "cannot be sent to it, as a mail server would take it for one of its own "
            "mailboxes. Correct it or remove it.",
        )
        self.address = address


def confirmation_text(address: str) -> str:
    """The seed's exact question for one address."""
    return CONFIRMATION_TEXT.format(address=address)


def split_recipients(text: str) -> list[str]:
    """Recipients typed as one text: separated by ',' or ';' (not inside quotes or <>)."""
    return compose.split_addresses(text)


_ANGLE = re.compile(r"(?P<name>[^<>]*)<(?P<address>[^<>]*)>")


def address_is_valid(item: str) -> bool:
    """One recipient (``a@b.example`` or ``Name <a@b.example>``), by syntax only: no
    network lookups."""
    typed = item.strip()
    angle = _ANGLE.fullmatch(typed)
    address = angle.group("address").strip() if angle else typed
    try:
        validate_email(address, check_deliverability=False, test_environment=True)
    except EmailNotValidError:
        return False
    return True


def invalid_addresses(*fields: str) -> list[str]:
    """Every recipient of the given To/Cc/Bcc texts that fails validation, in order."""
    found: list[str] = []
    for text in fields:
        found.extend(item for item in split_recipients(text) if not address_is_valid(item))
    return found


def expand_recipients(field: str, text: str, loose: Collection[str] | None) -> str | list[str]:
    """The recipients of one field to queue, each as typed. A recipient in ``loose`` (one the
    agent confirmed, or with ``None`` any) that is not one address is split into the parts
    that are (the seed's "a@example.com b@example.com" goes to both); a part without an '@'
    is refused (NotAnAddress) before anything is queued. Everything else is left to the
    outbox's strict parsing."""
    if loose is not None and not loose:
        return text
    items = split_recipients(text)
    if loose is not None and not any(item in loose for item in items):
        return text
    found: list[str] = []
    for item in items:
        if loose is not None and item not in loose:
            found.append(item)
            continue
        try:
            compose.parse_mailbox(field, item)
        except compose.HeaderError:
            parts = compose.split_loosely(item)
        else:
            parts = [item]
        for part in parts:
            if "@" not in part:
                raise NotAnAddress(field, part)
        found.extend(parts)
    return found
