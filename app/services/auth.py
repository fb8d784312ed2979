"""Sign-in, password hashing (scrypt, memory-hard) and role permissions."""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import os
from dataclasses import dataclass

from sqlalchemy import select

from app.db.engine import Database
from app.db.models import Role, User
from app.services.errors import AuthenticationError, PermissionDenied, ValidationError

# scrypt with N=2**15, r=8 uses 32 MiB per hash: memory-hard, ~0.1 s.
_N, _R, _P = 2**15, 8, 1
_MAXMEM = 64 * 1024 * 1024
MIN_PASSWORD_LENGTH = 8


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=_N, r=_R, p=_P, maxmem=_MAXMEM, dklen=32
    )
    b64 = base64.b64encode
    return f"scrypt${_N}${_R}${_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str | None) -> bool:
    if not stored:
        return False
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode("utf-8"),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=_MAXMEM,
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def check_password_strength(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError("Password", f"must have at least {MIN_PASSWORD_LENGTH} characters.")
    return password


class Permission(enum.Enum):
    WORK_EMAILS = "work emails"
    CONFIGURE_CAMPAIGNS = "configure campaigns and templates"
    ADMINISTER = "administer teams, users, channels and settings"


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.AGENT: frozenset({Permission.WORK_EMAILS}),
    Role.SUPERVISOR: frozenset({Permission.WORK_EMAILS, Permission.CONFIGURE_CAMPAIGNS}),
    Role.ADMINISTRATOR: frozenset(Permission),
}


@dataclass(frozen=True)
class Actor:
    """Who is working: passed to every service, which checks the role."""

    user_id: int | None
    login: str
    display_name: str
    role: Role

    def can(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS[self.role]

    def require(self, permission: Permission) -> None:
        if not self.can(permission):
            raise PermissionDenied(
                f"{self.display_name} ({self.role.label}) may not {permission.value}."
            )


# The command line acts with full rights: whoever can run it can edit the database file.
SYSTEM = Actor(user_id=None, login="system", display_name="Command line", role=Role.ADMINISTRATOR)


def actor_for(user: User) -> Actor:
    return Actor(user_id=user.id, login=user.login, display_name=user.display_name, role=user.role)


def sign_in(db: Database, login: str, password: str) -> Actor:
    login = login.strip()
    if not login:
        raise AuthenticationError("Enter your login name.")
    with db.session() as session:
        user = session.scalar(select(User).where(User.login == login))
        if user is None or not user.active or not verify_password(password, user.password_hash):
            raise AuthenticationError("The login name or password is not correct.")
        return actor_for(user)


def demo_accounts(db: Database) -> list[tuple[str, str, Role]]:
    """Demo accounts still using their demo password: (login, display name, role)."""
    with db.session() as session:
        users = session.scalars(
            select(User).where(User.is_demo.is_(True), User.active.is_(True)).order_by(User.id)
        )
        return [(u.login, u.display_name, u.role) for u in users]
