"""Knowing, within a second or two, that emails changed anywhere — in this process, another
workstation or the channel service — without reading the emails again.

``token()`` returns a number that grows whenever emails, replies or their history change,
or the configuration does (campaigns, groups, teams, links, templates, channels, filters,
settings; users: see ``users_token()``). Screens compare it with the last one they saw and
reload only when it moved.

- PostgreSQL: a thread LISTENs on ``email_campaigns_changes`` (triggers of migrations 0006
  and 0011 NOTIFY on every committed change) and counts the notifications; ``token()`` costs
  nothing. While the listening connection is down, ``token()`` falls back to reading the
  counter below (which there tells of emails only; listening again counts as a change).
- SQLite: ``token()`` reads ``max(history.id)`` (every change of an email writes History)
  plus the count of configuration changes (triggers of migration 0011), two lookups by key.

``users_token()`` grows whenever a user changes (0010's trigger: role, enabled state,
deleted; 0011's: anything but the heartbeat and the password hash): on PostgreSQL only, from
the notifications about users; None where it cannot tell (SQLite, or not listening): then
the Workspace reads the signed-in user's rights itself. (The screens' hub follows both.)
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from app.db.engine import PING_AFTER_IDLE_SECONDS, Database, postgres_options
from app.db.models import ConfigChanges, History
from app.services.errors import database_unavailable
from app.services.outage import RETRY_SECONDS

log = logging.getLogger(__name__)
CHANNEL = "email_campaigns_changes"
# While listening, a pooled connection idle this long is still used without a ping: a
# restart is heard within a second (the listening connection checks itself every quiet
# second) and drops the pooled connections.
LISTENING_PING_AFTER_IDLE = 120.0


def polled_token(db: Database) -> int:
    """Grows with every change of an email: arrival, taking, replies queued, sent or failed
    — each writes History; and on SQLite with every change of the configuration."""
    emails = select(func.max(History.id)).scalar_subquery()
    config = select(ConfigChanges.counter).where(ConfigChanges.id == 1).scalar_subquery()
    with db.session() as s:
        row = s.execute(select(emails, config)).one()
    return int(row[0] or 0) + int(row[1] or 0)


class ChangeFeed:
    """One per process: ``start()`` it, read ``token()``, ``stop()`` it."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._count = 0
        self._users = 0  # notifications about users (role, enabled, deleted)
        self._listening = threading.Event()
        self._tried = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], object]] = []

    def add_listener(self, listener: Callable[[], object]) -> None:
        """Call ``listener`` (on the listening thread) after each notification."""
        self._listeners.append(listener)

    @property
    def listening(self) -> bool:
        return self._listening.is_set()

    @property
    def started(self) -> bool:
        """Listening has been tried: from then on ``listening`` says whether it works."""
        return self._thread is not None and self._tried.is_set()

    def start(self) -> None:
        if self.db.is_sqlite or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._listen, name="change-feed", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(5)

    def token(self) -> int:
        if self._listening.is_set():
            with self._lock:
                return -self._count - 1  # negative: never equal to a polled token
        return polled_token(self.db)

    def users_token(self) -> int | None:
        if self._listening.is_set():
            with self._lock:
                return self._users
        return None

    def _bump(self, payload: str | None = None) -> None:
        with self._lock:
            if payload == "users":
                self._users += 1
            elif payload is None:  # reconnected: anything may have changed
                self._count += 1
                self._users += 1
            else:
                self._count += 1
        for listener in list(self._listeners):
            try:
                listener()
            except Exception:  # a listener's fault must not stop the listening
                log.exception("a change listener failed")

    def _conninfo(self) -> str:
        url = make_url(self.db.url).set(drivername="postgresql")
        return url.render_as_string(hide_password=False)

    def _listen(self) -> None:
        import psycopg

        wait = RETRY_SECONDS
        lost: float | None = None  # time.monotonic() when listening stopped
        while not self._stopping.is_set():
            conn: Any = None
            try:
                conn = psycopg.connect(
                    self._conninfo(), autocommit=True, **postgres_options(self.db.url)
                )
                conn.execute(f"LISTEN {CHANNEL}")
                if lost is not None:  # the server may have restarted: pooled connections died
                    self.db.drop_idle_connections()
                    log.info(
                        "change notifications heard again (after %.1f s)", time.monotonic() - lost
                    )
                self.db.ping_after_idle = LISTENING_PING_AFTER_IDLE
                self._bump()  # whatever happened while not listening: look once
                self._listening.set()
                self._tried.set()
                lost = None
                wait = RETRY_SECONDS
                while not self._stopping.is_set():
                    for notify in conn.notifies(timeout=1.0):
                        self._bump(notify.payload or "")
                    # a quiet second: check the connection is alive
                    conn.execute("SELECT 1")
            except Exception as exc:  # psycopg.Error, OSError: listen again
                if self._listening.is_set() or lost is None:
                    log.warning("change notifications lost (%s); listening again", exc)
                    lost = time.monotonic()
                self._listening.clear()
                self.db.ping_after_idle = PING_AFTER_IDLE_SECONDS
                self._tried.set()
                self._stopping.wait(wait)
                # The database away (stopped, restarting): tried again every half second, so
                # that the screens hear changes again within a second or two of its return.
                # Anything else (a bug, a refused login) is tried less and less often.
                wait = RETRY_SECONDS if database_unavailable(exc) else min(wait * 2, 30.0)
            finally:
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.close()
        self._listening.clear()
        self.db.ping_after_idle = PING_AFTER_IDLE_SECONDS
