"""Engine and session factory; SQLite tuned for a desktop (WAL, foreign keys)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from app import paths


class DatabaseError(Exception):
    """An environment problem with the database (unreachable, locked, unwritable)."""


# The site's URL may name its role prefix (app.db.security): ?role_prefix=acme_ — the
# application's, not libpq's, so it is taken off before connecting.
ROLE_PREFIX_PARAMETER = "role_prefix"


def normalise_url(url: str) -> str:
    """Accept ``postgresql://`` and use the psycopg 3 driver for it (without the
    application's own ``role_prefix`` parameter)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if ROLE_PREFIX_PARAMETER in parsed.query:
        parsed = parsed.difference_update_query([ROLE_PREFIX_PARAMETER])
    return parsed.render_as_string(hide_password=False)


# libpq options of every PostgreSQL connection, unless the URL gives its own. A server that
# cannot be reached is given up on after CONNECT_TIMEOUT seconds; a connection whose network
# went dead (packets dropped: no reset ever comes) is noticed within seconds — idle, by TCP
# keepalives (5 s quiet, then 3 probes 1 s apart); with a statement under way, by the time
# its data may stay unacknowledged (tcp_user_timeout) — instead of the system's defaults of
# hours and of some 15 minutes.
CONNECT_TIMEOUT = 5
POSTGRES_OPTIONS: dict[str, int] = {
    "connect_timeout": CONNECT_TIMEOUT,
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 1,
    "keepalives_count": 3,
    "tcp_user_timeout": 8000,  # ms
}


def postgres_options(url: str) -> dict[str, Any]:
    """``POSTGRES_OPTIONS`` less those the URL sets itself (its query string): for psycopg's
    connect, as keyword arguments."""
    given = make_url(url).query
    return {k: v for k, v in POSTGRES_OPTIONS.items() if k not in given}


def role_prefix_of(url: str) -> str | None:
    """The role prefix the site's URL names (None: it names none)."""
    value = make_url(url).query.get(ROLE_PREFIX_PARAMETER)
    if isinstance(value, tuple):
        value = value[-1]
    return value


def _casefold(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # SQLite's own lower() (and so ILIKE) folds ASCII only: "GRÖSSE" would not find "Größe".
    dbapi_connection.create_function("lower", 1, _casefold, deterministic=True)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


# A pooled server connection used less than this long ago is taken as alive; an older one is
# pinged first (a round trip), and replaced if the server went away meanwhile (restarted,
# idle timeout). An agent working fast does one round trip less per action; one coming back
# from a pause, or any workstation after a database restart, gets a live connection.
PING_AFTER_IDLE_SECONDS = 2.0


def _ping_when_idle(engine: Engine, db: Database) -> None:
    """SQLAlchemy's ``pool_pre_ping``, skipped for a connection just used."""

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _check(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.get("returned_at")
        if returned is None or time.monotonic() - returned < db.ping_after_idle:
            return  # just connected (info is emptied with a new connection), or just used
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            # The pool drops this connection and checks out (connects) another.
            raise DisconnectionError(f"the database connection was lost: {exc}") from exc


def _private_sqlite_file(path: Path) -> None:
    """Create the file (and its folder) before SQLite does, private whatever the umask:
    SQLite makes the -wal and -shm files with the mode of the database file, and the
    backups before an upgrade are made private too. Those in the app's own data folder
    that older versions left open to others are made private. (A folder that cannot be
    made is left to SQLite to report, as it reports a file it cannot open.)"""
    try:
        paths.private_folder(path.parent)
    except OSError:
        return
    paths.create_private_file(path)
    if paths.is_own_folder(path.parent):
        for companion in (path, *(path.with_name(path.name + s) for s in ("-wal", "-shm"))):
            paths.make_private(companion)
        for backup in path.parent.glob(f"{path.name}.*.bak"):
            paths.make_private(backup)


class UnitOfWorkFailed(RuntimeError):
    """A unit of work ended normally though a call inside it failed (its error was caught):
    it was rolled back, never committed in part."""


class _Unit:
    """The session of a unit of work, and the calls inside it (``Database.unit_of_work``)."""

    def __init__(self, db: Database, session: Session) -> None:
        self.db = db
        self.session = session
        self.depth = 0  # calls under way (a call may make others: the actor's rights, …)
        self.failed = False

    @contextmanager
    def join(self) -> Iterator[Session]:
        """A call joins the unit: the unit's session and transaction, no commit of its own.
        A call that starts reads what the earlier ones wrote: their changes are flushed and
        the objects they loaded read again when next used (a Core statement may have
        changed their rows). Its own changes are flushed when it ends, so that an error of
        the database (a unique name taken, a row gone) is that call's, as it would be alone."""
        if self.failed:
            raise UnitOfWorkFailed("an earlier call in this unit of work failed")
        outermost = self.depth == 0
        if outermost:
            self.session.flush()
            self.session.expire_all()
        self.depth += 1
        try:
            yield self.session
            if outermost:
                self.session.flush()
        except BaseException:
            self.failed = True
            raise
        finally:
            self.depth -= 1


# The units of work under way in this thread (or task): each thread has its own.
_units: ContextVar[tuple[_Unit, ...]] = ContextVar("units_of_work", default=())


class RefusedThread(RuntimeError):
    """A database connection was asked for on a thread that must not wait for the database
    (the GUI thread, while tests hold it to that)."""


class Database:
    """One database: its engine and a session factory. Injected everywhere.

    Every way of working on it — ``session()`` (ORM), ``connection()`` (Core, one
    transaction), ``autocommit()`` (Core, each statement alone on PostgreSQL) — is one
    transaction of its own, or, inside ``unit_of_work()``, joins the unit's transaction."""

    _refused_thread: int | None = None
    # Seconds a pooled connection may have been idle and still be used without a ping. A
    # workstation whose change feed listens raises it (the feed hears a restart within a
    # second and drops the pooled connections: no ping on an agent's every action).
    ping_after_idle: float = PING_AFTER_IDLE_SECONDS

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = normalise_url(url)
        parsed = make_url(self.url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {"echo": echo, "future": True}
        if self.is_sqlite:
            if parsed.database and parsed.database != ":memory:" and "uri" not in parsed.query:
                _private_sqlite_file(Path(parsed.database))
            kwargs["connect_args"] = {"timeout": 10}
        else:
            kwargs["connect_args"] = postgres_options(self.url)
        self.engine: Engine = create_engine(self.url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
            self._autocommit = self.engine
        else:
            _ping_when_idle(self.engine, self)
            # A pool of its own (connected when first used, typically one connection per
            # process): switching a pooled connection's mode on every checkout and back on
            # return would cost more than the round trips it saves.
            self._autocommit = create_engine(self.url, isolation_level="AUTOCOMMIT", **kwargs)
            _ping_when_idle(self._autocommit, self)
        self._factory = sessionmaker(self.engine, expire_on_commit=False)
        for engine in {self.engine, self._autocommit}:
            event.listen(engine, "checkout", self._checked_out)

    def refuse_thread(self, ident: int | None) -> None:
        """From now on, refuse (raise RefusedThread) every connection asked for on the
        thread ``ident``; None lifts it. Tests hold the GUI thread to this."""
        self._refused_thread = ident

    def _checked_out(self, _dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        if self._refused_thread is not None and threading.get_ident() == self._refused_thread:
            raise RefusedThread(
                f"the database was used on a thread that must not wait for it "
                f"({threading.current_thread().name})"
            )

    @property
    def sqlite_path(self) -> Path | None:
        if not self.is_sqlite:
            return None
        name = make_url(self.url).database
        return Path(name) if name and name != ":memory:" else None

    def _unit(self) -> _Unit | None:
        for unit in _units.get():
            if unit.db is self:
                return unit
        return None

    @contextmanager
    def unit_of_work(self, *, commit: bool = True) -> Iterator[Session]:
        """One transaction that every service call made inside it (in this thread) joins,
        whatever way it works (session, connection, autocommit): all of it is committed at
        the end, or none of it — on an error, and always with ``commit=False`` (a dry run:
        ``config import --check`` runs the import so, on the real schema, and rolls back).
        A call that fails fails the unit: it is rolled back even if the error was caught.
        A unit inside a unit joins it. (An object one call loaded is read again when used
        after a later call began: inside the unit, not after it.)"""
        joined = self._unit()
        if joined is not None:
            if not commit:
                raise ValueError("a dry run cannot be part of another unit of work")
            with joined.join() as session:
                yield session
            return
        unit = _Unit(self, self._factory())
        token = _units.set((*_units.get(), unit))
        try:
            yield unit.session
            if unit.failed:
                raise UnitOfWorkFailed("a call in this unit of work failed: nothing was saved")
            if commit:
                unit.session.commit()
            else:
                unit.session.rollback()
        except BaseException:
            unit.session.rollback()
            raise
        finally:
            _units.reset(token)
            unit.session.close()

    @contextmanager
    def session(self, *, durable: bool = False) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on error (inside
        a unit of work: the unit's session). ``durable``: the commit survives a power cut,
        not only a crash (SQLite in WAL mode with ``synchronous=NORMAL``, the engine's
        setting, syncs only at checkpoints; this connection syncs every commit from now on;
        PostgreSQL's commits are durable already)."""
        unit = self._unit()
        if unit is not None:
            with unit.join() as session:
                if durable:
                    self._make_durable(session)
                yield session
            return
        session = self._factory()
        try:
            if durable:
                self._make_durable(session)
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def _make_durable(self, session: Session) -> None:
        if self.is_sqlite:
            session.connection().exec_driver_sql("PRAGMA synchronous=FULL")

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """A Core connection in one transaction (committed on success, rolled back on error):
        for the few hot paths where an ORM session's bookkeeping costs more than the SQL.
        (Inside a unit of work: the unit's connection, in its transaction.)"""
        unit = self._unit()
        if unit is not None:
            with unit.join() as session:
                yield session.connection()
            return
        with self.engine.begin() as connection:
            yield connection

    @contextmanager
    def autocommit(self) -> Iterator[Connection]:
        """A Core connection where each statement is its own transaction, on PostgreSQL:
        for work that is one statement, or statements each safe alone (a read, then a write
        that checks again what it relies on). No BEGIN and COMMIT round trips: two fewer per
        action of an agent. SQLite, where such work takes several statements, gets one
        transaction as from ``connection()``; so does a unit of work."""
        if self.is_sqlite or self._unit() is not None:
            with self.connection() as connection:
                yield connection
            return
        with self._autocommit.connect() as connection:
            yield connection

    def drop_idle_connections(self) -> None:
        """Close the pooled connections not in use (the server restarted: they are dead);
        those in use are replaced when they fail."""
        self.engine.pool.dispose()
        if self._autocommit is not self.engine:
            self._autocommit.pool.dispose()

    def dispose(self) -> None:
        self.engine.dispose()
        if self._autocommit is not self.engine:
            self._autocommit.dispose()

    def describe(self) -> str:
        """The URL without its password, for messages and logs."""
        return make_url(self.url).render_as_string(hide_password=True)
