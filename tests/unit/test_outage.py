"""Outages: told from bugs (also for psycopg's own errors), logged once each, and their end."""

from __future__ import annotations

import logging

import psycopg
from sqlalchemy.exc import OperationalError, ProgrammingError

from app.db.engine import Database
from app.services.errors import database_unavailable
from app.services.outage import DatabaseWatch, watch


class _Refused(psycopg.OperationalError):
    sqlstate = None  # what libpq says when nothing listens on the port


class _ShuttingDown(psycopg.OperationalError):
    sqlstate = "57P01"  # terminating connection due to administrator command


class _BadLogin(psycopg.OperationalError):
    sqlstate = "28P01"  # password authentication failed: not an outage


def test_psycopgs_own_errors_are_told_apart() -> None:
    """The change feed's connection is psycopg's, not SQLAlchemy's."""
    assert database_unavailable(_Refused("connection refused"))
    assert database_unavailable(_ShuttingDown("terminating connection"))
    assert database_unavailable(psycopg.InterfaceError("the connection is closed"))
    assert not database_unavailable(_BadLogin("password authentication failed"))
    assert not database_unavailable(psycopg.ProgrammingError("syntax error"))
    wrapped = OperationalError("SELECT 1", {}, _Refused("connection refused"))
    assert database_unavailable(wrapped)
    assert not database_unavailable(ProgrammingError("SELECT", {}, Exception("bad")))
    assert not database_unavailable(ValueError("a bug"))


def test_an_outage_is_logged_once_and_its_end_once(db: Database, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG, logger="app.services.outage")
    found = watch(db)
    assert watch(db) is found  # one per database, shared by the threads
    assert isinstance(found, DatabaseWatch) and not found.down
    found.back()  # nothing was away: nothing said
    refused = OperationalError("SELECT 1", {}, _Refused("connection refused"))
    for what in ("retrieving Sales", "sending the outbox", "retrieving Sales"):
        found.lost(refused, what)
    assert found.down
    found.back()
    found.back()
    assert not found.down and found.outages == 1
    found.lost(refused, "housekeeping")  # a second outage
    found.back()
    lines = [(r.levelname, r.getMessage()) for r in caplog.records]
    warnings = [m for level, m in lines if level == "WARNING"]
    backs = [m for level, m in lines if level == "INFO"]
    assert len(warnings) == 2 and len(backs) == 2, lines
    assert "cannot be reached (connection refused, while retrieving Sales)" in warnings[0]
    assert db.describe() in warnings[0]
    assert "can be reached again" in backs[0]
    assert found.outages == 2
    assert sum(level == "DEBUG" for level, _ in lines) == 2
