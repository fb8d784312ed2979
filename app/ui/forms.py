"""Dialog plumbing shared by every editor: labelled fields with their own error
line, a banner for other errors, unsaved-change tracking and Escape handling."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractSpinBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QListView,
    QPlainTextEdit,
    QSizePolicy,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from app.services.errors import ServiceError, ValidationError
from app.ui.field_focus import focus_error
from app.ui.messages import messages
from app.ui.operations import Failure, run

ERROR_STYLE = "color: #b00020;"


def plain(label: str) -> str:
    """A label without its mnemonic marker and trailing colon: 'Campaign &Title:' → 'Campaign Title'."""
    return label.replace("&&", "\0").replace("&", "").replace("\0", "&").rstrip(":").strip()


class WrappingLabel(QLabel):
    """A word-wrapped label that asks for the height its text needs at its width. A plain
    word-wrapped label asks for the height at its narrow size hint: in a form's field
    column that leaves tall empty gaps, and a window's minimum size (which layouts compute
    without heightForWidth) can come out too small, so that widgets overlap."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.setWordWrap(True)

    def sizeHint(self) -> QSize:
        hint = super().sizeHint()
        # Until a layout has sized the label, its width (a default) means nothing.
        laid_out = self.testAttribute(Qt.WidgetAttribute.WA_Resized)
        return QSize(hint.width(), self.heightForWidth(self.width() if laid_out else hint.width()))

    def minimumSizeHint(self) -> QSize:
        return QSize(super().minimumSizeHint().width(), self.sizeHint().height())

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self.heightForWidth(self.width()) != self.height():
            self.updateGeometry()


class ErrorLabel(WrappingLabel):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("", parent)
        self.setStyleSheet(ERROR_STYLE)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.hide()

    def show_message(self, text: str) -> None:
        self.setText(text)
        self.setVisible(bool(text))


class ShowsErrors(Protocol):
    """A form that shows errors at its fields and in a banner above them."""

    banner: ErrorLabel

    def show_error(self, exc: ServiceError) -> None: ...
    def clear_errors(self) -> None: ...


def show_save_failure(form: ShowsErrors, failure: Failure) -> None:
    """Why a save failed, where the user looks: a refusal at its field (or in the banner),
    the database out of reach or a bug in the banner; nothing typed is lost."""
    if failure.kind == "refused" and isinstance(failure.error, ServiceError):
        form.show_error(failure.error)
    else:
        form.clear_errors()
        form.banner.show_message(failure.message)


class FormDialog(QDialog):
    """A dialog that edits one record. Subclasses build fields with ``add_field`` and
    implement ``save()``: it reads the fields on the GUI thread (a ServiceError raised there
    keeps the dialog open, the error shown at its field) and returns the work that saves
    them, which runs off the GUI thread (``app.ui.operations``). Meanwhile the buttons are
    off and the dialog stays open; a refusal (a ``ValidationError``) is shown at its field,
    success closes the dialog after ``saved(result)``."""

    def __init__(self, parent: QWidget | None, title: str) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setModal(True)
        self._fields: dict[str, tuple[QWidget, ErrorLabel]] = {}
        self._dirty = False
        self._loading = False
        self._saving = False
        self.banner = ErrorLabel(self)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Save).setText("&Save")
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setText("Cancel")
        self.buttons.accepted.connect(self.try_save)
        self.buttons.rejected.connect(self.reject)
        self.outer = QVBoxLayout(self)
        self.outer.addWidget(self.banner)

    def finish_layout(self) -> None:
        self.outer.addWidget(self.buttons)

    # ---- fields -------------------------------------------------------------
    def add_field(
        self, form: QFormLayout, label: str, widget: QWidget, name: str | None = None
    ) -> QWidget:
        """Add ``widget`` with a buddy label (``label`` carries the mnemonic) and an error line."""
        field_name = name or plain(label)
        # The field and its (usually hidden) error line share one row, so that hidden
        # errors take no space.
        cell = QWidget(self)
        cell_layout = QVBoxLayout(cell)
        cell_layout.setContentsMargins(0, 0, 0, 0)
        cell_layout.setSpacing(2)
        widget.setParent(cell)
        cell_layout.addWidget(widget)
        error = ErrorLabel(cell)
        cell_layout.addWidget(error)
        policy = widget.sizePolicy()
        if widget.maximumHeight() == widget.minimumHeight():  # a fixed-height editor
            policy.setVerticalPolicy(QSizePolicy.Policy.Maximum)
        cell.setSizePolicy(policy)
        if isinstance(widget, QAbstractButton) and not isinstance(widget, QComboBox):
            widget.setText(label)
            form.addRow(cell)
        else:
            caption = QLabel(label, self)
            caption.setBuddy(widget)
            form.addRow(caption, cell)
        self._fields[field_name] = (widget, error)
        self.watch(widget)
        return widget

    def register(self, name: str, widget: QWidget) -> ErrorLabel:
        """Give a widget laid out by hand an error line under the field name ``name``."""
        error = ErrorLabel(self)
        self._fields[name] = (widget, error)
        return error

    def watch(self, widget: QWidget) -> None:
        """Changes to ``widget`` make the dialog dirty."""
        signal: Callable[..., object] | None = None
        if isinstance(widget, QLineEdit | QPlainTextEdit | QTextEdit):
            signal = widget.textChanged.connect
        elif isinstance(widget, QComboBox):
            signal = widget.currentIndexChanged.connect
        elif isinstance(widget, QAbstractButton):
            signal = widget.toggled.connect
        elif isinstance(widget, QAbstractSpinBox):
            signal = widget.editingFinished.connect
        elif isinstance(widget, QListView):
            model = widget.model()
            if model is not None:
                model.dataChanged.connect(self.mark_dirty)
        if signal is not None:
            signal(self.mark_dirty)

    def mark_dirty(self, *_args: object) -> None:
        if not self._loading:
            self._dirty = True

    def set_loaded(self) -> None:
        """Call after filling the fields from the record: from now on, edits count."""
        self._dirty = False

    @property
    def dirty(self) -> bool:
        return self._dirty

    # ---- errors -------------------------------------------------------------
    def clear_errors(self) -> None:
        self.banner.show_message("")
        for _widget, error in self._fields.values():
            error.show_message("")

    def show_error(self, exc: ServiceError) -> None:
        self.clear_errors()
        if isinstance(exc, ValidationError) and exc.field in self._fields:
            widget, error = self._fields[exc.field]
            error.show_message(f"{exc.field} {exc.message}")
            self.reveal(widget)
            focus_error(widget, exc.message)
        else:
            self.banner.show_message(str(exc))

    def reveal(self, widget: QWidget) -> None:
        """Make ``widget`` visible (subclasses with tabs switch to its tab)."""

    # ---- save / cancel ------------------------------------------------------
    def save(self) -> Callable[[], object]:
        """Read the fields (GUI thread) and return the work that saves them (off it)."""
        raise NotImplementedError

    def saved(self, result: object) -> None:
        """The work of ``save()`` succeeded with ``result`` (GUI thread); the dialog closes next."""

    @property
    def saving(self) -> bool:
        """A save is on its way to the database."""
        return self._saving

    def try_save(self) -> None:
        if self._saving:
            return
        try:
            work = self.save()
        except ServiceError as exc:
            self.show_error(exc)
            return
        self._set_saving(True)
        run(self, work, self._save_done, self._save_failed)

    def _set_saving(self, saving: bool) -> None:
        self._saving = saving
        self.buttons.setEnabled(not saving)

    def _save_done(self, result: object) -> None:
        self._set_saving(False)
        self._dirty = False
        self.saved(result)
        self.accept()

    def _save_failed(self, failure: Failure) -> None:
        self._set_saving(False)
        show_save_failure(self, failure)

    def reject(self) -> None:
        # Escape, Cancel and the window's close button all arrive here.
        if self._saving:
            return  # the save's outcome closes the dialog, or shows why it could not
        if self._dirty and not messages.confirm(
            self,
            self.windowTitle(),
            "You have unsaved changes. Discard them?",
            ok="Discard",
            cancel="Keep editing",
        ):
            return
        self._dirty = False
        super().reject()


def combo_select_data(combo: QComboBox, value: object) -> None:
    index = combo.findData(value)
    if index >= 0:
        combo.setCurrentIndex(index)
