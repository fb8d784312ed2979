"""Small checks shared by the services; each raises a ValidationError naming the field."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from email_validator import EmailNotValidError, validate_email

from app.services.errors import ValidationError

QUOTES = "\"'“”‘’„‟«»"


def text(field: str, value: str | None, *, required: bool = True, max_length: int = 200) -> str:
    """Trimmed text; required means not blank."""
    cleaned = (value or "").strip()
    if required and not cleaned:
        raise ValidationError(field, "is required and cannot be blank.")
    if len(cleaned) > max_length:
        raise ValidationError(
            field, f"is too long ({len(cleaned)} characters, at most {max_length})."
        )
    if any(ch in cleaned for ch in "\r\n\x00") and max_length <= 1000:
        raise ValidationError(field, "must be on one line.")
    return cleaned


def no_quotation_marks(field: str, value: str) -> str:
    found = sorted({ch for ch in value if ch in QUOTES})
    if found:
        marks = " ".join(found)
        raise ValidationError(field, f"must not contain quotation marks (found {marks}).")
    return value


def whole_number(
    field: str, value: int | str | None, *, minimum: int = 1, maximum: int = 2**31 - 1
) -> int:
    """A whole number given as int or typed text, within [minimum, maximum]."""
    if isinstance(value, bool):
        raise ValidationError(field, "must be a whole number.")
    if isinstance(value, int):
        number = value
    else:
        typed = (value or "").strip()
        if not typed:
            raise ValidationError(field, "is required.")
        if not re.fullmatch(r"[+-]?\d+", typed):
            raise ValidationError(field, f"'{typed}' is not a whole number.")
        number = int(typed)
    if number < minimum:
        raise ValidationError(field, f"must be {minimum} or more (got {number}).")
    if number > maximum:
        raise ValidationError(field, f"must be at most {maximum} (got {number}).")
    return number


def email_address(field: str, value: str | None, *, required: bool = True) -> str:
    """A syntactically valid address (no network lookups); returns it normalised."""
    typed = (value or "").strip()
    if not typed:
        if required:
            raise ValidationError(field, "is required.")
        return ""
    try:
        # Syntax only: no DNS; special-use test domains are fine for our own mailboxes.
        result = validate_email(typed, check_deliverability=False, test_environment=True)
    except EmailNotValidError as exc:
        raise ValidationError(field, f"'{typed}' is not a valid email address: {exc}") from exc
    return str(result.normalized)


def hostname(field: str, value: str | None, *, required: bool) -> str:
    host = (value or "").strip()
    if not host:
        if required:
            raise ValidationError(field, "is required.")
        return ""
    if len(host) > 253 or not re.fullmatch(r"[A-Za-z0-9._:\[\]-]+", host):
        raise ValidationError(field, f"'{host}' is not a valid host name or address.")
    return host


def regular_expression(field: str, pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValidationError(field, f"is not a valid regular expression: {exc}.") from exc
    return pattern


def timezone(field: str, value: str | None) -> str:
    name = (value or "").strip()
    if not name:
        raise ValidationError(field, "is required.")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(
            field, f"'{name}' is not a known time zone (e.g. Australia/Sydney)."
        ) from exc
    return name


def timezone_names() -> list[str]:
    return sorted(available_timezones())
