"""What every service shares: the database, the acting user, lookups and version checks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, CursorResult, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from app.db.engine import Database
from app.db.functions import folded
from app.services.auth import Actor, Permission, current_actor
from app.services.errors import ConflictError, NotFound, ValidationError, refused_by_database

T = TypeVar("T")


class Service:
    """A set of operations for one actor on one database."""

    def __init__(self, db: Database, actor: Actor) -> None:
        self.db = db
        self._actor = actor

    @property
    def actor(self) -> Actor:
        """Who is working, with the role the database holds for them now (read again at
        most once a second): a user disabled or deleted since signing in is refused here
        (``AccountDisabled``), a demoted one has the new role's rights only. Every check of
        a service goes through it."""
        return current_actor(self.db, self._actor)

    @contextmanager
    def write(self, permission: Permission, what: str) -> Iterator[Session]:
        """A session for a change: checks the role, turns races into clear conflicts."""
        self.actor.require(permission)
        with self._conflicts(what), self.db.session() as session:
            yield session

    @contextmanager
    def write_connection(
        self, permission: Permission, what: str, *, autocommit: bool = False
    ) -> Iterator[Connection]:
        """``write`` on a Core connection, for hot paths of plain statements; ``autocommit``:
        see ``Database.autocommit`` (each statement must be safe alone)."""
        self.actor.require(permission)
        connect = self.db.autocommit if autocommit else self.db.connection
        with self._conflicts(what), connect() as connection:
            yield connection

    @staticmethod
    @contextmanager
    def _conflicts(what: str) -> Iterator[None]:
        """Races turned into clear conflicts."""
        try:
            yield
        except StaleDataError as exc:
            raise ConflictError(
                f"{what} was changed by someone else while you were saving. "
                "Close it, open it again to see their changes, then make yours."
            ) from exc
        except IntegrityError as exc:
            # A unique name taken by a concurrent save, or a record removed meanwhile.
            raise ConflictError(f"{what} could not be saved: {exc.orig}") from exc
        except DBAPIError as exc:
            refused = refused_by_database(exc)
            if refused is not None:
                raise refused from exc
            raise

    @contextmanager
    def read(self, permission: Permission | None = None) -> Iterator[Session]:
        actor = self.actor  # (refused for a disabled user even without a permission)
        if permission is not None:
            actor.require(permission)
        with self._conflicts("It"), self.db.session() as session:
            yield session


def not_found(label: str) -> NotFound:
    return NotFound(f"The {label} no longer exists (it may have been deleted by someone else).")


def get_or_404(session: Session, model: type[T], ident: int | None, label: str) -> T:
    obj = session.get(model, ident) if ident is not None else None
    if obj is None:
        raise not_found(label)
    return obj


def check_version(obj: Any, expected: int | None, label: str) -> None:
    """Refuse to save over a record that changed since the user opened it."""
    if expected is not None and obj.version != expected:
        raise ConflictError(
            f"{label} was changed by someone else since you opened it. "
            "Your changes were not saved: close it, open it again to see theirs, "
            "then make yours."
        )


def ensure_unique(
    session: Session,
    model: type[Any],
    column: Any,
    value: str,
    field: str,
    exclude_id: int | None,
) -> None:
    """Names are unique regardless of letter case."""
    # casefold matches the SQLite lower() of app.db.engine ("Größe" = "GRÖSSE")
    query = select(model.id).where(folded(column) == value.casefold())
    if exclude_id is not None:
        query = query.where(model.id != exclude_id)
    if session.scalar(query.limit(1)) is not None:
        raise ValidationError(field, f"'{value}' is already used; choose another.")


def changed_rows(session: Session, statement: Any) -> int:
    """Run an UPDATE or DELETE; how many rows it changed (a conditional change of state
    tells by its count whether it happened)."""
    return int(cast(CursorResult[Any], session.execute(statement)).rowcount)


def names(items: list[Any], attr: str = "name", limit: int = 10) -> str:
    shown = [str(getattr(i, attr)) for i in items[:limit]]
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(shown) + more
