"""Template placeholders: rendering can never run code or reach attributes."""

from __future__ import annotations

import pytest

from app.services import placeholders
from app.services.errors import ValidationError

VALUES = {"customer.name": "Renée", "agent.name": "日本語"}


def test_known_placeholders_are_filled_with_any_spacing() -> None:
    text = "Dear {{customer.name}}, from {{   agent.name }}."
    assert placeholders.render(text, VALUES) == "Dear Renée, from 日本語."


@pytest.mark.parametrize(
    "hostile",
    [
        "{{ customer.name.__class__ }}",
        "{{ customer.__class__.__mro__ }}",
        "{{ __import__('os').system('touch /tmp/pwned') }}",
        "{{ customer.name | attr('upper') }}",
        "{{ config }}",
        "{{ self.__init__.__globals__ }}",
        "{% for x in range(10) %}x{% endfor %}",
    ],
)
def test_hostile_placeholders_are_refused_on_save_and_left_inert(hostile: str) -> None:
    with pytest.raises(ValidationError):
        placeholders.check("Body", hostile)
    rendered = placeholders.render(hostile, VALUES)
    assert rendered == hostile  # nothing evaluated, nothing substituted


def test_values_are_inserted_literally_not_re_rendered() -> None:
    values = {"customer.name": "{{ agent.name }}", "agent.name": "X"}
    assert placeholders.render("Hi {{ customer.name }}", values) == "Hi {{ agent.name }}"


def test_used_names_in_order() -> None:
    text = "{{ agent.name }} {{ customer.name }} {{ agent.name }}"
    assert placeholders.used_names(text) == ["agent.name", "customer.name"]
