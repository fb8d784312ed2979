"""Starting the GUI: open (and upgrade) the database, seed the demo on first start,
sign in, show the Workspace; signing out returns to the sign-in."""

from __future__ import annotations

import sys

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QMessageBox
from sqlalchemy.exc import OperationalError

from app import APP_ID, APP_NAME, __version__, paths
from app.db import migrate
from app.db.engine import Database
from app.services import demo, secrets
from app.services.changes import ChangeFeed
from app.ui.channel_status import ChannelEvents
from app.ui.context import AppContext
from app.ui.main_window import MainWindow
from app.ui.sign_in import SignInDialog


def open_database(url: str | None) -> Database:
    db = Database(url or paths.default_database_url())
    migrate.upgrade(db)
    if not demo.has_data(db):
        demo.seed(db)
    return db


def run_gui(database_url: str | None = None) -> int:
    app = QApplication.instance() or QApplication(sys.argv)
    assert isinstance(app, QApplication)
    app.setApplicationName(APP_NAME)
    app.setApplicationVersion(__version__)
    app.setDesktopFileName(APP_ID)
    icon = paths.resources_dir() / "icon.svg"
    if icon.exists():
        app.setWindowIcon(QIcon(str(icon)))
    try:
        db = open_database(database_url)
    except OperationalError as exc:
        QMessageBox.critical(None, APP_NAME, f"The database could not be opened:\n{exc.orig}")
        return 4
    store = secrets.default_store()
    while True:
        sign_in = SignInDialog(db)
        if not sign_in.exec() or sign_in.actor is None:
            return 0
        ctx = AppContext(db, sign_in.actor, store)
        ctx.refresh_settings()
        events = ChannelEvents(db, store)
        ctx.channel_events = events
        events.start()
        feed = ChangeFeed(db)  # screens see changes from every workstation within 2 s
        ctx.change_feed = feed
        feed.start()
        window = MainWindow(ctx)
        outcome = {"signed_out": False}
        window.signed_out.connect(lambda state=outcome: state.update(signed_out=True))
        window.show()
        app.exec()
        events.stop()  # cooperative: each channel ends its batch and logs out
        feed.stop()
        store = ctx.secrets  # the user may have chosen the file fallback
        if not outcome["signed_out"]:
            return 0
