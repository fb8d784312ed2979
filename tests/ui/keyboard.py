"""Typing like a user, including text that qtbot.keyClicks cannot send."""

from __future__ import annotations

from typing import TypeVar

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QWidget


def type_text(qtbot, widget: QWidget, text: str) -> None:  # type: ignore[no-untyped-def]
    """Type ``text`` into ``widget`` key by key; non-ASCII characters one event each
    (keyClicks aborts the process on them)."""
    ascii_run = ""
    for ch in text:
        if ch.isascii() and ch != "\n":
            ascii_run += ch
            continue
        if ascii_run:
            qtbot.keyClicks(widget, ascii_run)
            ascii_run = ""
        if ch == "\n":
            QTest.keyClick(widget, Qt.Key.Key_Return)
        else:
            QTest.sendKeyEvent(
                QTest.KeyAction.Click,
                widget,
                Qt.Key.Key_unknown,
                ch,
                Qt.KeyboardModifier.NoModifier,
            )
    if ascii_run:
        qtbot.keyClicks(widget, ascii_run)


W = TypeVar("W", bound=QWidget)


def show_active(qtbot, widget: W, width: int = 1280, height: int = 800) -> W:  # type: ignore[no-untyped-def]
    """Show ``widget`` as the active window, ready for key presses: a shortcut only
    reaches the window that has the focus."""
    qtbot.addWidget(widget)
    widget.resize(width, height)
    widget.show()
    qtbot.waitExposed(widget)
    widget.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is widget, timeout=2000)
    return widget


def click(qtbot, button: QWidget) -> None:  # type: ignore[no-untyped-def]
    """Click ``button`` with the mouse as a user would (it must be visible), then wait for
    what it started."""
    assert button.isVisible(), f"{button.objectName() or button} is not visible"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
