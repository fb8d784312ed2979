"""Starting the GUI: open (and upgrade) the database, seed the demo on the first start on
this user's own database (an empty shared one is the site owner's to set up), sign in,
show the Workspace; signing out returns to the sign-in."""

from __future__ import annotations

import gc
import sys

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from app import APP_ID, APP_NAME, __version__, paths
from app.services import secrets
from app.services.changes import ChangeFeed
from app.services.records import OrganisationSettings
from app.services.secrets import SecretStore
from app.services.site import SignedIn, SiteAccess, SiteUnavailable, open_site
from app.ui.channel_status import ChannelEvents
from app.ui.context import AppContext
from app.ui.main_window import MainWindow
from app.ui.messages import messages
from app.ui.operations import Failure, operations, run
from app.ui.sign_in import DemoAccount, SignInDialog, read_accounts


def open_database(url: str | None) -> SiteAccess | None:
    """The way into the site (see ``open_site``); None once a message has said why the
    application cannot start on it (it then ends)."""
    try:
        return open_site(url)
    except SiteUnavailable as exc:
        messages.error(None, APP_NAME, str(exc))
        return None


class Workstation(QObject):
    """Who works at this workstation, one after another: the sign-in dialog, then the
    Workspace of whoever signed in (with the change feed running, and on a SQLite site the
    channel service: a shared site's retrieval and sending are ``serve``'s); signing out
    asks again, closing the sign-in or the Workspace ends (``finished``). ``unusable``: why
    the site could not be worked on, when that ended it."""

    finished = Signal()

    def __init__(
        self, access: SiteAccess, store: SecretStore | None, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.access = access
        self.store = store
        self.unusable: str | None = None
        self.sign_in: SignInDialog | None = None
        self.window: MainWindow | None = None

    def start(self, notice: str | None = None) -> None:
        """Ask who is working (once the demo accounts are read, off the GUI thread);
        ``notice``: why the last user was signed out, if not by themselves."""
        access = self.access

        def unread(failure: Failure) -> None:  # asked all the same, with why none are listed
            self._ask(notice or failure.message, [])

        run(self, lambda: read_accounts(access), lambda found: self._ask(notice, found), unread)

    def _ask(self, notice: str | None, accounts: list[DemoAccount]) -> None:
        dialog = SignInDialog(self.access, notice=notice, accounts=accounts)
        dialog.accepted.connect(lambda: self._signed_in(dialog))
        dialog.rejected.connect(lambda: self._not_signed_in(dialog))
        self.sign_in = dialog
        dialog.show()

    def _not_signed_in(self, dialog: SignInDialog) -> None:
        if dialog.unusable is not None:  # the site cannot be worked on: say so, and end
            self.unusable = dialog.unusable
            messages.error(None, APP_NAME, dialog.unusable)
        self.finished.emit()

    def _signed_in(self, dialog: SignInDialog) -> None:
        signed_in, org = dialog.signed_in, dialog.organisation
        self.sign_in = None
        dialog.deleteLater()
        try:
            if signed_in is None or org is None:  # accepted only after a sign-in; never expected
                raise RuntimeError("the sign-in dialog was accepted without a user")
            self._open_workspace(signed_in, org)  # (what it reads, it reads off the GUI thread)
        except BaseException:
            self.finished.emit()  # a bug: end with its traceback, not linger without a window
            raise

    def _open_workspace(self, signed_in: SignedIn, org: OrganisationSettings) -> None:
        db, actor = signed_in.db, signed_in.actor
        ctx = AppContext(db, actor, self.store)
        # a shared site's mailboxes are retrieved and replies sent by serve, not here
        events = None if self.access.shared else ChannelEvents(db, self.store)
        feed = ChangeFeed(db)  # screens see changes from every workstation within 2 s
        ctx.channel_events, ctx.change_feed = events, feed
        ctx.apply_settings(org)
        try:
            if events is not None:
                events.start()
            feed.start()
            window = MainWindow(ctx)
        except BaseException:
            if events is not None:
                events.stop()
            feed.stop()
            self.access.release(signed_in)
            raise

        def left(signed_out: bool) -> None:
            if self.window is not window:  # closed once already
                return
            if events is not None:
                events.stop()  # cooperative: each channel ends its batch and logs out
            feed.stop()
            self.access.release(signed_in)  # a shared site: this person's connections
            self.store = ctx.secrets  # the user may have chosen the file fallback
            self.window = None
            window.deleteLater()
            if signed_out:
                self.start(window.sign_out_reason)
            else:
                self.finished.emit()

        window.closed.connect(left)
        self.window = window
        window.show()
        window.activateWindow()
        # What start-up loaded (Qt, SQLAlchemy, the screens) lives as long as the process:
        # left out of later collections, a full one costs the GUI thread 50-80 ms less.
        gc.freeze()


def run_gui(database_url: str | None = None) -> int:
    app = QApplication.instance() or QApplication(sys.argv)
    assert isinstance(app, QApplication)
    app.setApplicationName(APP_NAME)
    app.setApplicationVersion(__version__)
    app.setDesktopFileName(APP_ID)
    icon = paths.resources_dir() / "icon.svg"
    if icon.exists():
        app.setWindowIcon(QIcon(str(icon)))
    access = open_database(database_url)
    if access is None:
        return 4
    app.setQuitOnLastWindowClosed(False)  # signing out closes the window without quitting
    workstation = Workstation(access, secrets.default_store())
    workstation.finished.connect(app.quit)
    workstation.start()
    code = app.exec()
    # What the last actions gave the lanes (a reply being queued, the held emails put back)
    # ends before the process does: they are daemon threads, killed at exit otherwise.
    operations().shutdown(timeout=10)
    access.close()
    return 4 if workstation.unusable is not None else code
