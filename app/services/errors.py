"""Errors the services raise: each says what is wrong in words a user understands."""

from __future__ import annotations

import sys

from sqlalchemy import exc as sa

from app.db.engine import DatabaseError


class ServiceError(Exception):
    """Base of every error meant to be shown to the user as it is."""


class ValidationError(ServiceError):
    """Bad input: names the field (its label as the user sees it) and the problem."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class ConflictError(ServiceError):
    """Someone else changed or removed the record since it was opened."""


class PermissionDenied(ServiceError):
    """The signed-in user's role does not allow the operation."""


class NotFound(ServiceError):
    """The record no longer exists."""


class AuthenticationError(ServiceError):
    """Wrong login or password."""


class DatabaseUnavailable(ServiceError):
    """The database cannot be reached now (refused, lost, locked): worth trying again."""


# SQLSTATE classes of PostgreSQL that say the server cannot serve now, not that the
# statement is wrong: connection exceptions (08…), operator intervention (57P01 admin
# shutdown, 57P02 crash shutdown, 57P03 cannot connect now), insufficient resources (53…).
_UNAVAILABLE_SQLSTATES = ("08", "57P", "53")
# SQLite's words for a file it cannot use now (busy, gone, full), as against a wrong statement.
_UNAVAILABLE_SQLITE = (
    "database is locked",
    "unable to open database file",
    "disk i/o error",
    "database or disk is full",
    "readonly database",
)


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says that the database cannot be reached or used now (the caller
    shows it and tries again), rather than that the code asked something wrong (a bug)."""
    if isinstance(exc, DatabaseUnavailable | DatabaseError | sa.DisconnectionError):
        return True
    if isinstance(exc, sa.TimeoutError):  # no connection free in the pool in time
        return True
    if isinstance(exc, sa.DBAPIError):
        if exc.connection_invalidated or isinstance(exc, sa.InterfaceError):
            return True
        if isinstance(exc, sa.OperationalError):
            if hasattr(exc.orig, "sqlstate"):  # psycopg; no SQLSTATE: the client lost it
                return _unavailable_sqlstate(getattr(exc.orig, "sqlstate", None))
            text = str(exc.orig).lower()
            return any(words in text for words in _UNAVAILABLE_SQLITE)
        return False
    # psycopg's own errors, from a connection of its own (the change feed's, say)
    psycopg = sys.modules.get("psycopg")
    if psycopg is not None:
        if isinstance(exc, psycopg.InterfaceError):
            return True
        if isinstance(exc, psycopg.OperationalError):
            return _unavailable_sqlstate(getattr(exc, "sqlstate", None))
    return False


def _unavailable_sqlstate(sqlstate: object) -> bool:
    return sqlstate is None or str(sqlstate).startswith(_UNAVAILABLE_SQLSTATES)


def unavailable_reason(exc: BaseException) -> str:
    """The first line of what the driver said, for "Reconnecting… (reason)"."""
    orig = getattr(exc, "orig", None) or exc
    return (str(orig).strip().splitlines() or [type(orig).__name__])[0]


def refused_by_database(exc: BaseException) -> PermissionDenied | None:
    """``exc`` as a ``PermissionDenied`` when it is PostgreSQL refusing this login the
    statement (insufficient privilege, a row-level security policy): the roles the database
    enforces (app.db.security) said no. None for anything else."""
    orig = getattr(exc, "orig", None) if isinstance(exc, sa.DBAPIError) else exc
    if getattr(orig, "sqlstate", None) != "42501":
        return None
    reason = (str(orig).strip().splitlines() or ["permission denied"])[0]
    return PermissionDenied(f"The database refused this to your login: {reason}.")
