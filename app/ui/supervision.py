"""Management screens for supervisors: Failed Sends (retry, accept as sent) and Held Emails
(who holds what, for how long; return an email to its queue). Both follow changes made
anywhere (the change hub), and read off the GUI thread."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QTimer
from PySide6.QtGui import QHideEvent, QShowEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QTableView, QVBoxLayout, QWidget

from app.domain.clock import utcnow
from app.domain.enums import EmailStatus, ReplyState
from app.services import outbox
from app.services.auth import Permission
from app.services.outbox import FailedSend, FailedSends
from app.services.work import HeldEmail, WorkService
from app.ui.changes import ChangeWatcher
from app.ui.context import AppContext
from app.ui.models import Column, RecordTableModel
from app.ui.operations import Failure, run
from app.ui.widgets import confirm_then_run, selected_record, table_view

T = TypeVar("T")
AGE_MS = 3000  # how often "Held for" is shown again (from what was read: no query)


def waited(since: datetime | None, now: datetime | None = None) -> str:
    """How long since ``since``, the way a person says it: "45 s", "12 min", "3 h 05 min",
    "2 d 4 h"."""
    if since is None:
        return ""
    seconds = max(0, int(((now or utcnow()) - since).total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


class _ListScreen(QWidget, Generic[T]):
    """A caption, a table of records that re-reads itself when something changed, action
    buttons and a note line. The selection survives a refresh."""

    def __init__(
        self,
        caption: str,
        columns: Sequence[Column[T]],
        load: Callable[[], list[T]],
        key: Callable[[T], Any],
        parent: QWidget | None,
    ) -> None:
        super().__init__(parent)
        self._load, self._key = load, key
        self.model: RecordTableModel[T] = RecordTableModel(columns, self)
        self.view: QTableView = table_view(self, caption.replace("&", ""))
        self.view.setModel(self.model)
        self.view.setSortingEnabled(False)
        self.caption = QLabel(caption, self)
        self.caption.setBuddy(self.view)
        self.note = QLabel(self)
        self.note.setWordWrap(True)
        self.buttons = QHBoxLayout()
        layout = QVBoxLayout(self)
        layout.addWidget(self.caption)
        layout.addWidget(self.view, 1)
        layout.addLayout(self.buttons)
        layout.addWidget(self.note)
        self.view.selectionModel().selectionChanged.connect(lambda *_: self.update_buttons())
        # Only while shown: a hidden tab or a closed screen reads nothing.
        self.timer = QTimer(self)
        self.timer.setInterval(AGE_MS)
        self.timer.timeout.connect(self.model.refresh_all)

    def follow_changes(self, ctx: AppContext) -> None:
        self.watcher = ChangeWatcher(ctx, self)
        self.watcher.changed.connect(self.reload)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.timer.start()

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self.timer.stop()

    def add_button(self, text: str, slot: Callable[[], object]) -> QPushButton:
        button = QPushButton(text, self)
        button.clicked.connect(slot)
        self.buttons.addWidget(button)
        return button

    def current(self) -> T | None:
        return selected_record(self.view)  # type: ignore[no-any-return]

    def reload(self) -> None:
        """Read the records again (off the GUI thread), then show them."""
        run(self, self._load, self._loaded, self._failed, coalesce="reload")

    def _failed(self, failure: Failure) -> None:
        self.note.setText(failure.message)

    def _loaded(self, rows: list[T]) -> None:
        chosen = self.current()
        self.model.set_rows(rows)
        if chosen is not None:
            wanted = self._key(chosen)
            for row, record in enumerate(rows):
                if self._key(record) == wanted:
                    self.view.selectRow(row)
                    break
        self.update_buttons()

    def update_buttons(self) -> None:
        """Enable the buttons for the selected record (in subclasses)."""


class FailedSendsScreen(_ListScreen[FailedSend]):
    """Replies that could not be delivered (failed, or uncertain whether they were), with the
    server's reason, and those whose sending stalled (their sender stopped renewing its
    claim: shown as soon as the claim runs out, with what becomes of them); Retry queues a
    failed or uncertain one again, Accept as sent settles an uncertain one.

    An uncertain or failed reply is shown as soon as it is marked: marking it writes History,
    which the change hub hears. A stalled one changes nothing in the database when its claim
    runs out, so the screen reads the list again at the earliest moment a claim could (and
    every few seconds while stalled sends are shown), only while it is shown."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        ctx.actor.require(Permission.CONFIGURE_CAMPAIGNS)
        self.ctx = ctx
        fmt = ctx.format_datetime
        super().__init__(
            "&Failed sends:",
            [
                Column("Queued", lambda f: fmt(f.created_at)),
                Column("State", lambda f: "Stalled" if f.stalled else f.state.value.capitalize()),
                Column("To", lambda f: f.recipients),
                Column("Subject", lambda f: f.subject),
                Column("Agent", lambda f: f.agent or ""),
                Column("Attempts", lambda f: f.attempts),
                Column("Reason", lambda f: f.last_error or ""),
            ],
            lambda: outbox.failed_sends(ctx.db),
            lambda f: f.reply_id,
            parent,
        )
        self.look_again_at: datetime | None = None
        self.look_again = QTimer(self)
        self.look_again.setSingleShot(True)
        self.look_again.timeout.connect(self.reload)
        self.retry_button = self.add_button("&Retry", self.retry)
        self.retry_button.setToolTip("Queue the reply again; the back-off starts afresh")
        self.accept_button = self.add_button("&Accept as sent", self.accept)
        self.accept_button.setToolTip(
            "The reply is known to have reached the customer (uncertain sends only)"
        )
        self.buttons.addStretch(1)
        self.follow_changes(ctx)
        self.reload()

    def reload(self) -> None:
        """Read the list and when to read it again unprompted (off the GUI thread)."""
        db = self.ctx.db
        run(self, lambda: outbox.review(db), self._reviewed, self._failed, coalesce="reload")

    def _reviewed(self, review: FailedSends) -> None:
        self._loaded(review.sends)
        self.look_again_at = review.look_again_at
        self._schedule()

    def _schedule(self) -> None:
        self.look_again.stop()
        if self.look_again_at is None or not self.isVisible():
            return
        seconds = (self.look_again_at - utcnow()).total_seconds()
        # (a little after the deadline: the claim has run out by then; at least 1 s apart)
        self.look_again.start(int(max(1.0, seconds + 0.2) * 1000))

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._schedule()

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self.look_again.stop()

    def update_buttons(self) -> None:
        chosen = self.current()
        self.retry_button.setEnabled(chosen is not None and not chosen.stalled)
        self.accept_button.setEnabled(chosen is not None and chosen.state == ReplyState.UNCERTAIN)
        if self.model.rowCount() == 0:
            self.note.setText("No failed sends: every reply went out or is on its way.")
        elif chosen is not None and chosen.state == ReplyState.UNCERTAIN:
            self.note.setText(
                "Uncertain: the connection broke after the server was given the reply, and it "
                "is not in the Sent folder. Check with the customer before retrying."
            )
        elif chosen is not None and chosen.stalled:
            self.note.setText(
                "Stalled: the program sending this reply stopped. The next sender settles it "
                "without sending it twice; nothing to do unless no sender runs."
            )
        else:
            self.note.clear()

    def retry(self) -> None:
        chosen = self.current()
        if chosen is None:
            return
        question = f"Send the reply to {chosen.recipients} again?"
        if chosen.state == ReplyState.UNCERTAIN:
            question += "\n\nIt may already have reached the customer: they could get it twice."
        db, actor = self.ctx.db, self.ctx.actor
        confirm_then_run(
            self,
            "Retry",
            question,
            lambda: outbox.retry(db, actor, chosen.reply_id),
            self.reload,
            ok="Retry",
        )

    def accept(self) -> None:
        chosen = self.current()
        if chosen is None:
            return
        db, actor = self.ctx.db, self.ctx.actor
        confirm_then_run(
            self,
            "Accept as Sent",
            f"Record the reply to {chosen.recipients} as sent?",
            lambda: outbox.accept_as_sent(db, actor, chosen.reply_id),
            self.reload,
            ok="Accept as sent",
        )


class HeldEmailsScreen(_ListScreen[HeldEmail]):
    """Who holds which email and for how long; an email can be returned to its queue."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        ctx.actor.require(Permission.CONFIGURE_CAMPAIGNS)
        self.ctx = ctx
        self.work = WorkService(ctx.db, ctx.actor)
        super().__init__(
            "&Held emails (the longest-held first):",
            [
                Column("Agent", lambda h: h.agent or ""),
                Column("Held for", lambda h: waited(h.taken_at)),
                Column("Status", lambda h: "Draft" if h.status == EmailStatus.DRAFT else "Taken"),
                Column("Campaign", lambda h: h.campaign or ""),
                Column("Subject", lambda h: h.subject),
                Column("From", lambda h: h.from_addr),
                Column("Received", lambda h: ctx.format_datetime(h.received_at)),
            ],
            self.work.holdings,
            lambda h: h.email_id,
            parent,
        )
        self.return_button = self.add_button("Return to &queue", self.return_to_queue)
        self.return_button.setToolTip("Take the email away from its agent and queue it again")
        self.buttons.addStretch(1)
        self.follow_changes(ctx)
        self.reload()

    def update_buttons(self) -> None:
        self.return_button.setEnabled(self.current() is not None)
        if self.model.rowCount() == 0:
            self.note.setText("Nobody holds an email now.")
        else:
            self.note.clear()

    def return_to_queue(self) -> None:
        chosen = self.current()
        if chosen is None:
            return
        question = f"Take '{chosen.subject}' away from {chosen.agent} and queue it again?"
        if chosen.status == EmailStatus.DRAFT:
            question += f"\n\n{chosen.agent}'s draft reply will be discarded."
        work = self.work
        confirm_then_run(
            self,
            "Return to Queue",
            question,
            lambda: work.return_to_queue(chosen.email_id),
            self.reload,
            ok="Return to queue",
        )
