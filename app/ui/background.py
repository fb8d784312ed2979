"""The one way to run work off the GUI thread: ``Operation(parent, work).success(...)
.failure(...).run()``. The result or the error comes back on the GUI thread."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

T = TypeVar("T")
_running: set[Operation[Any]] = set()  # keeps operations alive until they report back


class _Signals(QObject):
    done = Signal(object)
    failed = Signal(object)


class _Runnable(QRunnable):
    def __init__(self, work: Callable[[], Any], signals: _Signals) -> None:
        super().__init__()
        self.work, self.signals = work, signals

    def run(self) -> None:
        try:
            result = self.work()
        except BaseException as exc:  # delivered to the GUI thread, shown there
            self.signals.failed.emit(exc)
        else:
            self.signals.done.emit(result)


class Operation(Generic[T]):
    def __init__(self, parent: QObject, work: Callable[[], T]) -> None:
        self.parent = parent
        self.work = work
        self._success: Callable[[T], object] = lambda _result: None
        self._failure: Callable[[BaseException], object] | None = None
        self.signals = _Signals(parent)

    def success(self, callback: Callable[[T], object]) -> Operation[T]:
        self._success = callback
        return self

    def failure(self, callback: Callable[[BaseException], object]) -> Operation[T]:
        self._failure = callback
        return self

    def run(self, pool: QThreadPool | None = None) -> Operation[T]:
        self.signals.done.connect(self._on_done)
        self.signals.failed.connect(self._on_failed)
        _running.add(self)
        (pool or QThreadPool.globalInstance()).start(_Runnable(self.work, self.signals))
        return self

    def _on_done(self, result: T) -> None:
        _running.discard(self)
        self._success(result)

    def _on_failed(self, exc: BaseException) -> None:
        _running.discard(self)
        if self._failure is not None:
            self._failure(exc)
        else:
            from app.ui.messages import messages

            parent = self.parent if hasattr(self.parent, "isWidgetType") else None
            messages.error(parent, "Error", str(exc) or type(exc).__name__)  # type: ignore[arg-type]
