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
from app.ui.changes import ChangeWatcher
from app.ui.context import AppContext
from app.ui.forms import ErrorLabel, FormDialog
from app.ui.messages import messages
from app.ui.models import ROW_ROLE, Column, RecordTableModel, sortable
from app.ui.operations import LISTS, Failure, run
from app.ui.widgets import (
    confirm_then_run,
    find_bar,
    select_record,
    selected_record,
    table_view,
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


class TemplatesScreen(QWidget):
    """The template list with New, Edit and Delete. The list is read off the GUI thread,
    again after each change made here and when the change hub says something changed."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self._select_next: int | None = None  # to select once the list is read again
        self._opening = False  # a template is being read for its editor
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
        self.view.sortByColumn(0, Qt.SortOrder.AscendingOrder)  # kept when read again
        layout.addWidget(self.view)
        self.status = ErrorLabel(self)  # why the list could not be read
        layout.addWidget(self.status)
        self.filter_edit.textChanged.connect(self.proxy.setFilterFixedString)
        self.new_button.clicked.connect(self.new_template)
        self.edit_button.clicked.connect(self.edit_template)
        self.delete_button.clicked.connect(self.delete_template)
        self.view.doubleClicked.connect(self.edit_template)
        self.view.selectionModel().selectionChanged.connect(self._update_buttons)
        self._update_buttons()
        self.watcher = ChangeWatcher(ctx, self)
        self.watcher.changed.connect(self.reload)
        self.reload()

    def reload(self, select_id: int | None = None) -> None:
        """Read the templates again (off the GUI thread), keeping the selection, or
        selecting ``select_id``. Asked again while a reload waits, it is one reload."""
        if select_id is not None:
            self._select_next = select_id
        run(
            self,
            self.ctx.templates.list_templates,
            self._loaded,
            self._load_failed,
            lane=LISTS,
            coalesce="reload",
        )

    def _loaded(self, rows: list[TemplateRecord]) -> None:
        current = self.selected()
        target, self._select_next = self._select_next, None
        if target is None and current is not None:
            target = current.id
        self.model.set_rows(rows)
        if target is not None:
            select_record(self.view, target)
        self.status.show_message("")
        self._update_buttons()

    def _load_failed(self, failure: Failure) -> None:
        self.status.show_message(f"The email templates could not be read: {failure.message}")

    def selected(self) -> TemplateRecord | None:
        return selected_record(self.view)

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
        if template is None or self._opening:
            return
        self._opening = True
        templates, template_id = self.ctx.templates, template.id

        def read(found: TemplateRecord) -> None:
            self._opening = False
            if found != self.selected():
                self.reload()  # changed since the list was read: the list shows it too
            then(found)

        def failed(failure: Failure) -> None:
            self._opening = False
            messages.error(self, title, failure.message)
            self.reload()  # deleted elsewhere, say: the list shows it

        run(self, lambda: templates.get_template(template_id), read, failed)

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
