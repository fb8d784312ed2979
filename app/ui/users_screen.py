"""Administration ▸ Users: the user list, the user editor and Set Password.

Nothing here waits for the database on the GUI thread: the list is read on a lane
(``app.ui.operations``), the user and the teams are read before the editor opens, and
the saves (with the password's hashing) run off the GUI thread."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QWidget,
)

from app.domain.enums import Role
from app.services.auth import MIN_PASSWORD_LENGTH
from app.services.errors import NotFound, ValidationError
from app.services.people import DISPLAY_NAME, EMAIL, LOGIN, ROLE, PeopleService, UserData
from app.services.records import TeamRecord, UserRecord
from app.ui.context import AppContext
from app.ui.forms import FormDialog, combo_select_data
from app.ui.messages import messages
from app.ui.models import Column
from app.ui.record_list import RecordListScreen, first_of_pair
from app.ui.teams_screen import CheckList
from app.ui.widgets import (
    confirm_then_run,
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
    """Create or edit a user; a new user gets a password (optional) typed twice. The teams
    to choose from (``teams``) are read before the dialog opens."""

    def __init__(
        self,
        ctx: AppContext,
        user: UserRecord | None,
        teams: Sequence[TeamRecord],
        parent: QWidget | None = None,
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
            [(t.id, t.name) for t in teams],
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

    def save(self) -> Callable[[], UserRecord]:
        data, people, user = self.data(), self.ctx.people, self.user
        if user is not None:
            return lambda: people.update_user(user.id, data)
        assert self.password_edit is not None and self.confirm_edit is not None
        password, confirmation = self.password_edit.text(), self.confirm_edit.text()
        check_passwords_match(password, confirmation)
        return lambda: people.create_user(data, password or None)  # hashed off the GUI thread

    def saved(self, result: object) -> None:
        assert isinstance(result, UserRecord)
        self.saved_id = result.id


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

    def save(self) -> Callable[[], None]:
        password = self.password_edit.text()
        check_passwords_match(password, self.confirm_edit.text())
        people, user_id = self.ctx.people, self.user.id
        return lambda: people.set_password(user_id, password)  # hashed off the GUI thread


def user_now(people: PeopleService, user_id: int) -> UserRecord:
    """The user ``user_id`` as they are now (off the GUI thread)."""
    for user in people.list_users():
        if user.id == user_id:
            return user
    raise NotFound("The user no longer exists (they may have been deleted by someone else).")


class UsersScreen(RecordListScreen[UserRecord]):
    """The user list with New, Edit, Delete and Set Password (see ``RecordListScreen``)."""

    noun = "users"
    column_widths = (110, 170, 190, 100, 190)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(
            ctx,
            name="Users",
            caption="&Users:",
            placeholder="Filter by name, email, role or team",
            buttons=["&New User…", "&Edit…", "&Delete", "Set &Password…"],
            columns=[
                Column("Login Name", lambda u: u.login),
                Column("Display Name", lambda u: u.display_name),
                Column("Email Address", lambda u: u.email),
                Column("Role", lambda u: u.role.label),
                Column("Teams", lambda u: ", ".join(t.name for t in u.teams)),
                Column("Active", lambda u: yes_no(u.active)),
            ],
            parent=parent,
        )
        self.new_button, self.edit_button, self.delete_button, self.password_button = self.buttons
        self.new_button.clicked.connect(self.new_user)
        self.edit_button.clicked.connect(self.edit_user)
        self.delete_button.clicked.connect(self.delete_user)
        self.password_button.clicked.connect(self.set_password)
        self.view.activated.connect(self.edit_user)
        self.start()

    def read_rows(self) -> Callable[[], list[UserRecord]]:
        return self.ctx.people.list_users

    def select_user(self, user_id: int) -> bool:
        return self.select(user_id)

    def _update_buttons(self, *_args: object) -> None:
        user = self.selected()
        self.edit_button.setEnabled(user is not None)
        self.password_button.setEnabled(user is not None)
        # The service refuses it too; disabling says so before the click.
        self.delete_button.setEnabled(user is not None and user.id != self.ctx.actor.user_id)

    def _open(self, found: tuple[UserRecord | None, list[TeamRecord]]) -> UserDialog:
        dialog = UserDialog(self.ctx, *found, self)
        dialog.accepted.connect(lambda: self.reload(dialog.saved_id))
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()
        return dialog

    def new_user(self) -> None:
        """Open the dialog for a new user, once the teams are read."""
        people = self.ctx.people
        self.read_then("New User", lambda: (None, people.list_teams()), self._open, first_of_pair)

    def edit_user(self, *_args: object) -> None:
        """Open the selected user (as they are now) in the dialog, once read."""
        user = self.selected()
        if user is None:
            return
        people, user_id = self.ctx.people, user.id
        self.read_then(
            "Edit User",
            lambda: (user_now(people, user_id), people.list_teams()),
            self._open,
            first_of_pair,
        )

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
        if user is None:
            return
        people = self.ctx.people
        confirm_then_run(
            self,
            "Delete User",
            f"Delete the user '{user.display_name}' ({user.login})? "
            "To keep their history but stop them signing in, clear Active instead.",
            lambda: people.delete_user(user.id),
            self.reload,
        )
