"""The sign-in dialog: who is working. Lists the demo accounts only while they exist (in the
own SQLite file; a shared site reads nothing before sign-in). What it checks runs off the GUI
thread (``app.ui.operations``); the demo accounts are read before it is made
(``read_accounts``)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QCursor
from PySide6.QtWidgets import (
    QAbstractScrollArea,
    QApplication,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app import APP_NAME
from app.services.auth import Actor
from app.services.demo import DEMO_PASSWORD
from app.services.records import OrganisationSettings
from app.services.settings import SettingsService
from app.services.site import DemoAccount, SignedIn, Site, SiteAccess, SiteUnavailable
from app.ui.forms import ErrorLabel, WrappingLabel
from app.ui.operations import Failure, run


def unbroken(text: str) -> str:
    """``text`` never wrapped at its hyphens (shown with non-breaking ones)."""
    return text.replace("-", "\u2011")


def read_accounts(access: SiteAccess | Site) -> list[DemoAccount]:
    """The demo accounts the sign-in lists (to read off the GUI thread)."""
    if not isinstance(access, SiteAccess):
        access = SiteAccess.of(access)
    return access.demo_accounts()


class SignInDialog(QDialog):
    """``notice``: shown where errors are, e.g. why the last user was signed out;
    ``accounts``: the demo accounts still using the demo password (``read_accounts``).
    Accepted once someone signed in (``signed_in``, ``organisation``); rejected when
    cancelled, or when the site cannot be worked on (``unusable`` says why)."""

    def __init__(
        self,
        access: SiteAccess | Site,
        parent: QWidget | None = None,
        notice: str | None = None,
        accounts: list[DemoAccount] | None = None,
    ) -> None:
        super().__init__(parent)
        self.access = access if isinstance(access, SiteAccess) else SiteAccess.of(access)
        self.signed_in: SignedIn | None = None
        self.organisation: OrganisationSettings | None = None
        self.unusable: str | None = None
        self._signing_in = False
        self.setWindowTitle(f"Sign in — {APP_NAME}")
        self._layout = layout = QVBoxLayout(self)
        heading = QLabel(f"<h2>{APP_NAME}</h2>Sign in to start working.", self)
        layout.addWidget(heading)
        form = QFormLayout()
        self.login_edit = QLineEdit(self)
        self.password_edit = QLineEdit(self)
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        login_label = QLabel("&Login name:", self)
        login_label.setBuddy(self.login_edit)
        password_label = QLabel("&Password:", self)
        password_label.setBuddy(self.password_edit)
        form.addRow(login_label, self.login_edit)
        form.addRow(password_label, self.password_edit)
        layout.addLayout(form)
        self.error = ErrorLabel(self)
        layout.addWidget(self.error)
        if notice:
            self.error.show_message(notice)

        self.demo_list = QListWidget(self)
        if accounts:
            demo_label = WrappingLabel(
                f"<b>Demo organisation</b> — these accounts use the password "
                f"<code>{unbroken(DEMO_PASSWORD)}</code> until it is "
                "changed. &Choose one:",
                self,
            )
            demo_label.setBuddy(self.demo_list)
            layout.addWidget(demo_label)
            for login, display, role in accounts:
                item = QListWidgetItem(f"{login} — {display} ({role.label})", self.demo_list)
                item.setData(Qt.ItemDataRole.UserRole, login)
            # The list asks for room for every account but makes do with three rows (it
            # scrolls): at a large font the dialog still fits the screen.
            self.demo_list.setSizeAdjustPolicy(
                QAbstractScrollArea.SizeAdjustPolicy.AdjustToContents
            )
            frame = 2 * self.demo_list.frameWidth()
            scroll_bar = self.demo_list.horizontalScrollBar().sizeHint().height()  # when narrow
            self.demo_list.setMinimumHeight(
                3 * self.demo_list.sizeHintForRow(0) + frame + scroll_bar
            )
            layout.addWidget(self.demo_list, 1)
            self.demo_list.currentItemChanged.connect(self._demo_chosen)
            self.demo_list.itemActivated.connect(lambda _item: self.try_sign_in())
        else:
            self.demo_list.hide()

        buttons = QDialogButtonBox(self)
        self.sign_in_button = buttons.addButton("&Sign in", QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.try_sign_in)
        buttons.rejected.connect(self.reject)
        self.sign_in_button.setDefault(True)
        layout.addWidget(buttons)
        self._initial_size()

    def _initial_size(self) -> None:
        """About 55 letters of the font in use wide (the demo text wraps to it), as high as
        the layout then asks for; within the screen (the list scrolls when it must)."""
        room = self.screen().availableGeometry()
        width = max(self.sizeHint().width(), 55 * self.fontMetrics().averageCharWidth())
        width = min(width, room.width() * 9 // 10)
        height = min(self._layout.totalHeightForWidth(width), room.height() * 9 // 10)
        self.resize(width, height)  # never below the minimum the layout sets

    def _demo_chosen(self, item: QListWidgetItem | None) -> None:
        if item is not None:
            self.login_edit.setText(item.data(Qt.ItemDataRole.UserRole))
            self.password_edit.setText(DEMO_PASSWORD)

    @property
    def signing_in(self) -> bool:
        return self._signing_in

    def try_sign_in(self) -> None:
        """Check the login name and password off the GUI thread (scrypt at OWASP's
        parameters takes about half a second), and read the organisation's settings the
        Workspace starts with; accepted when both are done."""
        if self._signing_in:
            return
        access, login, password = self.access, self.login_edit.text(), self.password_edit.text()

        def work() -> tuple[SignedIn, OrganisationSettings]:
            signed_in = access.sign_in(login, password)
            try:
                return signed_in, SettingsService(signed_in.db, signed_in.actor).get()
            except BaseException:
                access.release(signed_in)
                raise

        self._set_busy(True)
        run(self, work, self._signed_in, self._refused)

    def _set_busy(self, busy: bool) -> None:
        self._signing_in = busy
        self.sign_in_button.setEnabled(not busy)
        if busy:
            QApplication.setOverrideCursor(QCursor(Qt.CursorShape.WaitCursor))
        else:
            QApplication.restoreOverrideCursor()

    @property
    def actor(self) -> Actor | None:
        return self.signed_in.actor if self.signed_in is not None else None

    def _signed_in(self, found: tuple[SignedIn, OrganisationSettings]) -> None:
        self._set_busy(False)
        self.signed_in, self.organisation = found
        self.accept()

    def _refused(self, failure: Failure) -> None:
        # Wrong, blocked for a while (says until when), or the database out of reach.
        self._set_busy(False)
        if isinstance(failure.error, SiteUnavailable):  # e.g. the schema behind: nobody works
            self.unusable = failure.message
            super().reject()
            return
        self.error.show_message(failure.message)
        self.password_edit.selectAll()
        self.password_edit.setFocus()

    def reject(self) -> None:
        if self._signing_in:
            return  # the answer closes the dialog, or says why not
        super().reject()
