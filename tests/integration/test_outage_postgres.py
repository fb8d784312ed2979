"""Outages survived on a shared site (PostgreSQL): `serve` and the retrieval workers keep
running while the database is away and carry on within about a second of its return; the
change feed listens again within 2 s; `channel sync` respects the lease that `serve` holds;
another process takes a channel over within `--lease-seconds`."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
from sqlalchemy import func, select

from app.channel_service.runner import ChannelState, ChannelWorker
from app.db.engine import Database
from app.db.models import Email, Lease
from app.services.changes import ChangeFeed
from app.services.secrets import choose_plain_file_fallback
from tests.integration.test_retrieval import demo_by_cli, make_channel, raw_message
from tests.waiting import wait_for

pytestmark = pytest.mark.server


def count(db: Database) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(Email)) or 0


def holder(db: Database) -> str | None:
    with db.session() as s:
        return s.scalar(select(Lease.holder))


def expires(db: Database) -> object:
    with db.session() as s:
        return s.scalar(select(Lease.expires_at))


def serve(cli: list[str], env: dict[str, str], *options: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*cli, "serve", *options],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop(proc: subprocess.Popen[str]) -> str:
    """SIGTERM, and what it logged; it must have stopped cleanly."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    return err


def test_serve_keeps_running_through_an_outage_and_retrieves_at_once_after_it(  # type: ignore[no-untyped-def]
    mail_server, mailbox, outage, postgres_url, isolated_home
):
    cli, env, db = demo_by_cli(postgres_url, isolated_home)
    make_channel(db, mail_server, mailbox, choose_plain_file_fallback(), name="Served")
    mail_server.deliver(mailbox.address, raw_message(1))
    # Housekeeping every 0.5 s: several ticks fall in the outage. Leases of 3 s: renewals
    # fail during it and the lease runs out before the database is back.
    proc = serve(cli, env, "--housekeeping-seconds", "0.5", "--lease-seconds", "3")
    try:
        assert wait_for(lambda: count(db) == 1, 20), "the first pass did not store the email"
        outage.stop()
        time.sleep(4)
        assert proc.poll() is None, "serve ended during the outage"
        outage.start()
        back = time.monotonic()
        mail_server.deliver(mailbox.address, raw_message(2))
        assert wait_for(lambda: count(db) == 2, 10), "nothing retrieved after the outage"
        took = time.monotonic() - back
        print(f"serve: retrieved {took:.2f} s after the database's return")
        assert took < 3
        assert proc.poll() is None
    finally:
        outage.start()
        err = stop(proc)
    db.dispose()
    # once per outage, not at every attempt (of every thread, every 0.5 s)
    assert err.count("WARNING The database") == 1, err
    assert "cannot be reached" in err.split("WARNING The database")[1].splitlines()[0]
    assert err.count("can be reached again") == 1, err
    assert "Traceback" not in err and "internal error" not in err, err
    assert "Served: error — the database cannot be reached" in err
    assert "stopping" in err


def test_serve_started_while_the_database_is_away_waits_and_works_within_2_s_of_its_return(  # type: ignore[no-untyped-def]
    mail_server, mailbox, outage, postgres_url, isolated_home
):
    cli, env, db = demo_by_cli(postgres_url, isolated_home)
    make_channel(db, mail_server, mailbox, choose_plain_file_fallback(), name="Waited")
    mail_server.deliver(mailbox.address, raw_message(1))
    db.dispose()
    outage.stop()
    proc = serve(cli, env, "--housekeeping-seconds", "0.5")
    try:
        time.sleep(4)  # the schema check is tried again and again meanwhile
        assert proc.poll() is None, "serve ended: " + (proc.stderr.read() if proc.stderr else "")
        outage.start()
        back = time.monotonic()
        assert wait_for(lambda: count(db) == 1, 10), "serve did not start after the return"
        took = time.monotonic() - back
        print(f"serve started while the database was away: retrieved {took:.2f} s after it")
        assert took < 2
    finally:
        outage.start()
        err = stop(proc)
    db.dispose()
    assert err.count("WARNING The database") == 1, err
    assert "while opening it to serve" in err and "can be reached again" in err
    assert "Traceback" not in err and "Cannot open the database" not in err, err
    assert "serving 1 enabled channel(s)" in err


def test_serve_stopped_while_it_waits_for_the_database_ends_cleanly(  # type: ignore[no-untyped-def]
    outage, postgres_url, isolated_home
):
    cli, env, db = demo_by_cli(postgres_url, isolated_home)
    db.dispose()
    outage.stop()
    proc = serve(cli, env)
    try:
        time.sleep(2)
        assert proc.poll() is None
    finally:
        err = stop(proc)  # SIGTERM: exit code 0
        outage.start()
    assert "cannot be reached" in err and "stopping" in err and "Traceback" not in err


def test_a_retrieval_worker_carries_on_within_2_s_of_the_databases_return(  # type: ignore[no-untyped-def]
    mail_server, mailbox, outage, pg_demo, secrets
):
    make_channel(pg_demo, mail_server, mailbox, secrets, name="Worker")
    states: list[ChannelState] = []
    worker = ChannelWorker(pg_demo, secrets, states.append)
    worker.start()
    try:
        assert wait_for(lambda: any(s.state == "idle" for s in states), 10)
        outage.stop()
        # IDLE announces it: the pass fails for the database (not an internal error)
        mail_server.deliver(mailbox.address, raw_message(1))
        assert wait_for(lambda: states[-1].state == "error", 10)
        time.sleep(2)  # tried again and again meanwhile
        outage.start()
        back = time.monotonic()
        assert wait_for(lambda: count(pg_demo) == 1, 10), "retrieval did not resume"
        took = time.monotonic() - back
        print(f"worker: the email stored {took:.2f} s after the database's return")
        assert took < 2
        assert wait_for(lambda: states[-1].state == "idle", 5)
    finally:
        outage.start()
        worker.stop()
    errors = [s.last_error or "" for s in states if s.state == "error"]
    assert errors and all(e.startswith("the database cannot be reached") for e in errors)
    assert len(errors) == 1  # the state told once, not at every attempt


def test_the_change_feed_listens_again_within_2_s_of_the_databases_return(  # type: ignore[no-untyped-def]
    outage, pg_demo
):
    feed = ChangeFeed(pg_demo)
    feed.start()
    try:
        assert wait_for(lambda: feed.listening, 10)
        outage.stop()
        assert wait_for(lambda: not feed.listening, 5)
        time.sleep(3)  # long enough for a back-off to have grown
        outage.start()
        back = time.monotonic()
        assert wait_for(lambda: feed.listening, 10)
        took = time.monotonic() - back
        print(f"feed: listening {took:.2f} s after the database's return")
        assert took < 2
    finally:
        outage.start()
        feed.stop()


def test_channel_sync_names_the_serve_holding_the_lease_and_stops(  # type: ignore[no-untyped-def]
    mail_server, mailbox, postgres_url, isolated_home
):
    cli, env, db = demo_by_cli(postgres_url, isolated_home)
    make_channel(db, mail_server, mailbox, choose_plain_file_fallback(), name="Leased")
    proc = serve(cli, env)
    try:
        assert wait_for(lambda: f"pid {proc.pid} " in (holder(db) or ""), 20)
        mail_server.deliver(mailbox.address, raw_message(1))
        refused = subprocess.run(
            [*cli, "channel", "sync", "Leased"], env=env, capture_output=True, text=True
        )
        assert refused.returncode == 5, refused.stderr
        assert f"pid {proc.pid} " in refused.stderr
        assert "retrieves it now" in refused.stderr and "nothing was done" in refused.stderr
        assert refused.stdout == ""
        assert wait_for(lambda: count(db) == 1, 5)  # serve retrieved it, as ever
    finally:
        stop(proc)
    mail_server.deliver(mailbox.address, raw_message(2))
    done = subprocess.run(
        [*cli, "channel", "sync", "Leased"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr  # serve gave the lease up when it stopped
    assert "1 stored" in done.stdout
    assert holder(db) is None  # and so did channel sync
    db.dispose()


def test_another_serve_takes_over_within_the_lease_seconds(  # type: ignore[no-untyped-def]
    mail_server, mailbox, postgres_url, isolated_home
):
    """A holder that hangs (or whose machine is cut off) is taken over when its lease runs
    out: within --lease-seconds. One that died on this machine is taken over at once."""
    lease_seconds = 3.0
    cli, env, db = demo_by_cli(postgres_url, isolated_home)
    make_channel(db, mail_server, mailbox, choose_plain_file_fallback(), name="Shared")
    options = ("--lease-seconds", str(lease_seconds))
    first = serve(cli, env, *options)
    second = serve(cli, env, *options)
    third: subprocess.Popen[str] | None = None
    try:
        assert wait_for(lambda: holder(db) is not None, 20)
        owner, survivor = (first, second) if f"pid {first.pid} " in holder(db) else (second, first)  # type: ignore[operator]
        time.sleep(1)  # the other one in standby

        # It hangs just after renewing its lease (the worst moment): it renews nothing more.
        renewed = expires(db)
        assert wait_for(lambda: expires(db) != renewed, 5)
        os.kill(owner.pid, signal.SIGSTOP)
        stopped = time.monotonic()
        assert wait_for(lambda: f"pid {survivor.pid} " in (holder(db) or ""), 10)
        took = time.monotonic() - stopped
        print(f"takeover of a hung holder: {took:.2f} s (--lease-seconds {lease_seconds})")
        assert lease_seconds - 1 < took <= lease_seconds
        mail_server.deliver(mailbox.address, raw_message(1))
        assert wait_for(lambda: count(db) == 1, 5), "the survivor does not retrieve"
        os.kill(owner.pid, signal.SIGKILL)
        owner.communicate(timeout=10)

        third = serve(cli, env, *options)
        time.sleep(2)  # in standby
        survivor.kill()  # dies on this machine: taken over without waiting for the lease
        survivor.communicate(timeout=10)
        killed = time.monotonic()
        assert wait_for(lambda: f"pid {third.pid} " in (holder(db) or ""), 10)  # type: ignore[union-attr]
        took = time.monotonic() - killed
        print(f"takeover of a dead holder of this machine: {took:.2f} s")
        assert took <= (lease_seconds - 0.3) / 3 + 0.5  # its next look at the lease
        mail_server.deliver(mailbox.address, raw_message(2))
        assert wait_for(lambda: count(db) == 2, 5)
    finally:
        for proc in (first, second, third):
            if proc is not None and proc.poll() is None:
                os.kill(proc.pid, signal.SIGCONT)
                proc.kill()
            if proc is not None:
                proc.communicate(timeout=10)
    db.dispose()
