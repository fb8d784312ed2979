"""Claims settled without waiting: a sender that is gone before handing a reply over has it
given back and sent once; one gone after may have handed it over (never sent again); a
sender that loses the database records what it knows of its claims when it is back."""

from __future__ import annotations

import smtplib
import socket
import subprocess
import sys
import time
from typing import Any

import pytest
from sqlalchemy import select

from app.channel_service.outbox import drain_outbox
from app.channel_service.settling import ClaimKeeper, Fate, Unsettled
from app.db.engine import Database
from app.db.models import History, ReplyState
from app.mail import smtp
from app.services import outbox
from app.services.auth import SYSTEM
from app.services.channels import ChannelService
from app.services.errors import DatabaseUnavailable
from tests.unit.test_outbox import (
    T0,
    FakeConnection,
    FakeServer,
    history,
    new_email,
    queue,
    row,
    support_channel,
)
from tests.waiting import wait_for


@pytest.fixture
def server(demo_db: Database, secrets: Any, monkeypatch: pytest.MonkeyPatch) -> FakeServer:
    ChannelService(demo_db, SYSTEM, secrets).set_password(
        support_channel(demo_db), "outbound", "secret"
    )
    fake = FakeServer()
    monkeypatch.setattr(smtp, "connect", fake.connect)
    return fake


def ended_process_name() -> str:
    """The name a sender of this machine had, whose process has ended."""
    proc = subprocess.run(
        [sys.executable, "-c", "from app.services.leases import process_name as p; print(p())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout.strip()


def claimed_by(db: Database, reply_id: int, claimer: str, *, transmitting: bool) -> None:
    """A claim as a sender leaves it when it stops there: before or after the mark."""
    assert outbox.claim_ids(db, [reply_id], T0, claimer)
    if transmitting:
        assert outbox.start_transmission(db, reply_id, claimer, T0)


def test_a_reply_whose_sender_ended_before_the_hand_over_is_sent_at_once_and_once(
    demo_db: Database, secrets: Any, server: FakeServer
) -> None:
    email_id = new_email(demo_db)
    reply = queue(demo_db, email_id)
    dead = ended_process_name()
    claimed_by(demo_db, reply.id, dead, transmitting=False)
    # long before its lease runs out: the process is known to have ended
    report = drain_outbox(demo_db, secrets, now=T0 + outbox.LEASE / 10)
    assert (report.given_back, report.claimed, report.sent, report.uncertain) == (1, 1, 1, 0)
    assert server.delivered() == 1
    got = row(demo_db, reply.id)
    assert (got.state, got.attempts, got.claimed_by) == (ReplyState.SENT, 1, None)
    actions = [action for action, _ in history(demo_db, email_id)]
    assert actions[-2:] == ["send resumed", "sent"]
    assert dead in history(demo_db, email_id)[-2][1]
    assert drain_outbox(demo_db, secrets, now=T0 + outbox.LEASE * 10).claimed == 0
    assert server.delivered() == 1


def test_a_silent_sender_of_another_machine_is_waited_for_until_its_lease_runs_out(
    demo_db: Database, secrets: Any, server: FakeServer
) -> None:
    reply = queue(demo_db)
    elsewhere = "another-host pid 4242 (abcdef)"
    claimed_by(demo_db, reply.id, elsewhere, transmitting=False)
    early = drain_outbox(demo_db, secrets, now=T0 + outbox.LEASE / 2)
    assert (early.given_back, early.claimed, server.delivered()) == (0, 0, 0)
    assert row(demo_db, reply.id).claimed_by == elsewhere
    late = drain_outbox(demo_db, secrets, now=T0 + outbox.LEASE * 1.1)
    assert (late.given_back, late.sent, server.delivered()) == (1, 1, 1)


def test_a_reply_whose_sender_ended_after_the_mark_is_settled_at_once_never_resent(
    demo_db: Database, secrets: Any, server: FakeServer
) -> None:
    email_id = new_email(demo_db)
    reply = queue(demo_db, email_id)
    claimed_by(demo_db, reply.id, ended_process_name(), transmitting=True)
    report = drain_outbox(demo_db, secrets, now=T0 + outbox.LEASE / 10)
    # no Sent folder to look in: uncertain, for a person, at once
    assert (report.recovered, report.uncertain, report.given_back, report.claimed) == (1, 1, 0, 0)
    assert server.delivered() == 0
    got = row(demo_db, reply.id)
    assert got.state == ReplyState.UNCERTAIN and "stopped while sending" in (got.last_error or "")
    assert [f.reply_id for f in outbox.failed_sends(demo_db)] == [reply.id]


def test_a_live_senders_claims_are_left_alone(
    demo_db: Database, secrets: Any, server: FakeServer
) -> None:
    reply = queue(demo_db)
    claimed_by(demo_db, reply.id, outbox.sender_name(), transmitting=False)  # (this process)
    report = drain_outbox(demo_db, secrets, now=T0 + outbox.LEASE / 2)
    assert (report.given_back, report.recovered, report.claimed) == (0, 0, 0)
    assert row(demo_db, reply.id).state == ReplyState.SENDING


# ---- the database lost while the pass holds claims -----------------------------------------


def lose_database_once(monkeypatch: pytest.MonkeyPatch, name: str, *, after: bool = False) -> None:
    """``outbox.<name>`` fails once as if the database had gone (``after``: having done its
    work, its answer lost). Once the database is gone, the pass's last act — giving back
    the claims it did not hand over — fails as well: ``release`` fails once too."""
    for each, done in ((name, after), ("release", False)):
        real = getattr(outbox, each)
        calls: list[object] = []

        def failing(*args: Any, real: Any = real, calls: Any = calls, done: bool = done) -> Any:
            calls.append(args)
            if len(calls) == 1:
                if done:
                    real(*args)
                raise DatabaseUnavailable("the connection to the server was lost")
            return real(*args)

        monkeypatch.setattr(outbox, each, failing)


def test_accepted_while_the_database_is_lost_is_recorded_sent_when_it_is_back(
    demo_db: Database, secrets: Any, server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    replies = [queue(demo_db).id for _ in range(4)]
    lose_database_once(monkeypatch, "mark_sent")  # the 250 of the first, then no database
    unsettled = Unsettled()
    with pytest.raises(DatabaseUnavailable):
        drain_outbox(demo_db, secrets, now=T0, unsettled=unsettled)
    assert server.delivered() == 1
    assert [(o.reply_id, o.fate) for o in unsettled.pending()] == [
        (replies[0], Fate.ACCEPTED),
        *[(r, Fate.UNTRIED) for r in replies[1:]],
    ]
    assert {row(demo_db, r).state for r in replies} == {ReplyState.SENDING}  # as left

    report = drain_outbox(demo_db, secrets, now=T0 + outbox.LEASE / 10, unsettled=unsettled)
    assert (report.settled, report.released, report.claimed, report.sent) == (4, 3, 3, 4)
    assert (report.uncertain, server.delivered()) == (0, 4)  # the first one not again
    assert {(row(demo_db, r).state, row(demo_db, r).attempts) for r in replies} == {
        (ReplyState.SENT, 1)
    }
    assert len(unsettled) == 0 and unsettled.claimers == set()


def test_the_mark_of_a_transmission_that_never_started_does_not_make_it_uncertain(
    demo_db: Database, secrets: Any, server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The mark was committed but its answer lost: the sender knows it sent nothing."""
    [reply_id] = [queue(demo_db).id]
    lose_database_once(monkeypatch, "start_transmission", after=True)
    unsettled = Unsettled()
    with pytest.raises(DatabaseUnavailable):
        drain_outbox(demo_db, secrets, now=T0, unsettled=unsettled)
    assert row(demo_db, reply_id).transmission_started_at is not None
    assert server.delivered() == 0
    report = drain_outbox(demo_db, secrets, now=T0, unsettled=unsettled)
    assert (report.released, report.sent, report.uncertain, server.delivered()) == (1, 1, 0, 1)


def test_a_cut_off_passs_claims_are_settled_by_what_the_database_holds(
    demo_db: Database, secrets: Any, server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The outcome of a reply handed over is not known (the database went while its Sent
    folder would have been looked in): the next pass takes it over at once, by the pass's
    name, instead of after the lease."""
    replies = [queue(demo_db).id for _ in range(2)]
    lose_database_once(monkeypatch, "mark_uncertain")

    def drop_after_data(conn: FakeConnection) -> None:  # the server's answer lost
        conn.script["final"] = smtplib.SMTPServerDisconnected("Connection unexpectedly closed")

    def answer_again(conn: FakeConnection) -> None:
        del conn.script["final"]

    server.on_mail[1], server.on_mail[2] = drop_after_data, answer_again
    unsettled = Unsettled()
    with pytest.raises(DatabaseUnavailable):
        drain_outbox(demo_db, secrets, now=T0, unsettled=unsettled)
    assert len(unsettled.claimers) == 1
    report = drain_outbox(demo_db, secrets, now=T0 + outbox.LEASE / 10, unsettled=unsettled)
    assert (report.recovered, report.uncertain, report.released, report.sent) == (1, 1, 1, 1)
    assert [row(demo_db, r).state for r in replies] == [ReplyState.UNCERTAIN, ReplyState.SENT]
    assert unsettled.claimers == set()


# ---- the keeper --------------------------------------------------------------------------


def test_the_keeper_renews_a_pass_s_claims_until_the_pass_ends(demo_db: Database) -> None:
    reply = queue(demo_db)
    claimer = outbox.sender_name()
    assert outbox.claim_ids(demo_db, [reply.id], T0, claimer)
    times = iter(T0 + outbox.LEASE * n for n in range(1, 1000))
    with ClaimKeeper(demo_db, claimer, lambda: next(times), every=0.01) as keeper:
        assert wait_for(lambda: keeper.renewals >= 3, 5)
    renewed = row(demo_db, reply.id).next_attempt_at
    assert renewed is not None and renewed >= T0 + outbox.LEASE * 4
    time.sleep(0.1)  # stopped: nothing renews it any more
    assert row(demo_db, reply.id).next_attempt_at == renewed


def test_the_history_says_why_a_reply_was_sent_by_another(demo_db: Database) -> None:
    email_id = new_email(demo_db)
    reply = queue(demo_db, email_id)
    claimed_by(demo_db, reply.id, ended_process_name(), transmitting=False)
    gone = outbox.gone_claimers(demo_db)
    assert outbox.give_back_untransmitted(demo_db, T0, gone) == [reply.id]
    with demo_db.session() as s:
        detail = s.scalar(select(History.detail).where(History.action == "send resumed").limit(1))
    assert detail is not None and "before handing it to the mail server" in detail
    assert socket.gethostname() in detail
    # given back once: a second look finds nothing to give
    assert outbox.give_back_untransmitted(demo_db, T0, gone) == []
