"""Teams and users."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, selectinload

from app.db import security
from app.db.models import Email, EmailStatus, Role, Team, User, utcnow
from app.services import validation as v
from app.services.auth import Permission, check_password_strength, forget_rights, hash_password
from app.services.base import Service, ensure_unique, get_or_404, names
from app.services.errors import ValidationError
from app.services.history import Entry, write_history
from app.services.records import CampaignRef, Ref, TeamRecord, UserRecord, UserRef
from app.services.work import requeue

TEAM_NAME = "Team Name"
LOGIN = "Login Name"
DISPLAY_NAME = "Display Name"
EMAIL = "Email Address"
ROLE = "Role"


@dataclass
class TeamData:
    name: str
    description: str = ""
    is_public: bool = True
    member_ids: list[int] = field(default_factory=list)


@dataclass
class UserData:
    login: str
    display_name: str
    email: str = ""
    role: Role | str = Role.AGENT
    active: bool = True
    team_ids: list[int] = field(default_factory=list)


def team_record(t: Team) -> TeamRecord:
    """(its members and campaigns loaded, or loadable in its session)"""
    return TeamRecord(
        id=t.id,
        name=t.name,
        description=t.description,
        is_public=t.is_public,
        members=tuple(
            UserRef(u.id, u.login, u.display_name) for u in sorted(t.members, key=lambda u: u.login)
        ),
        campaigns=tuple(
            CampaignRef(c.id, c.title) for c in sorted(t.campaigns, key=lambda c: c.title)
        ),
    )


def user_record(u: User) -> UserRecord:
    """(its teams loaded, or loadable in its session; never its password hash)"""
    return UserRecord(
        id=u.id,
        login=u.login,
        display_name=u.display_name,
        email=u.email,
        role=u.role,
        active=u.active,
        teams=tuple(Ref(t.id, t.name) for t in sorted(u.teams, key=lambda t: t.name)),
    )


def _users(s: Session, ids: list[int]) -> list[User]:
    found = list(s.scalars(select(User).where(User.id.in_(ids)))) if ids else []
    if len(found) != len(set(ids)):
        raise ValidationError("Members", "a chosen user no longer exists; reopen the dialog.")
    return sorted(found, key=lambda u: u.login)


def _teams(s: Session, ids: list[int]) -> list[Team]:
    found = list(s.scalars(select(Team).where(Team.id.in_(ids)))) if ids else []
    if len(found) != len(set(ids)):
        raise ValidationError("Teams", "a chosen team no longer exists; reopen the dialog.")
    return sorted(found, key=lambda t: t.name)


class PeopleService(Service):
    """Teams and users, handed out as records: nothing of a password leaves here."""

    # ---- teams --------------------------------------------------------------
    def list_teams(self) -> list[TeamRecord]:
        """For the team, user and campaign screens (supervisors and administrators)."""
        with self.read(Permission.CONFIGURE_CAMPAIGNS) as s:
            return [
                team_record(t)
                for t in s.scalars(
                    select(Team)
                    .options(selectinload(Team.members), selectinload(Team.campaigns))
                    .order_by(Team.name)
                )
            ]

    def _apply_team(self, s: Session, team: Team, data: TeamData) -> None:
        team.name = v.text(TEAM_NAME, data.name)
        ensure_unique(s, Team, Team.name, team.name, TEAM_NAME, team.id)
        team.description = (data.description or "").strip()
        team.is_public = data.is_public
        team.members = _users(s, data.member_ids)

    def create_team(self, data: TeamData) -> TeamRecord:
        with self.write(Permission.ADMINISTER, "The team") as s:
            team = Team()
            self._apply_team(s, team, data)
            s.add(team)
            s.flush()
            return team_record(team)

    def update_team(self, team_id: int, data: TeamData) -> TeamRecord:
        with self.write(Permission.ADMINISTER, "The team") as s:
            team = get_or_404(s, Team, team_id, "team")
            self._apply_team(s, team, data)
            s.flush()
            return team_record(team)

    def delete_team(self, team_id: int) -> None:
        with self.write(Permission.ADMINISTER, "The team") as s:
            team = get_or_404(s, Team, team_id, "team")
            if team.campaigns:
                raise ValidationError(
                    "Team",
                    f"'{team.name}' is still assigned to campaign(s) "
                    f"{names(list(team.campaigns), 'title')}; remove it from their "
                    "Assigned Teams first.",
                )
            s.delete(team)

    # ---- users --------------------------------------------------------------
    def list_users(self) -> list[UserRecord]:
        """Every user (administrators)."""
        with self.read(Permission.ADMINISTER) as s:
            return [
                user_record(u)
                for u in s.scalars(
                    select(User).options(selectinload(User.teams)).order_by(User.login)
                )
            ]

    def _apply_user(self, s: Session, user: User, data: UserData) -> None:
        login = v.text(LOGIN, data.login, max_length=100)
        if any(ch.isspace() for ch in login):
            raise ValidationError(LOGIN, "must not contain spaces.")
        ensure_unique(s, User, User.login, login, LOGIN, user.id)
        if not self.db.is_sqlite and login != user.login:
            # on PostgreSQL the login name is a login of the database too
            problem = security.login_problem(security.site_prefix(s.connection()), login)
            if problem is not None:
                raise ValidationError(LOGIN, problem)
        try:
            role = Role(data.role)
        except ValueError as exc:
            raise ValidationError(
                ROLE, f"'{data.role}' is not a role (agent, supervisor, administrator)."
            ) from exc
        if (
            user.id is not None
            and user.role == Role.ADMINISTRATOR
            and (role != Role.ADMINISTRATOR or not data.active)
        ):
            self._keep_an_administrator(s, user)
        user.login = login
        user.display_name = v.text(DISPLAY_NAME, data.display_name)
        user.email = v.email_address(EMAIL, data.email, required=False)
        user.role = role
        user.active = data.active
        user.teams = _teams(s, data.team_ids)

    def _return_held(self, s: Session, user: User) -> None:
        """A disabled user's emails held without a draft go back to their queues, keeping
        their place (their workstation signs them out); drafts stay, for a supervisor to
        return from Held Emails."""
        held = s.scalars(
            select(Email.id).where(Email.agent_id == user.id, Email.status == EmailStatus.ASSIGNED)
        ).all()
        now = utcnow()
        for email_id in held:
            if requeue(s, email_id, user.id, (EmailStatus.ASSIGNED,)):
                detail = (
                    f"Returned to the queue: {user.display_name}'s account was disabled by "
                    f"{self.actor.display_name}"
                )
                write_history(s, [Entry(email_id, "put back", detail, now, self.actor.user_id)])

    def _keep_an_administrator(self, s: Session, leaving: User) -> None:
        others = s.scalar(
            select(func.count()).where(
                User.role == Role.ADMINISTRATOR, User.active.is_(True), User.id != leaving.id
            )
        )
        if not others:
            raise ValidationError(
                ROLE, f"'{leaving.login}' is the last active administrator; appoint another first."
            )

    def create_user(self, data: UserData, password: str | None) -> UserRecord:
        """A user; with no password they cannot sign in until one is set. (On PostgreSQL
        their login is made with them: ``app.db.security``.)"""
        with self.write(Permission.ADMINISTER, "The user") as s:
            user = User()
            self._apply_user(s, user, data)
            if password is not None:
                check_password_strength(password)
                if self.db.is_sqlite:
                    user.password_hash = hash_password(password)
            s.add(user)
            self._flush_login(s)
            if password is not None and not self.db.is_sqlite:
                security.set_password(s.connection(), user.id, user.login, password)
            return user_record(user)

    def _flush_login(self, s: Session) -> None:
        """Write the user: on PostgreSQL their login follows (a trigger), which the
        database may refuse for a name PostgreSQL has already."""
        try:
            s.flush()
        except DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) in ("42710", "42602"):
                message = str(exc.orig).splitlines()[0]
                raise ValidationError(LOGIN, f"cannot be used: {message}.") from exc
            raise

    def update_user(self, user_id: int, data: UserData) -> UserRecord:
        with self.write(Permission.ADMINISTER, "The user") as s:
            user = get_or_404(s, User, user_id, "user")
            was_active = user.active
            self._apply_user(s, user, data)
            if was_active and not user.active:
                self._return_held(s, user)
            self._flush_login(s)
            record = user_record(user)
        forget_rights(user_id)  # a new role or state counts at once in this process
        return record

    def set_password(self, user_id: int, password: str) -> None:
        """Administrators set anyone's password; everyone may set their own."""
        permission = (
            Permission.WORK_EMAILS if user_id == self.actor.user_id else Permission.ADMINISTER
        )
        check_password_strength(password)
        with self.write(permission, "The password") as s:
            user = get_or_404(s, User, user_id, "user")
            if self.db.is_sqlite:
                user.password_hash = hash_password(password)
                user.is_demo = False
            else:  # PostgreSQL checks it (and ec_set_password ends is_demo)
                security.set_password(s.connection(), user.id, user.login, password)

    def delete_user(self, user_id: int) -> None:
        with self.write(Permission.ADMINISTER, "The user") as s:
            user = get_or_404(s, User, user_id, "user")
            if user.id == self.actor.user_id:
                raise ValidationError("User", "you cannot delete your own account.")
            if user.role == Role.ADMINISTRATOR:
                self._keep_an_administrator(s, user)
            s.delete(user)
        forget_rights(user_id)
