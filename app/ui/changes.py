"""The one change feed of the screens: "emails or the configuration changed somewhere" (this
workstation, another one, the channel service), heard once per process and told to every
open screen.

``ChangeHub`` (one per AppContext) reads the change token on the background lane — never
on the GUI thread: on PostgreSQL the token is the count of LISTEN/NOTIFY notifications
(app.services.changes.ChangeFeed; those about users counted apart, in ``users_token()``,
and followed too), which also wakes the hub the moment one arrives; on SQLite it is the
change counter, read once a second. It reads only while a screen that follows changes is
shown.

A screen makes a ``ChangeWatcher`` and connects ``changed``: emitted while the screen is
shown, and once when it is shown again after changes it missed while hidden.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QTimer, Signal
from PySide6.QtWidgets import QWidget

from app.services.changes import polled_token
from app.ui.context import AppContext
from app.ui.operations import BACKGROUND, Failure, run

INTERVAL_MS = 1000


class ChangeHub(QObject):
    changed = Signal()  # emails, replies, their history or the configuration changed
    availability = Signal(bool)  # the database could (not) be read; True again when back
    _woken = Signal()  # from the feed's listening thread

    def __init__(self, ctx: AppContext, interval_ms: int = INTERVAL_MS) -> None:
        super().__init__()
        self.db, self.feed = ctx.db, ctx.change_feed
        self.generation = 0  # grows by one each time a change is heard
        self.available = True
        self._token: tuple[int, int | None] | None = None
        self._watchers: set[ChangeWatcher] = set()
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.check)
        self._woken.connect(self.check)
        if self.feed is not None and hasattr(self.feed, "add_listener"):
            self.feed.add_listener(self._woken.emit)

    def watch(self, watcher: ChangeWatcher) -> None:
        self._watchers.add(watcher)
        if not self.timer.isActive():
            self.timer.start()
        self.check()

    def unwatch(self, watcher: ChangeWatcher) -> None:
        self._watchers.discard(watcher)
        if not self._watchers:
            self.timer.stop()

    def check(self) -> None:
        """Read the token (off the GUI thread); ``changed`` follows if it moved."""
        feed, db = self.feed, self.db

        def read() -> tuple[int, int | None]:
            if feed is None:
                return polled_token(db), None
            users = getattr(feed, "users_token", None)  # (a stand-in feed may have none)
            return int(feed.token()), users() if users is not None else None

        run(
            self,
            read,
            self._heard,
            self._failed,
            lane=BACKGROUND,
            coalesce="token",
        )

    def _heard(self, token: tuple[int, int | None]) -> None:
        back = not self.available
        if back:
            self.available = True
            self.availability.emit(True)
        moved = self._token is not None and token != self._token
        self._token = token
        if moved or back:  # back: anything may have changed meanwhile
            self.generation += 1
            self.changed.emit()

    def _failed(self, failure: Failure) -> None:
        if self.available:
            self.available = False
            self.availability.emit(False)


def hub_of(ctx: AppContext) -> ChangeHub:
    """The context's hub, made when first needed."""
    if ctx.change_hub is None:
        ctx.change_hub = ChangeHub(ctx)
    return ctx.change_hub  # type: ignore[no-any-return]


class ChangeWatcher(QObject):
    """Says ``changed`` to one screen: while it is shown, and when shown again after
    changes it missed."""

    changed = Signal()

    def __init__(self, ctx: AppContext, screen: QWidget) -> None:
        super().__init__(screen)
        self.screen = screen
        self.hub = hub_of(ctx)
        self._seen = self.hub.generation
        self.hub.changed.connect(self._heard)
        screen.installEventFilter(self)
        if screen.isVisible():
            self.hub.watch(self)

    def _heard(self) -> None:
        if self.screen.isVisible():
            self._seen = self.hub.generation
            self.changed.emit()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.screen:
            if event.type() == QEvent.Type.Show:
                if self._seen != self.hub.generation:
                    self._seen = self.hub.generation
                    self.changed.emit()
                self.hub.watch(self)
            elif event.type() == QEvent.Type.Hide:
                self.hub.unwatch(self)
        return False

    def stop(self) -> None:
        self.hub.unwatch(self)
