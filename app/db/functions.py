"""SQL functions that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement


class folded(FunctionElement[str]):
    """The text case-folded like Python's ``str.casefold()``, for case-insensitive
    comparisons and sorting of every letter ("GRÖSSE" = "Größe").

    SQLite: ``lower()``, which the engine replaces by Python's casefold on each connection.
    PostgreSQL: ``lower()`` (Unicode-aware in a UTF-8 database) plus the foldings lower()
    does not do: ß and ẞ to "ss", final sigma to sigma."""

    type = String()
    inherit_cache = True
    name = "folded"


@compiles(folded)
def _folded_default(element: folded, compiler: Any, **kw: Any) -> str:
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(folded, "postgresql")
def _folded_postgresql(element: folded, compiler: Any, **kw: Any) -> str:
    inner = compiler.process(element.clauses, **kw)
    return f"replace(replace(lower({inner}), 'ß', 'ss'), 'ς', 'σ')"
