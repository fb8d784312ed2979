"""The pool's connection check on PostgreSQL: a connection idle for a while is pinged and
replaced if the server dropped it; one just used is not pinged (a round trip saved)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from app.db import engine as engine_module
from app.db.engine import Database

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
        monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_SECONDS", 0.0)
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
        monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_SECONDS", 0.0)
        backend_pid(db)
        assert pings == [1]
    finally:
        db.dispose()
