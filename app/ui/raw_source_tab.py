"""The reading pane's Raw source tab: the message as received, read when the tab is
opened — at once when small, else off the GUI thread and shown a piece per turn of the
event loop — with the button that exports it.
"""

from __future__ import annotations

from collections import deque

from PySide6.QtCore import QTimer
from PySide6.QtGui import QFont, QTextCursor
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget

from app.services.emails import EmailService
from app.ui.email_rendering import RAW_AT_ONCE, RAW_LINE, RawSource, raw_source
from app.ui.mail_display import shown_size
from app.ui.operations import INTERACTIVE, READS, Failure, Job, run


class RawSourceTab(QWidget):
    """One email's source, as received (``load``); ``export_button`` asks to save it."""

    def __init__(self, service: EmailService, parent: QWidget | None) -> None:
        super().__init__(parent)
        self.service = service
        self._loaded_for: int | None = None
        self._loading: Job[RawSource] | None = None
        self._pending: deque[str] = deque()

        self.text = QPlainTextEdit(self)
        self.text.setReadOnly(True)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.text.setFont(QFont("monospace"))
        self.text.setAccessibleName("Raw source")
        self.note = QLabel(self)
        self.export_button = QPushButton("E&xport .eml…", self)
        self.export_button.setToolTip("Save the message exactly as received")
        bar = QHBoxLayout()
        bar.addWidget(self.note, 1)
        bar.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text, 1)
        layout.addLayout(bar)

        # One piece of the source per turn of the event loop.
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._append)

    def stop(self) -> None:
        """Stop reading and showing the source; the next ``load`` reads it again."""
        self._loading = None
        self._pending.clear()
        self._timer.stop()
        self._loaded_for = None

    def clear(self) -> None:
        self.text.clear()
        self.note.clear()

    def busy(self) -> bool:
        return self._loading is not None or bool(self._pending)

    def load(self, email_id: int, size: int) -> None:
        """The source of ``email_id`` (``size`` bytes), unless shown already: read at once
        when small, else off the GUI thread and shown a piece per turn of the event loop."""
        if self._loaded_for == email_id:
            return
        service = self.service
        self._loaded_for = email_id
        self._pending.clear()
        self.note.setText("Reading the source…")
        self._loading = run(
            self,
            lambda: raw_source(service.raw(email_id)),
            lambda source: self._ready(email_id, source),
            lambda failure: self._failed(email_id, failure),
            lane=READS if size > RAW_AT_ONCE else INTERACTIVE,
        )

    def _failed(self, email_id: int, failure: Failure) -> None:
        if self._loaded_for == email_id:
            self._loading = None
            self.note.setText(failure.message)

    def _ready(self, email_id: int, source: RawSource) -> None:
        if self._loaded_for != email_id:
            return
        self._loading = None
        first, *more = source.pieces
        self.text.setPlainText(first)
        self._pending.extend(more)
        note = (
            f"{shown_size(source.size)} as received."
            if source.shown == source.size
            else f"The first {shown_size(source.shown)} of {shown_size(source.size)}; "
            "export to see it all."
        )
        if source.folded:
            note += f" Lines longer than {RAW_LINE:,} characters are shown folded."
        self.note.setText(note)
        if self._pending:
            self._timer.start()

    def _append(self) -> None:
        if not self._pending:
            return
        cursor = QTextCursor(self.text.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        cursor.insertText("\n" + self._pending.popleft())
        if self._pending:
            self._timer.start()
