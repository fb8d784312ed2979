"""The sign-in dialog: who is working. Lists the demo accounts only while they exist."""

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
from app.services import auth
from app.services.auth import Actor
from app.services.demo import DEMO_PASSWORD
from app.services.errors import AuthenticationError
from app.services.site import Site
from app.ui.forms import ErrorLabel, WrappingLabel


def unbroken(text: str) -> str:
    """``text`` never wrapped at its hyphens (shown with non-breaking ones)."""
    return text.replace("-", "\u2011")


class SignInDialog(QDialog):
    """``notice``: shown where errors are, e.g. why the last user was signed out."""

    def __init__(self, db: Site, parent: QWidget | None = None, notice: str | None = None) -> None:
        super().__init__(parent)
        self.db = db
        self.actor: Actor | None = None
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
        accounts = auth.demo_accounts(db)
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

    def try_sign_in(self) -> None:
        # (the password check takes about half a second: scrypt at OWASP's parameters)
        QApplication.setOverrideCursor(QCursor(Qt.CursorShape.WaitCursor))
        try:
            self.actor = auth.sign_in(self.db, self.login_edit.text(), self.password_edit.text())
        except AuthenticationError as exc:  # wrong, or blocked for a while (says until when)
            self.error.show_message(str(exc))
            self.password_edit.selectAll()
            self.password_edit.setFocus()
            return
        finally:
            QApplication.restoreOverrideCursor()
        self.accept()
