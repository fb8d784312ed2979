"""Bulk inserts on SQLite through the DB-API cursor, with SQLAlchemy's own type processing.

SQLAlchemy's executemany builds and processes every row's parameters in Python (and, with
RETURNING, pages them through multi-row statements); for tens of thousands of rows a
retrieval pass spends more on that than SQLite spends inserting. Here the statement is
written once, the column types' bind processors (``TypeEngine.dialect_impl(...)
.bind_processor``, as SQLAlchemy applies them) convert the values, and the cursor runs it.

Column defaults of the table that the rows leave out are applied as SQLAlchemy would for
plain values and functions; anything else (a SQL expression, a sequence) makes
``sqlite_inserter`` return None, and the caller uses SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, Table

Processor = Callable[[Any], Any] | None


class SqliteInserter:
    """Inserts rows with the keys ``keys`` into ``table`` on one SQLite connection."""

    def __init__(self, conn: Connection, table: Table, keys: Sequence[str]) -> None:
        dialect = conn.dialect
        quote = dialect.identifier_preparer.quote
        self._keys = list(keys)
        self._defaults: list[tuple[str, Callable[[], Any]]] = []
        for column in table.columns:
            if column.key in keys or column.default is None:
                continue
            default: Any = column.default
            self._defaults.append((column.key, _maker(default)))
        names = self._keys + [key for key, _ in self._defaults]
        processors: list[Processor] = [
            table.columns[key].type.dialect_impl(dialect).bind_processor(dialect) for key in names
        ]
        # only the columns that have a processor (many have none: integers, text)
        self._processing = [(n, p) for n, p in enumerate(processors) if p is not None]
        self.sql = "INSERT INTO {} ({}) VALUES ({})".format(
            quote(table.name),
            ", ".join(quote(table.columns[key].name) for key in names),
            ", ".join("?" * len(names)),
        )
        self._cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]

    def _params(self, row: dict[str, object]) -> list[Any]:
        values = [row[key] for key in self._keys]
        if self._defaults:
            values += [make() for _, make in self._defaults]
        for n, process in self._processing:
            values[n] = process(values[n])
        return values

    def insert_returning_ids(self, rows: Sequence[dict[str, object]]) -> list[int]:
        """Insert ``rows`` one statement each (SQLite: no round trip); their new ids."""
        cursor = self._cursor
        ids = []
        for row in rows:
            cursor.execute(self.sql, self._params(row))
            ids.append(int(cursor.lastrowid or 0))
        return ids

    def insert_many(self, rows: Sequence[dict[str, object]]) -> None:
        self._cursor.executemany(self.sql, [self._params(row) for row in rows])


def _maker(default: Any) -> Callable[[], Any]:
    """A column default (scalar, or function: SQLAlchemy wraps it to take a context)."""
    arg = default.arg
    if default.is_scalar:
        return lambda: arg
    return lambda: arg(None)


def sqlite_inserter(conn: Connection, table: Table, keys: Sequence[str]) -> SqliteInserter | None:
    """An inserter for ``rows`` with ``keys`` into ``table``, or None where SQLAlchemy must do
    it: not SQLite, or a column default this does not apply (SQL expressions, sequences)."""
    if conn.dialect.name != "sqlite":
        return None
    for column in table.columns:
        default: Any = column.default
        if column.key in keys or default is None:
            continue
        if not (default.is_scalar or default.is_callable):
            return None
    return SqliteInserter(conn, table, keys)
