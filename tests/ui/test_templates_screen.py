"""The email template editor driven like a supervisor: errors point at what is wrong."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from app.services.templates import TemplateService
from app.ui.templates_screen import TemplateEditorDialog, TemplatesScreen
from tests.conftest import settle_operations
from tests.ui.keyboard import show_active, type_text

# Nothing of this screen may wait for the database on the GUI thread.


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


# ---- the template list ------------------------------------------------------


def names(screen: TemplatesScreen) -> list[str]:
    model = screen.view.model()
    return [model.index(r, 0).data() for r in range(model.rowCount())]


def select(screen: TemplatesScreen, name: str) -> None:
    rows = names(screen)
    assert name in rows, rows
    screen.view.selectRow(rows.index(name))


@pytest.fixture
def screen(qtbot, demo_db, supervisor, make_ctx):  # type: ignore[no-untyped-def]
    shown = show_active(qtbot, TemplatesScreen(make_ctx(demo_db, supervisor)), 900, 500)
    settle_operations()  # the list is read off the GUI thread
    return shown


def test_the_list_is_read_off_the_gui_thread(screen):  # type: ignore[no-untyped-def]
    assert names(screen)[:3] == ["Acknowledgement", "Escalation notice", "Order status"]
    assert len(names(screen)) == 7
    assert not screen.edit_button.isEnabled() and not screen.delete_button.isEnabled()


def test_edit_opens_the_template_as_it_is_now_and_the_list_follows(  # type: ignore[no-untyped-def]
    qtbot, screen, demo_db, supervisor
):
    service = TemplateService(demo_db, supervisor)
    order = next(t for t in service.list_templates() if t.name == "Order status")
    select(screen, "Order status")
    # Changed elsewhere after the list was read: the editor shows the change.
    service.update_template(
        order.id, "Order status", order.subject, "Changed elsewhere", None, order.version
    )
    qtbot.mouseClick(screen.edit_button, Qt.MouseButton.LeftButton)
    dialog = screen.findChild(TemplateEditorDialog)
    assert dialog is not None and dialog.isVisible()
    assert dialog.body_edit.toPlainText() == "Changed elsewhere"
    dialog.name_edit.selectAll()
    type_text(qtbot, dialog.name_edit, "Order status – Größe")
    with qtbot.waitSignal(dialog.finished, timeout=2000):
        qtbot.keyClick(dialog.name_edit, Qt.Key.Key_Return)
    settle_operations()  # the list read again
    assert "Order status – Größe" in names(screen) and "Order status" not in names(screen)
    assert screen.selected().name == "Order status – Größe"


def test_delete_names_the_campaigns_as_they_are_now(  # type: ignore[no-untyped-def]
    qtbot, screen, answers
):
    shown, replies = answers
    select(screen, "Rückfrage (Deutsch)")
    replies.append(False)  # the user thinks again
    qtbot.mouseClick(screen.delete_button, Qt.MouseButton.LeftButton)
    assert shown == [
        (
            "confirm",
            "Delete the template 'Rückfrage (Deutsch)'? "
            "It is assigned to: Größe – 5 € Aktion, Orders.",
        )
    ]
    assert "Rückfrage (Deutsch)" in names(screen)
    qtbot.mouseClick(screen.delete_button, Qt.MouseButton.LeftButton)
    assert "Rückfrage (Deutsch)" not in names(screen)
    assert len(names(screen)) == 6


def test_a_template_deleted_elsewhere_is_said_and_dropped_from_the_list(  # type: ignore[no-untyped-def]
    qtbot, screen, demo_db, supervisor, answers
):
    shown, _replies = answers
    select(screen, "Escalation notice")
    service = TemplateService(demo_db, supervisor)
    service.delete_template(
        next(t.id for t in service.list_templates() if t.name == "Escalation notice")
    )
    qtbot.mouseClick(screen.edit_button, Qt.MouseButton.LeftButton)
    assert shown[-1][0] == "error" and "no longer exists" in shown[-1][1]
    assert screen.findChild(TemplateEditorDialog) is None
    assert "Escalation notice" not in names(screen)
