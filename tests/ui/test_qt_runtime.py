"""The Qt binding itself: a release that loses references to None kills a long session."""

from __future__ import annotations

import sys

from PySide6.QtWidgets import QLabel


def test_calling_qt_methods_does_not_lose_references_to_none(qtbot) -> None:  # type: ignore[no-untyped-def]
    """PySide6 6.12.0 dropped one reference to None at every call of a void method on
    Python 3.11: after a few thousand calls (My Work polls every second) the process died
    with "Fatal Python error: none_dealloc"."""
    label = QLabel()
    qtbot.addWidget(label)
    before = sys.getrefcount(None)
    for n in range(2000):
        label.setText(str(n))
        label.setToolTip("")
    assert sys.getrefcount(None) >= before - 50
