"""The channel service in a process: ``ChannelWorker`` runs one ``RetrievalWorker`` thread
per enabled channel, retrieving with IDLE where the server offers it and polling at the
check interval otherwise, and the outbox sender. It reports plain ``ChannelState`` events
through a callback and knows nothing of Qt."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from imapclient.exceptions import IMAPClientError
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from app.db.engine import Database
from app.db.models import Channel, utcnow
from app.mail.imap import ConnectionProblem, ImapSession, ImapSettings
from app.services import outage
from app.services.errors import database_unavailable, unavailable_reason
from app.services.leases import (
    TAKEOVER_SECONDS,
    LeaseHolder,
    channel_lease_name,
    process_name,
    ttl_for,
)
from app.services.secrets import SecretStore

from .outbox import OutboxWorker
from .servers import imap_settings
from .sync import SyncReport, filter_warning, sync_channel

log = logging.getLogger(__name__)
PROGRESS_INTERVAL = 0.1  # seconds between progress events
MAX_BACKOFF = 300.0
BUG_PAUSE = 60.0  # seconds a channel waits after an internal error (a bug) before trying again
# A process in standby looks at the lease again this long after it runs out (and at least
# every third of its time to live, in case it is given up or renewed less often).
STANDBY_MARGIN = 0.05
NO_DATABASE = "the database cannot be reached"


@dataclass(frozen=True)
class ChannelState:
    channel_id: int
    name: str
    state: str = "starting"  # standby, connecting, syncing, idle, error, stopped
    done: int = 0
    total: int = 0
    last_check: datetime | None = None
    last_error: str | None = None
    last_report: str | None = None
    idle_supported: bool = False
    # something a person should fix though retrieval goes on (a filter that times out)
    warning: str | None = None

    def describe(self) -> str:
        """One line for a person: the status bar and the channel screen use it."""
        if self.state == "syncing" and self.total:
            text = f"{self.name}: syncing {self.done} of {self.total}"
        elif self.state == "standby":
            text = f"{self.name}: standby — {self.last_report}"
        elif self.state == "error":
            text = f"{self.name}: error — {self.last_error}"
        else:
            text = f"{self.name}: {self.state}"
        if self.last_check is not None and self.state != "error":
            text += f", last check {self.last_check.astimezone().strftime('%H:%M:%S')}"
        if self.warning:
            text += f" — warning: {self.warning}"
        return text


Listener = Callable[[ChannelState], None]


class RetrievalWorker(threading.Thread):
    """Retrieves one channel, with IDLE or polling, while it holds the channel's lease."""

    def __init__(self, service: ChannelWorker, channel: Channel) -> None:
        super().__init__(name=f"channel-{channel.id}", daemon=True)
        self.service = service
        self.channel_id = channel.id
        self.interval = float(channel.check_interval)
        self.state = ChannelState(channel.id, channel.name)
        self.wake = threading.Event()
        self._last_progress = 0.0
        # emails each filter was given up on (too slow) since this worker started
        self.timed_out: Counter[str] = Counter()
        # Exactly one process retrieves a channel: the one holding its lease.
        self.lease = LeaseHolder(
            service.db, channel_lease_name(channel.id), service.holder, service.lease_ttl
        )
        self.lease_lost = threading.Event()

    def emit(self, **changes: object) -> None:
        self.state = replace(self.state, **changes)  # type: ignore[arg-type]
        self.service.publish(self.state)

    def interrupted(self) -> bool:
        return self.service.stopping.is_set() or self.wake.is_set() or not self.keep_lease()

    def keep_lease(self) -> bool:
        """Renew the lease when due; once it is lost, every wait and pass ends early."""
        if not self.lease_lost.is_set() and not self.lease.keep():
            self.lease_lost.set()
        return not self.lease_lost.is_set()

    def wait_for_lease(self) -> bool:
        """Take the channel's lease, or wait in standby while another process retrieves it,
        looking again as soon as its lease runs out (a dead holder is taken over at once).
        False when stopping; raises what the database raised."""
        stop = self.service.stopping
        while not stop.is_set():
            held = self.lease.take()
            if held is None:
                self.lease_lost.clear()
                return True
            holder, left = held
            self.emit(state="standby", last_error=None, last_report=f"retrieved by {holder}")
            self.wake.clear()
            self.wake.wait(min(self.lease.ttl / 3, left + STANDBY_MARGIN))
        return False

    def progress(self, done: int, total: int) -> None:
        self.keep_lease()
        now = time.monotonic()
        if done in (0, total) or now - self._last_progress >= PROGRESS_INTERVAL:
            self._last_progress = now
            self.emit(state="syncing", done=done, total=total)

    def current_settings(self) -> ImapSettings | None:
        """The channel's connection settings now, or None once it is disabled or deleted."""
        with self.service.db.session() as s:
            channel = s.get(Channel, self.channel_id)
            if channel is None or not channel.enabled:
                return None
            self.interval = float(channel.check_interval)
        return imap_settings(self.service.db, self.channel_id, self.service.secrets)

    def run(self) -> None:
        failures = 0
        stop = self.service.stopping
        while not stop.is_set():
            session: ImapSession | None = None
            try:
                settings = self.current_settings()
                if settings is None:
                    break
                if not self.wait_for_lease():
                    break
                self.service.watch.back()  # (logs the database's return, if it was away)
                self.emit(state="connecting")
                session = ImapSession(settings)
                failures = 0
                self.emit(idle_supported=session.has_idle, last_error=None)
                while not stop.is_set():
                    self.wake.clear()
                    if not self.keep_lease():
                        break  # another process retrieves this channel now: standby
                    if self.current_settings() != session.settings:
                        break  # disabled, or host/login/password changed: reconnect
                    report = self.pass_once(session)
                    self.emit(
                        state="idle",
                        done=0,
                        total=0,
                        last_check=utcnow(),
                        last_report=report.summary(),
                        last_error=None,
                        warning=self.filter_warning(report),
                    )
                    if session.has_idle:
                        session.wait_for_news(self.interval, self.interrupted)
                    else:
                        self.poll_wait(self.interval)
            except (ConnectionProblem, IMAPClientError, OSError) as exc:
                failures += 1
                self.emit(state="error", last_error=str(exc) or type(exc).__name__)
                log.warning("channel %s: %s", self.state.name, exc)
                backoff = min(MAX_BACKOFF, 2.0 * 2 ** min(failures, 8))
                self.wake.clear()
                if not stop.is_set():
                    self.wake.wait(backoff)
            except Exception as exc:
                if database_unavailable(exc):  # an outage: carry on as soon as it ends
                    self.wait_for_database(exc)
                    continue
                # a bug: report it and keep the other channels going
                log.exception("channel %s failed", self.state.name)
                self.emit(state="error", last_error=f"internal error: {exc}")
                stop.wait(BUG_PAUSE)
            finally:
                if session is not None:
                    with contextlib.suppress(Exception):
                        session.close()
        with contextlib.suppress(SQLAlchemyError):
            self.lease.release()
        with self.service.lock:
            self.service.workers.pop(self.channel_id, None)
        self.emit(state="stopped" if stop.is_set() else "disabled")

    def poll_wait(self, seconds: float) -> None:
        """Wait until the next poll (no IDLE), renewing the lease meanwhile: a check
        interval may be longer than the lease's time to live."""
        deadline = time.monotonic() + seconds
        while not self.interrupted():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self.wake.wait(min(1.0, left))

    def wait_for_database(self, exc: BaseException) -> None:
        """The database cannot be reached: say so (the channel's state once, the log once
        per outage for the whole process) and wait a moment before trying again. The lease
        is not renewed meanwhile: it is taken again (or found taken over) once it is back."""
        self.service.watch.lost(exc, f"retrieving {self.state.name}")
        if self.state.state != "error" or not (self.state.last_error or "").startswith(NO_DATABASE):
            self.emit(
                state="error",
                last_error=f"{NO_DATABASE} ({unavailable_reason(exc)}); retrieval carries on "
                "as soon as it is back",
            )
        self.service.stopping.wait(outage.RETRY_SECONDS)

    def filter_warning(self, report: SyncReport) -> str | None:
        """The filters that timed out on emails since the worker started, as long as the
        channel still has them (changed or deleted: the warning goes)."""
        self.timed_out.update(report.timed_out)
        for name in [n for n in self.timed_out if n not in report.filters]:
            del self.timed_out[name]
        return filter_warning(self.timed_out) if self.timed_out else None

    def pass_once(self, session: ImapSession) -> SyncReport:
        self.emit(state="syncing", done=0, total=0)
        return sync_channel(
            self.service.db,
            self.channel_id,
            self.service.secrets,
            progress=self.progress,
            stop=_Either(self.service.stopping, self.lease_lost),
            session=session,
        )


class _Either(threading.Event):
    """Set when either of two events is (read-only view for ``sync_channel``'s ``stop``)."""

    def __init__(self, first: threading.Event, second: threading.Event) -> None:
        super().__init__()
        self._events = (first, second)

    def is_set(self) -> bool:
        return any(e.is_set() for e in self._events)


class ChannelWorker:
    """The channel service's work in one process (the app's, or ``serve``): a retrieval
    worker per enabled channel and the outbox sender, until ``stop()``. (Not the services
    layer's ``ChannelService``, which configures channels.)"""

    def __init__(
        self,
        db: Database,
        secrets: SecretStore | None,
        listener: Listener | None = None,
        *,
        lease_seconds: float = TAKEOVER_SECONDS,
    ) -> None:
        self.db = db
        self.holder = process_name()
        # another process takes over a channel within ``lease_seconds`` of this one's death
        self.lease_seconds = lease_seconds
        self.lease_ttl = ttl_for(lease_seconds)
        self.watch = outage.watch(db)
        self.secrets = secrets
        self.listener = listener
        self.stopping = threading.Event()
        self.workers: dict[int, RetrievalWorker] = {}
        self.outbox: OutboxWorker | None = None
        self.lock = threading.Lock()
        self._starting: threading.Thread | None = None  # reads the channels once it is back

    def publish(self, state: ChannelState) -> None:
        if self.listener is not None:
            try:
                self.listener(state)
            except Exception:  # a listener's bug must not stop retrieval
                log.exception("channel state listener failed")

    def start(self) -> None:
        """Start a worker for each enabled channel that has none (call again after changes),
        and the outbox sender. While the database cannot be reached, a thread reads the
        channels again every ``outage.RETRY_SECONDS`` until it can; other errors (bugs) are
        raised."""
        with self.lock:
            if self.outbox is None:
                self.outbox = OutboxWorker(self.db, self.secrets, self.stopping)
                self.outbox.start()
        try:
            self._start_workers()
        except Exception as exc:
            if not database_unavailable(exc):
                raise
            self.watch.lost(exc, "reading the channels")
            with self.lock:
                if self._starting is None or not self._starting.is_alive():
                    self._starting = threading.Thread(
                        target=self._start_when_back, name="channels-start", daemon=True
                    )
                    self._starting.start()

    def _start_workers(self) -> None:
        with self.db.session() as s:
            channels = list(
                s.scalars(select(Channel).where(Channel.enabled.is_(True)).order_by(Channel.name))
            )
        self.watch.back()
        with self.lock:
            if self.stopping.is_set():
                return
            for channel in channels:
                if channel.id not in self.workers:
                    worker = RetrievalWorker(self, channel)
                    self.workers[channel.id] = worker
                    worker.start()

    def _start_when_back(self) -> None:
        """The channels could not be read: read them as soon as the database is back (an
        internal error meanwhile, a bug, is logged and tried again after ``BUG_PAUSE``)."""
        wait = outage.RETRY_SECONDS
        while not self.stopping.wait(wait):
            try:
                self._start_workers()
                return
            except Exception as exc:
                if database_unavailable(exc):
                    self.watch.lost(exc, "reading the channels")
                    wait = outage.RETRY_SECONDS
                else:
                    log.exception("the channels could not be started; trying again later")
                    wait = BUG_PAUSE

    def use_secrets(self, secrets: SecretStore | None) -> None:
        """Read passwords from ``secrets`` from now on (the user chose another store)."""
        self.secrets = secrets
        if self.outbox is not None:
            self.outbox.secrets = secrets
        self.check_now()  # channels that had no password can try again at once

    def check_now(self, channel_id: int | None = None) -> None:
        for worker in list(self.workers.values()):
            if channel_id is None or worker.channel_id == channel_id:
                worker.wake.set()

    def send_now(self) -> None:
        """Wake the outbox sender (e.g. right after a reply was queued)."""
        if self.outbox is not None:
            self.outbox.wake.set()

    def states(self) -> list[ChannelState]:
        return [w.state for w in self.workers.values()]

    def stop(self, timeout: float = 10.0) -> None:
        """Stop cooperatively: each worker ends its current batch and logs out."""
        self.stopping.set()
        threads: list[RetrievalWorker | OutboxWorker] = list(self.workers.values())
        if self.outbox is not None:
            threads.append(self.outbox)
        for thread in threads:
            thread.wake.set()
        for thread in threads:
            thread.join(timeout)
