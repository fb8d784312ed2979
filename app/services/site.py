"""Opening the site a workstation works on, and signing in to it.

- This user's own SQLite file (the default) or a file given: opened, its schema brought up
  to date, the demo organisation made on the first start in the own file; one database for
  everyone who signs in at this workstation, with the app's own sign-in (``auth``).
- A shared PostgreSQL site: nothing is read before sign-in. Each person signs in with their
  own PostgreSQL login (their login name after the site's role prefix, ``?role_prefix=`` in
  the site's URL), whose password PostgreSQL checks; they work on a pool of connections of
  their own, disposed at sign-out, and the database grants them what their role may do
  (``app.db.security``). A schema behind this program is said, and nobody works on it.

Screens hold the signed-in database as a ``Site``: an opaque handle they pass to the services
(and ask only ``describe()`` and ``is_sqlite``); they never open a database or migrate one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeAlias

from sqlalchemy import Connection, Row, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from app import paths
from app.db import migrate, security
from app.db.engine import Database, normalise_url, role_prefix_of
from app.db.models import utcnow
from app.domain.enums import Role
from app.services import auth, demo
from app.services.auth import Actor
from app.services.errors import (
    AuthenticationError,
    DatabaseUnavailable,
    ServiceError,
    database_unavailable,
)

Site: TypeAlias = Database
DemoAccount = tuple[str, str, Role]  # login, display name, role


class SiteUnavailable(ServiceError):
    """The application cannot start on this database; the message says why."""


@dataclass(frozen=True)
class SignedIn:
    actor: Actor
    db: Site  # what the person works on until they sign out


class SiteAccess:
    """The way into a site: its demo accounts (own file only), signing in, and signing out.
    ``database``: the one database of a SQLite site (None for a shared one)."""

    def __init__(
        self,
        url: str,
        database: Database | None = None,
        *,
        opened: Callable[[Database], None] | None = None,
    ) -> None:
        """``opened``: called with each person's database as it is made (tests hold the
        GUI thread off it)."""
        self.url = url
        self.database = database
        self.opened = opened
        self.role_prefix = role_prefix_of(url) or ""
        self.shared = database is None
        self.attempts = auth.LocalAttempts()

    @classmethod
    def of(cls, database: Database) -> SiteAccess:
        """A SQLite site on ``database`` (tests, and ``open_site``)."""
        return cls(database.url, database)

    def describe(self) -> str:
        if self.database is not None:
            return self.database.describe()
        return (
            make_url(normalise_url(self.url)).set(username=None, password=None).render_as_string()
        )

    def demo_accounts(self) -> list[DemoAccount]:
        """The demo accounts still using the demo password (a shared site: none, read
        nothing before sign-in)."""
        if self.database is None:
            return []
        return auth.demo_accounts(self.database)

    def sign_in(self, login: str, password: str) -> SignedIn:
        """Who ``login`` is, if ``password`` is theirs (to run off the GUI thread); raises
        ``AuthenticationError``, ``DatabaseUnavailable``, or ``SiteUnavailable`` (the
        schema behind: nobody works on it until its owner upgrades it)."""
        if self.database is not None:
            return SignedIn(auth.sign_in(self.database, login, password), self.database)
        login = login.strip()
        if not login:
            raise AuthenticationError("Enter your login name.")
        now = utcnow()
        self.attempts.check(login, now)
        try:
            signed_in = _sign_in_shared(self.url, self.role_prefix, login, password, self.opened)
        except AuthenticationError:
            raise self.attempts.failed(login, now) from None
        self.attempts.succeeded(login)
        return signed_in

    def release(self, signed_in: SignedIn) -> None:
        """The person signed out: their connections are closed (a shared site)."""
        if signed_in.db is not self.database:
            signed_in.db.dispose()

    def close(self) -> None:
        if self.database is not None:
            self.database.dispose()


def _sign_in_shared(
    url: str,
    prefix: str,
    login: str,
    password: str,
    opened: Callable[[Database], None] | None = None,
) -> SignedIn:
    if not password or security.login_problem(prefix, login) is not None:
        raise AuthenticationError(auth.WRONG)
    role = security.login_role(prefix, login)
    personal = make_url(normalise_url(url)).set(username=role, password=password)
    db = Database(personal.render_as_string(hide_password=False))
    if opened is not None:
        opened(db)
    try:
        with db.autocommit() as conn:  # the first connection: PostgreSQL checks the password
            row = _whoami(conn)
        if row is None:  # a login of the database, but no active user of this site
            raise AuthenticationError(auth.WRONG)
        actor = Actor(
            user_id=row.id, login=row.login, display_name=row.display_name, role=Role(row.role)
        )
        auth.remember_signed_in(db, actor)
        return SignedIn(actor, db)
    except BaseException as exc:
        db.dispose()
        if isinstance(exc, DBAPIError):
            raise _sign_in_failure(exc, db) from exc
        raise


def _whoami(conn: Connection) -> Row[Any] | None:
    """The signed-in user, after checking that the schema is this program's."""
    head = migrate.head_revision_quick()
    try:
        found = conn.execute(
            text(
                "SELECT (SELECT version_num FROM alembic_version) AS revision, "
                "(SELECT security_version FROM ec_site) AS security"
            )
        ).one()
    except DBAPIError as exc:
        sqlstate = getattr(exc.orig, "sqlstate", None)
        if sqlstate == "42501":  # a login of the cluster, not of this site (another site's)
            raise AuthenticationError(auth.WRONG) from exc
        if sqlstate == "42P01":  # no such table: a schema from before the roles
            raise SiteUnavailable(_behind("without this program's roles")) from exc
        raise
    if found.revision != head or found.security != security.SECURITY_VERSION:
        newer = (
            found.revision is not None
            and head is not None
            and str(found.revision).isdigit()
            and head.isdigit()
            and int(found.revision) > int(head)
        )
        if newer:
            raise SiteUnavailable(
                f"The site's database is at schema revision {found.revision}, newer than this "
                f"program knows (up to {head}): use a newer Email Campaigns."
            )
        raise SiteUnavailable(_behind(f"at schema revision {found.revision}"))
    return conn.execute(
        text("SELECT id, login, display_name, role FROM users WHERE id = ec_me()")
    ).first()


def _behind(state: str) -> str:
    return (
        f"The site's database is {state}, behind this program: nobody can work on it until "
        'the site\'s owner upgrades it (README, "Running a site"):\n'
        "  email-campaigns --database OWNER-URL db upgrade"
    )


# What the server answers a connection it does not let in (libpq gives no SQLSTATE for a
# refused connection, only the server's words): a wrong password or unknown login (28P01),
# a disabled one (28000 "not permitted to log in"), or none allowed from here (pg_hba.conf).
_REFUSED_LOGIN = ("authentication failed", "not permitted to log in", "pg_hba.conf")


def _sign_in_failure(exc: DBAPIError, db: Database) -> ServiceError:
    sqlstate = getattr(exc.orig, "sqlstate", None)
    said = str(exc.orig)
    if (sqlstate is not None and str(sqlstate).startswith("28")) or any(
        words in said for words in _REFUSED_LOGIN
    ):  # all "not correct", as the app's own sign-in says
        return AuthenticationError(auth.WRONG)
    if database_unavailable(exc):
        reason = (str(exc.orig).strip().splitlines() or ["unreachable"])[0]
        return DatabaseUnavailable(
            f"The site's database {db.describe()} cannot be reached now: {reason}"
        )
    return SiteUnavailable(f"Signing in failed: {str(exc.orig).strip().splitlines()[0]}")


def open_site(url: str | None) -> SiteAccess:
    """The site at ``url`` (None: this user's own SQLite file). A SQLite database is opened
    and its schema brought up to date; raises ``SiteUnavailable`` with the reason (and
    leaves nothing open) when it cannot be worked on. A PostgreSQL site is not connected to
    before someone signs in (``SiteAccess.sign_in``).

    The demo organisation is created only in this user's own SQLite file (the first
    ``make run``): a database given with ``--database`` or the environment — a site's
    shared one — is set up by its owner, and a demo there would give everyone who can reach
    it an administrator with a published password."""
    url = url or paths.default_database_url()
    if make_url(normalise_url(url)).get_backend_name() != "sqlite":
        return SiteAccess(url)
    db: Database | None = None
    try:
        db = Database(url)
        migrate.upgrade(db)
        if not demo.has_data(db):
            if not _is_own_database(db):
                raise SiteUnavailable(_not_set_up(db))
            demo.seed(db)
        return SiteAccess.of(db)
    except BaseException as exc:
        if db is not None:
            db.dispose()
        if isinstance(exc, migrate.SchemaError):
            raise SiteUnavailable(str(exc)) from exc
        if isinstance(exc, SQLAlchemyError):
            reason = exc.orig if isinstance(exc, DBAPIError) else exc
            raise SiteUnavailable(f"The database could not be opened:\n{reason}") from exc
        raise


def _is_own_database(db: Database) -> bool:
    path = db.sqlite_path
    return path is not None and path.resolve() == paths.default_database_path().resolve()


def _not_set_up(db: Database) -> str:
    return (
        f"The database {db.describe()} has no users yet: nobody can sign in.\n\n"
        'The site\'s owner sets it up from the command line (README, "Running a site"):\n'
        "  email-campaigns --database URL db upgrade\n"
        "then either the site's configuration:\n"
        "  email-campaigns --database URL config import site.json\n"
        "or a first administrator (the password is read from standard input):\n"
        "  email-campaigns --database URL user create LOGIN --role administrator\n\n"
        "The demo organisation is created only in this computer's own database, or with "
        '"email-campaigns --database URL demo".'
    )
