"""The workstation's start of the channel service: the database's absence is tried again
every 0.5 s, like everything else; only an internal error (a bug) waits 30 s."""

from __future__ import annotations

import itertools
import time

import pytest

from app.db.engine import Database
from app.services.errors import DatabaseUnavailable
from app.ui import channel_status
from app.ui.channel_status import ChannelEvents


def test_the_channels_are_started_again_soon_after_an_outage_and_later_after_a_bug(  # type: ignore[no-untyped-def]
    qtbot, demo_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert channel_status.UNAVAILABLE_RETRY_MS == 500 and channel_status.BUG_RETRY_MS == 30_000
    monkeypatch.setattr(channel_status, "BUG_RETRY_MS", 2000)  # (not 30 s in a test)
    events = ChannelEvents(demo_db, None)
    calls: list[float] = []

    def start() -> None:
        calls.append(time.monotonic())
        if len(calls) <= 2:
            raise DatabaseUnavailable("connection refused")
        if len(calls) == 3:
            raise RuntimeError("a bug")

    monkeypatch.setattr(events.service, "start", start)
    try:
        events.start()
        qtbot.waitUntil(lambda: len(calls) == 3, timeout=3000)
        gaps = [b - a for a, b in itertools.pairwise(calls)]
        assert all(0.4 < gap < 1.0 for gap in gaps), gaps  # the database's absence: 0.5 s
        qtbot.wait(1200)
        assert len(calls) == 3  # a bug waits longer
        qtbot.waitUntil(lambda: len(calls) == 4, timeout=3000)
        assert calls[3] - calls[2] > 1.9
    finally:
        events.stop()
