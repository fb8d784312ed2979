"""Fixtures shared by the GUI tests."""

from __future__ import annotations

import pytest

from app.ui import messages as messages_module


@pytest.fixture
def answers(monkeypatch):  # type: ignore[no-untyped-def]
    """Message boxes answered through the one factory; records what was shown.

    Returns (shown, replies): ``shown`` lists (kind, text); ``replies`` holds the answers
    to the next confirmations (True when empty)."""
    shown: list[tuple[str, str]] = []
    replies: list[bool] = []

    def confirm(parent, title, text, **_kw):  # type: ignore[no-untyped-def]
        shown.append(("confirm", text))
        return replies.pop(0) if replies else True

    monkeypatch.setattr(messages_module.messages, "confirm", confirm)
    monkeypatch.setattr(
        messages_module.messages, "error", lambda p, t, text: shown.append(("error", text))
    )
    monkeypatch.setattr(
        messages_module.messages, "info", lambda p, t, text: shown.append(("info", text))
    )
    return shown, replies
