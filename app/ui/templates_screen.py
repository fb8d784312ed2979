"""Campaigns ▸ Email Templates: the template list and the template editor."""

from __future__ import annotations

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
from app.ui.models import ROW_ROLE, Column, RecordTableModel, sortable
from app.ui.widgets import confirm_and_run, find_bar, selected_record, table_view


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

    def save(self) -> None:
        args = (
            self.name_edit.text(),
            self.subject_edit.text(),
            self.body_edit.toPlainText(),
            self.html_edit.toPlainText(),
        )
        if self.template is None:
            self.saved_id = self.ctx.templates.create_template(*args).id
        else:
            self.saved_id = self.ctx.templates.update_template(
                self.template.id, *args, expected_version=self.template.version
            ).id


class TemplatesScreen(QWidget):
    """The template list with New, Edit and Delete."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        layout = QVBoxLayout(self)
        header, self.filter_edit, buttons = find_bar(
            self, "Filter by name or subject", "&New Template…", "&Edit…", "&Delete"
        )
        self.new_button, self.edit_button, self.delete_button = buttons
        layout.addLayout(header)
        self.model: RecordTableModel[TemplateRecord] = RecordTableModel(
            [
                Column("Template Name", lambda t: t.name),
                Column("Email Subject", lambda t: t.subject),
                Column(
                    "Created",
                    lambda t: ctx.format_datetime(t.created_at),
                    sort_key=lambda t: t.created_at.timestamp(),
                ),
            ],
            self,
        )
        self.proxy = sortable(self.model, self)
        self.view = table_view(self, "Email Templates")
        self.view.setModel(self.proxy)
        layout.addWidget(self.view)
        self.filter_edit.textChanged.connect(self.proxy.setFilterFixedString)
        self.new_button.clicked.connect(self.new_template)
        self.edit_button.clicked.connect(self.edit_template)
        self.delete_button.clicked.connect(self.delete_template)
        self.view.doubleClicked.connect(self.edit_template)
        self.view.selectionModel().selectionChanged.connect(self._update_buttons)
        self.reload()

    def reload(self) -> None:
        self.model.set_rows(self.ctx.templates.list_templates())
        self.view.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self._update_buttons()

    def selected(self) -> TemplateRecord | None:
        return selected_record(self.view)

    def _update_buttons(self, *_args: object) -> None:
        has = self.selected() is not None
        self.edit_button.setEnabled(has)
        self.delete_button.setEnabled(has)

    def new_template(self) -> TemplateEditorDialog:
        dialog = TemplateEditorDialog(self.ctx, None, self)
        dialog.accepted.connect(self.reload)
        dialog.open()
        return dialog

    def edit_template(self, *_args: object) -> TemplateEditorDialog | None:
        template = self.selected()
        if template is None:
            return None
        dialog = TemplateEditorDialog(self.ctx, self.ctx.templates.get_template(template.id), self)
        dialog.accepted.connect(self.reload)
        dialog.open()
        return dialog

    def delete_template(self) -> None:
        template = self.selected()
        if template is None:
            return
        used = [c.title for c in self.ctx.templates.get_template(template.id).campaigns]
        where = f" It is assigned to: {', '.join(used)}." if used else ""
        if confirm_and_run(
            self,
            "Delete Email Template",
            f"Delete the template '{template.name}'?{where}",
            lambda: self.ctx.templates.delete_template(template.id),
        ):
            self.reload()
