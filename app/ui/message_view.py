"""The reading pane of Management ▸ Emails and My Work: one email's headers, its body
shown safely, its attachments, the replies below it, the raw source and the history.
Nothing a sender wrote may freeze the window: the headers are read at once, the body is
prepared off the GUI thread (``app.ui.email_rendering``) and shown a piece per turn of the
event loop, each one cheap to lay out; a long body shows its first part, the rest when
asked for ("Show the rest").
"""

from __future__ import annotations

import html
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QTextCursor
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.domain.enums import EmailStatus
from app.mail.html import html_pieces
from app.services.auth import Permission
from app.services.emails import FLAG_LABELS, EmailBody, EmailDetail, EmailService, HistoryRow
from app.services.filenames import safe_file_name
from app.services.work import WorkService
from app.ui.context import AppContext
from app.ui.email_rendering import BODY_AT_ONCE, EmailRead, Rendering, prepare
from app.ui.mail_display import (
    QUARANTINE_COLOR,
    addresses_html,
    link_host_note,
    replies_html,
    shown_size,
    two_columns,
    visible_text,
)
from app.ui.messages import messages
from app.ui.models import Column, RecordTableModel
from app.ui.operations import INTERACTIVE, READS, Failure, Job, run
from app.ui.raw_source_tab import RawSourceTab
from app.ui.safe_browser import SafeBrowser
from app.ui.save_folder import last_save_folder, remember_save_folder
from app.ui.widgets import table_view

LOADING_NOTE_MS = 300  # a body not ready by then says it is coming
CUT_NOTE_STYLE = "color:#666666; margin-top:8px"
_FIRST_PART_ENDS = "<!-- the first part ends here -->"  # among the pieces, by identity


class EmailDetailPane(QWidget):
    """One email: its headers, then tabs with the conversation, raw source and history."""

    released = Signal(int)
    reopened = Signal(int)
    shown = Signal(int)  # the email asked for is shown (or why it is not)
    saved = Signal(str)  # an attachment or the source was written there

    def __init__(self, ctx: AppContext, service: EmailService, parent: QWidget | None) -> None:
        super().__init__(parent)
        self.ctx, self.service = ctx, service
        self.detail: EmailDetail | None = None
        self._asked: int | None = None  # the email asked for last
        self._reading = False  # ``_asked`` is being read
        self._shown = 0  # which showing the body on its way belongs to
        self._loading: Job[Rendering] | None = None
        self._pending: deque[str] = deque()  # pieces still to append
        self._tail: list[str] = []  # the replies, after the body's first part
        self._rest: list[str] = []
        self._cut: int | None = None  # where the first part ends in the document

        self.header = QLabel(self)
        self.header.setTextFormat(Qt.TextFormat.RichText)
        self.header.setWordWrap(True)
        self.header.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
            | Qt.TextInteractionFlag.TextSelectableByKeyboard
        )
        self.header.setAccessibleName("Email headers")

        # Quarantined emails can be released into a campaign's queue.
        self.release_row = QWidget(self)
        release_layout = QHBoxLayout(self.release_row)
        release_layout.setContentsMargins(0, 0, 0, 0)
        self.release_combo = QComboBox(self.release_row)
        release_label = QLabel("Release to campai&gn:", self.release_row)
        release_label.setBuddy(self.release_combo)
        self.release_button = QPushButton("Release &quarantined email", self.release_row)
        self.release_button.clicked.connect(self.release)
        release_layout.addWidget(release_label)
        release_layout.addWidget(self.release_combo, 1)
        release_layout.addWidget(self.release_button)

        # Supervisors re-open an actioned email: to its queue or straight to an agent.
        self.reopen_row = QWidget(self)
        reopen_layout = QHBoxLayout(self.reopen_row)
        reopen_layout.setContentsMargins(0, 0, 0, 0)
        self.reopen_combo = QComboBox(self.reopen_row)
        reopen_label = QLabel("Re-open, &back to:", self.reopen_row)
        reopen_label.setBuddy(self.reopen_combo)
        self.reopen_button = QPushButton("Re-open", self.reopen_row)
        self.reopen_button.setToolTip("Put the actioned email back to work")
        self.reopen_button.clicked.connect(self.reopen)
        reopen_layout.addWidget(reopen_label)
        reopen_layout.addWidget(self.reopen_combo, 1)
        reopen_layout.addWidget(self.reopen_button)

        self.tabs = QTabWidget(self)
        # Conversation: the body, its attachments, the replies below it.
        conversation = QWidget(self.tabs)
        self.browser = SafeBrowser(conversation)
        self.browser.setAccessibleName("Email and replies")
        self.browser.link_requested.connect(self.open_link)
        self.rest_row = QWidget(conversation)
        rest_layout = QHBoxLayout(self.rest_row)
        rest_layout.setContentsMargins(0, 0, 0, 0)
        self.rest_note = QLabel(self.rest_row)
        self.rest_note.setStyleSheet("color: #666666;")
        self.rest_button = QPushButton(self.rest_row)
        self.rest_button.setToolTip("Show the rest of this long email, its tables laid flat")
        self.rest_button.clicked.connect(self.show_rest)
        rest_layout.addWidget(self.rest_note, 1)
        rest_layout.addWidget(self.rest_button)
        self.rest_row.hide()
        self.attachments_label = QLabel("Attache&d files:", conversation)
        self.attachments = QListWidget(conversation)
        self.attachments.setAccessibleName("Attached files")
        self.attachments.setFlow(QListWidget.Flow.LeftToRight)
        self.attachments.setWrapping(True)
        self.attachments.setMaximumHeight(self.fontMetrics().height() * 2 + 12)
        self.attachments_label.setBuddy(self.attachments)
        self.save_button = QPushButton("Sa&ve as…", conversation)
        self.save_button.setToolTip("Save the selected attachment to a file")
        self.save_button.clicked.connect(self.save_attachment)
        self.attachments.itemActivated.connect(lambda _item: self.save_attachment())
        self.attachments.currentItemChanged.connect(self._update_buttons)
        files = QHBoxLayout()
        files.addWidget(self.attachments_label, 0, Qt.AlignmentFlag.AlignTop)
        files.addWidget(self.attachments, 1)
        files.addWidget(self.save_button, 0, Qt.AlignmentFlag.AlignTop)
        self.files_row = QWidget(conversation)
        self.files_row.setLayout(files)
        files.setContentsMargins(0, 0, 0, 0)
        conversation_layout = QVBoxLayout(conversation)
        conversation_layout.addWidget(self.browser, 1)
        conversation_layout.addWidget(self.rest_row)
        conversation_layout.addWidget(self.files_row)
        self.tabs.addTab(conversation, "C&onversation")

        self.raw_tab = RawSourceTab(service, self.tabs)
        self.raw_tab.export_button.clicked.connect(self.export_raw)
        self.tabs.addTab(self.raw_tab, "Raw so&urce")

        self.history_model: RecordTableModel[HistoryRow] = RecordTableModel(
            [
                Column("When", lambda h: ctx.format_datetime(h.at)),
                Column("Who", lambda h: h.user or "System"),
                Column("Action", lambda h: h.action.replace("_", " ").capitalize()),
                Column("Detail", lambda h: h.detail),
            ],
            self,
        )
        self.history_view = table_view(self.tabs, "History")
        self.history_view.setSortingEnabled(False)
        self.history_view.setModel(self.history_model)
        self.tabs.addTab(self.history_view, "Histor&y")
        self.tabs.currentChanged.connect(self._tab_changed)

        self.placeholder = QLabel("Select an email to see it here.", self)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setStyleSheet("color: #666666;")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.placeholder)
        layout.addWidget(self.header)
        layout.addWidget(self.release_row)
        layout.addWidget(self.reopen_row)
        layout.addWidget(self.tabs, 1)

        # One piece of the body per turn of the event loop.
        self._append_timer = QTimer(self)
        self._append_timer.setSingleShot(True)
        self._append_timer.setInterval(0)
        self._append_timer.timeout.connect(self._append_next)
        self._loading_note = QTimer(self)
        self._loading_note.setSingleShot(True)
        self._loading_note.setInterval(LOADING_NOTE_MS)
        self._loading_note.timeout.connect(self._say_loading)
        self.clear()

    # ---- showing ----------------------------------------------------------------
    def busy(self) -> bool:
        """Is the body still being read or shown?"""
        return self._reading or self._loading is not None or bool(self._pending)

    def clear(self, text: str = "Select an email to see it here.") -> None:
        self._stop_body()
        self.detail = None
        self.placeholder.setText(text)
        self.placeholder.show()
        self.header.hide()
        self.release_row.hide()
        self.reopen_row.hide()
        self.tabs.hide()

    def _stop_body(self) -> None:
        self.raw_tab.stop()
        self._shown += 1
        self._loading = None
        self._pending.clear()
        self._append_timer.stop()
        self._loading_note.stop()
        self._tail, self._rest, self._cut = [], [], None
        self.rest_row.hide()

    def show_email(self, email_id: int) -> None:
        """Read the email off the GUI thread (its headers; a small body with them, prepared
        for showing), then show it. A later call wins over one still on its way."""
        self.expect(email_id)
        read = self.reader()
        run(
            self,
            lambda: read(email_id),
            self._read,
            lambda f: self._read_failed(email_id, f),
            coalesce="show",
        )

    def expect(self, email_id: int) -> None:
        """``email_id`` is being read to be shown (by ``reader``, here or by another)."""
        self._asked, self._reading = email_id, True

    def reader(self) -> Callable[[int], EmailRead]:
        """What showing an email reads (to run off the GUI thread, alone or with more)."""
        service, complete = self.service, self.completer()
        return lambda email_id: complete(service.detail(email_id, body_limit=BODY_AT_ONCE))

    def completer(self) -> Callable[[EmailDetail], EmailRead]:
        """What showing an email read with its body (if small) needs besides (to run off
        the GUI thread): the body prepared, the choices of its actions if not read yet."""
        ctx = self.ctx
        service = self.service
        need_campaigns = self.release_combo.count() == 0
        need_agents = self.reopen_combo.count() == 0 and ctx.can(Permission.CONFIGURE_CAMPAIGNS)

        def complete(d: EmailDetail) -> EmailRead:
            rendering = prepare(d.body()) if d.body_loaded else None
            campaigns = (
                service.filter_options().campaigns
                if need_campaigns and d.status == EmailStatus.QUARANTINED
                else None
            )
            agents = (
                WorkService(ctx.db, ctx.actor).agents()
                if need_agents and d.status == EmailStatus.ACTIONED
                else None
            )
            return EmailRead(d, rendering, campaigns, agents)

        return complete

    def show_read(self, read: EmailRead) -> None:
        self._read(read)

    def show_unreadable(self, email_id: int, failure: Failure) -> None:
        self._read_failed(email_id, failure)

    def _read(self, read: EmailRead) -> None:
        if read.detail.id != self._asked:
            return  # another email was asked for meanwhile
        self._reading = False
        if read.campaigns is not None and self.release_combo.count() == 0:
            for campaign_id, title in read.campaigns:
                self.release_combo.addItem(title, campaign_id)
        if read.agents is not None and self.reopen_combo.count() == 0:
            self.reopen_combo.addItem("the queue of its campaign", None)
            for agent_id, name in read.agents:
                self.reopen_combo.addItem(name, agent_id)
        self.show_detail(read.detail, read.rendering)
        self.shown.emit(read.detail.id)

    def _read_failed(self, email_id: int, failure: Failure) -> None:
        if email_id != self._asked:
            return
        self._reading = False
        if failure.kind == "refused":
            self.clear(failure.message)
        else:
            self.clear(f"The email could not be read: {failure.message}")
        self.shown.emit(email_id)

    def show_detail(self, d: EmailDetail, rendering: Rendering | None = None) -> None:
        """Show ``d``: its headers at once, its body (read now unless ``d`` has it) a
        piece at a time. The email shown already, with the same replies (read again after
        a change somewhere), keeps its body as shown: the rest the user asked for, where
        they scrolled to."""
        previous = self.detail
        keep_body = (
            previous is not None
            and previous.id == d.id
            and previous.replies == d.replies
            and not d.body_loaded
            and (previous.body_loaded or self._loading is not None)
        )
        if keep_body:
            assert previous is not None
            d = replace(
                d,
                text_body=previous.text_body,
                html_body=previous.html_body,
                safe_html=previous.safe_html,
                body_loaded=previous.body_loaded,
                attachments=d.attachments or previous.attachments,
            )
        else:
            self._stop_body()
        self.detail = d
        fmt = self.ctx.format_datetime
        esc = html.escape
        status = d.status.value.capitalize()
        if d.agent:
            status += f" — {esc(d.agent)}"
        flags = ", ".join(
            FLAG_LABELS[f] for f in d.flags if f != "quarantined"
        )  # the status says that one
        reply_to = d.reply_to if d.reply_to and d.reply_to not in d.from_addr else ""
        left = [
            ("From", addresses_html(d.from_addr) or "<i>(none)</i>"),
            ("Reply-To", addresses_html(reply_to)),
            ("To", addresses_html(d.to_addrs)),
            ("Cc", addresses_html(d.cc_addrs)),
            ("Channel", esc(d.channel or "")),
        ]
        right = [
            ("Received", esc(fmt(d.received_at))),
            ("Campaign", esc(d.campaign or "None")),
            ("Status", status),
            ("Flags", esc(flags)),
            ("Size", shown_size(d.size)),
        ]
        table = two_columns(left, right)
        if d.quarantine_reason:
            table += (
                f'<p style="margin-top:4px; color:{QUARANTINE_COLOR}"><b>Quarantined:</b> '
                f"{esc(d.quarantine_reason)}</p>"
            )
        subject = esc(visible_text(d.subject)) if d.subject else "<i>(no subject)</i>"
        self.header.setText(
            f'<div style="font-size:large; font-weight:bold">{subject}</div>{table}'
        )
        self._show_attachments(d.attachments)
        self.history_model.set_rows(d.history)
        if not keep_body:
            self.raw_tab.clear()
        self.placeholder.hide()
        self.header.show()
        self.release_row.setVisible(d.status == EmailStatus.QUARANTINED)
        can_reopen = d.status == EmailStatus.ACTIONED and self.ctx.can(
            Permission.CONFIGURE_CAMPAIGNS
        )
        self.reopen_row.setVisible(can_reopen)
        self.tabs.show()
        self._update_buttons()
        if self.tabs.currentIndex() == 1:
            self._load_raw()
        if not keep_body:
            self._show_body(d, rendering)

    def _show_attachments(self, attachments: list[Any]) -> None:
        chosen = self.attachments.currentItem()
        chosen_id = chosen.data(Qt.ItemDataRole.UserRole) if chosen is not None else None
        self.attachments.clear()
        for a in attachments:
            inline = " — inline" if a.content_id else ""
            name = visible_text(a.display_name, "\ufffd")
            if len(name) > 120:
                name = f"{name[:80]}…{name[-30:]}"
            item = QListWidgetItem(f"{name} ({shown_size(a.size)}{inline})")
            item.setData(Qt.ItemDataRole.UserRole, a.id)
            item.setToolTip(a.content_type)
            self.attachments.addItem(item)
            if a.id == chosen_id:
                self.attachments.setCurrentItem(item)
        self.files_row.setVisible(bool(attachments))
        if attachments and self.attachments.currentItem() is None:
            self.attachments.setCurrentRow(0)

    # ---- the body, a piece at a time ---------------------------------------------
    def _show_body(self, d: EmailDetail, prepared: Rendering | None = None) -> None:
        self.browser.images = {}
        self.browser.clear()
        replies = replies_html(d.replies, self.ctx.format_datetime)
        self._tail = [p for p in html_pieces(replies) if p] if replies else []
        shown = self._shown
        if d.body_loaded:
            body = EmailBody(d.text_body, d.html_body, d.safe_html, d.attachments)
            self._body_ready(shown, prepare(body))
            return
        if prepared is not None:
            self._body_ready(shown, prepared)
            return
        email_id = d.id
        service = self.service

        def work() -> Rendering:
            return prepare(service.body(email_id))

        self._loading = run(
            self,
            work,
            lambda rendering: self._body_ready(shown, rendering),
            lambda failure: self._body_failed(shown, failure),
            lane=READS if d.size > BODY_AT_ONCE else INTERACTIVE,
        )
        self._loading_note.start()

    def _say_loading(self) -> None:
        if self._loading is not None:
            self.browser.setHtml('<p style="color:#666666"><i>Reading the email…</i></p>')

    def _body_failed(self, shown: int, failure: Failure) -> None:
        if shown != self._shown:
            return
        self._loading = None
        self._loading_note.stop()
        reason = failure.message
        self.browser.setHtml(
            f'<p style="color:{QUARANTINE_COLOR}">The email could not be read: '
            f"{html.escape(reason)}</p>"
        )

    def _body_ready(self, shown: int, rendering: Rendering) -> None:
        if shown != self._shown:  # another email (or this one again) was asked for
            return
        self._loading = None
        self._loading_note.stop()
        if rendering.body is not None and rendering.body.attachments and self.detail:
            self._show_attachments(rendering.body.attachments)
        if self.detail is not None and rendering.body is not None:
            self.detail = self.detail.with_body(rendering.body)
        self.browser.images = rendering.images
        self._rest = rendering.rest
        first, *more = rendering.first
        self.browser.setHtml(first)
        self._pending.extend(more)
        self._pending.append(_FIRST_PART_ENDS)
        if rendering.rest:
            self._pending.append(
                f'<p style="{CUT_NOTE_STYLE}"><i>[{shown_size(rendering.rest_size)} more of this '
                "email: Show the rest, under the email.]</i></p>"
            )
            self.rest_note.setText("This email is long: its first part is shown.")
            self.rest_button.setText(f"Show the rest ({shown_size(rendering.rest_size)})")
        self._pending.extend(self._tail)
        self._append_timer.start()

    def _append_next(self) -> None:
        if not self._pending:
            return
        piece = self._pending.popleft()
        document = self.browser.document()
        if piece is _FIRST_PART_ENDS:
            self._cut = document.characterCount() - 1
            self.rest_row.setVisible(bool(self._rest))
        elif piece:
            self._append(piece)
        if self._pending:
            self._append_timer.start()

    def _append(self, piece: str) -> None:
        """``piece`` at the end of the document, in blocks of its own (a lone U+200B
        takes the place of the last block's, which the insertion would merge)."""
        document = self.browser.document()
        cursor = QTextCursor(document)
        cursor.movePosition(QTextCursor.MoveOperation.End)
        at = cursor.position()
        cursor.insertHtml(f'<p style="margin:0">\u200b</p>{piece}')
        if document.characterAt(at) == "\u200b":
            cursor.setPosition(at)
            cursor.setPosition(at + 1, QTextCursor.MoveMode.KeepAnchor)
            cursor.removeSelectedText()

    def show_rest(self) -> None:
        """The rest of a long body, a piece at a time, where the first part ends."""
        if not self._rest or self._cut is None:
            return
        cursor = QTextCursor(self.browser.document())
        cursor.setPosition(self._cut)
        cursor.movePosition(QTextCursor.MoveOperation.End, QTextCursor.MoveMode.KeepAnchor)
        cursor.removeSelectedText()  # the note and the replies: they come after the rest
        self._pending.clear()
        self._pending.extend(self._rest)
        self._pending.extend(self._tail)
        self._rest = []
        self.rest_row.hide()
        self.browser.setFocus(Qt.FocusReason.OtherFocusReason)
        self._append_timer.start()

    # ---- raw source --------------------------------------------------------------------
    def _tab_changed(self, index: int) -> None:
        if index == 1:
            self._load_raw()

    def _load_raw(self) -> None:
        if self.detail is not None:
            self.raw_tab.load(self.detail.id, self.detail.size)

    def raw_busy(self) -> bool:
        return self.raw_tab.busy()

    def _update_buttons(self, *_args: object) -> None:
        self.save_button.setEnabled(self.attachments.currentItem() is not None)

    # ---- actions ------------------------------------------------------------------
    def release(self) -> None:
        """Release the shown quarantined email into the chosen campaign's queue."""
        if self.detail is None or self.release_combo.currentData() is None:
            return
        email_id, campaign_id, service = (
            self.detail.id,
            self.release_combo.currentData(),
            self.service,
        )
        self._act(
            "Release", lambda: service.release(email_id, campaign_id), email_id, self.released
        )

    def reopen(self) -> None:
        """Re-open the shown actioned email to its queue or to the chosen agent."""
        if self.detail is None:
            return
        email_id, agent_id = self.detail.id, self.reopen_combo.currentData()
        work = WorkService(self.ctx.db, self.ctx.actor)
        self._act("Re-open", lambda: work.reopen(email_id, agent_id), email_id, self.reopened)

    def _act(self, title: str, action: Callable[[], object], email_id: int, then: Any) -> None:
        """Run ``action`` off the GUI thread; then say ``then(email_id)`` and show the email
        again, or show why not."""

        def done(_result: object) -> None:
            then.emit(email_id)
            self.show_email(email_id)

        run(self, action, done, lambda f: messages.error(self, title, f.message))

    def choose_save_path(self, title: str, suggested: str) -> str | None:
        """Ask where to save; tests replace this to bypass the dialog."""
        path, _filter = QFileDialog.getSaveFileName(self, title, suggested)
        return path or None

    def _write(self, title: str, suggested: str, data: Callable[[], bytes]) -> None:
        """Ask where, read the data off the GUI thread, then write it; ``saved`` says where."""
        target = self.choose_save_path(title, str(last_save_folder() / suggested))
        if not target:
            return

        def write(content: bytes) -> None:
            try:
                Path(target).write_bytes(content)
            except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
                reason = getattr(exc, "strerror", None) or str(exc)
                messages.error(self, title, f"{target!r} could not be written: {reason}")
                return
            remember_save_folder(Path(target).parent)
            self.saved.emit(str(target))

        run(self, data, write, lambda f: messages.error(self, title, f.message), lane=READS)

    def save_attachment(self) -> None:
        item = self.attachments.currentItem()
        if self.detail is None or item is None:
            return
        email_id, attachment_id = self.detail.id, int(item.data(Qt.ItemDataRole.UserRole))
        attachment = next(a for a in self.detail.attachments if a.id == attachment_id)
        # The name comes from the sender: never let it choose a folder, a hidden file or
        # a device.
        suggested = safe_file_name(attachment.filename, f"attachment-{attachment_id}")
        service = self.service
        self._write(
            "Save Attachment",
            suggested,
            lambda: service.attachment(email_id, attachment_id)[2],
        )

    def export_raw(self) -> None:
        if self.detail is None:
            return
        email_id, service = self.detail.id, self.service
        self._write("Export Message", f"email-{email_id}.eml", lambda: service.raw(email_id))

    def open_link(self, url: QUrl) -> None:
        if url.scheme() not in ("http", "https", "mailto"):
            return
        text = f"Open this link from a customer's email?\n\n{url.toString()}"
        note = link_host_note(url)
        if note:
            text += f"\n\n{note}"
        if messages.confirm(self, "Open Link", text, ok="Open"):
            QDesktopServices.openUrl(url)
