"""The pool's connection check on PostgreSQL: a connection idle for a while is pinged and
replaced if the server dropped it; one just used is not pinged (a round trip saved). And
statements run on the driver's cursor behave as SQLAlchemy's own: answers, errors, a lost
connection replaced."""

from __future__ import annotations

import os
import socket
import time

import psycopg
import pytest
from sqlalchemy import bindparam, literal, make_url, select, text
from sqlalchemy.exc import IntegrityError, OperationalError

from app.db.engine import CONNECT_TIMEOUT, Database
from app.db.hotpath.driver import DriverStatement
from app.db.models import EmailStatus
from app.services.changes import ChangeFeed
from tests.waiting import wait_for

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


# ---- a dead network noticed in seconds (issue 13, item 2) ----


def tcp_options(dbapi_connection: object) -> dict[str, int]:
    """The TCP options of the connection's own socket, as libpq set them."""
    fd = dbapi_connection.fileno()  # type: ignore[attr-defined]
    sock = socket.socket(fileno=os.dup(fd))
    try:
        return {
            "keepalive": sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
            "idle": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
            "interval": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL),
            "count": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT),
            "user_timeout": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT),
        }
    finally:
        sock.close()


def test_every_connection_has_keepalives_and_a_connect_timeout(postgres_url: str) -> None:
    db = Database(postgres_url)
    try:
        for connect in (db.connection, db.autocommit):
            with connect() as conn:
                raw = conn.connection.dbapi_connection
                assert raw is not None
                assert tcp_options(raw) == {
                    "keepalive": 1,
                    "idle": 5,
                    "interval": 1,
                    "count": 3,
                    "user_timeout": 8000,
                }
                assert raw.info.get_parameters()["connect_timeout"] == "5"  # type: ignore[attr-defined]
    finally:
        db.dispose()


def test_the_change_feeds_connection_has_them_too(postgres_url: str) -> None:
    db = Database(postgres_url)
    feed = ChangeFeed(db)
    seen: list[dict[str, int]] = []
    real_connect = psycopg.connect

    def connect(*args: object, **kwargs: object) -> psycopg.Connection[object]:
        conn = real_connect(*args, **kwargs)  # type: ignore[arg-type]
        seen.append(tcp_options(conn))
        return conn

    psycopg.connect = connect  # type: ignore[assignment]
    try:
        feed.start()
        assert wait_for(lambda: feed.listening, 10)
    finally:
        psycopg.connect = real_connect  # type: ignore[assignment]
        feed.stop()
        db.dispose()
    assert seen and seen[0]["idle"] == 5 and seen[0]["user_timeout"] == 8000


def test_options_the_url_gives_are_kept(postgres_url: str) -> None:
    db = Database(f"{postgres_url}?keepalives_idle=30&connect_timeout=10")
    try:
        with db.connection() as conn:
            raw = conn.connection.dbapi_connection
            assert raw is not None
            assert tcp_options(raw)["idle"] == 30 and tcp_options(raw)["count"] == 3
            assert raw.info.get_parameters()["connect_timeout"] == "10"  # type: ignore[attr-defined]
    finally:
        db.dispose()


def test_a_server_that_never_answers_is_given_up_on_after_the_connect_timeout(
    postgres_url: str,
) -> None:
    """A peer that takes the connection and never says a word (a hung host, or a dead one
    behind something that still accepts): not waited for without end."""
    silent = socket.create_server(("127.0.0.1", 0))  # listens, never accepts nor answers
    port = silent.getsockname()[1]
    url = make_url(postgres_url).set(port=port).render_as_string(hide_password=False)
    db = Database(url)
    started = time.monotonic()
    try:
        with pytest.raises(OperationalError, match="timeout"), db.connection() as conn:
            conn.scalar(text("SELECT 1"))
    finally:
        db.dispose()
        silent.close()
    took = time.monotonic() - started
    print(f"a silent server given up on after {took:.1f} s")
    assert CONNECT_TIMEOUT - 1 < took < CONNECT_TIMEOUT + 2
