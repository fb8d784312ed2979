"""Back to a field after an error: it gets the keyboard focus with the offending text
selected, so that typing replaces it — the value an error quotes, one recipient of a
recipients line, or else the whole field."""

from __future__ import annotations

import re

from PySide6.QtCore import Qt
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QComboBox,
    QLineEdit,
    QPlainTextEdit,
    QTextEdit,
    QWidget,
)

from app.services.work import split_recipients

Span = tuple[int, int]  # start and end, as indexes of the Python text
PLACEHOLDER = re.compile(r"\{\{\s*([^{}'\s]+)\s*\}\}")


def recipient_span(text: str, address: str) -> Span | None:
    """Where ``address`` stands in a recipients line as one whole recipient (never inside
    another: "bob" is not found in "bobby@example.com")."""
    cursor = 0
    for part in split_recipients(text):
        at = text.find(part, cursor)
        if at < 0:  # the splitter strips, never changes, a recipient: not expected
            return None
        if part == address.strip():
            return at, at + len(part)
        cursor = at + len(part)
    return None


def offending_span(text: str, message: str, recipients: bool = False) -> Span | None:
    """The part of a field's ``text`` that an error ``message`` is about: the value the
    services quote at its start ("'1.5' is not a whole number"), or the first unknown
    placeholder it names; None when it names no part of the text (the whole field).
    ``recipients``: the text is a recipients line and the quoted value one recipient."""
    if message.startswith("'"):
        # The quoted value may hold quotes itself ("'O'Brien' is already used"): the
        # longest candidate found in the text wins.
        ends = [i for i, ch in enumerate(message) if ch == "'" and i > 0]
        for end in reversed(ends):
            quoted = message[1:end]
            if not quoted:
                continue
            if recipients:
                span = recipient_span(text, quoted)
            else:
                at = text.find(quoted)
                span = (at, at + len(quoted)) if at >= 0 else None
            if span is not None:
                return span
    for name in PLACEHOLDER.findall(message):
        found = re.search(r"\{\{\s*" + re.escape(name) + r"\s*\}\}", text)
        if found is not None:
            return found.start(), found.end()
    return None


def _utf16(text: str, index: int) -> int:
    """Qt counts positions in UTF-16 code units: an emoji takes two."""
    return len(text[:index].encode("utf-16-le")) // 2


def focus_with_selection(widget: QWidget, span: Span | None = None) -> None:
    """Give ``widget`` the focus with ``span`` of its text selected (all of it when None)."""
    widget.setFocus(Qt.FocusReason.OtherFocusReason)
    if isinstance(widget, QComboBox):
        edit = widget.lineEdit()
        if edit is None:
            return
        widget = edit
    if isinstance(widget, QLineEdit):
        text = widget.text()
        if span is None:
            widget.selectAll()
        else:
            start = _utf16(text, span[0])
            widget.setSelection(start, _utf16(text, span[1]) - start)
    elif isinstance(widget, QPlainTextEdit | QTextEdit):
        if span is None:
            widget.selectAll()
            return
        text = widget.toPlainText()
        cursor = widget.textCursor()
        cursor.setPosition(_utf16(text, span[0]))
        cursor.setPosition(_utf16(text, span[1]), QTextCursor.MoveMode.KeepAnchor)
        widget.setTextCursor(cursor)
    elif isinstance(widget, QAbstractSpinBox):
        widget.selectAll()


def field_text(widget: QWidget) -> str:
    if isinstance(widget, QComboBox):
        return widget.currentText() if widget.isEditable() else ""
    if isinstance(widget, QLineEdit):
        return widget.text()
    if isinstance(widget, QPlainTextEdit | QTextEdit):
        return widget.toPlainText()
    return ""


def focus_error(widget: QWidget, message: str, recipients: bool = False) -> None:
    """After an error about ``widget``'s field: focus it with what the error is about
    selected (see ``offending_span``), or all of it."""
    focus_with_selection(widget, offending_span(field_text(widget), message, recipients))
