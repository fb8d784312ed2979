"""Opening the site a workstation works on: its database, the schema brought up to date, and
on the first start on this user's own database the demo organisation.

Screens hold the result as a ``Site``: an opaque handle they pass to the services (and ask
only ``describe()`` and ``is_sqlite``); they never open a database or migrate one themselves.
"""

from __future__ import annotations

from typing import TypeAlias

from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from app import paths
from app.db import migrate
from app.db.engine import Database
from app.services import demo
from app.services.errors import ServiceError

Site: TypeAlias = Database


class SiteUnavailable(ServiceError):
    """The application cannot start on this database; the message says why."""


def open_site(url: str | None) -> Site:
    """The database at ``url`` (None: this user's own SQLite file), its schema brought up to
    date; raises ``SiteUnavailable`` with the reason (and leaves nothing open) when it cannot
    be worked on.

    The demo organisation is created only in this user's own SQLite file (the first
    ``make run``): a database given with ``--database`` or the environment — a site's
    shared one — is set up by its owner, and a demo there would give everyone who can reach
    it an administrator with a published password."""
    db: Database | None = None
    try:
        db = Database(url or paths.default_database_url())
        migrate.upgrade(db)
        if not demo.has_data(db):
            if not _is_own_database(db):
                raise SiteUnavailable(_not_set_up(db))
            demo.seed(db)
        return db
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
