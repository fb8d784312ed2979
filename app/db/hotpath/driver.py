"""Statements compiled once and run on the driver's cursor, inside SQLAlchemy's connection.

For the three statements every agent runs all day on PostgreSQL (Take next; Send's read and
its write, in ``taking.py`` and ``sending.py`` beside this): running a cached statement through SQLAlchemy costs about 120 µs of Python each,
the statement itself a fraction of that — most of an agent's cost per email. Here the SQL is
compiled by SQLAlchemy once, then run on the pooled connection's own cursor. The connection,
its pool, transactions and errors stay SQLAlchemy's: a driver error is raised as SQLAlchemy's
exception (``IntegrityError``, ``OperationalError`` …), and a lost connection is invalidated
so that the pool replaces it, as SQLAlchemy does for its own statements.

Values must be what the driver takes without SQLAlchemy's types: str, int, bool, None, aware
datetimes (psycopg stores them as the instant they are); a StrEnum is its value.
"""

from __future__ import annotations

import enum
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement, Executable


def single_statements(conn: Connection) -> bool:
    """Whether a hot path runs here as one statement on the driver's cursor (PostgreSQL:
    writing CTEs, LATERAL, psycopg's named parameters), else as a few SQLAlchemy statements
    in ``conn``'s transaction (SQLite). The one place the hot paths choose by database."""
    return conn.dialect.name == "postgresql"


class DriverStatement:
    """One statement, compiled once per dialect (a named-parameter driver: psycopg)."""

    def __init__(self, statement: Executable) -> None:
        self.statement = statement  # to run it the usual way (SQLite)
        self._compiled: dict[str, tuple[str, dict[str, Any]]] = {}
        self._processing: dict[str, list[Callable[[Any], Any] | None]] = {}
        self._rows: Any = None

    def _sql(self, conn: Connection) -> tuple[str, dict[str, Any]]:
        found = self._compiled.get(conn.dialect.name)
        if found is None:
            compiled: Any = cast(ClauseElement, self.statement).compile(dialect=conn.dialect)
            if compiled.positiontup:
                raise TypeError(f"{conn.dialect.name}: a named-parameter driver is needed")
            # The statement's own constants (statuses, LIMIT 1), as the driver takes them.
            constants = {
                name: _plain(bind.effective_value)
                for bind, name in compiled.bind_names.items()
                if not bind.required
            }
            found = self._compiled[conn.dialect.name] = (compiled.string, constants)
        return found

    def _run(self, conn: Connection, values: Mapping[str, Any], named: bool) -> Any:
        sql, constants = self._sql(conn)
        parameters = {**constants, **values}
        dbapi_connection = conn.connection
        if named:
            from psycopg.rows import namedtuple_row  # only PostgreSQL runs these statements
        cursor = (
            dbapi_connection.driver_connection.cursor(row_factory=namedtuple_row)  # type: ignore[union-attr]
            if named
            else dbapi_connection.cursor()
        )
        try:
            cursor.execute(sql, parameters)
            return cursor.fetchone()
        except conn.dialect.loaded_dbapi.Error as exc:
            raise _translated(conn, exc, sql, parameters, cursor) from exc
        finally:
            cursor.close()

    def _processors(self, conn: Connection) -> list[Callable[[Any], Any] | None]:
        """What SQLAlchemy does to each selected column's value as the driver gives it
        (aware UTC datetimes, enums from their values)."""
        found = self._processing.get(conn.dialect.name)
        if found is None:
            dialect = conn.dialect
            found = self._processing[dialect.name] = [
                column.type.dialect_impl(dialect).result_processor(dialect, None)
                for column in cast(Any, self.statement).exported_columns
            ]
        return found

    def _row_type(self) -> Any:
        if self._rows is None:
            names = [c.key for c in cast(Any, self.statement).exported_columns]
            self._rows = namedtuple("Row", names, rename=True)  # type: ignore[misc]
        return self._rows

    def rows(self, conn: Connection, raw: Sequence[Sequence[Any]]) -> list[Any]:
        """Rows as the driver gave them, each value as SQLAlchemy gives it, columns by name."""
        processors = self._processors(conn)
        make = self._row_type()
        return [
            make(
                *(
                    v if p is None or v is None else p(v)
                    for p, v in zip(processors, row, strict=True)
                )
            )
            for row in raw
        ]

    def scalar(self, conn: Connection, values: Mapping[str, Any]) -> Any:
        """The first column of the first row (None: no row)."""
        row = self._run(conn, values, named=False)
        return None if row is None else row[0]

    def one_or_none(self, conn: Connection, values: Mapping[str, Any]) -> Any:
        """The first row, its columns by name (as labelled in the statement), or None."""
        return self._run(conn, values, named=True)


def run_together(
    conn: Connection, statements: Sequence[tuple[DriverStatement, Mapping[str, Any]]]
) -> list[list[Any]]:
    """Run statements that do not depend on one another; returns each one's rows (none for
    a statement that returns none). On PostgreSQL they go out in one pipeline — one round
    trip however many they are — in ``conn``'s transaction, or each its own in autocommit;
    elsewhere one after another, the usual way."""
    if not single_statements(conn):
        results = []
        for statement, values in statements:
            result = conn.execute(cast(Any, statement.statement), dict(values))
            results.append(list(result) if result.returns_rows else [])
        return results
    dbapi_connection = conn.connection
    driver = cast(Any, dbapi_connection.driver_connection)
    cursors: list[Any] = []
    sql, parameters = "", {}
    try:
        try:
            with driver.pipeline():
                for statement, values in statements:
                    sql, constants = statement._sql(conn)
                    parameters = {**constants, **values}
                    cursor = driver.cursor()
                    cursors.append(cursor)
                    cursor.execute(sql, parameters)
            return [
                statement.rows(conn, cursor.fetchall()) if cursor.description else []
                for (statement, _values), cursor in zip(statements, cursors, strict=True)
            ]
        except conn.dialect.loaded_dbapi.Error as exc:
            raise _translated(conn, exc, sql, parameters, None) from exc
    finally:
        for cursor in cursors:
            cursor.close()


def _translated(
    conn: Connection, exc: Any, sql: str, parameters: Mapping[str, Any], cursor: Any
) -> DBAPIError:
    """The driver's error as SQLAlchemy raises it; a lost connection is invalidated (the
    pool replaces it)."""
    dbapi_connection = conn.connection
    lost = conn.dialect.is_disconnect(exc, dbapi_connection, cursor)
    if lost:
        conn.invalidate(exc)
    return cast(
        DBAPIError,
        DBAPIError.instance(
            sql,
            dict(parameters),
            exc,
            conn.dialect.loaded_dbapi.Error,
            connection_invalidated=lost,
            dialect=conn.dialect,
        ),
    )


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value
