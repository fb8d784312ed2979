"""The one way from a screen to the services: ``run(owner, work, done, failed)``.

``work`` runs on a *lane* — a thread of its own that runs its jobs one after another, in the
order they were given — never on the GUI thread. Its result (``done``) or its failure
(``failed``) comes back on the GUI thread, in order. The lanes:

- ``INTERACTIVE``: what an agent is waiting for (open, take, send, the lists of My Work);
- ``LISTS``: reading again the lists a screen shows after a change (My Work's queues and
  emails), so that Take next never waits behind a reload;
- ``READS``: long reads (reports, exports, pages of the Emails screen), so that a report
  never delays Take next;
- ``BACKGROUND``: the workstation's own timers (heartbeat, abandoned emails, change
  following).

Each lane is one thread, so the services' connections and sessions are used by one thread
at a time, and an agent's actions reach the database in the order they were made.

``coalesce``: a job given with a key replaces a job of the same owner and key that has not
started yet (ten changes heard while a reload runs make one more reload, not ten).

Failures are translated here, at the boundary: a ``ServiceError`` is the user's to read
(``Failure.kind == "refused"``); a database that cannot be reached is ``"unavailable"``
(shown, and tried again by whoever asked); anything else is a bug: logged with its
traceback and shown as an internal error (``"internal"``).

How the outcome reaches the GUI thread: the lane puts it in a thread-safe queue and emits
a signal of an object that lives on the GUI thread; its slot empties the queue. (The old
``background.py`` polled instead, because "a queued signal from a pool thread was
occasionally lost". The history shows two other causes: the Python side of a QRunnable
collected before the pool ran it, so the work never ran — fixed on 2026-11-27 — and the
signal object made a child of the screen, deleted with it. Neither exists here: lanes are
plain threads, the notifier belongs to no screen. tests/ui/test_operations.py sends 20,000
outcomes from four lanes and counts them.)
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

import shiboken6
from PySide6.QtCore import QCoreApplication, QObject, QThread, Signal, Slot

from app.services.errors import ServiceError, database_unavailable, unavailable_reason

log = logging.getLogger(__name__)
T = TypeVar("T")

INTERACTIVE = "interactive"
LISTS = "lists"
READS = "reads"
BACKGROUND = "background"
LANES = (INTERACTIVE, LISTS, READS, BACKGROUND)

_SKIPPED = object()  # the outcome of a job not run: its owner was gone
# Taken to start a job, and to replace the work of one not started (``coalesce``).
_START_LOCK = threading.Lock()

FailureKind = Literal["refused", "unavailable", "internal"]


@dataclass(frozen=True)
class Failure:
    """Why an operation did not succeed, in words for the user."""

    kind: FailureKind
    message: str
    error: BaseException

    @property
    def unavailable(self) -> bool:
        return self.kind == "unavailable"


def failure_of(exc: BaseException) -> Failure:
    """The boundary: what the user is told about ``exc``."""
    if isinstance(exc, ServiceError) and not database_unavailable(exc):
        return Failure("refused", str(exc) or type(exc).__name__, exc)
    if database_unavailable(exc):
        return Failure(
            "unavailable",
            f"The database cannot be reached ({unavailable_reason(exc)}). "
            "It is tried again; nothing you typed is lost.",
            exc,
        )
    return Failure(
        "internal",
        f"Internal error ({type(exc).__name__}: {exc}). It is in the log; please report it.",
        exc,
    )


class Job(Generic[T]):
    """One call of the services: its work, the owner who asked and what to do after."""

    def __init__(
        self,
        owner: QObject | None,
        work: Callable[[], T],
        done: Callable[[T], object] | None,
        failed: Callable[[Failure], object] | None,
        lane: str,
        key: Hashable | None,
    ) -> None:
        self.owner, self.work, self.done, self.failed = owner, work, done, failed
        self.lane, self.key = lane, key
        self.started = False
        self.finished = False
        self.given_at = time.monotonic()

    def owner_gone(self) -> bool:
        return isinstance(self.owner, QObject) and not shiboken6.isValid(self.owner)


class _Lane:
    """One thread running its jobs in order."""

    def __init__(self, name: str, hand_over: Callable[[Job[Any], bool, Any], None]) -> None:
        self.name = name
        self._hand_over = hand_over
        self._jobs: queue.SimpleQueue[Job[Any] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, job: Job[Any]) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._serve, name=f"lane-{self.name}", daemon=True
                )
                self._thread.start()
        self._jobs.put(job)

    def stop(self, timeout: float) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._jobs.put(None)
            thread.join(timeout)

    def _serve(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            if job.owner_gone():  # asked by a screen closed meanwhile: nobody to tell
                self._hand_over(job, False, _SKIPPED)
                continue
            with _START_LOCK:
                job.started = True
                work = job.work
            try:
                result = work()
            except BaseException as exc:  # handed to the GUI thread, which reports it
                if not isinstance(exc, ServiceError) and not database_unavailable(exc):
                    log.error("operation failed on lane %s", self.name, exc_info=exc)
                self._hand_over(job, False, exc)
            else:
                self._hand_over(job, True, result)


class Operations(QObject):
    """The process's lanes and the hand-over of their outcomes to the GUI thread."""

    _outcomes_ready = Signal()
    busy_changed = Signal(bool)  # whether any interactive job is pending

    def __init__(self) -> None:
        super().__init__()
        self._outcomes: queue.SimpleQueue[tuple[Job[Any], bool, Any]] = queue.SimpleQueue()
        self._wake_pending = threading.Event()
        self._outcomes_ready.connect(self._deliver)
        self._lanes = {name: _Lane(name, self._hand_over) for name in LANES}
        self._pending: list[Job[Any]] = []  # given and not yet reported, in order
        self._busy = False

    # ---- giving work --------------------------------------------------------------------
    def run(
        self,
        owner: QObject | None,
        work: Callable[[], T],
        done: Callable[[T], object] | None = None,
        failed: Callable[[Failure], object] | None = None,
        *,
        lane: str = INTERACTIVE,
        coalesce: Hashable | None = None,
    ) -> Job[T]:
        """Run ``work`` on ``lane``; ``done(result)`` or ``failed(failure)`` follows on the
        GUI thread, unless ``owner`` was deleted meanwhile. Without ``failed``, a failure is
        shown in a message box over ``owner``."""
        if coalesce is not None:
            for waiting in self._pending:
                if (
                    waiting.key == coalesce
                    and waiting.owner is owner
                    and waiting.lane == lane
                    and not waiting.started
                ):
                    with _START_LOCK:  # the lane cannot start it meanwhile
                        if not waiting.started:  # else the newer one runs after it
                            waiting.work, waiting.done, waiting.failed = work, done, failed
                            return waiting
        job: Job[T] = Job(owner, work, done, failed, lane, coalesce)
        self._pending.append(job)
        self._lanes[lane].submit(job)
        self._update_busy()
        return job

    def pending(self, owner: QObject | None = None, lane: str | None = None) -> int:
        """How many jobs (of ``owner``, on ``lane``) have not reported yet."""
        return sum(
            1
            for job in self._pending
            if (owner is None or job.owner is owner) and (lane is None or job.lane == lane)
        )

    @property
    def busy(self) -> bool:
        return self._busy

    # ---- waiting (tests, shutting down) -------------------------------------------------
    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Run the GUI thread's events until every job has reported; False on timeout."""
        deadline = time.monotonic() + timeout
        app = QCoreApplication.instance()
        while self._pending:
            if time.monotonic() > deadline:
                return False
            if app is not None:
                app.processEvents()
            self._deliver()
            if self._pending:
                time.sleep(0.002)
        return True

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop the lanes after the jobs given so far (their outcomes go to nobody)."""
        for lane in self._lanes.values():
            lane.stop(timeout)
        while True:  # as the docstring says: reported to nobody
            try:
                self._outcomes.get_nowait()
            except queue.Empty:
                break
        self._pending.clear()
        self._update_busy()

    # ---- handing over -------------------------------------------------------------------
    def _hand_over(self, job: Job[Any], ok: bool, outcome: Any) -> None:
        """On a lane: queue the outcome and wake the GUI thread (once until it looks)."""
        self._outcomes.put((job, ok, outcome))
        if not self._wake_pending.is_set():
            self._wake_pending.set()
            self._outcomes_ready.emit()

    @Slot()
    def _deliver(self) -> None:
        """On the GUI thread: report every outcome handed over, in order."""
        self._wake_pending.clear()
        while True:
            try:
                job, ok, outcome = self._outcomes.get_nowait()
            except queue.Empty:
                break
            job.finished = True
            if job in self._pending:
                self._pending.remove(job)
            self._update_busy()
            if outcome is _SKIPPED or job.owner_gone():
                continue
            try:
                self._report(job, ok, outcome)
            except Exception:  # a bug in a callback: the next outcomes still get theirs
                sys.excepthook(*sys.exc_info())

    def _report(self, job: Job[Any], ok: bool, outcome: Any) -> None:
        if ok:
            if job.done is not None:
                job.done(outcome)
            return
        failure = failure_of(outcome)
        if job.failed is not None:
            job.failed(failure)
        else:
            from app.ui.messages import messages

            parent = job.owner if hasattr(job.owner, "isWidgetType") else None
            title = "Database unavailable" if failure.unavailable else "Error"
            messages.error(parent, title, failure.message)  # type: ignore[arg-type]

    def _update_busy(self) -> None:
        busy = any(job.lane == INTERACTIVE for job in self._pending)
        if busy != self._busy:
            self._busy = busy
            self.busy_changed.emit(busy)


_operations: Operations | None = None


def operations() -> Operations:
    """The process's operations (made on first use, on the GUI thread)."""
    global _operations
    if _operations is None:
        app = QCoreApplication.instance()
        assert app is None or QThread.currentThread() is app.thread(), "made off the GUI thread"
        _operations = Operations()
    return _operations


def run(
    owner: QObject | None,
    work: Callable[[], T],
    done: Callable[[T], object] | None = None,
    failed: Callable[[Failure], object] | None = None,
    *,
    lane: str = INTERACTIVE,
    coalesce: Hashable | None = None,
) -> Job[T]:
    """``operations().run(...)``: see ``Operations.run``."""
    return operations().run(owner, work, done, failed, lane=lane, coalesce=coalesce)
