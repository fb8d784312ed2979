"""Campaigns ▸ Email Templates: the template list and the template editor.

Nothing here waits for the database on the GUI thread: the list is read on a lane
(``app.ui.operations``), a template is read before its editor opens, and the editor's
Save runs off the GUI thread."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from app.services import placeholders
from app.services.records import TemplateRecord
from app.ui.context import AppContext
from app.ui.forms import FormDialog
from app.ui.models import ROW_ROLE, Column
from app.ui.record_list import RecordListScreen
from app.ui.widgets import (
    confirm_then_run,
)


class TemplateEditorDialog(FormDialog):
    """Template Name, Email Subject, body; the placeholder list; a live preview."""

    def __init__(
        self, ctx: AppContext, template: TemplateRecord | None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent, "Edit Email Template" if template else "New Email Template")
        self.ctx, self.template = ctx, template
        self.saved_id: int | None = None
        self._loading = True
        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.outer.addWidget(splitter, 1)
        editor = QWidget(splitter)
        form = QFormLayout(editor)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.name_edit = QLineEdit(editor)
        self.subject_edit = QLineEdit(editor)
        self.body_edit = QPlainTextEdit(editor)
        self.body_edit.setTabChangesFocus(True)
        self.body_edit.setMinimumHeight(180)
        self.html_edit = QPlainTextEdit(editor)
        self.html_edit.setTabChangesFocus(True)
        self.html_edit.setPlaceholderText("Optional HTML version of the body")
        self.html_edit.setMaximumHeight(90)
        self.add_field(form, "Template &Name:", self.name_edit)
        self.add_field(form, "Email &Subject:", self.subject_edit)
        self.add_field(form, "&Body:", self.body_edit)
        self.add_field(form, "&HTML Body:", self.html_edit)

        side = QWidget(splitter)
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        placeholders_box = QGroupBox("Placeholders", side)
        box_layout = QVBoxLayout(placeholders_box)
        self.placeholder_list = QListWidget(placeholders_box)
        for name, (description, sample) in placeholders.PLACEHOLDERS.items():
            item = QListWidgetItem("{{ %s }}" % name, self.placeholder_list)  # noqa: UP031
            item.setToolTip(f"{description} (preview: {sample})")
            item.setData(ROW_ROLE, name)
        label = QLabel("&Placeholders (double-click or Insert):", placeholders_box)
        label.setBuddy(self.placeholder_list)
        self.insert_button = QPushButton("&Insert into body", placeholders_box)
        box_layout.addWidget(label)
        box_layout.addWidget(self.placeholder_list)
        box_layout.addWidget(self.insert_button)
        side_layout.addWidget(placeholders_box)
        preview_box = QGroupBox("Preview with sample data", side)
        preview_layout = QVBoxLayout(preview_box)
        self.preview = QTextBrowser(preview_box)
        self.preview.setOpenLinks(False)
        self.preview.setAccessibleName("Preview")
        preview_layout.addWidget(self.preview)
        side_layout.addWidget(preview_box, 1)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        self.finish_layout()

        if template is not None:
            self.name_edit.setText(template.name)
            self.subject_edit.setText(template.subject)
            self.body_edit.setPlainText(template.body)
            self.html_edit.setPlainText(template.body_html or "")
        for widget in (self.subject_edit, self.body_edit):
            widget.textChanged.connect(self.update_preview)
        self.placeholder_list.itemDoubleClicked.connect(self.insert_placeholder)
        self.insert_button.clicked.connect(self.insert_placeholder)
        self.update_preview()
        self._loading = False
        self.set_loaded()
        self.resize(900, 560)

    def insert_placeholder(self, *_args: object) -> None:
        item = self.placeholder_list.currentItem()
        if item is None:
            return
        self.body_edit.insertPlainText("{{ %s }}" % item.data(ROW_ROLE))  # noqa: UP031
        self.body_edit.setFocus()

    def update_preview(self) -> None:
        subject = placeholders.render(self.subject_edit.text(), placeholders.SAMPLE_VALUES)
        body = placeholders.render(self.body_edit.toPlainText(), placeholders.SAMPLE_VALUES)
        unknown = [
            n
            for n in placeholders.used_names(
                self.subject_edit.text() + self.body_edit.toPlainText()
            )
            if n not in placeholders.PLACEHOLDERS
        ]
        self.preview.setPlainText(f"Subject: {subject}\n\n{body}")
        if unknown:
            self.banner.show_message(
                "Unknown placeholder(s): " + ", ".join("{{ %s }}" % n for n in unknown)  # noqa: UP031
            )
        elif self.banner.text().startswith("Unknown placeholder"):
            self.banner.show_message("")

    def save(self) -> Callable[[], TemplateRecord]:
        name, subject = self.name_edit.text(), self.subject_edit.text()
        body, html = self.body_edit.toPlainText(), self.html_edit.toPlainText()
        templates, template = self.ctx.templates, self.template
        if template is None:
            return lambda: templates.create_template(name, subject, body, html)
        return lambda: templates.update_template(
            template.id, name, subject, body, html, expected_version=template.version
        )

    def saved(self, result: object) -> None:
        assert isinstance(result, TemplateRecord)
        self.saved_id = result.id


class TemplatesScreen(RecordListScreen[TemplateRecord]):
    """The template list with New, Edit and Delete (see ``RecordListScreen``)."""

    noun = "email templates"

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(
            ctx,
            name="Email Templates",
            caption=None,
            placeholder="Filter by name or subject",
            buttons=["&New Template…", "&Edit…", "&Delete"],
            columns=[
                Column("Template Name", lambda t: t.name),
                Column("Email Subject", lambda t: t.subject),
                Column(
                    "Created",
                    lambda t: ctx.format_datetime(t.created_at),
                    sort_key=lambda t: t.created_at.timestamp(),
                ),
            ],
            parent=parent,
        )
        self.new_button, self.edit_button, self.delete_button = self.buttons
        self.new_button.clicked.connect(self.new_template)
        self.edit_button.clicked.connect(self.edit_template)
        self.delete_button.clicked.connect(self.delete_template)
        self.view.doubleClicked.connect(self.edit_template)
        self.start()

    def read_rows(self) -> Callable[[], list[TemplateRecord]]:
        return self.ctx.templates.list_templates

    def _update_buttons(self, *_args: object) -> None:
        has = self.selected() is not None
        self.edit_button.setEnabled(has)
        self.delete_button.setEnabled(has)

    def _open(self, dialog: TemplateEditorDialog) -> TemplateEditorDialog:
        dialog.accepted.connect(lambda: self.reload(dialog.saved_id))
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        return dialog

    def new_template(self) -> TemplateEditorDialog:
        return self._open(TemplateEditorDialog(self.ctx, None, self))

    def _read_template(self, title: str, then: Callable[[TemplateRecord], object]) -> None:
        """Read the selected template as it is now (off the GUI thread), then ``then``."""
        template = self.selected()
        if template is None:
            return
        templates, template_id = self.ctx.templates, template.id
        self.read_then(title, lambda: templates.get_template(template_id), then)

    def edit_template(self, *_args: object) -> None:
        """Open the selected template in the editor, once it is read."""
        self._read_template(
            "Edit Email Template",
            lambda found: self._open(TemplateEditorDialog(self.ctx, found, self)),
        )

    def delete_template(self) -> None:
        """Ask (naming the campaigns the template is assigned to, as read now), then delete."""
        self._read_template("Delete Email Template", self._confirm_delete)

    def _confirm_delete(self, template: TemplateRecord) -> None:
        used = [c.title for c in template.campaigns]
        where = f" It is assigned to: {', '.join(used)}." if used else ""
        templates = self.ctx.templates
        confirm_then_run(
            self,
            "Delete Email Template",
            f"Delete the template '{template.name}'?{where}",
            lambda: templates.delete_template(template.id),
            self.reload,
        )
