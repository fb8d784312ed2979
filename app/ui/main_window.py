"""The Workspace: menus by role, screens opened as tabs, status bar."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app import APP_NAME, __version__
from app.domain.enums import Role
from app.services import auth, presence
from app.services.auth import Permission
from app.ui.context import AppContext
from app.ui.messages import messages
from app.ui.operations import BACKGROUND, Failure, run

RIGHTS_CHECK_MS = 1000


class HomePage(QWidget):
    """What the signed-in user can do, at a glance."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        can = []
        if ctx.can(Permission.WORK_EMAILS):
            can.append(
                "take and answer the emails of your teams' campaigns (Workspace ▸ My Work, Ctrl+1)"
            )
        if ctx.can(Permission.CONFIGURE_CAMPAIGNS):
            can.append("configure campaign groups, email campaigns and templates (Campaigns menu)")
            can.append("see every email, its history and replies (Management ▸ Emails)")
        if ctx.can(Permission.ADMINISTER):
            can.append(
                "manage teams, users, email channels and settings "
                "(Channels and Administration menus)"
            )
        items = "".join(f"<li>{c}</li>" for c in can)
        text = QLabel(
            f"<h2>{html.escape(ctx.organisation_name)}</h2>"
            f"<p>Signed in as <b>{ctx.actor.display_name}</b> ({ctx.actor.role.label}).</p>"
            f"<p>You can:</p><ul>{items}</ul>",
            self,
        )
        text.setTextFormat(Qt.TextFormat.RichText)
        text.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(text)
        layout.addStretch(1)


class MainWindow(QMainWindow):
    signed_out = Signal()
    closed = Signal(bool)  # the window closed: True when by signing out

    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self._signing_out = False
        self._may_close = False  # the questions of closing were asked and answered
        # Why the user was signed out without asking (disabled, deleted, role changed); the
        # sign-in that follows shows it.
        self.sign_out_reason: str | None = None
        self.setWindowTitle(f"{APP_NAME} — Workspace")
        self.tabs = QTabWidget(self)
        self.tabs.setTabsClosable(True)
        self.tabs.setDocumentMode(True)
        self.tabs.tabCloseRequested.connect(self.close_tab)
        self.tabs.currentChanged.connect(self._focus_current)
        self.setCentralWidget(self.tabs)
        self.screens: dict[str, QWidget] = {}
        self.menu_actions: dict[str, QAction] = {}
        self._build_menus()
        self.tabs.addTab(HomePage(ctx, self), "Home")
        self.tabs.tabBar().setTabButton(0, self.tabs.tabBar().ButtonPosition.RightSide, None)
        if ctx.channel_events is not None:
            from app.ui.channel_status import ChannelStatusBar

            self.channel_status = ChannelStatusBar(ctx.channel_events, self.statusBar())
        self.statusBar().showMessage(
            f"Signed in as {ctx.actor.display_name} ({ctx.actor.role.label}) · "
            f"database {ctx.db.describe()}"
        )
        self.resize(1200, 760)
        if ctx.actor.role == Role.AGENT:
            self.open_my_work()  # what an agent is here for
        # Signs of life: while this window is open the user's held emails stay theirs;
        # emails of workstations that went silent go back to their queues.
        self.heartbeat = QTimer(self)
        self.heartbeat.setInterval(presence.HEARTBEAT * 1000)
        self.heartbeat.timeout.connect(self.beat)
        self.heartbeat.start()
        self.beat()
        # On a shared database: say so while the connection is lost, and when it is back.
        self.database_label = QLabel(self)
        self.database_label.setStyleSheet("color: #b35c00; font-weight: bold;")
        self.database_label.hide()
        self.statusBar().addPermanentWidget(self.database_label)
        self.connection_timer = QTimer(self)
        self.connection_timer.setInterval(1000)
        self.connection_timer.timeout.connect(self.watch_connection)
        self.connection_timer.start()
        self._connected = True
        # A role change or a disabled account, made on any workstation, counts here within
        # about a second: the user is signed out and told why.
        self._users_token: int | None = None
        self.rights_timer = QTimer(self)
        self.rights_timer.setInterval(RIGHTS_CHECK_MS)
        self.rights_timer.timeout.connect(self.watch_rights)
        self.rights_timer.start()

    def watch_rights(self) -> None:
        """Sign the user out when their account was disabled or deleted, or their role
        changed. On PostgreSQL, the change feed says when any user changed (read then);
        elsewhere the user's row is read (one lookup by key a second, off the GUI thread)."""
        if self.sign_out_reason is not None or self.ctx.actor.user_id is None:
            return
        feed = self.ctx.change_feed
        token = feed.users_token() if feed is not None else None
        if token is not None and token == self._users_token:
            return
        if not self._connected:
            return  # the database is away (the status bar says so); the feed hears again
        db, user_id = self.ctx.db, self.ctx.actor.user_id
        run(
            self,
            lambda: auth.current_rights(db, user_id, max_age=0),
            lambda rights: self._rights_read(token, rights),
            lambda _failure: None,  # the database is away (said elsewhere): again in a second
            lane=BACKGROUND,
            coalesce="rights",
        )

    def _rights_read(self, token: int | None, rights: auth.Rights | None) -> None:
        if self.sign_out_reason is not None:
            return
        self._users_token = token
        reason = auth.revoked(self.ctx.actor, rights)
        if reason is not None:
            self.force_sign_out(reason)

    def force_sign_out(self, reason: str) -> None:
        """Close without asking anything (nothing more may be saved as this user): open
        dialogs are closed first, then the window; the sign-in says ``reason``."""
        self.sign_out_reason = reason
        self.rights_timer.stop()
        dialogs = [d for d in self.findChildren(QDialog) if d.isVisible()]
        for dialog in dialogs:  # QDialog's own: no "discard your changes?" question
            QDialog.done(dialog, QDialog.DialogCode.Rejected.value)
        if dialogs:  # their own event loops end first
            QTimer.singleShot(0, self._close_signed_out)
        else:
            self._close_signed_out()

    def _close_signed_out(self) -> None:
        self._signing_out = True
        try:
            self.close()
        finally:
            self._signing_out = False
        self.signed_out.emit()

    def watch_connection(self) -> None:
        """The change feed listens on its own connection: when that is lost, so (for now)
        is the database. Shown in the status bar until it is back."""
        feed = self.ctx.change_feed
        if feed is None or self.ctx.db.is_sqlite or not feed.started:
            return
        connected = feed.listening
        if connected == self._connected:
            return
        self._connected = connected
        if connected:
            self.database_label.hide()
            self.statusBar().showMessage("Connected to the database again.", 10000)
            self.beat()
        else:
            self.database_label.setText("Reconnecting to the database…")
            self.database_label.show()

    def beat(self) -> None:
        """Off the GUI thread: this user is here; emails of workstations gone silent go
        back to their queues."""
        db, user_id = self.ctx.db, self.ctx.actor.user_id

        def work() -> None:
            presence.heartbeat(db, user_id)
            presence.return_abandoned(db)

        run(self, work, None, self._beat_failed, lane=BACKGROUND, coalesce="beat")

    def _beat_failed(self, failure: Failure) -> None:
        # The database is away (the next beat tries again), or a bug (logged): said briefly.
        self.statusBar().showMessage(failure.message, 10000)

    # ---- menus --------------------------------------------------------------
    def _action(
        self,
        menu: QMenu,
        key: str,
        text: str,
        slot: Callable[[], object],
        shortcut: str | None = None,
    ) -> QAction:
        action = QAction(text, self)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        menu.addAction(action)
        self.menu_actions[key] = action
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        workspace = bar.addMenu("&Workspace")
        if self.ctx.can(Permission.WORK_EMAILS):
            self._action(workspace, "my_work", "&My Work", self.open_my_work, "Ctrl+1")
            workspace.addSeparator()
        self._action(workspace, "sign_out", "&Sign Out", self.sign_out)
        self._action(workspace, "quit", "&Quit", self.close, "Ctrl+Q")

        if self.ctx.can(Permission.CONFIGURE_CAMPAIGNS):
            campaigns = bar.addMenu("&Campaigns")
            self._action(campaigns, "configuration", "&Configuration", self.open_configuration)
            self._action(campaigns, "templates", "Email &Templates", self.open_templates)
            management = bar.addMenu("&Management")
            self._action(management, "emails", "&Emails", self.open_emails)
            self._action(management, "failed_sends", "&Failed Sends", self.open_failed_sends)
            self._action(management, "held_emails", "&Held Emails", self.open_held_emails)
            self._action(management, "service_level", "&Service Level", self.open_service_level)
        if self.ctx.can(Permission.ADMINISTER):
            channels = bar.addMenu("C&hannels")
            self._action(channels, "channels", "&Email", self.open_channels)
            admin = bar.addMenu("&Administration")
            self._action(admin, "teams", "&Teams", self.open_teams)
            self._action(admin, "users", "&Users", self.open_users)
            self._action(admin, "settings", "&Settings", self.open_settings)
        help_menu = bar.addMenu("Help")
        self._action(help_menu, "shortcuts", "&Keyboard Shortcuts", self.show_shortcuts, "F1")
        self._action(help_menu, "about", f"&About {APP_NAME}", self.about)

    # ---- screens ------------------------------------------------------------
    def open_screen(self, key: str, title: str, factory: Callable[[], QWidget]) -> QWidget:
        """Show the screen ``key`` in its tab, creating it on first use."""
        screen = self.screens.get(key)
        if screen is None or self.tabs.indexOf(screen) < 0:
            screen = factory()
            self.screens[key] = screen
            self.tabs.addTab(screen, title)
        self.tabs.setCurrentWidget(screen)
        return screen

    def _focus_current(self, _index: int = -1) -> None:
        """The keyboard goes into the screen in front: its keys (Ctrl+N in My Work) work only
        while the focus is inside it. Where the focus already is in it, it stays."""
        screen = self.tabs.currentWidget()
        start = getattr(screen, "focus_start", None)
        if screen is None or start is None:
            return
        focused = QApplication.focusWidget() if self.isActiveWindow() else self.focusWidget()
        if focused is None or not screen.isAncestorOf(focused):
            start()

    def close_tab(self, index: int) -> None:
        widget = self.tabs.widget(index)
        if index == 0 or widget is None:
            return
        confirm = getattr(widget, "confirm_close", None)
        if confirm is not None and not confirm():
            return
        self.tabs.removeTab(index)
        self.screens = {k: w for k, w in self.screens.items() if w is not widget}
        widget.deleteLater()

    def open_my_work(self) -> QWidget:
        from app.ui.my_work import MyWorkScreen

        return self.open_screen("my_work", "My Work", lambda: MyWorkScreen(self.ctx, self))

    def show_shortcuts(self) -> None:
        """The keyboard shortcuts of the window and of the screen in front."""
        from app.ui.shortcuts import ShortcutsDialog

        self.shortcuts_dialog = ShortcutsDialog.for_widget(self)
        self.shortcuts_dialog.open()

    def open_configuration(self) -> QWidget:
        from app.ui.campaign_config import CampaignConfigurationScreen

        return self.open_screen(
            "configuration",
            "Campaign Configuration",
            lambda: CampaignConfigurationScreen(self.ctx, self),
        )

    def open_templates(self) -> QWidget:
        from app.ui.templates_screen import TemplatesScreen

        return self.open_screen(
            "templates", "Email Templates", lambda: TemplatesScreen(self.ctx, self)
        )

    def open_emails(self) -> QWidget:
        from app.ui.emails_screen import EmailsScreen

        return self.open_screen("emails", "Emails", lambda: EmailsScreen(self.ctx, self))

    def open_failed_sends(self) -> QWidget:
        from app.ui.supervision import FailedSendsScreen

        return self.open_screen(
            "failed_sends", "Failed Sends", lambda: FailedSendsScreen(self.ctx, self)
        )

    def open_held_emails(self) -> QWidget:
        from app.ui.supervision import HeldEmailsScreen

        return self.open_screen(
            "held_emails", "Held Emails", lambda: HeldEmailsScreen(self.ctx, self)
        )

    def open_service_level(self) -> QWidget:
        from app.ui.service_level_screen import ServiceLevelScreen

        return self.open_screen(
            "service_level", "Service Level", lambda: ServiceLevelScreen(self.ctx, self)
        )

    def open_channels(self) -> QWidget:
        from app.ui.channels_screen import ChannelsScreen

        return self.open_screen(
            "channels", "Email Channels", lambda: ChannelsScreen(self.ctx, self)
        )

    def open_teams(self) -> QWidget:
        from app.ui.teams_screen import TeamsScreen

        return self.open_screen("teams", "Teams", lambda: TeamsScreen(self.ctx, self))

    def open_users(self) -> QWidget:
        from app.ui.users_screen import UsersScreen

        return self.open_screen("users", "Users", lambda: UsersScreen(self.ctx, self))

    def open_settings(self) -> QWidget:
        from app.ui.settings_screen import SettingsScreen

        return self.open_screen("settings", "Settings", lambda: SettingsScreen(self.ctx, self))

    def about(self) -> None:
        messages.info(
            self,
            f"About {APP_NAME}",
            f"{APP_NAME} {__version__}\nEmail queues for contact centres.",
        )

    # ---- leaving ------------------------------------------------------------
    def sign_out(self) -> None:
        """Close (asking first what closing asks), then say ``signed_out``."""
        self._signing_out = True
        self.close()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.sign_out_reason is not None:  # signed out without asking: see force_sign_out
            self.heartbeat.stop()
            self.connection_timer.stop()
            super().closeEvent(event)
            self.closed.emit(True)
            return
        if not self._may_close:
            # First the screens' questions, then the emails held (read off the GUI thread);
            # the window closes when both allow it.
            event.ignore()
            for screen in self.screens.values():
                confirm = getattr(screen, "confirm_close", None)
                if confirm is not None and not confirm():
                    self._signing_out = False
                    return
            # Closed again once allowed: on a later turn of the event loop (Qt ignores a
            # close asked for from within closeEvent).
            self.leave_held_emails(lambda: QTimer.singleShot(0, self._close_now), self._stay)
            return
        self.heartbeat.stop()
        super().closeEvent(event)
        signing_out = self._signing_out
        self.closed.emit(signing_out)
        if signing_out:
            self._signing_out = False
            self.signed_out.emit()

    def _close_now(self) -> None:
        self._may_close = True
        if not self.close():
            self._may_close = False

    def _stay(self) -> None:
        self._signing_out = False

    def leave_held_emails(self, leave: Callable[[], None], stay: Callable[[], None]) -> None:
        """Signing out or closing: emails held without a draft go back to their queues (after
        a warning); drafts stay. Then ``leave()``, or ``stay()`` when the user chose to."""
        if not self.ctx.can(Permission.WORK_EMAILS):
            leave()
            return
        from app.domain.enums import EmailStatus
        from app.services.work import WorkService

        work = WorkService(self.ctx.db, self.ctx.actor)

        def read(held: list[Any]) -> None:
            taken = sum(1 for h in held if h.status == EmailStatus.ASSIGNED)
            drafts = len(held) - taken
            if not taken:
                leave()
                return
            emails = "1 email" if taken == 1 else f"{taken} emails"
            kept = {0: "", 1: "\n\nYour draft stays with you in My drafts."}.get(
                drafts, f"\n\nYour {drafts} drafts stay with you in My drafts."
            )
            if not messages.confirm(
                self,
                "Emails Held",
                f"You hold {emails} without a draft. They go back to their queues, keeping "
                f"their place, for another agent to take.{kept}",
                ok="Put them back and leave",
            ):
                stay()
                return

            def not_released(failure: Failure) -> None:
                messages.error(self, "Emails Held", failure.message)
                stay()

            run(self, work.release_held, lambda _r: leave(), not_released)

        # Unreadable (the database is away): leave; the emails go back to their queues when
        # this workstation's heartbeat is missed.
        run(self, work.held, read, lambda _failure: leave())
