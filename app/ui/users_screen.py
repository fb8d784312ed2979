"""Administration ▸ Users: the user list, the user editor and Set Password."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from app.domain.enums import Role
from app.services.auth import MIN_PASSWORD_LENGTH
from app.services.errors import ValidationError
from app.services.people import DISPLAY_NAME, EMAIL, LOGIN, ROLE, UserData
from app.services.records import UserRecord
from app.ui.context import AppContext
from app.ui.forms import FormDialog, combo_select_data
from app.ui.messages import messages
from app.ui.models import Column, RecordTableModel, sortable
from app.ui.teams_screen import CheckList
from app.ui.widgets import (
    confirm_and_run,
    find_bar,
    select_record,
    selected_record,
    table_view,
    yes_no,
)

PASSWORD = "Password"  # the field name the service's password check reports
CONFIRM_PASSWORD = "Confirm Password"


def password_edit(parent: QWidget) -> QLineEdit:
    edit = QLineEdit(parent)
    edit.setEchoMode(QLineEdit.EchoMode.Password)
    edit.setInputMethodHints(Qt.InputMethodHint.ImhHiddenText | Qt.InputMethodHint.ImhSensitiveData)
    return edit


def check_passwords_match(password: str, confirmation: str) -> None:
    """Raise next to the confirmation field when the two differ."""
    if password != confirmation:
        raise ValidationError(
            CONFIRM_PASSWORD, "does not match the Password; type the same password in both."
        )


class UserDialog(FormDialog):
    """Create or edit a user; a new user gets a password (optional) typed twice."""

    def __init__(
        self, ctx: AppContext, user: UserRecord | None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent, "Edit User" if user else "New User")
        self.ctx, self.user = ctx, user
        self.saved_id: int | None = None
        self._loading = True
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.outer.addLayout(form)
        self.login_edit = QLineEdit(self)
        self.login_edit.setMaxLength(100)
        self.login_edit.setPlaceholderText("Used to sign in; no spaces")
        self.display_name_edit = QLineEdit(self)
        self.display_name_edit.setMaxLength(200)
        self.email_edit = QLineEdit(self)
        self.email_edit.setPlaceholderText("name@example.com (optional)")
        self.role_combo = QComboBox(self)
        self.role_combo.setToolTip("A user signed in now is signed out when their role changes")
        for role in Role:
            self.role_combo.addItem(role.label, role)
        self.active_check = QCheckBox(self)
        self.active_check.setToolTip(
            "Inactive users cannot sign in; one signed in now is signed out within a second, "
            "and their held emails without a draft go back to their queues"
        )
        self.add_field(form, "&Login Name:", self.login_edit, LOGIN)
        self.add_field(form, "&Display Name:", self.display_name_edit, DISPLAY_NAME)
        self.add_field(form, "&Email Address:", self.email_edit, EMAIL)
        self.add_field(form, "&Role:", self.role_combo, ROLE)
        self.add_field(form, "&Active", self.active_check)
        self.password_edit: QLineEdit | None = None
        self.confirm_edit: QLineEdit | None = None
        if user is None:
            self.password_edit = password_edit(self)
            self.password_edit.setPlaceholderText(
                f"At least {MIN_PASSWORD_LENGTH} characters; empty: set it later"
            )
            self.confirm_edit = password_edit(self)
            self.add_field(form, "Pass&word:", self.password_edit, PASSWORD)
            self.add_field(form, "&Confirm Password:", self.confirm_edit, CONFIRM_PASSWORD)
        self.teams = CheckList("&Teams:", "&Find:", "teams", self)
        self.outer.addWidget(self.teams, 1)
        self.outer.addWidget(self.register("Teams", self.teams.view))
        self.finish_layout()

        self.teams.model.set_items(
            [(t.id, t.name) for t in ctx.people.list_teams()],
            {t.id for t in user.teams} if user else set(),
        )
        self.teams.model.checked_changed.connect(self.mark_dirty)
        if user is not None:
            self.login_edit.setText(user.login)
            self.display_name_edit.setText(user.display_name)
            self.email_edit.setText(user.email)
            combo_select_data(self.role_combo, user.role)
            self.active_check.setChecked(user.active)
        else:
            combo_select_data(self.role_combo, Role.AGENT)
            self.active_check.setChecked(True)
        self._loading = False
        self.set_loaded()
        self.resize(480, 620 if user is None else 560)

    def role(self) -> Role:
        # Qt hands a str-based enum back as its plain string value.
        return Role(self.role_combo.currentData())

    def data(self) -> UserData:
        return UserData(
            login=self.login_edit.text(),
            display_name=self.display_name_edit.text(),
            email=self.email_edit.text(),
            role=self.role(),
            active=self.active_check.isChecked(),
            team_ids=self.teams.model.checked_ids(),
        )

    def save(self) -> None:
        if self.user is not None:
            self.saved_id = self.ctx.people.update_user(self.user.id, self.data()).id
            return
        assert self.password_edit is not None and self.confirm_edit is not None
        password, confirmation = self.password_edit.text(), self.confirm_edit.text()
        check_passwords_match(password, confirmation)
        self.saved_id = self.ctx.people.create_user(self.data(), password or None).id


class PasswordDialog(FormDialog):
    """Set Password: a new password typed twice."""

    def __init__(self, ctx: AppContext, user: UserRecord, parent: QWidget | None = None) -> None:
        super().__init__(parent, "Set Password")
        self.ctx, self.user = ctx, user
        self._loading = True
        intro = QLabel(f"Set a new password for {user.display_name} ({user.login}).", self)
        intro.setWordWrap(True)
        self.outer.addWidget(intro)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.outer.addLayout(form)
        self.password_edit = password_edit(self)
        self.password_edit.setPlaceholderText(f"At least {MIN_PASSWORD_LENGTH} characters")
        self.confirm_edit = password_edit(self)
        self.add_field(form, "&New Password:", self.password_edit, PASSWORD)
        self.add_field(form, "&Confirm Password:", self.confirm_edit, CONFIRM_PASSWORD)
        self.finish_layout()
        self.buttons.button(self.buttons.StandardButton.Save).setText("&Set Password")
        self._loading = False
        self.set_loaded()
        self.resize(420, 200)

    def save(self) -> None:
        check_passwords_match(self.password_edit.text(), self.confirm_edit.text())
        self.ctx.people.set_password(self.user.id, self.password_edit.text())


class UsersScreen(QWidget):
    """The user list with New, Edit, Delete and Set Password."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        layout = QVBoxLayout(self)
        header, self.filter_edit, buttons = find_bar(
            self,
            "Filter by name, email, role or team",
            "&New User…",
            "&Edit…",
            "&Delete",
            "Set &Password…",
        )
        self.new_button, self.edit_button, self.delete_button, self.password_button = buttons
        layout.addLayout(header)
        self.model: RecordTableModel[UserRecord] = RecordTableModel(
            [
                Column("Login Name", lambda u: u.login),
                Column("Display Name", lambda u: u.display_name),
                Column("Email Address", lambda u: u.email),
                Column("Role", lambda u: u.role.label),
                Column("Teams", lambda u: ", ".join(t.name for t in u.teams)),
                Column("Active", lambda u: yes_no(u.active)),
            ],
            self,
        )
        self.proxy = sortable(self.model, self)
        self.view = table_view(self, "Users")
        self.view.setModel(self.proxy)
        caption = QLabel("&Users:", self)
        caption.setBuddy(self.view)
        layout.addWidget(caption)
        layout.addWidget(self.view)
        self.filter_edit.textChanged.connect(self.proxy.setFilterFixedString)
        self.new_button.clicked.connect(self.new_user)
        self.edit_button.clicked.connect(self.edit_user)
        self.delete_button.clicked.connect(self.delete_user)
        self.password_button.clicked.connect(self.set_password)
        self.view.activated.connect(self.edit_user)
        self.view.selectionModel().selectionChanged.connect(self._update_buttons)
        self.reload()
        for column, width in ((0, 110), (1, 170), (2, 190), (3, 100), (4, 190)):
            self.view.setColumnWidth(column, width)

    def reload(self, select_id: int | None = None) -> None:
        current = self.selected()
        self.model.set_rows(self.ctx.people.list_users())
        self.view.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        target = select_id if select_id is not None else (current.id if current else None)
        if target is not None:
            self.select_user(target)
        self._update_buttons()

    def select_user(self, user_id: int) -> bool:
        return select_record(self.view, user_id)

    def selected(self) -> UserRecord | None:
        return selected_record(self.view)

    def _update_buttons(self, *_args: object) -> None:
        user = self.selected()
        self.edit_button.setEnabled(user is not None)
        self.password_button.setEnabled(user is not None)
        # The service refuses it too; disabling says so before the click.
        self.delete_button.setEnabled(user is not None and user.id != self.ctx.actor.user_id)

    def _open(self, dialog: UserDialog) -> UserDialog:
        dialog.accepted.connect(lambda: self.reload(dialog.saved_id))
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        return dialog

    def new_user(self) -> UserDialog:
        return self._open(UserDialog(self.ctx, None, self))

    def edit_user(self, *_args: object) -> UserDialog | None:
        user = self.selected()
        if user is None:
            return None
        return self._open(UserDialog(self.ctx, user, self))

    def set_password(self) -> PasswordDialog | None:
        user = self.selected()
        if user is None:
            return None
        dialog = PasswordDialog(self.ctx, user, self)
        dialog.accepted.connect(
            lambda: messages.info(
                self, "Set Password", f"The password of {user.login} has been changed."
            )
        )
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        return dialog

    def delete_user(self) -> None:
        user = self.selected()
        if user is not None and confirm_and_run(
            self,
            "Delete User",
            f"Delete the user '{user.display_name}' ({user.login})? "
            "To keep their history but stop them signing in, clear Active instead.",
            lambda: self.ctx.people.delete_user(user.id),
        ):
            self.reload()
