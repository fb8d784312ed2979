"""What a sender knows of its claims, written down even across a database outage.

A sender knows the fate of every reply it claimed: never handed to the server, accepted
(250), refused for now or for good. It records each in the database at once; when the
database is out of reach at that moment, the outcome is kept here (``Unsettled``) and
recorded first thing when the database is back, before anything new is claimed. A pass cut
off by the outage leaves its sender's name here too: its other claims are then settled at
once by the state the database holds (never handed over: given back; maybe handed over:
looked up in the Sent folder) instead of waiting for their lease to run out.

``ClaimKeeper`` keeps a pass's claims alive while it runs, so that the lease can be short:
another process settles the claims of a sender that is gone within ``outbox.LEASE``.
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType

from app.db.engine import Database
from app.db.models import ReplyState
from app.services import outage, outbox
from app.services.errors import database_unavailable

log = logging.getLogger(__name__)


class Fate(enum.Enum):
    """What became of a claimed reply, as its sender knows it."""

    UNTRIED = "never handed to the server"  # given back to the queue, the attempt uncounted
    ACCEPTED = "accepted by the server"  # sent
    REFUSED_FOR_NOW = "refused for now"  # queued again after the back-off (or failed)
    UNREACHABLE = "the server could not be reached"  # queued again after the back-off
    FAILED = "refused"  # failed, with the server's words


@dataclass(frozen=True)
class Outcome:
    """The fate of one reply claimed by ``claimer``, to be recorded as of ``at``. ``text``:
    the server's words (or the note on a sent reply); ``recipients``: those the server
    accepted when it refused others."""

    reply_id: int
    claimer: str
    fate: Fate
    at: datetime
    text: str | None = None
    recipients: tuple[str, ...] = ()


def record(db: Database, outcome: Outcome) -> ReplyState | None:
    """Write ``outcome``; the state the reply went to, or None when it had been settled
    already (by an earlier attempt of this very write, or by another process)."""
    reply_id, claimer, at, text = outcome.reply_id, outcome.claimer, outcome.at, outcome.text
    match outcome.fate:
        case Fate.UNTRIED:
            given = outbox.release(db, [reply_id], claimer)
            return ReplyState.QUEUED if given else None
        case Fate.ACCEPTED:
            sent = outbox.mark_sent(db, reply_id, at, text, outcome.recipients)
            return ReplyState.SENT if sent else None
        case Fate.REFUSED_FOR_NOW:
            return outbox.mark_refused_for_now(db, reply_id, text or "", at, claimer)
        case Fate.UNREACHABLE:  # waited for without limit: nothing was refused
            retried = outbox.mark_retry(db, reply_id, text or "", at, claimer=claimer)
            return ReplyState.QUEUED if retried is not None else None
        case Fate.FAILED:
            failed = outbox.mark_failed(db, reply_id, text or "", at, claimer)
            return ReplyState.FAILED if failed else None


class Unsettled:
    """A sender's outcomes not recorded yet, and the names of its passes cut off by an
    outage (whose remaining claims are settled without waiting for their leases). Lives as
    long as the sender (the outbox worker's thread); used by that thread only."""

    def __init__(self) -> None:
        self.outcomes: dict[int, Outcome] = {}
        self.claimers: set[str] = set()

    def __len__(self) -> int:
        return len(self.outcomes)

    def record(self, db: Database, outcome: Outcome) -> ReplyState | None:
        """Record ``outcome`` now; kept for later if the database cannot be reached (the
        error is raised: the pass ends)."""
        self.outcomes[outcome.reply_id] = outcome
        try:
            result = record(db, outcome)
        except Exception as exc:
            if not database_unavailable(exc):
                del self.outcomes[outcome.reply_id]  # a bug: not tried again and again
            raise
        del self.outcomes[outcome.reply_id]
        return result

    def keep(self, outcome: Outcome) -> None:
        """Keep ``outcome`` to record once the database is back."""
        self.outcomes[outcome.reply_id] = outcome

    def pending(self) -> list[Outcome]:
        return sorted(self.outcomes.values(), key=lambda o: o.reply_id)


class ClaimKeeper:
    """Renews the claims of one pass (``claimer``) every ``outbox.RENEW_EVERY`` on a thread
    of its own while the pass runs (``with``): a send that takes long (a slow server, a
    large message) never lets them run out, and a sender that hangs or dies stops renewing
    them. A renewal the database refuses is tried again at the next turn."""

    def __init__(
        self,
        db: Database,
        claimer: str,
        clock: Callable[[], datetime],
        every: float | None = None,
    ) -> None:
        self.db, self.claimer, self.clock = db, claimer, clock
        self.every = outbox.RENEW_EVERY.total_seconds() if every is None else every
        self.renewals = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="outbox-claims", daemon=True)

    def __enter__(self) -> ClaimKeeper:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._done.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._done.wait(self.every):
            try:
                outbox.renew_claims(self.db, self.claimer, self.clock())
                self.renewals += 1
            except Exception as exc:
                if database_unavailable(exc):
                    outage.watch(self.db).lost(exc, "renewing the outbox's claims")
                else:
                    log.exception("the outbox's claims could not be renewed")
