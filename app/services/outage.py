"""Carrying on through a database outage, and saying so once.

Every thread of a process that works on the database without a person watching (the
retrieval workers, the outbox sender, ``serve``'s housekeeping) meets an outage on its own.
Each tries its own work again every ``RETRY_SECONDS`` (an attempt at a stopped server is
refused at once), so that it carries on within about that time of the database's return.
What they tell the log goes through the one ``DatabaseWatch`` of the database: the first
failure of an outage is a warning, the rest of it says nothing above debug level, and the
first success after it logs that the database is back and how long it was away.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref

from app.db.engine import Database
from app.services.errors import unavailable_reason

log = logging.getLogger(__name__)
RETRY_SECONDS = 0.5  # between two attempts of a thread while the database is away


class DatabaseWatch:
    """Whether the database is known to be away in this process, since when, and the log
    lines of its outages. One per ``Database``: ``watch(db)``."""

    def __init__(self, db: Database) -> None:
        self._describe = db.describe()
        self._drop_idle = weakref.WeakMethod(db.drop_idle_connections)
        self._lock = threading.Lock()
        self._down_since: float | None = None  # time.monotonic() of the outage's first failure
        self.outages = 0  # since the process started

    @property
    def down(self) -> bool:
        return self._down_since is not None

    def lost(self, exc: BaseException, what: str) -> None:
        """``what`` failed because the database cannot be reached: the first such failure of
        an outage is logged as a warning, the others at debug level only."""
        reason = unavailable_reason(exc)
        with self._lock:
            first = self._down_since is None
            if first:
                self._down_since = time.monotonic()
                self.outages += 1
        if first:
            log.warning(
                "The database %s cannot be reached (%s, while %s); carrying on: trying again "
                "every %.1f s",
                self._describe,
                reason,
                what,
                RETRY_SECONDS,
            )
        else:
            log.debug("still no database (%s, while %s)", reason, what)

    def back(self) -> None:
        """Work on the database succeeded: if it was away, log that it is back. Pooled
        connections idle since before the outage are dropped (the server may have
        restarted), so that the next work does not fail on one of them."""
        with self._lock:
            since, self._down_since = self._down_since, None
        if since is None:
            return
        drop = self._drop_idle()
        if drop is not None:
            drop()
        log.info(
            "The database %s can be reached again (after %.1f s away); carrying on",
            self._describe,
            time.monotonic() - since,
        )


_watches: weakref.WeakKeyDictionary[Database, DatabaseWatch] = weakref.WeakKeyDictionary()
_watches_lock = threading.Lock()


def watch(db: Database) -> DatabaseWatch:
    """The watch of ``db`` (made at first use): shared by every thread of this process."""
    with _watches_lock:
        found = _watches.get(db)
        if found is None:
            found = _watches[db] = DatabaseWatch(db)
        return found
