"""One retrieval pass over a channel: fetch, store exactly once, then act on the server.

Order matters for never losing or duplicating mail: a batch is committed to the database
before its messages are deleted, marked read or moved on the server. A pass interrupted
anywhere leaves messages that are either not stored (fetched again next time) or stored
and still on the server (recognised by UID, or by Message-ID and hash, and only acted on).
A message delivered twice is one email known under both UIDs (``Intake.store``): a pass
fetches neither again, and acts on both.

Fetching and storing overlap: a fetch thread owns the IMAP connection (one thread at a
time may use it) and fetches the next batch while this thread parses and stores the one
before. It acts on the server only for batches this thread hands back after their commit,
and fetches at most one batch ahead (none while a batch of large messages is stored: see
``_Fetcher._room_for``), so memory grows neither with the number of messages nor with
their size beyond one batch's bytes (``imap.FETCH_BYTES``) or the largest message.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from app.db.engine import Database
from app.db.models import AfterRetrieval, Channel
from app.mail import imap as imap_module
from app.mail.imap import ImapSession
from app.services.intake import Analysed, Fetched, Intake
from app.services.secrets import SecretStore

from . import forked
from .servers import imap_settings

# From this many new messages on, a pass fetches and reads them in a second process (for
# fewer, starting it gains little; and its fetching runs further ahead of storing).
FORK_FROM = 1000


@dataclass
class SyncReport:
    channel: str
    on_server: int = 0
    fetched: int = 0
    stored: int = 0
    already_stored: int = 0
    copies: int = 0  # of them, copies of an email (the same bytes delivered again)
    quarantined: int = 0
    acted_on: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    # filters given up on new emails (their regular expression took too long): how often
    timed_out: Counter[str] = field(default_factory=Counter)
    # the channel's filters in this pass (a warning about one no longer there is old news)
    filters: tuple[str, ...] = ()

    def summary(self) -> str:
        already = f"{self.already_stored} already stored"
        if self.copies:
            copies = "1 copy" if self.copies == 1 else f"{self.copies} copies"
            already += f" (of them {copies} delivered again)"
        text = (
            f"{self.channel}: {self.on_server} on the server, {self.fetched} fetched, "
            f"{self.stored} stored, {already}, "
            f"{self.quarantined} quarantined, {self.acted_on} removed or marked on the "
            f"server, in {self.seconds:.2f} s"
        )
        if self.timed_out:
            text += "; " + filter_warning(self.timed_out)
        if self.errors:
            text += "; errors: " + "; ".join(self.errors)
        return text


def filter_warning(timed_out: Counter[str]) -> str:
    """'filter X timed out on N emails' for each filter given up on some emails."""
    parts = []
    for name, count in sorted(timed_out.items()):
        emails = "1 email" if count == 1 else f"{count} emails"
        parts.append(f"filter {name} timed out on {emails}")
    return "; ".join(parts) + " (skipped for them: see their History)"


Progress = Callable[[int, int], None]  # (done, total)


def sync_channel(
    db: Database,
    channel_id: int,
    secrets: SecretStore | None,
    *,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
    session: ImapSession | None = None,
    opened: ImapSession | None = None,
) -> SyncReport:
    """Retrieve everything new from the channel's folder; returns what was done.

    ``session``: a connection kept between passes (selected again here, never closed);
    ``opened``: one opened for this pass alone, with the folder just selected (as
    ``channel sync`` opens it while starting), used and closed as if opened here."""
    started = time.monotonic()
    intake = Intake(db, channel_id)
    report = SyncReport(
        channel=intake.channel_name, filters=tuple(f.description for f in intake.filters)
    )
    with db.session() as s:
        channel = s.get_one(Channel, channel_id)
        action, move_folder = channel.after_retrieval, channel.move_folder
    own_session = session is None
    detached = False
    imap = session or opened or ImapSession(imap_settings(db, channel_id, secrets))
    try:
        folder = imap.settings.folder
        # Selecting again on a reused connection refreshes UIDVALIDITY and the message list.
        uidvalidity = imap.uidvalidity if own_session else imap.select(folder)
        on_server = imap.uids()
        report.on_server = len(on_server)
        known = intake.known_uids(folder, uidvalidity, on_server)
        new = [u for u in on_server if u not in known]
        # Stored earlier but not yet acted on (a pass interrupted after its commit).
        pending = sorted(known)
        if action == AfterRetrieval.MARK_READ and pending:
            unseen = set(imap.uids(unseen_only=True))
            pending = [u for u in pending if u in unseen]
        report.already_stored = len(known)
        if pending:
            imap.after_retrieval(pending, action, move_folder)
            report.acted_on += len(pending)
        done = 0
        if progress:
            progress(0, len(new))
        fetcher: _Fetcher | forked.ForkedReader
        if own_session and len(new) >= FORK_FROM and forked.can_fork():
            fetcher = forked.ForkedReader(
                imap, new, action, move_folder, intake, folder, uidvalidity, _Fetcher
            )
            detached = True  # the session is the child's now
        else:
            fetcher = _Fetcher(imap, new, action, move_folder)
        try:
            for batch, analysed in fetcher.batches():
                if stop is not None and stop.is_set():
                    break
                results = intake.store(
                    [Fetched(folder, uidvalidity, uid, raw) for uid, raw in batch],
                    analysed=analysed,
                )
                fetcher.act_on([r.uid for r in results])  # committed: now the server
                report.fetched += len(batch)
                report.stored += sum(1 for r in results if r.new)
                report.already_stored += sum(1 for r in results if not r.new)
                report.copies += sum(1 for r in results if r.copy)
                report.quarantined += sum(1 for r in results if r.quarantined)
                report.timed_out.update(name for r in results for name in r.timed_out)
                done += len(batch)
                if progress:
                    progress(done, len(new))
                del batch, analysed  # stored: not held while the next one is fetched
        finally:
            failed = fetcher.finish()
            report.acted_on += fetcher.acted
        if failed is not None:
            raise failed
    finally:
        if own_session and not detached:
            imap.close()
        report.seconds = time.monotonic() - started
    return report


class _Fetcher:
    """The fetch thread of one pass: fetches batches of ``uids`` up to ``ahead`` batches
    ahead of the storing thread, and acts on the server for the batches handed back with
    ``act_on`` (after their commit). The session is the thread's until ``finish`` returns.
    """

    def __init__(
        self,
        imap: ImapSession,
        uids: Sequence[int],
        action: AfterRetrieval,
        move_folder: str,
        ahead: int = 1,
    ) -> None:
        self._imap = imap
        self._ahead = ahead  # more than one smooths the server's pauses out
        self._uids = uids
        self._action = action
        self._move_folder = move_folder
        self._lock = threading.Condition()
        self._ready: deque[list[tuple[int, bytes]]] = deque()  # fetched, not yet taken
        self._held = 0  # bytes of those and of the one taken and not done with
        self._taken = 0  # bytes of the batch taken and not done with (being stored)
        self._acts: deque[list[int]] = deque()  # committed, not yet acted on
        self._fetched_all = False
        self._finishing = False  # no more batches are taken, no more acts handed back
        self._error: BaseException | None = None
        self.acted = 0
        self._thread = threading.Thread(target=self._run, name="imap-fetch", daemon=True)
        self._thread.start()

    # ---- the storing thread -----------------------------------------------------
    def batches(self) -> Iterator[tuple[list[tuple[int, bytes]], list[Analysed | None] | None]]:
        """The fetched batches in order (not read yet: None); raises what failed in the
        fetch thread."""
        while True:
            with self._lock:
                while not self._ready and not self._fetched_all and self._error is None:
                    self._lock.wait()
                if not self._ready and self._error is not None:
                    error, self._error = self._error, None
                    raise error
                batch = self._ready.popleft() if self._ready else None
                self._taken = _size(batch) if batch is not None else 0
                self._lock.notify_all()
            if batch is None:
                return
            yield batch, None
            del batch  # (not held while the next is fetched)
            with self._lock:  # asked for the next one: done with this one
                self._held -= self._taken
                self._taken = 0
                self._lock.notify_all()

    def act_on(self, uids: list[int]) -> None:
        """Hand back the UIDs of a committed batch, for the fetch thread to act on."""
        with self._lock:
            self._acts.append(uids)
            self._lock.notify_all()

    def finish(self) -> BaseException | None:
        """Stop fetching, let the thread act on what was handed back, and wait for it.
        Returns what failed in the fetch thread and was not raised yet."""
        with self._lock:
            self._finishing = True
            self._lock.notify_all()
        self._thread.join()
        error, self._error = self._error, None
        return error

    # ---- the fetch thread -------------------------------------------------------
    def _run(self) -> None:
        try:
            for batch in self._imap.fetch(self._uids, before=self._room_for):
                with self._lock:
                    self._ready.append(batch)
                    self._held += _size(batch)
                    self._lock.notify_all()
                del batch  # (held by the queue alone: freed once stored)
            with self._lock:
                self._fetched_all = True
                self._lock.notify_all()
            while True:
                with self._lock:
                    while not self._acts and not self._finishing:
                        self._lock.wait()
                    if not self._acts:
                        return
                self._act()
        except BaseException as exc:
            with self._lock:
                self._error = exc
                self._lock.notify_all()

    def _room_for(self, size: int) -> bool:
        """Before fetching a batch of ``size`` bytes: wait until fewer than ``ahead``
        batches wait to be taken and, with the one being stored, they hold at most
        ``FETCH_BYTES`` with it (large messages: fetched one by one, as they are stored), or
        until none is held; act on the server meanwhile. False: stop fetching."""
        while True:
            self._act()
            with self._lock:
                if self._finishing:
                    return False
                fits = self._held + size <= imap_module.FETCH_BYTES
                if not self._held or (len(self._ready) < self._ahead and fits):
                    return True
                if not self._acts:
                    self._lock.wait()

    def _act(self) -> None:
        while True:
            with self._lock:
                if not self._acts:
                    return
                uids = self._acts.popleft()
            self._imap.after_retrieval(uids, self._action, self._move_folder)
            self.acted += len(uids)


def _size(batch: list[tuple[int, bytes]]) -> int:
    return sum(len(raw) for _, raw in batch)
