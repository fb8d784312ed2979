"""The agent's reply to the email they hold: recipients, subject, template, text, and the
actions the email's campaign allows (send, save as draft, put back, move).

Nothing typed is ever thrown away by a refusal: every error leaves the fields as they are
and says what is wrong next to the field (or above the editor). What was typed for an
email the agent switches away from is kept in memory until they come back to it.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TypeVar

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.services.errors import (
    ConflictError,
    NotFound,
    PermissionDenied,
    ValidationError,
)
from app.services.work import (
    AddressesNeedConfirmation,
    NotAnAddress,
    ReplyText,
    Rules,
    TemplateChoice,
    WorkItem,
    WorkService,
    confirmation_text,
)
from app.ui.field_focus import focus_error, focus_with_selection, recipient_span
from app.ui.forms import ErrorLabel
from app.ui.messages import messages
from app.ui.operations import Failure, run
from app.ui.shortcuts import set_section

T = TypeVar("T")
SECTION = "My Work"
RECIPIENT_FIELDS = ("To", "Cc", "Bcc")
CHOOSE_TEMPLATE = "— choose a template —"
RECIPIENTS_HINT = "Separate addresses with , or ;"


def action_button(action: QAction, parent: QWidget) -> QPushButton:
    """A push button that shows ``action`` (text, enabled, visible) and triggers it."""
    button = QPushButton(parent)

    def sync() -> None:
        button.setText(action.text())
        button.setEnabled(action.isEnabled())
        button.setVisible(action.isVisible())
        keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        tip = action.statusTip() or action.text().replace("&", "")
        button.setToolTip(f"{tip} ({keys})" if keys else tip)

    action.changed.connect(sync)
    button.clicked.connect(action.trigger)
    sync()
    return button


def screen_action(
    parent: QWidget,
    text: str,
    slot: Callable[[], object],
    keys: Sequence[str] = (),
    tip: str = "",
) -> QAction:
    """An action whose keys work anywhere inside ``parent`` (and the widgets it is added to),
    never in other tabs of the window."""
    action = QAction(text, parent)
    action.setShortcuts([QKeySequence(k) for k in keys])
    action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
    if tip:
        action.setStatusTip(tip)
    action.triggered.connect(slot)
    parent.addAction(action)
    return set_section(action, SECTION)


class MoveDialog(QDialog):
    """Choose the campaign to move the email to."""

    def __init__(
        self,
        targets: Sequence[tuple[int, str]],
        subject: str,
        discards: bool,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Move to Another Campaign")
        self.list = QListWidget(self)
        self.list.setAccessibleName("Campaigns")
        for campaign_id, title in targets:
            item = QListWidgetItem(title)
            item.setData(Qt.ItemDataRole.UserRole, campaign_id)
            self.list.addItem(item)
        label = QLabel(f"Move “{subject or '(no subject)'}” to the queue of:", self)
        label.setWordWrap(True)
        label.setBuddy(self.list)
        self.buttons = QDialogButtonBox(self)
        self.move_button = self.buttons.addButton("&Move", QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.list.itemActivated.connect(lambda _item: self.accept())
        self.list.currentRowChanged.connect(lambda row: self.move_button.setEnabled(row >= 0))
        layout = QVBoxLayout(self)
        layout.addWidget(label)
        layout.addWidget(self.list, 1)
        if discards:
            warning = ErrorLabel(self)
            warning.show_message("The reply you wrote for this email will be discarded.")
            layout.addWidget(warning)
        layout.addWidget(self.buttons)
        if targets:
            self.list.setCurrentRow(0)
        else:
            self.move_button.setEnabled(False)
        self.resize(380, 320)

    def chosen(self) -> int | None:
        item = self.list.currentItem()
        return None if item is None else int(item.data(Qt.ItemDataRole.UserRole))


class ReplyEditor(QWidget):
    """To, Cc, Bcc, Subject, the campaign's templates and the text; Send, Save as draft,
    Put back to queue and Move, each shown only when the campaign allows it."""

    finished = Signal(int, str)  # email id, what was done ("sent", "put back", "moved")
    draft_saved = Signal(int)
    lost = Signal(int, str)  # the email is no longer the agent's: why
    opened = Signal(int)  # the email asked for is open
    open_failed = Signal(int, str)  # it could not be opened: why

    def __init__(self, service: WorkService, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self.item: WorkItem | None = None
        self.templates: list[TemplateChoice] = []
        self.move_dialog: MoveDialog | None = None
        self._loaded = ReplyText()  # the text as opened or last saved
        self._filled = ("", "")  # subject and body as last filled in (not typed)
        self._template_index = 0
        self._loading = False
        self._unsent: dict[int, ReplyText] = {}  # typed for emails switched away from
        self._opening: int | None = None  # the email asked for, on its way
        self._acting = False  # an action (send, save, put back, move) is on its way

        self.stack = QStackedWidget(self)
        self.placeholder = QLabel(self.stack)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)
        self.placeholder.setStyleSheet("color: #666666;")
        self.stack.addWidget(self.placeholder)
        page = QWidget(self.stack)
        self.stack.addWidget(page)

        self.title = QLabel(page)
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.banner = ErrorLabel(page)
        self.banner.setAccessibleName("Reply problem")

        self.template_combo = QComboBox(page)
        self.template_combo.setAccessibleName("Template")
        self.to_edit = QLineEdit(page)
        self.cc_edit = QLineEdit(page)
        self.bcc_edit = QLineEdit(page)
        for edit in (self.to_edit, self.cc_edit, self.bcc_edit):
            edit.setPlaceholderText(RECIPIENTS_HINT)
        self.subject_edit = QLineEdit(page)
        self.body_edit = QPlainTextEdit(page)
        self.body_edit.setTabChangesFocus(True)
        self.body_edit.setAccessibleName("Message")
        self.body_edit.setMinimumHeight(90)

        grid = QGridLayout()
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(2)
        self.errors: dict[str, ErrorLabel] = {}
        self._fields: dict[str, QWidget] = {}

        def field(label: str, name: str, widget: QWidget, row: int, col: int, span: int) -> None:
            caption = QLabel(label, page)
            caption.setBuddy(widget)
            align = Qt.AlignmentFlag.AlignRight | (
                Qt.AlignmentFlag.AlignTop
                if isinstance(widget, QPlainTextEdit)
                else Qt.AlignmentFlag.AlignVCenter
            )
            grid.addWidget(caption, row, col, align)
            grid.addWidget(widget, row, col + 1, 1, span)
            error = ErrorLabel(page)
            grid.addWidget(error, row + 1, col + 1, 1, span)
            self.errors[name] = error
            self._fields[name] = widget

        field("Tem&plate:", "Template", self.template_combo, 0, 0, 3)
        field("&To:", "To", self.to_edit, 2, 0, 3)
        field("&Cc:", "Cc", self.cc_edit, 4, 0, 1)
        field("&Bcc:", "Bcc", self.bcc_edit, 4, 2, 1)
        field("Sub&ject:", "Subject", self.subject_edit, 6, 0, 3)
        field("Mess&age:", "Message", self.body_edit, 8, 0, 3)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(3, 1)
        grid.setRowStretch(8, 1)

        self.send_action = screen_action(
            self,
            "S&end",
            self.send,
            ["Ctrl+Return", "Ctrl+Enter"],
            "Send the reply; the email is then done",
        )
        self.draft_action = screen_action(
            self,
            "&Save as draft",
            self.save_draft,
            ["Ctrl+S"],
            "Keep the reply and the email in My drafts, to come back to",
        )
        self.put_back_action = screen_action(
            self,
            "Put bac&k to queue",
            self.put_back,
            ["Ctrl+Shift+B"],
            "Return the email to its queue, where it keeps its place",
        )
        self.move_action = screen_action(
            self,
            "&Move to another campaign…",
            self.move_email,
            ["Ctrl+M"],
            "Move the email to another campaign's queue",
        )
        self.send_button = action_button(self.send_action, page)
        self.draft_button = action_button(self.draft_action, page)
        self.put_back_button = action_button(self.put_back_action, page)
        self.move_button = action_button(self.move_action, page)
        buttons = QHBoxLayout()
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.draft_button)
        buttons.addStretch(1)
        buttons.addWidget(self.put_back_button)
        buttons.addWidget(self.move_button)

        page_layout = QVBoxLayout(page)
        page_layout.setContentsMargins(0, 0, 0, 0)
        page_layout.addWidget(self.title)
        page_layout.addWidget(self.banner)
        page_layout.addLayout(grid, 1)
        page_layout.addLayout(buttons)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.stack)

        order = [
            self.template_combo,
            self.to_edit,
            self.cc_edit,
            self.bcc_edit,
            self.subject_edit,
            self.body_edit,
            self.send_button,
            self.draft_button,
            self.put_back_button,
            self.move_button,
        ]
        for first, second in itertools.pairwise(order):
            QWidget.setTabOrder(first, second)

        self.template_combo.currentIndexChanged.connect(self._template_changed)
        self.clear()

    # ---- opening ------------------------------------------------------------------
    @property
    def email_id(self) -> int | None:
        return self.item.email_id if self.item is not None else None

    def open_email(self, email_id: int) -> None:
        """Open the reply to a held email, read off the GUI thread: its saved draft, what was
        typed before switching away, or a new reply. ``opened`` follows, or ``open_failed``
        with the reason (also shown)."""
        self.expect(email_id)
        read = self.reader()
        run(
            self,
            lambda: read(email_id),
            lambda found: self.show_read(email_id, found),
            lambda failure: self.show_unreadable(email_id, failure),
            coalesce="open",
        )

    def reader(self) -> Callable[[int], tuple[WorkItem, list[TemplateChoice]]]:
        """What opening an email reads (to run off the GUI thread, alone or with more)."""
        service = self.service

        return service.open_reply

    def expect(self, email_id: int) -> None:
        """``email_id`` is being read to be opened: what is typed now is kept."""
        self.stash()
        self._opening = email_id

    def show_read(self, email_id: int, found: tuple[WorkItem, list[TemplateChoice]]) -> None:
        self._opened(email_id, *found)

    def show_unreadable(self, email_id: int, failure: Failure) -> None:
        self._open_failed(email_id, failure)

    @property
    def opening(self) -> int | None:
        """The email asked for and not shown yet."""
        return self._opening

    def _opened(self, email_id: int, item: WorkItem, templates: list[TemplateChoice]) -> None:
        if self._opening != email_id:
            return  # another one was asked for since
        self._opening = None
        self.stash()  # typed into the one shown while this one was read
        self._show(item, templates, self._unsent.pop(email_id, None))
        self.opened.emit(email_id)

    def _open_failed(self, email_id: int, failure: Failure) -> None:
        if self._opening != email_id:
            return
        self._opening = None
        self.clear(failure.message)
        self.open_failed.emit(email_id, failure.message)

    def _show(
        self, item: WorkItem, templates: list[TemplateChoice], typed: ReplyText | None
    ) -> None:
        self._loading = True
        self.item, self.templates = item, templates
        self.template_combo.clear()
        self.template_combo.addItem(CHOOSE_TEMPLATE, None)
        for t in templates:
            self.template_combo.addItem(t.name, t.template_id)
        text = typed or item.reply
        index = self.template_combo.findData(text.template_id) if text.template_id else 0
        self.template_combo.setCurrentIndex(max(index, 0))
        self._template_index = self.template_combo.currentIndex()
        self.to_edit.setText(text.to)
        self.cc_edit.setText(text.cc)
        self.bcc_edit.setText(text.bcc)
        self.subject_edit.setText(text.subject)
        self.body_edit.setPlainText(text.body)
        self._loaded = item.reply
        # A new reply's "Re: …" was filled in, not typed; a draft's text was typed.
        self._filled = ("", "") if item.has_draft else (item.reply.subject, item.reply.body)
        if typed is not None:
            chosen = self._chosen_template()
            if chosen is not None and not item.has_draft:
                self._filled = (chosen.subject, chosen.body)
        self._loading = False
        self.clear_errors()
        if item.last_error:
            self.banner.show_message(
                f"Sending this reply failed: {item.last_error}\nCorrect it and send it again."
            )
        self.stack.setCurrentIndex(1)
        self._update()

    def clear(self, text: str = "") -> None:
        """No email open: the editor shows ``text`` (or how to start)."""
        self.item = None
        self.templates = []
        self.placeholder.setText(
            text or "Take the next email (Take next, Ctrl+N) or choose one of your emails to reply."
        )
        self.stack.setCurrentIndex(0)
        self._update()

    def stash(self) -> None:
        """Keep what was typed for the open email in memory, to show it again later."""
        if self.item is not None and self.is_dirty():
            self._unsent[self.item.email_id] = self.current_text()

    def forget_except(self, held: set[int]) -> None:
        """Drop what was typed for emails the agent no longer holds."""
        self._unsent = {k: v for k, v in self._unsent.items() if k in held}

    def unsent_count(self) -> int:
        """Replies typed but neither sent nor saved (the open one included)."""
        open_dirty = self.item is not None and self.is_dirty()
        return len(self._unsent) + int(open_dirty and self.item.email_id not in self._unsent)  # type: ignore[union-attr]

    # ---- state ----------------------------------------------------------------------
    def current_text(self) -> ReplyText:
        return ReplyText(
            to=self.to_edit.text(),
            cc=self.cc_edit.text(),
            bcc=self.bcc_edit.text(),
            subject=self.subject_edit.text(),
            body=self.body_edit.toPlainText(),
            template_id=self.template_combo.currentData(),
        )

    def is_dirty(self) -> bool:
        return self.item is not None and self.current_text() != self._loaded

    def _chosen_template(self) -> TemplateChoice | None:
        chosen = self.template_combo.currentData()
        return next((t for t in self.templates if t.template_id == chosen), None)

    def can_send(self) -> bool:
        if self.item is None:
            return False
        return self.item.rules.allow_free_format or self._chosen_template() is not None

    def _update(self) -> None:
        item = self.item
        rules = item.rules if item is not None else None
        self.send_action.setEnabled(self.can_send() and not self._acting)
        for action, allowed in (
            (self.draft_action, rules.allow_draft if rules else True),
            (self.put_back_action, rules.allow_put_back if rules else True),
            (self.move_action, rules.allow_move if rules else True),
        ):
            action.setVisible(allowed)
            action.setEnabled(item is not None and allowed and not self._acting)
        if item is None:
            self.title.clear()
            return
        title = f"<b>Reply</b> — {item.campaign or 'no campaign'}"
        if not item.rules.allow_free_format and self._chosen_template() is None:
            title += (
                ' <span style="color:#8a5300">· choose a template to start: this campaign '
                "does not allow free-format replies</span>"
            )
        elif item.has_draft:
            title += ' <span style="color:#555555">· your saved draft</span>'
        self.title.setText(title)

    def focus_start(self) -> None:
        """Where the agent starts: the template picker while one is needed, else the text."""
        if self.item is None:
            return
        if not self.item.rules.allow_free_format and self._chosen_template() is None:
            self.template_combo.setFocus(Qt.FocusReason.ShortcutFocusReason)
        else:
            self.body_edit.setFocus(Qt.FocusReason.ShortcutFocusReason)

    # ---- templates ------------------------------------------------------------------
    def _typed(self) -> bool:
        """Has the agent typed a subject or text that a template would overwrite?"""
        subject, body = self.subject_edit.text(), self.body_edit.toPlainText()
        filled_subject, filled_body = self._filled
        return bool(
            (body.strip() and body != filled_body)
            or (subject.strip() and subject != filled_subject)
        )

    def _template_changed(self, index: int) -> None:
        if self._loading or self.item is None:
            return
        chosen = self._chosen_template()
        if chosen is not None:
            if self._typed() and not messages.confirm(
                self,
                "Use Template",
                f"Replace the subject and text you typed with the template “{chosen.name}”?",
                ok="Replace",
                cancel="Keep my text",
            ):
                self._loading = True
                self.template_combo.setCurrentIndex(self._template_index)
                self._loading = False
                return
            self.subject_edit.setText(chosen.subject)
            self.body_edit.setPlainText(chosen.body)
            self._filled = (chosen.subject, chosen.body)
        self._template_index = index
        self.errors["Template"].show_message("")
        self._update()

    # ---- errors ---------------------------------------------------------------------
    def clear_errors(self) -> None:
        self.banner.show_message("")
        for error in self.errors.values():
            error.show_message("")

    def show_error(self, failure: Failure) -> None:
        """Next to its field when it names one, else above the editor; nothing is cleared."""
        self.clear_errors()
        exc = failure.error
        if isinstance(exc, ValidationError) and exc.field in self.errors:
            self.errors[exc.field].show_message(f"{exc.field} {exc.message}")
            focus_error(self._fields[exc.field], exc.message, exc.field in RECIPIENT_FIELDS)
        else:
            self.banner.show_message(failure.message)

    def _failed(self, email_id: int, title: str, failure: Failure) -> None:
        """An action on ``email_id`` failed: said where it belongs, keeping what was typed."""
        exc = failure.error
        if self.email_id != email_id:  # another email is open now: say it in a box
            messages.error(self, title, failure.message)
            if isinstance(exc, ConflictError | NotFound):
                self._unsent.pop(email_id, None)
                self.lost.emit(email_id, failure.message)
            return
        if isinstance(exc, ConflictError | NotFound):
            messages.error(self, title, failure.message)
            self._unsent.pop(email_id, None)
            self.clear(failure.message)
            self.lost.emit(email_id, failure.message)
        else:
            self.show_error(failure)
            if isinstance(exc, PermissionDenied):
                self._refresh_rules(email_id)

    def _refresh_rules(self, email_id: int) -> None:
        """A supervisor changed what the campaign allows: show the buttons it allows now,
        keeping everything typed."""
        service = self.service

        def show(rules: Rules) -> None:
            if self.item is not None and self.item.email_id == email_id:
                self.item = replace(self.item, rules=rules)
                self._update()

        run(self, lambda: service.open(email_id).rules, show, lambda _failure: None)

    def _focus_address(self, address: str) -> None:
        """Back to the field holding ``address`` (as a whole recipient), with it selected,
        to correct it."""
        for edit in (self.to_edit, self.cc_edit, self.bcc_edit):
            span = recipient_span(edit.text(), address)
            if span is not None:
                focus_with_selection(edit, span)
                return
        self.to_edit.setFocus(Qt.FocusReason.OtherFocusReason)

    def _select_part(self, field: str, part: str) -> None:
        """Select ``part`` where it stands alone (not inside an address) in the field the
        service named, which ``show_error`` focused."""
        edit = self._fields.get(field)
        if isinstance(edit, QLineEdit):
            found = re.search(rf"(?<![^\s,;]){re.escape(part)}(?![^\s,;])", edit.text())
            if found is not None:
                edit.setSelection(found.start(), len(part))

    # ---- actions --------------------------------------------------------------------
    # Each runs off the GUI thread; one at a time (the buttons wait meanwhile). What was
    # typed stays until the action succeeded.
    @property
    def acting(self) -> bool:
        return self._acting

    def _act(
        self,
        title: str,
        email_id: int,
        work: Callable[[], T],
        done: Callable[[T], object],
        failed: Callable[[Failure], object] | None = None,
    ) -> None:
        self._acting = True
        self._update()

        def succeeded(result: T) -> None:
            self._acting = False
            self._update()
            done(result)

        def not_done(failure: Failure) -> None:
            self._acting = False
            self._update()
            if failed is not None:
                failed(failure)
            else:
                self._failed(email_id, title, failure)

        run(self, work, succeeded, not_done)

    def send(self) -> None:
        """Send the reply, asking about each address that needs confirmation first."""
        if self.item is None or not self.can_send() or self._acting:
            return
        self._send(self.item.email_id, self.current_text(), [], rounds=5)

    def _send(self, email_id: int, text: ReplyText, confirmed: list[str], rounds: int) -> None:
        service = self.service

        def failed(failure: Failure) -> None:
            exc = failure.error
            if isinstance(exc, AddressesNeedConfirmation):
                if rounds <= 1:
                    return
                for address in exc.addresses:
                    if not messages.confirm(
                        self, "Confirm Email Address", confirmation_text(address)
                    ):
                        self.clear_errors()
                        if self.email_id == email_id:
                            self._focus_address(address)
                        return
                self._send(email_id, text, [*confirmed, *exc.addresses], rounds - 1)
                return
            self._failed(email_id, "Send", failure)
            if isinstance(exc, NotAnAddress) and self.email_id == email_id:
                self._select_part(exc.field, exc.address)

        self._act(
            "Send",
            email_id,
            lambda: service.send(email_id, text, confirmed=list(confirmed)),
            lambda _reply: self._done(email_id, "sent"),
            failed,
        )

    def save_draft(self) -> None:
        if self.item is None or not self.item.rules.allow_draft or self._acting:
            return
        email_id, text, service = self.item.email_id, self.current_text(), self.service

        def work() -> WorkItem:
            service.save_draft(email_id, text)
            return service.open(email_id)

        def saved(item: WorkItem) -> None:
            if self.email_id == email_id:
                self.item, self._loaded = item, item.reply
                self.clear_errors()
                self._update()
            self.draft_saved.emit(email_id)

        self._act("Save as Draft", email_id, work, saved)

    def _discards(self) -> bool:
        return self.item is not None and (self.item.has_draft or self.is_dirty())

    def put_back(self) -> None:
        if self.item is None or not self.item.rules.allow_put_back or self._acting:
            return
        if self._discards() and not messages.confirm(
            self,
            "Put Back to Queue",
            "Put this email back in its queue? The reply you wrote for it will be discarded.",
            ok="Put back",
            cancel="Keep it",
        ):
            return
        email_id, service = self.item.email_id, self.service
        self._act(
            "Put Back to Queue",
            email_id,
            lambda: service.put_back(email_id),
            lambda _r: self._done(email_id, "put back"),
        )

    def move_email(self) -> None:
        """Read the campaigns it may go to, ask (a dialog opened without blocking), move."""
        if self.item is None or not self.item.rules.allow_move or self._acting:
            return
        email_id, service = self.item.email_id, self.service
        self._act(
            "Move to Another Campaign",
            email_id,
            lambda: service.move_targets(email_id),
            lambda targets: self._choose_move(email_id, targets),
        )

    def _choose_move(self, email_id: int, targets: list[tuple[int, str]]) -> None:
        if self.email_id != email_id:
            return
        dialog = MoveDialog(targets, self.subject_edit.text(), self._discards(), self)

        def chosen() -> None:
            campaign_id = dialog.chosen()
            if campaign_id is not None and self.email_id == email_id:
                self.move_to(campaign_id)

        dialog.accepted.connect(chosen)
        dialog.finished.connect(dialog.deleteLater)
        self.move_dialog = dialog
        dialog.open()

    def move_to(self, campaign_id: int) -> None:
        if self.item is None or self._acting:
            return
        email_id, service = self.item.email_id, self.service
        self._act(
            "Move to Another Campaign",
            email_id,
            lambda: service.move(email_id, campaign_id),
            lambda _r: self._done(email_id, "moved"),
        )

    def _done(self, email_id: int, what: str) -> None:
        self._unsent.pop(email_id, None)
        if self.email_id == email_id:
            self.clear_errors()
            self.clear()
        self.finished.emit(email_id, what)
