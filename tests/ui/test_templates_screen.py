"""The email template editor driven like a supervisor: errors point at what is wrong."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from app.ui.templates_screen import TemplateEditorDialog
from tests.ui.keyboard import show_active, type_text

# Nothing of this screen may wait for the database on the GUI thread.
pytestmark = pytest.mark.no_gui_sql


def test_an_unknown_placeholder_is_selected_in_the_body(
    qtbot, demo_db, supervisor, make_ctx, answers
):  # type: ignore[no-untyped-def]
    dialog = show_active(qtbot, TemplateEditorDialog(make_ctx(demo_db, supervisor), None), 900, 560)
    type_text(qtbot, dialog.name_edit, "Größe – Rückfrage")
    type_text(qtbot, dialog.subject_edit, "Re: {{ email.subject }}")
    body = "Dear {{ customer.name }},\nyour order {{customer.ordr}} is on its way.\n"
    type_text(qtbot, dialog.body_edit, body)
    qtbot.mouseClick(
        dialog.buttons.button(dialog.buttons.StandardButton.Save), Qt.MouseButton.LeftButton
    )
    assert dialog.isVisible()
    _widget, error = dialog._fields["Body"]
    assert "unknown placeholder {{ customer.ordr }}" in error.text()
    assert dialog.focusWidget() is dialog.body_edit
    cursor = dialog.body_edit.textCursor()
    assert cursor.selectedText() == "{{customer.ordr}}"
    assert cursor.selectionStart() == body.index("{{customer.ordr}}")
    assert dialog.body_edit.toPlainText() == body


def test_a_duplicate_name_is_selected_whole(qtbot, demo_db, supervisor, make_ctx, answers):  # type: ignore[no-untyped-def]
    dialog = show_active(qtbot, TemplateEditorDialog(make_ctx(demo_db, supervisor), None), 900, 560)
    type_text(qtbot, dialog.name_edit, "Order status")  # the demo has it
    type_text(qtbot, dialog.subject_edit, "Your order")
    type_text(qtbot, dialog.body_edit, "Hello")
    qtbot.keyClick(dialog.subject_edit, Qt.Key.Key_Return)  # the default button: Save
    assert "already used" in dialog._fields["Template Name"][1].text()
    assert dialog.focusWidget() is dialog.name_edit
    assert dialog.name_edit.selectedText() == "Order status"
