"""Workspace ▸ My Work: the agent's queues, the emails they hold, the open email and the
reply to it — built to be worked all day from the keyboard.

Nothing here waits for the database on the GUI thread: every read and action is an
operation (app.ui.operations) on the interactive lane. The lists follow the change hub
(another agent took an email, intake queued one, a supervisor re-opened one — from any
workstation): a change makes one reload, however many come while it runs. Waiting times
age on screen from what was read.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from PySide6.QtCore import QItemSelectionModel, Qt, QTimer, Signal
from PySide6.QtGui import QHideEvent, QShowEvent
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.domain.clock import utcnow
from app.domain.enums import EmailStatus, ReplyState
from app.services.emails import EmailService
from app.services.work import (
    AgentFailedSend,
    HeldEmail,
    Queue,
    QueuedEmail,
    TemplateChoice,
    WorkItem,
    WorkService,
)
from app.ui.changes import ChangeWatcher, hub_of
from app.ui.context import AppContext
from app.ui.email_rendering import BODY_AT_ONCE, EmailRead
from app.ui.message_view import EmailDetailPane
from app.ui.messages import messages
from app.ui.models import ROW_ROLE, Column, RecordTableModel
from app.ui.operations import LISTS, Failure, run
from app.ui.reply_editor import ReplyEditor, action_button, screen_action
from app.ui.shortcuts import HELP_KEYS, ShortcutsDialog, step_aside_for_window_help
from app.ui.status_line import EmailRef, StatusLine
from app.ui.widgets import table_view

T = TypeVar("T")
RELOAD_RETRY_MS = 2000  # the lists read again after the database could not be reached
AGE_MS = 10_000  # "Oldest wait" shown again from what was read (no query)


def format_wait(seconds: float) -> str:
    """How long something has waited: "< 1 min", "12 min", "3 h 5 min", "2 d 4 h"."""
    minutes = int(max(seconds, 0) // 60)
    if minutes < 1:
        return "< 1 min"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def _waited(since: datetime | None) -> str:
    return "" if since is None else format_wait((utcnow() - since).total_seconds())


def _seconds(since: datetime | None) -> float:
    return -1.0 if since is None else (utcnow() - since).total_seconds()


def _state(h: HeldEmail) -> str:
    return "Draft" if h.status == EmailStatus.DRAFT else "Taken"


def _failure_reason(f: AgentFailedSend) -> str:
    if f.state == ReplyState.UNCERTAIN:
        return f"May have been sent — a supervisor will check: {f.last_error or ''}".rstrip(": ")
    return f.last_error or "Failed"


def _pane_title(text: str, parent: QWidget) -> QLabel:
    label = QLabel(f"<b>{text}</b>", parent)
    label.setTextFormat(Qt.TextFormat.RichText)
    return label


def _selected(view: QTableView) -> Any:
    rows = view.selectionModel().selectedRows()
    return view.model().data(rows[0], ROW_ROLE) if rows else None


def _select(view: QTableView, key: Callable[[Any], object], value: object) -> bool:
    model = view.model()
    for row in range(model.rowCount()):
        if key(model.data(model.index(row, 0), ROW_ROLE)) == value:
            view.selectionModel().setCurrentIndex(
                model.index(row, 0),
                QItemSelectionModel.SelectionFlag.ClearAndSelect
                | QItemSelectionModel.SelectionFlag.Rows,
            )
            return True
    return False


def _list(
    parent: QWidget, name: str, model: RecordTableModel[Any], stretch: int | None = 0
) -> QTableView:
    """A list of the narrow left column: one column (the subject, the campaign) takes the
    room, the others fit their contents."""
    view = table_view(parent, name)
    view.setSortingEnabled(False)  # the service's order (oldest first) is the useful one
    view.setAlternatingRowColors(True)
    view.setWordWrap(False)
    view.setModel(model)  # before the header's modes: setting a model resets them
    if stretch is not None:
        header = view.horizontalHeader()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(stretch, QHeaderView.ResizeMode.Stretch)
    return view


class QueuedEmailsDialog(QDialog):
    """The emails waiting in one campaign, the oldest first: take a chosen one."""

    taken = Signal(int)

    def __init__(
        self,
        ctx: AppContext,
        work: WorkService,
        campaign_id: int,
        title: str,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.work, self.campaign_id = work, campaign_id
        self.setWindowTitle(f"Queued Emails — {title}")
        self.model: RecordTableModel[QueuedEmail] = RecordTableModel(
            [
                Column("Waiting", lambda q: _waited(q.queued_at)),
                Column("Received", lambda q: ctx.format_datetime(q.received_at)),
                Column("From", lambda q: q.from_addr),
                Column("Subject", lambda q: q.subject or "(no subject)"),
            ],
            self,
        )
        self.view = _list(self, f"Queued emails of {title}", self.model, stretch=3)
        self.view.activated.connect(lambda _index: self.take())
        self.note = QLabel(self)
        buttons = QDialogButtonBox(self)
        self.take_button = buttons.addButton("&Take", QDialogButtonBox.ButtonRole.AcceptRole)
        self.take_button.setToolTip("Take the selected email and open it")
        buttons.addButton(QDialogButtonBox.StandardButton.Close)
        buttons.accepted.connect(self.take)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.note)
        layout.addWidget(buttons)
        self.resize(760, 420)
        self.reload()
        self.view.setFocus()

    def reload(self) -> None:
        work, campaign_id = self.work, self.campaign_id
        run(
            self,
            lambda: work.queued(campaign_id),
            self._loaded,
            lambda failure: self.note.setText(failure.message),
            coalesce="reload",
        )

    def _loaded(self, rows: list[QueuedEmail]) -> None:
        chosen = _selected(self.view)
        self.model.set_rows(rows)
        if not (chosen and _select(self.view, lambda q: q.email_id, chosen.email_id)) and rows:
            self.view.selectRow(0)
        self.note.setText(
            f"{len(rows)} waiting, the oldest first." if rows else "No email is waiting here."
        )
        self.take_button.setEnabled(bool(rows))

    def take(self) -> None:
        chosen: QueuedEmail | None = _selected(self.view)
        if chosen is None:
            return
        work, email_id = self.work, chosen.email_id

        def taken(_result: object) -> None:
            self.accept()
            self.taken.emit(email_id)

        def failed(failure: Failure) -> None:
            messages.error(self, "Take", failure.message)
            self.reload()

        run(self, lambda: work.take(email_id), taken, failed)


class MyWorkScreen(QWidget):
    """Queues and My emails on the left; the open email and the reply to it on the right."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.work = WorkService(ctx.db, ctx.actor)
        self._reloading = False
        self._loaded_once = False
        # Grows when this screen's own action changed what the lists hold (an email taken):
        # lists read before it are not shown (they would say the email is not held).
        self._epoch = 0
        self.queued_dialog: QueuedEmailsDialog | None = None
        self.shortcuts_dialog: ShortcutsDialog | None = None

        left = QSplitter(Qt.Orientation.Vertical, self)
        left.addWidget(self._build_queues(left))
        left.addWidget(self._build_mine(left))
        left.setStretchFactor(0, 1)
        left.setStretchFactor(1, 1)
        left.setChildrenCollapsible(False)
        right = QSplitter(Qt.Orientation.Vertical, self)
        self._build_email_and_reply(right)
        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.addWidget(left)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setSizes([360, 920])
        right.setSizes([430, 370])
        left.setSizes([260, 440])
        self.left_splitter, self.right_splitter = left, right

        self.status = StatusLine(self)
        layout = QVBoxLayout(self)
        layout.addWidget(self.splitter, 1)
        layout.addWidget(self.status)

        self._build_actions()
        self._database_lost = False
        self.watcher = ChangeWatcher(ctx, self)
        self.watcher.changed.connect(self.reload)
        hub_of(ctx).availability.connect(self._availability)
        self._retry = QTimer(self)
        self._retry.setSingleShot(True)
        self._retry.setInterval(RELOAD_RETRY_MS)
        self._retry.timeout.connect(self.reload)
        self.age_timer = QTimer(self)
        self.age_timer.setInterval(AGE_MS)
        self.age_timer.timeout.connect(self.queue_model.refresh_all)
        self.reload()
        self._update_actions()

    # ---- building the screen ----------------------------------------------------------
    def _build_queues(self, parent: QWidget) -> QWidget:
        """Queues: the agent's campaigns with what waits, and the ways to take."""
        queues_box = QWidget(parent)
        self.queue_model: RecordTableModel[Queue] = RecordTableModel(
            [
                Column("Campaign", lambda q: q.title),
                Column("Waiting", lambda q: q.waiting),
                Column("Oldest wait", lambda q: _waited(q.oldest_queued_at)),
            ],
            self,
        )
        self.queues_view = _list(queues_box, "Queues", self.queue_model)
        self.queues_view.activated.connect(lambda _index: self.show_queued())
        self.queues_view.selectionModel().selectionChanged.connect(self._update_actions)

        self.take_next_action = screen_action(
            self,
            "Take &next",
            self.take_next,
            ["Ctrl+N"],
            "Take the oldest email waiting in any of your queues",
        )
        self.take_selected_action = screen_action(
            self,
            "Take next from se&lected",
            self.take_next_selected,
            ["Ctrl+Shift+N"],
            "Take the oldest email waiting in the selected campaign",
        )
        self.queued_action = screen_action(
            self,
            "&Queued emails…",
            self.show_queued,
            ["Ctrl+L"],
            "List the emails waiting in the selected campaign, to take a chosen one",
        )
        self.take_next_button = action_button(self.take_next_action, queues_box)
        self.take_selected_button = action_button(self.take_selected_action, queues_box)
        self.queued_button = action_button(self.queued_action, queues_box)
        queue_buttons = QHBoxLayout()
        queue_buttons.addWidget(self.take_next_button, 1)
        queue_buttons.addWidget(self.take_selected_button, 1)
        queues_layout = QVBoxLayout(queues_box)
        queues_layout.setContentsMargins(0, 0, 4, 0)
        queues_layout.addWidget(_pane_title("Queues", queues_box))
        queues_layout.addWidget(self.queues_view, 1)
        queues_layout.addLayout(queue_buttons)
        queues_layout.addWidget(self.queued_button)

        return queues_box

    def _build_mine(self, parent: QWidget) -> QWidget:
        """My emails: held, drafts and failed sends."""
        mine_box = QWidget(parent)
        held_columns: list[Column[HeldEmail]] = [
            Column("Subject", lambda h: h.subject or "(no subject)"),
            Column("State", _state),
            Column("Campaign", lambda h: h.campaign or ""),
        ]
        self.held_model: RecordTableModel[HeldEmail] = RecordTableModel(held_columns, self)
        self.drafts_model: RecordTableModel[HeldEmail] = RecordTableModel(
            [c for c in held_columns if c.title != "State"], self
        )
        self.failed_model: RecordTableModel[AgentFailedSend] = RecordTableModel(
            [
                Column("Subject", lambda f: f.subject or "(no subject)"),
                Column("Reason", _failure_reason),
                Column("To", lambda f: f.recipients),
            ],
            self,
        )
        self.mine_tabs = QTabWidget(mine_box)
        self.held_view = _list(self.mine_tabs, "Emails I hold", self.held_model)
        self.drafts_view = _list(self.mine_tabs, "My drafts", self.drafts_model)
        failed_page = QWidget(self.mine_tabs)
        self.failed_view = _list(failed_page, "My failed sends", self.failed_model, stretch=None)
        self.rework_action = screen_action(
            self,
            "Correct and send aga&in",
            self.rework,
            [],
            "Take the failed reply back as a draft, to correct it and send it again",
        )
        self.rework_button = action_button(self.rework_action, failed_page)
        failed_layout = QVBoxLayout(failed_page)
        failed_layout.setContentsMargins(0, 0, 0, 0)
        failed_layout.addWidget(self.failed_view, 1)
        failed_layout.addWidget(self.rework_button)
        self.mine_tabs.addTab(self.held_view, "&Held")
        self.mine_tabs.addTab(self.drafts_view, "My d&rafts")
        self.mine_tabs.addTab(failed_page, "&Failed sends")
        for view in (self.held_view, self.drafts_view):
            view.selectionModel().selectionChanged.connect(
                lambda _s, _d, v=view: self._held_selected(v)
            )
            view.activated.connect(self._held_activated)
        self.failed_view.activated.connect(lambda _index: self.rework())
        self.failed_view.selectionModel().selectionChanged.connect(self._update_actions)
        mine_layout = QVBoxLayout(mine_box)
        mine_layout.setContentsMargins(0, 4, 4, 0)
        mine_layout.addWidget(_pane_title("My emails", mine_box))
        mine_layout.addWidget(self.mine_tabs, 1)
        return mine_box

    def _build_email_and_reply(self, right: QSplitter) -> None:
        """The open email (the reading pane) above the reply to it (the editor)."""
        ctx = self.ctx
        self.pane = EmailDetailPane(ctx, EmailService(ctx.db, ctx.actor), right)
        self.pane.clear("Take an email to read it here.")
        self.editor = ReplyEditor(self.work, right)
        self.editor.finished.connect(self._finished)
        self.editor.draft_saved.connect(self._draft_saved)
        self.editor.lost.connect(self._lost)
        self.editor.opened.connect(self._editor_opened)
        self.editor.open_failed.connect(self._editor_open_failed)
        self._focus_when_open = False
        self._say_when_open: tuple[str, EmailRef | None] | None = None
        right.addWidget(self.pane)
        right.addWidget(self.editor)
        right.setStretchFactor(0, 5)
        right.setStretchFactor(1, 6)
        right.setChildrenCollapsible(False)

    def _build_actions(self) -> None:
        """The screen's keys: the reply's actions anywhere, moving between panes, refresh,
        the shortcuts list."""
        # The reply's actions work anywhere in the screen, not only in the editor.
        self.addActions(
            [
                self.editor.send_action,
                self.editor.draft_action,
                self.editor.put_back_action,
                self.editor.move_action,
            ]
        )
        self.next_pane_action = screen_action(self, "Next pane", lambda: self.cycle_pane(1), ["F6"])
        self.previous_pane_action = screen_action(
            self, "Previous pane", lambda: self.cycle_pane(-1), ["Shift+F6"]
        )
        self.pane_actions = [
            screen_action(self, text, self._pane_slot(n), [f"Alt+{n + 1}"])
            for n, text in enumerate(
                ["Go to Queues", "Go to My emails", "Go to the email", "Go to the reply"]
            )
        ]
        self.refresh_action = screen_action(self, "Refresh now", self.reload, ["F5"])
        self.shortcuts_action = screen_action(
            self, "Keyboard shortcuts", self.show_shortcuts, [HELP_KEYS]
        )

    # ---- following the database -------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        step_aside_for_window_help(self.shortcuts_action, self)
        self.age_timer.start()

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self.age_timer.stop()

    def _availability(self, available: bool) -> None:
        """The database went away or came back (the change hub says which)."""
        if not available:
            self._database_lost = True
            self.show_status(
                "Reconnecting to the database… What you typed is kept; send it when the "
                "connection is back."
            )
        elif self._database_lost:
            self._database_lost = False
            self.show_status("Connected to the database again.")

    @property
    def loaded(self) -> bool:
        """The lists have been read at least once."""
        return self._loaded_once

    def reload(self) -> None:
        """Read the queues and my emails again (off the GUI thread), keeping what is
        selected. Asked again while a reload waits, it is one reload."""
        work, epoch = self.work, self._epoch

        def loaded(lists: tuple[list[Queue], list[HeldEmail], list[AgentFailedSend]]) -> None:
            if epoch != self._epoch:
                return  # read before an email was taken here: a newer reload follows
            self._loaded(*lists)

        run(
            self,
            lambda: (work.queues(), work.held(), work.my_failed_sends()),
            loaded,
            self._reload_failed,
            lane=LISTS,
            coalesce="reload",
        )

    def _reload_failed(self, failure: Failure) -> None:
        if failure.unavailable:
            self._availability(False)
            # Tried again until it works: a connection found dead once the database is
            # back fails one read, and no change may follow to ask for another.
            self._retry.start()  # (one timer: failures never start a second chain)
        else:
            self.show_status(f"My Work could not be updated: {failure.message}")

    def _loaded(
        self, queues: list[Queue], held: list[HeldEmail], failed: list[AgentFailedSend]
    ) -> None:
        first = not self._loaded_once
        self._loaded_once = True
        if self._database_lost:
            self._availability(True)
        self._reloading = True
        try:
            self._set_rows(self.queues_view, self.queue_model, queues, lambda q: q.campaign_id)
            self._set_rows(self.held_view, self.held_model, held, lambda h: h.email_id)
            drafts = [h for h in held if h.status == EmailStatus.DRAFT]
            self._set_rows(self.drafts_view, self.drafts_model, drafts, lambda h: h.email_id)
            self._set_rows(self.failed_view, self.failed_model, failed, lambda f: f.reply_id)
            if first and queues:
                self.queues_view.selectRow(0)
        finally:
            self._reloading = False
        self.mine_tabs.setTabText(0, f"&Held ({len(held)})")
        self.mine_tabs.setTabText(1, f"My d&rafts ({len(drafts)})")
        self.mine_tabs.setTabText(2, f"&Failed sends ({len(failed)})")
        held_ids = {h.email_id for h in held}
        self.editor.forget_except(held_ids)
        open_id = self.editor.email_id
        if open_id is not None and open_id not in held_ids and not self.editor.acting:
            # Re-opened, moved or put back by someone else (another workstation).
            gone = self._email_ref(open_id)
            self.editor.clear()
            self.pane.clear("This email is no longer yours.")
            self._open_changed()
            self.show_status(
                "It is no longer yours: a supervisor returned it to the queue, re-opened it "
                "to someone else or moved it.",
                gone,
            )
        self._select_open()
        if self.queued_dialog is not None and self.queued_dialog.isVisible():
            self.queued_dialog.reload()
        self._update_actions()

    def _set_rows(
        self,
        view: QTableView,
        model: RecordTableModel[T],
        rows: list[T],
        key: Callable[[T], object],
    ) -> None:
        chosen = _selected(view)
        if model.rows() == rows:
            # Nothing changed: leave the view (and its scroll position) alone; only the
            # waiting times are shown again.
            model.refresh_all()
            return
        current = view.currentIndex()
        model.set_rows(rows)
        if chosen is not None and _select(view, key, key(chosen)):
            return
        if current.isValid() and rows and view is self.queues_view:
            view.selectRow(min(current.row(), len(rows) - 1))

    def _select_open(self) -> None:
        """Show the open email as the selected row of My emails."""
        open_id = self.editor.email_id
        self._reloading = True
        try:
            for view in (self.held_view, self.drafts_view):
                if open_id is None or not _select(view, lambda h: h.email_id, open_id):
                    view.clearSelection()
        finally:
            self._reloading = False

    # ---- taking ---------------------------------------------------------------------
    def selected_queue(self) -> Queue | None:
        return _selected(self.queues_view)  # type: ignore[no-any-return]

    def take_next(self) -> None:
        self._take_next(None)

    def take_next_selected(self) -> None:
        queue = self.selected_queue()
        if queue is None:
            self.show_status("Select a campaign in Queues first.")
            return
        self._take_next(queue)

    def _take_next(self, queue: Queue | None) -> None:
        """Take the oldest email and read what showing it needs, in one operation (on
        PostgreSQL three round trips at most); the lists are read again after it is shown."""
        work, campaign_id = self.work, queue.campaign_id if queue else None
        complete = self.pane.completer()

        def take() -> tuple[int, tuple[WorkItem, list[TemplateChoice]], EmailRead] | None:
            opened = work.take_and_open(campaign_id, BODY_AT_ONCE)
            if opened is None:
                return None
            return opened.email_id, (opened.item, opened.templates), complete(opened.detail)

        def taken(
            found: tuple[int, tuple[WorkItem, list[TemplateChoice]], EmailRead] | None,
        ) -> None:
            if found is None:
                where = f"in {queue.title}" if queue else "in your queues"
                self.show_status(f"No email is waiting {where}.")
            else:
                email_id, reply, email = found
                self._epoch += 1
                self._show_taken(email_id, reply, email)
            self.reload()

        run(
            self,
            take,
            taken,
            lambda failure: messages.error(self, "Take Next", failure.message),
        )

    def _show_taken(
        self, email_id: int, reply: tuple[WorkItem, list[TemplateChoice]], email: EmailRead
    ) -> None:
        self.editor.expect(email_id)
        self.pane.expect(email_id)
        self.editor.show_read(email_id, reply)
        self.pane.show_read(email)
        self._open_changed()
        self._select_open()
        self._update_actions()
        self.editor.focus_start()

    def show_queued(self) -> None:
        queue = self.selected_queue()
        if queue is None:
            self.show_status("Select a campaign in Queues first.")
            return
        if self.queued_dialog is not None:
            self.queued_dialog.close()
        dialog = QueuedEmailsDialog(self.ctx, self.work, queue.campaign_id, queue.title, self)
        dialog.taken.connect(self._taken)
        dialog.finished.connect(lambda _r: self._dialog_closed(dialog))
        self.queued_dialog = dialog
        dialog.open()

    def _dialog_closed(self, dialog: QueuedEmailsDialog) -> None:
        if self.queued_dialog is dialog:
            self.queued_dialog = None
        dialog.deleteLater()

    def _taken(self, email_id: int) -> None:
        self._epoch += 1
        self.open_email(email_id, focus=True)
        self.reload()

    # ---- my emails -------------------------------------------------------------------
    def _held_selected(self, view: QTableView) -> None:
        if self._reloading:
            return
        chosen: HeldEmail | None = _selected(view)
        if chosen is not None and chosen.email_id != self.editor.email_id:
            self.open_email(chosen.email_id)

    def _held_activated(self, *_args: object) -> None:
        self.editor.focus_start()

    def open_email(self, email_id: int, focus: bool = False) -> None:
        """Show a held email and its reply; ``focus`` puts the cursor where the reply starts
        (once it is open)."""
        self._focus_when_open = focus
        self.editor.open_email(email_id)
        self.pane.show_email(email_id)

    def _editor_opened(self, email_id: int) -> None:
        self._open_changed()
        if self._say_when_open is not None:  # about the email done before this one
            text, about = self._say_when_open
            self._say_when_open = None
            self.show_status(text, about)
        self._select_open()
        self._update_actions()
        if self._focus_when_open:
            self._focus_when_open = False
            self.editor.focus_start()

    def _editor_open_failed(self, email_id: int, why: str) -> None:
        self.pane.clear(why)
        self._open_changed()
        self.reload()

    def rework(self) -> None:
        failed: AgentFailedSend | None = _selected(self.failed_view)
        if failed is None:
            return
        work, reply_id = self.work, failed.reply_id

        def reworked(email_id: int) -> None:
            self._epoch += 1
            self.mine_tabs.setCurrentIndex(1)
            self.open_email(email_id, focus=True)
            self._say_when_open = (
                "The failed reply is a draft again: correct it and send it.",
                EmailRef(email_id, ""),
            )
            self.reload()

        def not_reworked(failure: Failure) -> None:
            messages.error(self, "Correct and Send Again", failure.message)
            self.reload()

        run(self, lambda: work.rework_failed(reply_id), reworked, not_reworked)

    # ---- after the reply ----------------------------------------------------------------
    def _finished(self, email_id: int, what: str) -> None:
        done = {
            "sent": "Reply queued for sending.",
            "put back": "Put back to its queue.",
            "moved": "Moved to the other campaign's queue.",
        }.get(what, "Done.")
        finished = self._email_ref(email_id)  # before the reload forgets it
        if self.editor.email_id is None and self.editor.opening is None:
            self.pane.clear("Take an email to read it here.")
            self._open_changed()
            # Carry on with the next email taken and not parked as a draft, if there is one.
            waiting = [
                h
                for h in self.held_model.rows()
                if h.status == EmailStatus.ASSIGNED and h.email_id != email_id
            ]
            if waiting:
                self.open_email(waiting[0].email_id, focus=True)
                self._say_when_open = (f"{done} Opened your next email.", finished)
            else:
                self.show_status(f"{done} Take next with Ctrl+N.", finished)
                self.queues_view.setFocus(Qt.FocusReason.OtherFocusReason)
        else:
            self.show_status(done, finished)
        self.reload()

    def _draft_saved(self, email_id: int) -> None:
        self.reload()
        self.show_status("Draft saved: it waits in My drafts.", self._email_ref(email_id))

    def _lost(self, email_id: int, why: str) -> None:
        lost = self._email_ref(email_id)  # before the reload forgets it
        if self.editor.email_id is None and self.editor.opening is None:
            self.pane.clear(why)
            self._open_changed()
        self.reload()
        self.show_status(why, lost)

    def show_status(self, text: str, about: EmailRef | None = None) -> None:
        """Say ``text`` under the screen; ``about``: the email it concerns, if one (named
        by its subject unless it is the open one; the message goes when another opens)."""
        self.status.show_message(text, about)

    def _open_changed(self) -> None:
        self.status.email_opened(self.editor.email_id)

    def _email_ref(self, email_id: int) -> EmailRef:
        """The email and its subject, from My emails or else the reading pane."""
        for held in self.held_model.rows():
            if held.email_id == email_id:
                return EmailRef(email_id, held.subject)
        detail = self.pane.detail
        subject = detail.subject if detail is not None and detail.id == email_id else ""
        return EmailRef(email_id, subject)

    def _update_actions(self, *_args: object) -> None:
        self.take_selected_action.setEnabled(self.selected_queue() is not None)
        self.queued_action.setEnabled(self.selected_queue() is not None)
        failed: AgentFailedSend | None = _selected(self.failed_view)
        # An uncertain send may have reached the customer: a supervisor settles it.
        self.rework_action.setEnabled(failed is not None and failed.state == ReplyState.FAILED)

    # ---- keyboard ------------------------------------------------------------------------
    def focus_start(self) -> None:
        """Where the keyboard starts when the screen comes to the front: the reply when an
        email is open, else the Queues (so that Ctrl+N takes the next email at once)."""
        if self.editor.item is not None:
            self.editor.focus_start()
        else:
            self.queues_view.setFocus(Qt.FocusReason.OtherFocusReason)

    def panes(self) -> list[QWidget]:
        return [self.queues_view, self.mine_tabs, self.pane, self.editor]

    def focus_pane(self, number: int) -> None:
        """0 Queues, 1 My emails, 2 the email, 3 the reply."""
        if number == 0:
            self.queues_view.setFocus(Qt.FocusReason.ShortcutFocusReason)
        elif number == 1:
            views = [self.held_view, self.drafts_view, self.failed_view]
            views[self.mine_tabs.currentIndex()].setFocus(Qt.FocusReason.ShortcutFocusReason)
        elif number == 2:
            target = self.pane.browser if self.pane.browser.isVisible() else self.pane
            target.setFocus(Qt.FocusReason.ShortcutFocusReason)
        elif self.editor.item is not None:
            self.editor.focus_start()
        else:
            self.editor.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def _pane_slot(self, number: int) -> Callable[..., None]:
        return lambda *_args: self.focus_pane(number)

    def current_pane(self) -> int | None:
        focused = self.focusWidget()
        for number, pane in enumerate(self.panes()):
            if focused is not None and (focused is pane or pane.isAncestorOf(focused)):
                return number
        return None

    def cycle_pane(self, step: int) -> None:
        current = self.current_pane()
        start = -1 if current is None and step > 0 else (current or 0)
        self.focus_pane((start + step) % len(self.panes()))

    def show_shortcuts(self) -> None:
        root = self.window()
        self.shortcuts_dialog = ShortcutsDialog.for_widget(root, self)
        self.shortcuts_dialog.open()

    def shortcut_actions(self) -> list[Any]:
        """This screen's actions with keys, as the shortcuts dialog lists them."""
        return [a for a in self.actions() if not a.shortcut().isEmpty()]

    # ---- leaving -----------------------------------------------------------------------
    def confirm_close(self) -> bool:
        """Closing loses replies typed and neither sent nor saved: ask first."""
        unsent = self.editor.unsent_count()
        if not unsent:
            return True
        what = "a reply" if unsent == 1 else f"{unsent} replies"
        return messages.confirm(
            self,
            "My Work",
            f"You typed {what} that you have neither sent nor saved as a draft. "
            "Close My Work and lose what you typed?",
            ok="Close and lose it",
            cancel="Keep working",
        )
