"""Leases: one holder at a time, renewal, take-over after expiry, release."""

from __future__ import annotations

import time

import pytest

from app.db.engine import Database
from app.services.leases import LeaseHolder, channel_lease_name, ttl_for


def test_one_holder_at_a_time(db: Database) -> None:
    first = LeaseHolder(db, "job", "first", ttl=30)
    second = LeaseHolder(db, "job", "second", ttl=30)
    assert first.acquire()
    assert not second.acquire()
    assert second.current_holder() == "first"
    assert first.acquire()  # renewing is taking it again
    assert LeaseHolder(db, "other job", "second").acquire()  # leases are per name


def test_an_expired_lease_is_taken_over_and_the_old_holder_learns_it(db: Database) -> None:
    first = LeaseHolder(db, "job", "first", ttl=0.3)
    second = LeaseHolder(db, "job", "second", ttl=0.3)
    assert first.acquire()
    assert not second.acquire()
    time.sleep(0.4)  # the first holder died (stopped renewing)
    assert first.current_holder() is None
    assert second.acquire()
    assert not first.keep()  # its renewal fails: it must stop working
    assert second.current_holder() == "second"


def test_keep_renews_only_when_a_third_of_the_time_has_passed(db: Database) -> None:
    holder = LeaseHolder(db, "job", "me", ttl=30)
    assert holder.acquire()
    rival = LeaseHolder(db, "job", "rival", ttl=30)
    assert holder.keep()  # no database round trip needed
    assert not rival.acquire()


def test_release_lets_another_take_over_at_once(db: Database) -> None:
    first = LeaseHolder(db, channel_lease_name(7), ttl=30)
    second = LeaseHolder(db, channel_lease_name(7), ttl=30)
    assert first.holder != second.holder  # each process names itself uniquely
    assert first.acquire()
    first.release()
    assert second.acquire()
    first.release()  # not held any more: nothing happens
    assert second.current_holder() == second.holder


def _ended_process() -> int:
    """The number of a process of this machine that has ended (and been reaped)."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_take_says_who_holds_it_and_for_how_long(db: Database) -> None:
    first = LeaseHolder(db, "job", "first", ttl=30)
    second = LeaseHolder(db, "job", "second", ttl=30)
    assert first.take() is None
    held = second.take()
    assert held is not None
    holder, left = held
    assert holder == "first" and 28 < left <= 30
    first.release()
    assert second.take() is None


def test_a_holder_of_this_machine_that_ended_is_taken_over_at_once(db: Database) -> None:
    import socket

    from app.services.leases import died_here, process_name

    dead = f"{socket.gethostname()} pid {_ended_process()} (a1b2c3)"
    assert died_here(dead)
    assert not died_here(process_name())  # this process runs
    assert not died_here(f"{socket.gethostname()} pid 1 (a1b2c3)")  # so does init
    assert not died_here(f"elsewhere.example pid {_ended_process()} (a1b2c3)")  # can't tell
    assert not died_here("first")  # not a process name

    assert LeaseHolder(db, "job", dead, ttl=30).acquire()
    other = LeaseHolder(db, "job", process_name(), ttl=30)
    assert other.take() is None  # without waiting 30 s for it to run out
    assert other.current_holder() == other.holder
    assert other.keep()
    # a live holder elsewhere is waited for
    remote = LeaseHolder(db, "remote job", "elsewhere.example pid 42 (a1b2c3)", ttl=30)
    assert remote.acquire()
    assert LeaseHolder(db, "remote job", process_name(), ttl=30).take() is not None


def test_a_renewal_refused_for_an_outage_is_told_to_the_watch(db: Database, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy.exc import OperationalError

    from app.services.outage import watch

    holder = LeaseHolder(db, "job", "me", ttl=0.3)
    assert holder.acquire()
    time.sleep(0.15)  # a renewal is due

    def refused() -> bool:
        raise OperationalError("UPDATE", {}, Exception("unable to open database file"))

    monkeypatch.setattr(holder, "acquire", refused)
    assert not holder.keep()  # lost: stop working
    assert watch(db).down
    watch(db).back()


@pytest.mark.parametrize("takeover", [3.0, 30.0, 300.0])
def test_the_time_to_live_leaves_room_to_take_over_in_time(takeover: float) -> None:
    ttl = ttl_for(takeover)
    assert takeover - 1.0 <= ttl < takeover
    assert ttl >= takeover * 0.9
