"""The pool's connection check on PostgreSQL: a connection idle for a while is pinged and
replaced if the server dropped it; one just used is not pinged (a round trip saved). And
statements run on the driver's cursor behave as SQLAlchemy's own: answers, errors, a lost
connection replaced."""

from __future__ import annotations

import pytest
from sqlalchemy import bindparam, literal, select, text
from sqlalchemy.exc import IntegrityError, OperationalError

from app.db.engine import Database
from app.db.hotpath.driver import DriverStatement
from app.db.models import EmailStatus

pytestmark = pytest.mark.server


def backend_pid(db: Database) -> int:
    with db.connection() as conn:
        return int(conn.scalar(text("SELECT pg_backend_pid()")))


def terminate(url: str, pid: int) -> None:
    other = Database(url)
    with other.connection() as conn:
        assert conn.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    other.dispose()


def test_an_idle_connection_dropped_by_the_server_is_replaced(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = Database(postgres_url)
    try:
        first = backend_pid(db)
        assert backend_pid(db) == first  # the pooled connection is reused
        terminate(postgres_url, first)
        # Idle longer than the threshold (made 0 here): pinged, found dead, replaced.
        monkeypatch.setattr(db, "ping_after_idle", 0.0)
        assert backend_pid(db) != first
    finally:
        db.dispose()


def test_dropping_idle_connections_replaces_them_without_a_ping(postgres_url: str) -> None:
    """What the change feed does when it hears the server again after losing it."""
    db = Database(postgres_url)
    db.ping_after_idle = 120.0  # as while the feed listens
    try:
        first = backend_pid(db)
        terminate(postgres_url, first)
        db.drop_idle_connections()
        assert backend_pid(db) != first
    finally:
        db.dispose()


def test_a_connection_just_used_is_not_pinged(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = Database(postgres_url)
    pings = []
    real = db.engine.dialect.do_ping
    monkeypatch.setattr(db.engine.dialect, "do_ping", lambda c: pings.append(1) or real(c))
    try:
        for _ in range(5):
            backend_pid(db)
        assert pings == []
        monkeypatch.setattr(db, "ping_after_idle", 0.0)
        backend_pid(db)
        assert pings == [1]
    finally:
        db.dispose()


# ---- statements run on the driver's cursor (app/db/hotpath/driver.py) ----------------------------


def test_driver_statements_answer_as_sqlalchemy_would(postgres_url: str) -> None:
    db = Database(postgres_url)
    try:
        statement = DriverStatement(
            select(literal(EmailStatus.QUEUED).label("status"), bindparam("n").label("n"))
        )
        with db.autocommit() as conn:
            assert statement.scalar(conn, {"n": 5}) == "queued"  # the constant, as stored
            row = statement.one_or_none(conn, {"n": 7})
        assert (row.status, row.n) == ("queued", 7)
        nothing = DriverStatement(select(literal(1)).where(literal(False)))
        with db.autocommit() as conn:
            assert nothing.scalar(conn, {}) is None
            assert nothing.one_or_none(conn, {}) is None
    finally:
        db.dispose()


def test_driver_errors_are_sqlalchemy_errors_and_a_lost_connection_is_replaced(
    postgres_url: str,
) -> None:
    db = Database(postgres_url)
    try:
        with db.connection() as conn:
            conn.execute(text("CREATE TABLE t (id int PRIMARY KEY)"))
        insert_one = DriverStatement(text("INSERT INTO t VALUES (:id) RETURNING id"))
        with db.autocommit() as conn:
            assert insert_one.scalar(conn, {"id": 1}) == 1
        with pytest.raises(IntegrityError), db.autocommit() as conn:
            insert_one.scalar(conn, {"id": 1})
        # The server drops the connection the statement is about to use.
        with db.autocommit() as conn:
            pid = conn.scalar(text("SELECT pg_backend_pid()"))
            terminate(postgres_url, int(pid))
            with pytest.raises(OperationalError) as lost:
                insert_one.scalar(conn, {"id": 2})
        assert lost.value.connection_invalidated
        with db.autocommit() as conn:  # a new connection, at once
            assert conn.scalar(text("SELECT pg_backend_pid()")) != pid
            assert insert_one.scalar(conn, {"id": 2}) == 2
    finally:
        db.dispose()
