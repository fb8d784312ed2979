"""Waiting, from a test, for something another process or thread does."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(check: Callable[[], T], seconds: float, interval: float = 0.02) -> T | None:
    """Call ``check`` until it returns something true, for at most ``seconds``; return that, or None."""
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found or time.monotonic() >= deadline:
            return found if found else None
        time.sleep(interval)
