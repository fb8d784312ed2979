"""My Work's status line, which never lets a message about one email pass for a message
about another: a message about an email that is not the open one names it by its subject,
and a message about an email goes as soon as the agent opens another one."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget


@dataclass(frozen=True)
class EmailRef:
    """The email a message is about."""

    email_id: int
    subject: str

    def named(self) -> str:
        return f"“{self.subject or '(no subject)'}”"


class StatusLine(QLabel):
    """One line of text under the screen; ``show_message`` says something, optionally
    about one email; ``email_opened`` is told whenever the open email changes."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Status")
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.open_email: int | None = None
        self.about: int | None = None  # the email the message shown is about

    def show_message(self, text: str, about: EmailRef | None = None) -> None:
        """Show ``text``; ``about``: the email it concerns (named unless it is open)."""
        if about is not None and about.email_id != self.open_email:
            text = f"{about.named()} — {text}"
        self.about = about.email_id if about is not None else None
        self.setText(text)

    def email_opened(self, email_id: int | None) -> None:
        """The open email is now ``email_id`` (None: none is). A message about another
        email goes: left standing, it would seem to speak of this one."""
        if email_id == self.open_email:
            return
        self.open_email = email_id
        if self.about is not None and self.about != email_id:
            self.about = None
            self.clear()
