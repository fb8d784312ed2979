"""Which part of a field an error is about (the part selected when the field gets the focus)."""

from __future__ import annotations

import pytest

from app.ui.field_focus import offending_span, recipient_span


def part(text: str, span: tuple[int, int] | None) -> str | None:
    return None if span is None else text[span[0] : span[1]]


@pytest.mark.parametrize(
    ("text", "message", "selected"),
    [
        ("  1.5 ", "'1.5' is not a whole number.", "1.5"),
        ("O'Brien", "'O'Brien' is already used; choose another.", "O'Brien"),
        (
            "Hi {{ customer.name }} {{customer.ordr}}",
            "unknown placeholder {{ customer.ordr }}. Known placeholders: customer.name.",
            "{{customer.ordr}}",
        ),
        ("Say {{ hi", "has a '{{' without a matching '}}'.", None),
        ("A “quoted” title", "must not contain quotation marks (found “ ”).", None),
        (
            "{% if x %}",
            "'{% … %}' template logic is not supported; use {{ placeholders }} only.",
            None,
        ),
    ],
)
def test_the_part_an_error_quotes(text: str, message: str, selected: str | None) -> None:
    assert part(text, offending_span(text, message)) == selected


def test_a_recipient_is_found_whole_never_inside_another() -> None:
    zoe = '"Adams, Zoe" <zoe@x.example>'
    line = f"bobby@x.example, bob ; {zoe}"
    assert part(line, recipient_span(line, "bob")) == "bob"
    assert recipient_span(line, "bob")[0] == line.index("bob ")  # type: ignore[index]
    assert part(line, recipient_span(line, zoe)) == zoe
    assert recipient_span(line, '"Adams') is None
    assert recipient_span(line, "x.example") is None
    message = "'bob' is not one valid email address (it needs a name before and a domain…)."
    assert part(line, offending_span(line, message, recipients=True)) == "bob"
    assert offending_span(line, message)[0] == 0  # type: ignore[index]  # as plain text: in "bobby"
