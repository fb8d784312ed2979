"""Sign-in, password hashing (scrypt, memory-hard), role permissions and the rights a
signed-in user holds now.

Sign-in (the app's own, on SQLite and PostgreSQL alike):

- Passwords are hashed with scrypt at OWASP's parameters (N=2**17, r=8, p=1: 128 MiB, about
  half a second here); a hash of older parameters is renewed at its user's next sign-in.
- Every attempt is counted per login name *before* the password is checked, in the table
  ``sign_in_failures`` (so the count spans workstations, and parallel attempts cannot slip
  past it); a success removes the count. From the fifth attempt without success on, the
  login is blocked for 30 s, then 1, 2, 4, 8 and at most 15 minutes after each further
  failure; a blocked attempt is refused without looking at the password.
- Unknown login names are counted the same way, and their password is checked against a
  hash of the same parameters: a wrong password takes as long, and is blocked as soon, for
  a login that exists as for one that does not. Counts older than a day go, and at most
  ``MAX_FAILURE_ROWS`` are kept.

Rights: services ask ``current_actor`` for who is working *now*: the role and enabled state
the database holds (read again at most once a second per user and process), so a role
change or a disabled account takes effect in every service on every workstation within a
second; the Workspace signs such a user out (app.ui.main_window).
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import os
import threading
import time
import weakref
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from app.db.engine import Database
from app.db.models import Role, SignInFailure, User, utcnow
from app.services.errors import AuthenticationError, PermissionDenied, ValidationError

# OWASP Password Storage Cheat Sheet: scrypt N=2**17, r=8, p=1 (128 MiB per hash).
_N, _R, _P = 2**17, 8, 1
# The most memory a stored hash may make a check use (hashlib's default allows 32 MiB);
# a hash asking for more is refused rather than allocated.
_MAXMEM = 256 * 1024 * 1024
MIN_PASSWORD_LENGTH = 8
# A hash of a random password with the current parameters: a login name that does not
# exist (or has no password) is checked against it, taking as long as one that does.
_DUMMY_HASH = (
    "scrypt$131072$8$1$2jAKk1m2m9fVtAP/baL1jg==$l4Sjtgz54y3Tf1+7Y1dZMwT/Ww+fKmdcYhhK+fyS7ds="
)

BLOCK_FROM = 5  # the fifth attempt without success blocks the login for a while
FIRST_BLOCK = timedelta(seconds=30)
LONGEST_BLOCK = timedelta(minutes=15)
FAILURES_KEPT = timedelta(days=1)
MAX_FAILURE_ROWS = 10_000  # unknown names are counted too: their number stays bounded
WRONG = "The login name or password is not correct."


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=_N, r=_R, p=_P, maxmem=_MAXMEM, dklen=32
    )
    b64 = base64.b64encode
    return f"scrypt${_N}${_R}${_P}${b64(salt).decode()}${b64(digest).decode()}"


def needs_rehash(stored: str) -> bool:
    """A hash made with other parameters than today's (older, weaker ones)."""
    return not stored.startswith(f"scrypt${_N}${_R}${_P}$")


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
    except (ValueError, TypeError, MemoryError):
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


class SignInBlocked(AuthenticationError):
    """Too many attempts without success: no attempt is looked at before ``until``."""

    def __init__(self, message: str, until: datetime) -> None:
        super().__init__(message)
        self.until = until


def _block_for(attempts: int) -> timedelta | None:
    if attempts < BLOCK_FROM:
        return None
    return min(LONGEST_BLOCK, FIRST_BLOCK * 2 ** min(attempts - BLOCK_FROM, 20))


def _when(until: datetime, now: datetime) -> str:
    seconds = max(1, int((until - now).total_seconds() + 0.999))
    wait = f"{seconds} s" if seconds < 120 else f"{(seconds + 59) // 60} minutes"
    return f"{until.astimezone().strftime('%H:%M:%S')} (in {wait})"


def _failure_key(login: str) -> str:
    # login names are unique regardless of letter case: one count for every spelling
    return login.casefold()[:100]


def _count_attempt(db: Database, key: str, now: datetime) -> datetime | None:
    """Count an attempt for ``key`` before its password is checked; the time until which
    the login is blocked from now on (None: not blocked). Raises ``SignInBlocked`` while
    an earlier block lasts (that attempt is not counted)."""
    table = SignInFailure.__table__
    dialect = postgresql if not db.is_sqlite else sqlite
    blocked = SignInFailure.locked_until
    with db.session() as s:
        # One statement counts the attempt, only where the login is not blocked: parallel
        # attempts on several workstations each see the others' counts.
        upsert = dialect.insert(table).values(
            login_key=key, failures=1, last_attempt_at=now, locked_until=None
        )
        for _race in range(3):
            attempts = s.scalar(
                upsert.on_conflict_do_update(
                    index_elements=[table.c.login_key],
                    set_={"failures": table.c.failures + 1, "last_attempt_at": now},
                    where=blocked.is_(None) | (blocked <= now),
                ).returning(table.c.failures)
            )
            if attempts is not None:
                break
            # blocked: the row was left alone (unless a success removed it meanwhile)
            until = s.scalar(select(blocked).where(SignInFailure.login_key == key))
            if until is not None and until > now:
                raise SignInBlocked(
                    "Too many attempts to sign in without success: signing in as this "
                    f"login name is blocked until {_when(until, now)}.",
                    until,
                )
        if attempts is None:
            raise AuthenticationError("Signing in could not be counted; try again.")
        block = _block_for(attempts)
        until = now + block if block is not None else None
        if until is not None:
            s.execute(
                update(SignInFailure)
                .where(SignInFailure.login_key == key)
                .values(locked_until=until)
                .execution_options(synchronize_session=False)
            )
        if attempts == 1:  # a new name: old counts go, and their number stays bounded
            s.execute(
                delete(SignInFailure).where(SignInFailure.last_attempt_at < now - FAILURES_KEPT)
            )
            rows = s.scalar(select(func.count()).select_from(SignInFailure)) or 0
            if rows > MAX_FAILURE_ROWS:  # the oldest beyond the bound go
                beyond = (
                    select(SignInFailure.login_key)
                    .order_by(SignInFailure.last_attempt_at.desc())
                    .offset(MAX_FAILURE_ROWS)
                )
                s.execute(delete(SignInFailure).where(SignInFailure.login_key.in_(beyond)))
        return until


def _refusal(blocked_until: datetime | None, now: datetime) -> AuthenticationError:
    """A wrong login name or password (and the block it started, if it did)."""
    if blocked_until is not None:
        return SignInBlocked(
            f"{WRONG} After {BLOCK_FROM} attempts without success, signing in as this "
            f"login name is blocked until {_when(blocked_until, now)}.",
            blocked_until,
        )
    return AuthenticationError(WRONG)


class LocalAttempts:
    """Attempts to sign in to a shared site, counted at this workstation with the same
    blocks as the app's own sign-in: PostgreSQL checks the password there and keeps no
    count that could be read before signing in (a site's own counter for every client is
    the server's ``auth_delay``; README, "Running a site")."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: dict[str, tuple[int, datetime | None]] = {}

    def check(self, login: str, now: datetime) -> None:
        """Raises ``SignInBlocked`` while a block lasts (that attempt is not counted)."""
        with self._lock:
            _count, until = self._failures.get(_failure_key(login), (0, None))
        if until is not None and until > now:
            raise SignInBlocked(
                "Too many attempts to sign in without success: signing in as this "
                f"login name is blocked until {_when(until, now)}.",
                until,
            )

    def failed(self, login: str, now: datetime) -> AuthenticationError:
        """Count a refused attempt; the refusal to raise."""
        key = _failure_key(login)
        with self._lock:
            count = self._failures.get(key, (0, None))[0] + 1
            block = _block_for(count)
            until = now + block if block is not None else None
            self._failures[key] = (count, until)
        return _refusal(until, now)

    def succeeded(self, login: str) -> None:
        with self._lock:
            self._failures.pop(_failure_key(login), None)


def sign_in(db: Database, login: str, password: str, now: datetime | None = None) -> Actor:
    """The actor for ``login`` if ``password`` is theirs (see the module's docstring for
    the count of attempts, the blocks and unknown login names); ``now``: for tests."""
    login = login.strip()
    if not login:
        raise AuthenticationError("Enter your login name.")
    now = now or utcnow()
    key = _failure_key(login)
    blocked_until = _count_attempt(db, key, now)
    with db.session() as s:
        row = s.execute(
            select(User.id, User.password_hash, User.active).where(User.login == login)
        ).one_or_none()
    stored = row.password_hash if row is not None and row.password_hash else None
    # Always one check of today's cost: a login that does not exist, or a hash of older
    # (cheaper) parameters, costs as much as a current one.
    if stored is None:
        verify_password(password, _DUMMY_HASH)
        matches = False
    else:
        matches = verify_password(password, stored)
        if needs_rehash(stored):
            verify_password(password, _DUMMY_HASH)
    if row is None or not row.active or not matches:
        raise _refusal(blocked_until, now)
    assert stored is not None
    renewed = hash_password(password) if needs_rehash(stored) else None
    with db.session() as s:
        s.execute(delete(SignInFailure).where(SignInFailure.login_key == key))
        if renewed is not None:  # (unless someone set another password meanwhile)
            s.execute(
                update(User)
                .where(User.id == row.id, User.password_hash == stored)
                .values(password_hash=renewed)
                .execution_options(synchronize_session=False)
            )
        user = s.scalars(select(User).where(User.id == row.id)).one()
        actor = actor_for(user)
    _remember(db, user.id, actor.role, True)
    return actor


# ---- the rights a signed-in user holds now -----------------------------------------------

RIGHTS_MAX_AGE = 1.0  # seconds a user's role and enabled state are taken as still true


class AccountDisabled(PermissionDenied):
    """The acting user was disabled (or deleted) since they signed in."""


@dataclass(frozen=True)
class Rights:
    role: Role
    active: bool


_rights_lock = threading.Lock()
# per database (one per workstation): user id -> (read at, monotonic), rights or None
_rights: weakref.WeakKeyDictionary[Database, dict[int, tuple[float, Rights | None]]] = (
    weakref.WeakKeyDictionary()
)


def _remember(db: Database, user_id: int, role: Role, active: bool) -> None:
    with _rights_lock:
        _rights.setdefault(db, {})[user_id] = (time.monotonic(), Rights(role, active))


def remember_signed_in(db: Database, actor: Actor) -> None:
    """``actor`` just signed in (their role and state as read then)."""
    if actor.user_id is not None:
        _remember(db, actor.user_id, actor.role, True)


def current_rights(db: Database, user_id: int, max_age: float | None = None) -> Rights | None:
    """The user's role and enabled state as the database holds them (None: deleted), read
    again when what this process knows is older than ``max_age`` seconds (default
    ``RIGHTS_MAX_AGE``)."""
    now = time.monotonic()
    with _rights_lock:
        known = _rights.get(db, {}).get(user_id)
    age = RIGHTS_MAX_AGE if max_age is None else max_age
    if known is not None and now - known[0] < age:
        return known[1]
    with db.autocommit() as connection:  # one statement: no transaction around it
        row = connection.execute(
            select(User.role, User.active).where(User.id == user_id)
        ).one_or_none()
    rights = Rights(row.role, bool(row.active)) if row is not None else None
    with _rights_lock:
        _rights.setdefault(db, {})[user_id] = (now, rights)
    return rights


def forget_rights(user_id: int) -> None:
    """This process changed the user's role or state: every service here reads it again."""
    with _rights_lock:
        for users in _rights.values():
            users.pop(user_id, None)


def revoked(actor: Actor, rights: Rights | None) -> str | None:
    """Why ``actor`` may no longer work as they signed in (None: they may)."""
    if actor.user_id is None:
        return None
    if rights is None:
        return "Your account was deleted by an administrator: you have been signed out."
    if not rights.active:
        return "Your account was disabled by an administrator: you have been signed out."
    if rights.role != actor.role:
        return (
            f"Your role changed from {actor.role.label} to {rights.role.label}: please sign "
            "in again to work with the new role."
        )
    return None


def current_actor(db: Database, actor: Actor) -> Actor:
    """``actor`` with the role the database gives them now; refused when disabled or
    deleted since they signed in. The command line (no user) is taken as it is."""
    if actor.user_id is None:
        return actor
    rights = current_rights(db, actor.user_id)
    if rights is None:
        raise AccountDisabled(f"{actor.display_name}'s account no longer exists.")
    if not rights.active:
        raise AccountDisabled(
            f"{actor.display_name}'s account has been disabled: nothing can be done with it."
        )
    return actor if rights.role == actor.role else replace(actor, role=rights.role)


def demo_accounts(db: Database) -> list[tuple[str, str, Role]]:
    """Demo accounts still using their demo password: (login, display name, role)."""
    with db.session() as session:
        users = session.scalars(
            select(User).where(User.is_demo.is_(True), User.active.is_(True)).order_by(User.id)
        )
        return [(u.login, u.display_name, u.role) for u in users]
