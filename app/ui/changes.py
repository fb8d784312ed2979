"""Following changes made anywhere (this workstation, others, the channel service): a screen
creates a ChangeWatcher and connects ``changed``. It looks at the change token about once a
second while the screen is shown — free on PostgreSQL (LISTEN/NOTIFY, see
app.services.changes), one index lookup on SQLite — and says when it moved."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QTimer, Signal
from PySide6.QtWidgets import QWidget
from sqlalchemy.exc import SQLAlchemyError

from app.services.changes import polled_token
from app.ui.context import AppContext

INTERVAL_MS = 1000


class ChangeWatcher(QObject):
    changed = Signal()

    def __init__(self, ctx: AppContext, screen: QWidget, interval_ms: int = INTERVAL_MS) -> None:
        super().__init__(screen)
        self.ctx, self.screen = ctx, screen
        self._token: int | None = None
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.check)
        screen.installEventFilter(self)
        if screen.isVisible():
            self.timer.start()

    def token(self) -> int:
        feed = self.ctx.change_feed
        return int(feed.token()) if feed is not None else polled_token(self.ctx.db)

    def check(self) -> None:
        try:
            token = self.token()
        except SQLAlchemyError:
            return  # the database is away: the window says so; look again in a second
        if self._token is not None and token != self._token:
            self.changed.emit()
        self._token = token

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.screen:
            if event.type() == QEvent.Type.Show and not self.timer.isActive():
                self.check()
                self.timer.start()
            elif event.type() == QEvent.Type.Hide:
                self.timer.stop()
        return False
