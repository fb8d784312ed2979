"""The one way to run work off the GUI thread: ``Operation(parent, work).success(...)
.failure(...).run()``. The result or the error comes back on the GUI thread.

Workers hand their outcome over through a thread-safe queue that a timer of the GUI thread
empties while operations are running (every 15 ms): no signal is emitted from a worker
thread (a queued signal from a pool thread was occasionally lost). An operation whose
widget was closed and deleted meanwhile reports to nobody.
"""

from __future__ import annotations

import queue
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import shiboken6
from PySide6.QtCore import QObject, QRunnable, QThreadPool, QTimer

T = TypeVar("T")
POLL_MS = 15
IO_THREADS = 8


class _Dispatcher:
    """Runs the callbacks of finished operations on the GUI thread."""

    def __init__(self) -> None:
        self.finished: queue.SimpleQueue[tuple[Operation[Any], bool, Any]] = queue.SimpleQueue()
        self.running: set[Operation[Any]] = set()  # keeps operations alive until they report
        self.timer: QTimer | None = None

    def started(self, operation: Operation[Any]) -> None:
        self.running.add(operation)
        if self.timer is None:
            self.timer = QTimer()
            self.timer.setInterval(POLL_MS)
            self.timer.timeout.connect(self.deliver)
        if not self.timer.isActive():
            self.timer.start()

    def deliver(self) -> None:
        while True:
            try:
                operation, ok, outcome = self.finished.get_nowait()
            except queue.Empty:
                break
            self.running.discard(operation)
            operation._report(ok, outcome)
        if not self.running and self.timer is not None:
            self.timer.stop()


_dispatcher = _Dispatcher()


def running() -> int:
    """How many operations have not reported yet (also those whose widget is gone)."""
    return len(_dispatcher.running)


def _io_pool() -> QThreadPool:
    """The shared pool, sized for waiting (database queries, connection checks), not for the
    number of cores: a slow check must not hold up the screens' queries."""
    pool = QThreadPool.globalInstance()
    if pool.maxThreadCount() < IO_THREADS:
        pool.setMaxThreadCount(IO_THREADS)
    return pool


class _Runnable(QRunnable):
    def __init__(self, operation: Operation[Any]) -> None:
        super().__init__()
        self.operation = operation

    def run(self) -> None:
        try:
            result = self.operation.work()
        except BaseException as exc:  # delivered to the GUI thread, shown there
            _dispatcher.finished.put((self.operation, False, exc))
        else:
            _dispatcher.finished.put((self.operation, True, result))


class Operation(Generic[T]):
    def __init__(self, parent: QObject, work: Callable[[], T]) -> None:
        self.parent = parent
        self.work = work
        self._success: Callable[[T], object] = lambda _result: None
        self._failure: Callable[[BaseException], object] | None = None
        self._runnable: _Runnable | None = None

    def success(self, callback: Callable[[T], object]) -> Operation[T]:
        self._success = callback
        return self

    def failure(self, callback: Callable[[BaseException], object]) -> Operation[T]:
        self._failure = callback
        return self

    def run(self, pool: QThreadPool | None = None) -> Operation[T]:
        _dispatcher.started(self)
        # Kept by the operation (not left to the pool) until it reports: a runnable whose
        # Python side is collected early never runs.
        self._runnable = _Runnable(self)
        self._runnable.setAutoDelete(False)
        (pool or _io_pool()).start(self._runnable)
        return self

    def _parent_gone(self) -> bool:
        """The widget that asked was closed and deleted meanwhile: nobody to tell."""
        return isinstance(self.parent, QObject) and not shiboken6.isValid(self.parent)

    def _report(self, ok: bool, outcome: Any) -> None:
        self._runnable = None
        if self._parent_gone():
            return
        if ok:
            self._success(outcome)
        elif self._failure is not None:
            self._failure(outcome)
        else:
            from app.ui.messages import messages

            parent = self.parent if hasattr(self.parent, "isWidgetType") else None
            messages.error(parent, "Error", str(outcome) or type(outcome).__name__)  # type: ignore[arg-type]
