"""Inserting many rows at once (a retrieval pass's emails, their UIDs and History).

On SQLite through the DB-API cursor, with SQLAlchemy's own type processing: SQLAlchemy's
executemany builds and processes every row's parameters in Python (and, with RETURNING,
pages them through multi-row statements); for tens of thousands of rows a retrieval pass
spends more on that than SQLite spends inserting. Here the statement is written once, the
column types' bind processors (``TypeEngine.dialect_impl(...).bind_processor``, as
SQLAlchemy applies them) convert the values, and the cursor runs it. Column defaults of the
table that the rows leave out are applied as SQLAlchemy would for plain values and
functions; a table with any other default (a SQL expression, a sequence) is inserted by
SQLAlchemy, as on PostgreSQL, whose inserts SQLAlchemy batches well itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Dialect, Table, insert

Processor = Callable[[Any], Any] | None
Row = Mapping[str, object]


class _Plan:
    """How rows with the keys ``keys`` go into ``table`` on SQLite: the statement, the
    defaults to add and the values to convert (made once per table, keys and dialect)."""

    def __init__(self, dialect: Dialect, table: Table, keys: tuple[str, ...]) -> None:
        quote = dialect.identifier_preparer.quote
        self.keys = keys
        defaulted = [c for c in table.columns if c.key not in keys and c.default is not None]
        self.defaults = [_maker(column.default) for column in defaulted]
        names = [*keys, *(column.key for column in defaulted)]
        processors: list[Processor] = [
            table.columns[key].type.dialect_impl(dialect).bind_processor(dialect) for key in names
        ]
        # only the columns that have a processor (many have none: integers, text)
        self.processing = [(n, p) for n, p in enumerate(processors) if p is not None]
        self.sql = "INSERT INTO {} ({}) VALUES ({})".format(
            quote(table.name),
            ", ".join(quote(table.columns[key].name) for key in names),
            ", ".join("?" * len(names)),
        )

    def params(self, row: Row) -> list[Any]:
        values = [row[key] for key in self.keys]
        if self.defaults:
            values += [make() for make in self.defaults]
        for n, process in self.processing:
            values[n] = process(values[n])
        return values


def _maker(default: Any) -> Callable[[], Any]:
    """A column default (scalar, or function: SQLAlchemy wraps it to take a context)."""
    arg = default.arg
    if default.is_scalar:
        return lambda: arg
    return lambda: arg(None)


@lru_cache(maxsize=64)
def _plan(dialect: Dialect, table: Table, keys: tuple[str, ...]) -> _Plan | None:
    """The plan for these rows, or None where SQLAlchemy must insert them: not SQLite, or a
    column default this does not apply (SQL expressions, sequences)."""
    if dialect.name != "sqlite":
        return None
    for column in table.columns:
        default: Any = column.default
        if column.key in keys or default is None:
            continue
        if not (default.is_scalar or default.is_callable):
            return None
    return _Plan(dialect, table, keys)


def _cursor(conn: Connection) -> Any:
    return conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]


def insert_rows(conn: Connection, table: Table, rows: Sequence[Row]) -> None:
    """Insert ``rows`` (all with the same keys) into ``table`` in ``conn``'s transaction."""
    if not rows:
        return
    plan = _plan(conn.dialect, table, tuple(rows[0]))
    if plan is None:
        conn.execute(insert(table), list(rows))
        return
    cursor = _cursor(conn)
    try:
        cursor.executemany(plan.sql, [plan.params(row) for row in rows])
    finally:
        cursor.close()


def insert_returning_ids(conn: Connection, table: Table, rows: Sequence[Row]) -> list[int]:
    """``insert_rows``, returning the new rows' ids in the order of ``rows``."""
    if not rows:
        return []
    plan = _plan(conn.dialect, table, tuple(rows[0]))
    if plan is None:
        inserted = conn.execute(
            insert(table).returning(table.c.id, sort_by_parameter_order=True), list(rows)
        )
        return [int(i) for i in inserted.scalars()]
    cursor = _cursor(conn)
    ids = []
    try:
        for row in rows:  # one statement each (SQLite: no round trip)
            cursor.execute(plan.sql, plan.params(row))
            ids.append(int(cursor.lastrowid or 0))
    finally:
        cursor.close()
    return ids
