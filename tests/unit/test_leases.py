"""Leases: one holder at a time, renewal, take-over after expiry, release."""

from __future__ import annotations

import time

from app.db.engine import Database
from app.services.leases import LeaseHolder, channel_lease_name


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
