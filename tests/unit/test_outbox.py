"""The outbox's state machine: queueing, claiming (atomically), back-off, failure, uncertainty,
recovery of replies left 'sending', and how an SMTP exchange is classified."""

from __future__ import annotations

import email
import smtplib
import threading
from datetime import UTC, datetime, timedelta
from email import policy
from typing import Any

import pytest
from sqlalchemy import Connection, func, select, update

from app.channel_service import outbox as sender
from app.channel_service.outbox import Permanent, Temporary, UnknownOutcome, drain_outbox, transmit
from app.cli import main
from app.db.engine import Database
from app.db.models import Campaign, Channel, Email, EmailStatus, History, Reply, ReplyState, User
from app.mail import smtp
from app.services import outbox
from app.services.auth import SYSTEM, Actor
from app.services.channels import ChannelService
from app.services.errors import ConflictError, PermissionDenied, ValidationError
from app.services.work import ReplyText, WorkService
from tests.conftest import actor_of

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def support_channel(db: Database) -> int:
    with db.session() as s:
        return s.scalars(select(Channel.id).where(Channel.name == "Support mailbox")).one()


def general_enquiries(db: Database) -> int:
    """A campaign of Alice's that allows free-format replies and asks for no address
    confirmation: a reply is queued as typed."""
    with db.session() as s:
        return s.scalars(select(Campaign.id).where(Campaign.title == "General Enquiries")).one()


def new_email(db: Database, channel_id: int | None = None, **fields: Any) -> int:
    """An email Alice holds."""
    values: dict[str, Any] = {
        "channel_id": channel_id if channel_id is not None else support_channel(db),
        "campaign_id": general_enquiries(db),
        "status": EmailStatus.ASSIGNED,
        "agent_id": alice(db),
        "from_addr": "Zoe Adams <zoe@customers.example>",
        "subject": "Where is my order?",
        "message_id": "<q2@customers.example>",
        "references": "<q0@customers.example> <q1@customers.example>",
        "raw": b"",
    }
    values.update(fields)
    with db.session() as s:
        row = Email(**values)
        s.add(row)
        s.flush()
        return row.id


def alice(db: Database) -> int:
    with db.session() as s:
        return s.scalars(select(User.id).where(User.login == "alice")).one()


def queue(db: Database, email_id: int | None = None, **kwargs: Any) -> Reply:
    """Alice sends a reply to an email she holds (a new one unless given), as My Work does."""
    text = ReplyText(
        to=kwargs.pop("to", "Zoe Adams <zoe@customers.example>"),
        cc=kwargs.pop("cc", ""),
        bcc=kwargs.pop("bcc", ""),
        subject=kwargs.pop("subject", "Re: Where is my order?"),
        body=kwargs.pop("body", "It is on its way."),
    )
    assert not kwargs, kwargs
    work = WorkService(db, actor_of(db, "alice"))
    reply_id = work.send(email_id if email_id is not None else new_email(db), text, now=T0)
    return row(db, reply_id)


def row(db: Database, reply_id: int) -> Reply:
    with db.session() as s:
        return s.get_one(Reply, reply_id)


def history(db: Database, email_id: int) -> list[tuple[str, str]]:
    with db.session() as s:
        return [
            (h.action, h.detail)
            for h in s.scalars(
                select(History).where(History.email_id == email_id).order_by(History.id)
            )
        ]


# ---- queueing --------------------------------------------------------------------------


def test_a_reply_is_queued_only_while_the_agent_holds_the_email(demo_db: Database) -> None:
    """The write itself is conditional (one statement on PostgreSQL): an email a supervisor
    returned between the agent's check and the write gets no reply, no History, no change."""
    email_id = new_email(demo_db)
    with demo_db.session() as s:
        email = s.get_one(Email, email_id)
        channel = s.get_one(Channel, support_channel(demo_db))
        bob = s.scalars(select(User.id).where(User.login == "bob")).one()
        s.execute(update(Email).where(Email.id == email_id).values(agent_id=bob))

    def queue_held(conn: Connection, holder: int) -> int:
        reply = outbox.ReplyToQueue(
            email_id, holder, "zoe@customers.example", subject="Re: order", body="Hello"
        )
        return outbox.queue_reply(conn, reply, email, channel, T0)

    # Held by Bob, then back in the queue.
    for holder, status in ((alice(demo_db), None), (alice(demo_db), EmailStatus.QUEUED)):
        if status is not None:
            with demo_db.session() as s:
                s.execute(update(Email).where(Email.id == email_id).values(status=status))
        with demo_db.connection() as conn, pytest.raises(ConflictError, match="no longer hold"):
            queue_held(conn, holder)
    with demo_db.session() as s:
        assert s.scalar(select(func.count()).select_from(Reply)) == 0
        assert s.get_one(Email, email_id).status == EmailStatus.QUEUED
    assert history(demo_db, email_id) == []
    # Held by the agent: queued, the email actioned, History written.
    with demo_db.session() as s:
        s.execute(
            update(Email)
            .where(Email.id == email_id)
            .values(status=EmailStatus.ASSIGNED, agent_id=alice(demo_db))
        )
    with demo_db.connection() as conn:
        reply_id = queue_held(conn, alice(demo_db))
    assert row(demo_db, reply_id).state == ReplyState.QUEUED
    with demo_db.session() as s:
        assert s.get_one(Email, email_id).status == EmailStatus.ACTIONED
    assert [a for a, _ in history(demo_db, email_id)] == ["replied"]


def test_a_reply_gets_its_message_id_and_threading_when_queued(demo_db: Database) -> None:
    email_id = new_email(demo_db)
    reply = queue(demo_db, email_id, cc='"Adams, Bob" <bob@customers.example>', bcc="a@x.example")
    got = row(demo_db, reply.id)
    assert got.state == ReplyState.QUEUED and got.attempts == 0 and got.next_attempt_at is None
    assert got.message_id == reply.message_id and got.message_id.endswith("@example.com>")
    assert got.to_addrs == "Zoe Adams <zoe@customers.example>"
    assert got.cc_addrs == '"Adams, Bob" <bob@customers.example>'
    assert got.bcc_addrs == "a@x.example"
    with demo_db.session() as s:
        answered = s.get_one(Email, email_id)
        assert answered.status == EmailStatus.ACTIONED and answered.actioned_at == T0
        assert answered.first_reply_at is None  # not sent yet
    (_, detail), *_ = [h for h in history(demo_db, email_id) if h[0] == "replied"]
    assert "zoe@customers.example" in detail and "Support mailbox" in detail

    [prepared] = outbox.prepare(demo_db, {reply.id: T0})
    msg = email.message_from_bytes(prepared.data, policy=policy.default)
    assert msg["Message-ID"] == reply.message_id
    assert msg["In-Reply-To"] == "<q2@customers.example>"
    assert (
        msg["References"] == "<q0@customers.example> <q1@customers.example> <q2@customers.example>"
    )
    assert str(msg["From"]) == "Example Retail Support <support@example.com>"
    assert "Bcc" not in msg
    assert prepared.sender == "support@example.com"
    assert prepared.recipients == ("zoe@customers.example", "bob@customers.example", "a@x.example")


def test_threading_without_references_uses_in_reply_to(demo_db: Database) -> None:
    email_id = new_email(demo_db, references=None, in_reply_to="<q1@customers.example>")
    reply = queue(demo_db, email_id)
    [prepared] = outbox.prepare(demo_db, {reply.id: T0})
    msg = email.message_from_bytes(prepared.data, policy=policy.default)
    assert msg["References"] == "<q1@customers.example> <q2@customers.example>"
    no_id = queue(demo_db, new_email(demo_db, message_id=None, references=None))
    [prepared] = outbox.prepare(demo_db, {no_id.id: T0})
    msg = email.message_from_bytes(prepared.data, policy=policy.default)
    assert "In-Reply-To" not in msg and "References" not in msg


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("Subject", {"subject": "Hi\r\nBcc: evil@example.com"}),
        ("To", {"to": "zoe@customers.example\r\nBcc: evil@example.com"}),
        ("Bcc", {"bcc": "not an address"}),
        ("To", {"to": ""}),
    ],
)
def test_a_reply_with_bad_headers_is_refused_and_nothing_queued(
    demo_db: Database, field: str, kwargs: dict[str, str]
) -> None:
    email_id = new_email(demo_db)
    with pytest.raises(ValidationError) as refused:
        queue(demo_db, email_id, **kwargs)
    assert refused.value.field == field
    with demo_db.session() as s:
        assert s.scalar(select(func.count()).select_from(Reply)) == 0
        assert s.get_one(Email, email_id).status == EmailStatus.ASSIGNED
    assert history(demo_db, email_id) == []


@pytest.mark.parametrize(
    ("field", "typed"),
    [
        ("To", {"to": "zoe@customers.example evil@example.com"}),
        ("Cc", {"cc": "Eve\n <evil@example.com>"}),
        ("Bcc", {"bcc": ["zoe@customers.example", "x@y.example\r\nX-Injected: yes"]}),
    ],
)
def test_the_outbox_takes_only_recipients_that_are_one_address_each(
    demo_db: Database, field: str, typed: dict[str, Any]
) -> None:
    """What Send hands the outbox is parsed strictly again: whatever slipped past its checks
    is refused there, naming the field, and nothing is written."""
    email_id = new_email(demo_db)
    with demo_db.session() as s:
        email = s.get_one(Email, email_id)
        channel = s.get_one(Channel, support_channel(demo_db))
    reply = outbox.ReplyToQueue(
        email_id, alice(demo_db), **{"to": "zoe@customers.example", **typed}, subject="Re: x"
    )
    with demo_db.connection() as conn, pytest.raises(ValidationError) as refused:
        outbox.queue_reply(conn, reply, email, channel, T0)
    assert refused.value.field == field
    with demo_db.session() as s:
        assert s.scalar(select(func.count()).select_from(Reply)) == 0
        assert s.get_one(Email, email_id).status == EmailStatus.ASSIGNED
    assert history(demo_db, email_id) == []


def test_the_sending_channel_falls_back_to_the_organisation_default(demo_db: Database) -> None:
    with demo_db.session() as s:
        sales = s.scalars(select(Channel.id).where(Channel.name == "Sales mailbox")).one()
    assert queue(demo_db, new_email(demo_db, sales)).message_id.endswith("@example.com>")
    orphan = new_email(demo_db)
    with demo_db.session() as s:
        s.execute(update(Email).where(Email.id == orphan).values(channel_id=None))
    reply = queue(demo_db, orphan)
    [prepared] = outbox.prepare(demo_db, {reply.id: T0})
    assert prepared.channel_id == support_channel(demo_db)


def test_the_campaigns_email_channel_sends_before_the_mailbox_written_to(demo_db: Database) -> None:
    """The seed: a campaign's Email Channel is the channel replies are sent through."""
    with demo_db.session() as s:
        sales = s.scalars(select(Channel.id).where(Channel.name == "Sales mailbox")).one()
        s.get_one(Campaign, general_enquiries(demo_db)).channel_id = sales
    email = new_email(demo_db, support_channel(demo_db))
    [prepared] = outbox.prepare(demo_db, {queue(demo_db, email).id: T0})
    assert prepared.channel_id == sales


# ---- claiming and back-off -------------------------------------------------------------


def test_backoff_schedule() -> None:
    assert [outbox.backoff(n).total_seconds() for n in range(1, 9)] == [
        30,
        60,
        120,
        300,
        900,
        3600,
        3600,
        3600,
    ]


def test_claim_retry_backoff_and_send(demo_db: Database) -> None:
    reply = queue(demo_db)
    claimed = outbox.claim_due(demo_db, T0, 10)
    assert list(claimed) == [reply.id]
    got = row(demo_db, reply.id)
    assert (got.state, got.attempts, got.next_attempt_at) == (
        ReplyState.SENDING,
        1,
        T0 + outbox.LEASE,
    )
    assert outbox.claim_due(demo_db, T0, 10) == {}  # already being sent

    now = T0
    for attempt, wait in enumerate((30, 60, 120, 300, 900, 3600, 3600), start=1):
        when = outbox.mark_retry(demo_db, reply.id, "451 try later", now)
        assert when == now + timedelta(seconds=wait)
        got = row(demo_db, reply.id)
        assert (got.state, got.attempts, got.last_error) == (
            ReplyState.QUEUED,
            attempt,
            "451 try later",
        )
        assert outbox.claim_due(demo_db, when - timedelta(seconds=1), 10) == {}
        assert list(outbox.claim_due(demo_db, when, 10)) == [reply.id]
        now = when
    assert outbox.mark_sent(demo_db, reply.id, now)
    got = row(demo_db, reply.id)
    assert (got.state, got.sent_at, got.last_error, got.next_attempt_at) == (
        ReplyState.SENT,
        now,
        None,
        None,
    )
    assert outbox.mark_retry(demo_db, reply.id, "late", now) is None  # settled: no change
    assert row(demo_db, reply.id).state == ReplyState.SENT


def test_first_reply_at_is_set_by_the_first_sent_reply_only(demo_db: Database) -> None:
    email_id = new_email(demo_db)
    first = queue(demo_db, email_id)
    # re-opened to Alice, who sends a second reply
    WorkService(demo_db, actor_of(demo_db, "sam")).reopen(email_id, alice(demo_db), T0)
    second = queue(demo_db, email_id)
    outbox.claim_due(demo_db, T0, 10)
    assert outbox.mark_sent(demo_db, second.id, T0 + timedelta(minutes=1))
    assert outbox.mark_sent(demo_db, first.id, T0 + timedelta(minutes=2))
    with demo_db.session() as s:
        assert s.get_one(Email, email_id).first_reply_at == T0 + timedelta(minutes=1)
    assert [a for a, _ in history(demo_db, email_id)].count("sent") == 2


def test_a_claim_is_atomic_between_two_sessions(demo_db: Database) -> None:
    """Process A picks candidates, process B claims them first: A's UPDATE finds them taken."""
    replies = [queue(demo_db).id for _ in range(3)]
    other = Database(demo_db.url)  # another engine: another connection, like another process
    try:
        candidates = outbox.due_ids(demo_db, T0, 10)
        assert candidates == replies
        assert list(outbox.claim_due(other, T0, 2)) == replies[:2]
        assert list(outbox.claim_ids(demo_db, candidates, T0)) == replies[2:]
    finally:
        other.dispose()


def test_concurrent_claims_never_share_a_reply(demo_db: Database) -> None:
    replies = {queue(demo_db).id for _ in range(40)}
    databases = [Database(demo_db.url) for _ in range(4)]
    got: list[list[int]] = [[] for _ in databases]
    start = threading.Barrier(len(databases))

    def claim(n: int) -> None:
        start.wait()
        while batch := outbox.claim_due(databases[n], T0, 3):
            got[n].extend(batch)

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(len(databases))]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    finally:
        for d in databases:
            d.dispose()
    everything = [r for g in got for r in g]
    assert sorted(everything) == sorted(replies)  # each claimed exactly once


def test_simultaneous_claims_of_the_same_candidates(demo_db: Database) -> None:
    replies = [queue(demo_db).id for _ in range(20)]
    databases = [Database(demo_db.url) for _ in range(4)]
    got: list[dict[int, datetime]] = [{} for _ in databases]
    start = threading.Barrier(len(databases))

    def claim(n: int) -> None:
        candidates = outbox.due_ids(databases[n], T0, 100)  # all see every reply as due
        start.wait()
        got[n].update(outbox.claim_ids(databases[n], candidates, T0))

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(len(databases))]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    finally:
        for d in databases:
            d.dispose()
    assert sorted(r for g in got for r in g) == replies


def test_failed_is_kept_with_the_servers_text_and_a_supervisor_retries(
    demo_db: Database, supervisor: Actor, agent: Actor
) -> None:
    email_id = new_email(demo_db)
    reply = queue(demo_db, email_id)
    outbox.claim_due(demo_db, T0, 10)
    text = "The mail server refused the recipient(s) zoe@customers.example: 550 5.1.1 User unknown"
    assert outbox.mark_failed(demo_db, reply.id, text, T0)
    assert ("failed send", text) in history(demo_db, email_id)
    [failed] = outbox.failed_sends(demo_db)
    assert (failed.reply_id, failed.state, failed.last_error, failed.agent) == (
        reply.id,
        ReplyState.FAILED,
        text,
        "Alice Agent",
    )
    assert outbox.claim_due(demo_db, T0 + timedelta(days=1), 10) == {}

    with pytest.raises(PermissionDenied):
        outbox.retry(demo_db, agent, reply.id)
    outbox.retry(demo_db, supervisor, reply.id, T0)
    got = row(demo_db, reply.id)
    assert (got.state, got.attempts, got.next_attempt_at) == (ReplyState.QUEUED, 0, None)
    assert history(demo_db, email_id)[-1][0] == "send retried"
    with pytest.raises(ConflictError, match="queued"):
        outbox.retry(demo_db, supervisor, reply.id)
    assert list(outbox.claim_due(demo_db, T0, 10)) == [reply.id]


def test_uncertain_waits_for_a_person(demo_db: Database, supervisor: Actor) -> None:
    email_id = new_email(demo_db)
    reply = queue(demo_db, email_id)
    outbox.claim_due(demo_db, T0, 10)
    assert outbox.mark_uncertain(demo_db, reply.id, "connection lost after DATA", T0)
    assert row(demo_db, reply.id).state == ReplyState.UNCERTAIN
    assert outbox.claim_due(demo_db, T0 + timedelta(days=1), 10) == {}
    assert outbox.recover_stale(demo_db, T0 + timedelta(days=1)) == {}
    assert [f.state for f in outbox.failed_sends(demo_db)] == [ReplyState.UNCERTAIN]
    outbox.accept_as_sent(demo_db, supervisor, reply.id, T0 + timedelta(hours=1))
    got = row(demo_db, reply.id)
    assert got.state == ReplyState.SENT
    with demo_db.session() as s:
        assert s.get_one(Email, email_id).first_reply_at == T0 + timedelta(hours=1)
    with pytest.raises(ConflictError):
        outbox.accept_as_sent(demo_db, supervisor, reply.id)


def test_a_reply_waiting_to_retry_is_not_a_failed_send(demo_db: Database) -> None:
    reply = queue(demo_db)
    outbox.claim_due(demo_db, T0, 10)
    outbox.mark_retry(demo_db, reply.id, "refused the connection", T0)
    assert outbox.failed_sends(demo_db) == []
    waiting = row(demo_db, reply.id)
    assert (waiting.state, waiting.next_attempt_at, waiting.last_error) == (
        ReplyState.QUEUED,
        T0 + timedelta(seconds=30),
        "refused the connection",
    )


def test_release_gives_back_untried_replies_without_counting_an_attempt(demo_db: Database) -> None:
    reply = queue(demo_db)
    outbox.claim_due(demo_db, T0, 10)
    assert outbox.release(demo_db, [reply.id]) == 1
    got = row(demo_db, reply.id)
    assert (got.state, got.attempts, got.next_attempt_at) == (ReplyState.QUEUED, 0, None)


# ---- replies left 'sending' ------------------------------------------------------------


@pytest.fixture
def no_smtp(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    calls: list[object] = []

    def refuse(settings: object) -> None:
        calls.append(settings)
        raise AssertionError("no SMTP connection may be made here")

    monkeypatch.setattr(smtp, "connect", refuse)
    return calls


def test_a_reply_left_sending_by_a_crash_becomes_uncertain_not_resent(
    demo_db: Database, secrets: object, no_smtp: list[object]
) -> None:
    email_id = new_email(demo_db)
    reply = queue(demo_db, email_id)
    outbox.claim_due(demo_db, T0, 10)
    # … the message offered to the server (the mark is written before DATA), and the
    # process died
    assert outbox.start_transmission(demo_db, reply.id, outbox.process_sender(), T0)
    # within the lease its sender may still be at work: left alone
    early = drain_outbox(demo_db, None, now=T0 + outbox.LEASE / 2)
    assert (early.recovered, early.claimed, early.given_back) == (0, 0, 0)
    assert row(demo_db, reply.id).state == ReplyState.SENDING

    report = drain_outbox(demo_db, None, now=T0 + outbox.LEASE + timedelta(seconds=1))
    assert (report.recovered, report.uncertain, report.sent, report.connections) == (1, 1, 0, 0)
    got = row(demo_db, reply.id)
    assert got.state == ReplyState.UNCERTAIN
    assert "stopped while sending" in (got.last_error or "")
    assert history(demo_db, email_id)[-1][0] == "uncertain send"
    again = drain_outbox(demo_db, None, now=T0 + timedelta(days=1))
    assert (again.recovered, again.claimed) == (0, 0)
    assert no_smtp == []


def test_a_claim_of_before_the_marks_is_taken_as_maybe_handed_over(
    demo_db: Database, no_smtp: list[object]
) -> None:
    """A reply left 'sending' by a version that did not record claims: uncertain, as then."""
    reply = queue(demo_db)
    outbox.claim_due(demo_db, T0, 10)
    with demo_db.session() as s:
        s.execute(update(Reply).where(Reply.id == reply.id).values(claimed_by=None))
    later = T0 + outbox.LEASE + timedelta(seconds=1)
    assert outbox.give_back_untransmitted(demo_db, later) == []
    report = drain_outbox(demo_db, None, now=later)
    assert (report.recovered, report.uncertain, report.given_back) == (1, 1, 0)


def test_recovery_is_claimed_atomically_too(demo_db: Database) -> None:
    reply = queue(demo_db)
    outbox.claim_due(demo_db, T0, 10)
    assert outbox.start_transmission(demo_db, reply.id, outbox.process_sender(), T0)
    later = T0 + outbox.LEASE + timedelta(seconds=1)
    assert list(outbox.recover_stale(demo_db, later, claimer="one")) == [reply.id]
    assert outbox.recover_stale(demo_db, later, claimer="two") == {}  # "one" holds it now
    assert row(demo_db, reply.id).claimed_by == "one"


def test_a_sender_whose_lease_was_taken_over_does_not_send(demo_db: Database) -> None:
    reply = queue(demo_db)
    [reply_id] = outbox.claim_due(demo_db, T0, 10, claimer="first")
    assert outbox.renew_claims(demo_db, "first", T0) == 1
    assert row(demo_db, reply_id).next_attempt_at == T0 + outbox.LEASE
    assert outbox.start_transmission(demo_db, reply_id, "first", T0)
    later = T0 + 3 * outbox.LEASE
    taken = outbox.recover_stale(demo_db, later, claimer="second")
    assert list(taken) == [reply.id]
    assert not outbox.start_transmission(demo_db, reply_id, "first", later)
    assert outbox.renew_claims(demo_db, "first", later) == 0
    assert not outbox.mark_failed(demo_db, reply_id, "550 late", later, claimer="first")
    assert row(demo_db, reply_id).state == ReplyState.SENDING


def test_a_reply_that_cannot_be_built_fails_without_connecting(
    demo_db: Database, secrets: Any, fake_server: FakeServer
) -> None:
    reply = queue(demo_db)
    with demo_db.session() as s:
        s.execute(
            update(Reply).where(Reply.id == reply.id).values(to_addrs="a@x.example\r\nBcc: e@x")
        )
    report = drain_outbox(demo_db, secrets, now=T0)
    assert (report.failed, report.connections, fake_server.connections) == (1, 0, [])
    assert "To: must not contain line breaks" in (row(demo_db, reply.id).last_error or "")


def test_without_the_smtp_password_here_replies_are_left_to_another_sender(
    demo_db: Database, secrets: Any, no_smtp: list[object]
) -> None:
    reply = queue(demo_db)
    for _ in range(2):
        report = drain_outbox(demo_db, secrets, now=T0)
        assert (report.claimed, report.retrying, report.connections) == (0, 0, 0)
        assert "Support mailbox: No SMTP password" in report.errors[0]
    got = row(demo_db, reply.id)
    assert (got.state, got.attempts, got.next_attempt_at) == (ReplyState.QUEUED, 0, None)
    assert (got.last_error or "").startswith("Waiting: No SMTP password is stored")
    # the computer (or channel service) that has the password sends it at once
    ChannelService(demo_db, SYSTEM, secrets).set_password(
        support_channel(demo_db), "outbound", "secret"
    )
    server = FakeServer()
    with pytest.MonkeyPatch.context() as m:
        m.setattr(smtp, "connect", server.connect)
        assert drain_outbox(demo_db, secrets, now=T0).sent == 1
    got = row(demo_db, reply.id)
    assert (got.state, got.attempts, got.last_error) == (ReplyState.SENT, 1, None)


def test_stopping_puts_claimed_replies_back(
    demo_db: Database, secrets: Any, fake_server: FakeServer
) -> None:
    replies = [queue(demo_db).id for _ in range(3)]
    stop = threading.Event()
    stop.set()
    report = drain_outbox(demo_db, secrets, now=T0, stop=stop)
    assert (report.claimed, report.released, report.connections) == (3, 3, 0)
    assert {row(demo_db, r).state for r in replies} == {ReplyState.QUEUED}
    assert {row(demo_db, r).attempts for r in replies} == {0}


def test_cli_outbox_drain(demo_db: Database, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--database", demo_db.url, "outbox", "drain"]) == 0
    assert capsys.readouterr().out.startswith("Outbox: 0 due, 0 sent")
    assert main(["--database", demo_db.url, "outbox", "drain", "--channel", "Nope"]) == 3


# ---- classifying an SMTP exchange -----------------------------------------------------------


class FakeSMTP:
    """Plays the server's side of MAIL, RCPT, DATA with scripted answers or failures."""

    def __init__(self, **script: Any) -> None:
        self.script = script
        self.sent: list[bytes] = []
        self.commands: list[str] = []

    def ehlo_or_helo_if_needed(self) -> None:
        pass

    def _answer(self, step: str, default: tuple[int, bytes]) -> tuple[int, bytes]:
        self.commands.append(step)
        answer = self.script.get(step, default)
        if isinstance(answer, BaseException):
            raise answer
        return answer  # type: ignore[no-any-return]

    def mail(self, sender: str) -> tuple[int, bytes]:
        return self._answer("mail", (250, b"2.1.0 Ok"))

    def rcpt(self, rcpt: str) -> tuple[int, bytes]:
        return self._answer(f"rcpt {rcpt}", (250, b"2.1.5 Ok"))

    def docmd(self, cmd: str) -> tuple[int, bytes]:
        return self._answer("data", (354, b"End data with <CR><LF>.<CR><LF>"))

    def send(self, data: bytes) -> None:
        self._answer("send", (0, b""))
        self.sent.append(data)

    def getreply(self) -> tuple[int, bytes]:
        return self._answer("final", (250, b"2.0.0 Ok: queued as ABC"))


def run(fake: FakeSMTP, recipients: tuple[str, ...] = ("a@x.example", "b@x.example")) -> None:
    transmit(fake, "s@example.com", recipients, b"Subject: x\r\n\r\n.dot\r\nbody")  # type: ignore[arg-type]


def test_transmit_success_dot_stuffs_and_ends_data() -> None:
    fake = FakeSMTP()
    run(fake)
    assert fake.sent == [b"Subject: x\r\n\r\n..dot\r\nbody\r\n.\r\n"]


@pytest.mark.parametrize(
    ("script", "error", "text"),
    [
        ({"mail": (451, b"4.3.0 busy")}, Temporary, "451 4.3.0 busy"),
        ({"mail": (553, b"5.7.1 not yours")}, Permanent, "553 5.7.1 not yours"),
        # every recipient refused: nobody to send it to
        (
            {"rcpt a@x.example": (450, b"4.2.1 busy"), "rcpt b@x.example": (550, b"5.1.1 unknown")},
            Permanent,
            "a@x.example: 450 4.2.1 busy; b@x.example: 550",
        ),
        (
            {"rcpt a@x.example": (452, b"4.5.3 too many"), "rcpt b@x.example": (452, b"4.5.3")},
            Temporary,
            "a@x.example: 452",
        ),
        ({"data": (554, b"5.5.1 no valid recipients")}, Permanent, "554"),
        ({"final": (552, b"5.3.4 too big")}, Permanent, "552 5.3.4 too big"),
        ({"final": (451, b"4.3.0 queue trouble")}, Temporary, "451"),
        ({"mail": smtplib.SMTPServerDisconnected("gone")}, Temporary, "lost"),
        ({"send": smtplib.SMTPServerDisconnected("gone")}, Temporary, "lost"),
        ({"send": ConnectionResetError(104, "reset")}, Temporary, "lost"),
        ({"final": smtplib.SMTPServerDisconnected("closed")}, UnknownOutcome, "may or may not"),
        ({"final": TimeoutError("timed out")}, UnknownOutcome, "timed out"),
    ],
)
def test_transmit_classifies_failures(
    script: dict[str, Any], error: type[Exception], text: str
) -> None:
    fake = FakeSMTP(**script)
    with pytest.raises(error, match=text):
        run(fake)


def test_every_recipient_refused_stops_the_reply() -> None:
    fake = FakeSMTP(**{"rcpt a@x.example": (550, b"5.1.1 unknown")})
    with pytest.raises(Permanent):
        run(fake, ("a@x.example",))
    assert "data" not in fake.commands and fake.sent == []


def test_refused_recipients_are_told_before_the_message_goes_to_the_others() -> None:
    fake = FakeSMTP(
        **{
            "rcpt a@x.example": (550, b"5.1.1 <a@x.example>:  unknown\r\n"),
            "rcpt c@x.example": (450, b"4.2.1 busy"),
        }
    )
    told: list[tuple[list[outbox.Refusal], list[str]]] = []
    refused = transmit(
        fake,  # type: ignore[arg-type]
        "s@example.com",
        ("a@x.example", "b@x.example", "c@x.example"),
        b"Subject: x\r\n\r\nbody",
        lambda r: told.append((r, list(fake.commands))),
    )
    expected = [
        outbox.Refusal("a@x.example", 550, "5.1.1 <a@x.example>: unknown"),
        outbox.Refusal("c@x.example", 450, "4.2.1 busy"),
    ]
    assert refused == expected
    assert told == [(expected, ["mail", *(f"rcpt {r}@x.example" for r in "abc")])]  # no DATA yet
    assert fake.commands[-3:] == ["data", "send", "final"] and len(fake.sent) == 1
    assert str(expected[0]) == "a@x.example: 550 5.1.1 <a@x.example>: unknown"
    assert [r.permanent for r in expected] == [True, False]


def test_a_452_ends_the_recipients_of_the_message_and_the_rest_are_not_asked_for() -> None:
    """RFC 5321 4.5.3.1.10: 452 is "no more recipients in this message". The others are
    handed back, refused for now, without asking (which Postfix counts as errors, and ends
    the connection for)."""
    fake = FakeSMTP(**{"rcpt c@x.example": (452, b"4.5.3 Error: too many recipients")})
    everyone = tuple(f"{n}@x.example" for n in "abcde")
    refused = transmit(fake, "s@example.com", everyone, b"Subject: x\r\n\r\nbody")  # type: ignore[arg-type]
    assert [c for c in fake.commands if c.startswith("rcpt")] == ["rcpt a@x.example"] + [
        f"rcpt {n}@x.example" for n in "bc"
    ]
    assert fake.commands[-3:] == ["data", "send", "final"]  # to a and b
    assert [(r.recipient, r.code, r.too_many) for r in refused] == [
        (f"{n}@x.example", 452, True) for n in "cde"
    ]
    assert refused[0].text == "4.5.3 Error: too many recipients"
    assert refused[1].text == (
        "not asked for in this message, after c@x.example: 452 4.5.3 Error: too many recipients"
    )


def test_a_421_among_the_recipients_is_the_connection_ending() -> None:
    fake = FakeSMTP(**{"rcpt b@x.example": (421, b"4.7.0 mx Error: too many errors")})
    with pytest.raises(Temporary, match=r"lost: 421 4\.7\.0 mx Error: too many errors") as lost:
        run(fake, ("a@x.example", "b@x.example", "c@x.example"))
    assert lost.value.connection_lost
    assert "rcpt c@x.example" not in fake.commands and fake.sent == []


def test_what_the_refusal_callback_raises_ends_the_exchange_before_data() -> None:
    fake = FakeSMTP(**{"rcpt a@x.example": (550, b"5.1.1 unknown")})

    def taken_over(refused: list[outbox.Refusal]) -> None:
        raise sender.TakenOver

    with pytest.raises(sender.TakenOver):
        transmit(fake, "s@example.com", ("a@x.example", "b@x.example"), b"x", taken_over)  # type: ignore[arg-type]
    assert "data" not in fake.commands and fake.sent == []


def test_worker_drains_and_stops(demo_db: Database, no_smtp: list[object]) -> None:
    stopping = threading.Event()
    worker = sender.OutboxWorker(demo_db, None, stopping, interval=0.05)
    worker.start()
    reply = queue(demo_db)
    worker.wake.set()
    deadline = datetime.now(UTC) + timedelta(seconds=10)
    while row(demo_db, reply.id).last_error is None and datetime.now(UTC) < deadline:
        threading.Event().wait(0.05)
    stopping.set()
    worker.wake.set()
    worker.join(5)
    assert not worker.is_alive()
    # no SMTP password in this process: left queued, with the reason, for another sender
    got = row(demo_db, reply.id)
    assert got.attempts == 0 and "No SMTP password" in (got.last_error or "")


# ---- a pass over the outbox with a scripted server --------------------------------------


class FakeConnection(FakeSMTP):
    def __init__(self, server: FakeServer) -> None:
        super().__init__()
        self.server = server
        self.script = server.script  # the server's answers, as they are when asked
        self.asked = 0  # RCPT TO of the current message

    def mail(self, sender: str) -> tuple[int, bytes]:
        self.server.messages += 1
        self.asked = 0
        hook = self.server.on_mail.pop(self.server.messages, None)
        if hook is not None:
            hook(self)
        return super().mail(sender)

    def rcpt(self, rcpt: str) -> tuple[int, bytes]:
        self.asked += 1
        limit = self.server.rcpt_limit
        if limit is not None and self.asked > limit:  # as Postfix's smtpd_recipient_limit
            self.commands.append(f"rcpt {rcpt}")
            return (452, b"4.5.3 Error: too many recipients")
        return super().rcpt(rcpt)

    def rset(self) -> tuple[int, bytes]:
        return (250, b"Ok")

    def quit(self) -> tuple[int, bytes]:
        return (221, b"Bye")

    def close(self) -> None:
        pass


class FakeServer:
    def __init__(self) -> None:
        self.connections: list[FakeConnection] = []
        self.messages = 0
        self.on_mail: dict[int, Any] = {}  # n-th MAIL FROM → hook(connection)
        self.script: dict[str, Any] = {}  # e.g. "rcpt a@x.example" → (550, b"...")
        self.rcpt_limit: int | None = None  # recipients taken in one message

    def envelopes(self) -> list[list[str]]:
        """The RCPT TO addresses of each message the server took (DATA sent), in order."""
        found: list[list[str]] = []
        for conn in self.connections:
            rcpts: list[str] = []
            for command in conn.commands:
                if command == "mail":
                    rcpts = []
                elif command.startswith("rcpt "):
                    rcpts.append(command.removeprefix("rcpt "))
                elif command == "send":
                    found.append(rcpts)
        return found

    def connect(self, settings: smtp.SmtpSettings) -> FakeConnection:
        conn = FakeConnection(self)
        self.connections.append(conn)
        return conn

    def delivered(self) -> int:
        return sum(len(c.sent) for c in self.connections)


@pytest.fixture
def fake_server(demo_db: Database, secrets: Any, monkeypatch: pytest.MonkeyPatch) -> FakeServer:
    ChannelService(demo_db, SYSTEM, secrets).set_password(
        support_channel(demo_db), "outbound", "secret"
    )
    server = FakeServer()
    monkeypatch.setattr(smtp, "connect", server.connect)
    return server


def test_a_dropped_kept_connection_is_replaced_once(
    demo_db: Database, secrets: Any, fake_server: FakeServer
) -> None:
    replies = [queue(demo_db).id for _ in range(3)]

    def drop(conn: FakeConnection) -> None:
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")

    fake_server.on_mail[2] = drop  # the server closed the idle connection before message 2
    report = drain_outbox(demo_db, secrets, now=T0)
    assert (report.sent, report.retrying, report.connections) == (3, 0, 2)
    assert fake_server.delivered() == 3
    assert {(row(demo_db, r).state, row(demo_db, r).attempts) for r in replies} == {
        (ReplyState.SENT, 1)
    }


def test_a_long_batch_keeps_its_leases_and_skips_a_reply_taken_over(
    demo_db: Database, secrets: Any, fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outbox, "RENEW_EVERY", timedelta(milliseconds=20))
    replies = [queue(demo_db).id for _ in range(3)]
    leases: list[datetime | None] = []

    def watch(conn: FakeConnection) -> None:
        leases.append(row(demo_db, replies[2]).next_attempt_at)
        if len(leases) == 1:
            threading.Event().wait(0.2)  # a slow message: the claims are kept meanwhile
        if len(leases) == 2:  # another process took the last reply over meanwhile
            with demo_db.session() as s:
                s.execute(
                    update(Reply)
                    .where(Reply.id == replies[2])
                    .values(next_attempt_at=T0 + timedelta(hours=5), claimed_by="another")
                )

    fake_server.on_mail[1] = fake_server.on_mail[2] = watch
    report = drain_outbox(demo_db, secrets, now=T0)
    assert leases[0] is not None and leases[1] is not None and leases[1] > leases[0]
    assert (report.sent, report.released, fake_server.delivered()) == (2, 0, 2)
    assert "taken over" in report.errors[0]
    last = row(demo_db, replies[2])  # left to the process that has it
    assert (last.state, last.next_attempt_at, last.claimed_by) == (
        ReplyState.SENDING,
        T0 + timedelta(hours=5),
        "another",
    )


def test_a_reply_claimed_without_a_password_here_is_given_back_uncounted(
    demo_db: Database, no_smtp: list[object], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reply was queued between the pass's look at the channels and its claim (so the
    channel was not known to be blocked): it is given back untouched for another sender,
    not retried with a back-off as if the server had failed."""
    reply = queue(demo_db)
    monkeypatch.setattr(outbox, "due_channel_ids", lambda *_a, **_k: [])
    report = sender.drain_outbox(demo_db, None)
    assert report.claimed == 1 and report.released == 1
    got = row(demo_db, reply.id)
    assert (got.state, got.attempts, got.next_attempt_at) == (ReplyState.QUEUED, 0, None)
    monkeypatch.undo()
    sender.drain_outbox(demo_db, None)  # an ordinary pass notes why it waits
    assert "No SMTP password" in (row(demo_db, reply.id).last_error or "")


# ---- some recipients refused, the others accepted ---------------------------------------

ZOE = "Zoe Adams <zoe@customers.example>"
GONE = "gone@customers.example"
BUSY = "busy@customers.example"


def replies_of(db: Database, email_id: int) -> list[Reply]:
    with db.session() as s:
        return list(s.scalars(select(Reply).where(Reply.email_id == email_id).order_by(Reply.id)))


def test_a_partly_refused_reply_goes_to_the_accepted_and_never_again(
    demo_db: Database, secrets: Any, fake_server: FakeServer, supervisor: Actor, agent: Actor
) -> None:
    email_id = new_email(demo_db)
    reply = queue(demo_db, email_id, to=ZOE, cc=f"Gone <{GONE}>", bcc=BUSY)
    fake_server.script.update(
        {
            f"rcpt {GONE}": (550, b"5.1.1 <gone@customers.example>: Recipient address rejected"),
            f"rcpt {BUSY}": (450, b"4.2.1 <busy@customers.example>: try again later"),
        }
    )
    report = drain_outbox(demo_db, secrets, now=T0)
    assert (report.sent, report.refused, report.failed, report.retrying) == (1, 2, 0, 0)
    assert "2 recipient(s) refused" in report.summary()
    assert fake_server.envelopes() == [["zoe@customers.example", GONE, BUSY]]

    sent, failed, later = replies_of(demo_db, email_id)
    # the reply is recorded as sent to the one recipient that was accepted
    assert (sent.id, sent.state, sent.to_addrs, sent.cc_addrs, sent.bcc_addrs) == (
        reply.id,
        ReplyState.SENT,
        ZOE,
        "",
        "",
    )
    # refused for good: a reply of its own, failed with the server's words, for a person
    assert (failed.state, failed.to_addrs, failed.cc_addrs, failed.bcc_addrs) == (
        ReplyState.FAILED,
        "",
        f"Gone <{GONE}>",
        "",
    )
    assert failed.last_error == (
        f"The mail server refused the recipient(s) {GONE}: 550 5.1.1 <{GONE}>: Recipient "
        "address rejected. The reply is sent to the other recipient(s) "
        "(zoe@customers.example) separately: this is the reply to the refused one(s) only."
    )
    # refused for now: queued again after the back-off, to that recipient only
    assert (later.state, later.to_addrs, later.cc_addrs, later.bcc_addrs) == (
        ReplyState.QUEUED,
        "",
        "",
        BUSY,
    )
    assert later.next_attempt_at is not None and later.next_attempt_at > T0
    assert "for now" in (later.last_error or "") and "4.2.1" in (later.last_error or "")
    for split in (failed, later):
        assert (split.subject, split.body, split.agent_id) == (
            sent.subject,
            sent.body,
            alice(demo_db),
        )
        assert split.created_at == sent.created_at  # written at the same time
        assert split.message_id != sent.message_id
        assert split.message_id.endswith(sent.message_id.rpartition("@")[2])
    assert history(demo_db, email_id)[-2:] == [
        (
            "partially refused",
            f"The mail server refused {GONE}: 550 5.1.1 <{GONE}>: Recipient address rejected; "
            f"{BUSY}: 450 4.2.1 <{BUSY}>: try again later. The reply goes to the recipient(s) "
            f"it accepted (zoe@customers.example); {GONE} kept in Failed sends; {BUSY} tried "
            "again later.",
        ),
        ("sent", "Reply accepted by the mail server for zoe@customers.example"),
    ]
    assert [f.reply_id for f in outbox.failed_sends(demo_db)] == [failed.id]

    # Later passes: the temporarily refused one goes to its recipient only; the sent reply
    # is never sent again.
    del fake_server.script[f"rcpt {BUSY}"]
    report = drain_outbox(demo_db, secrets, now=T0 + timedelta(hours=2))
    assert (report.claimed, report.sent) == (1, 1)
    assert fake_server.envelopes()[1:] == [[BUSY]]
    assert row(demo_db, later.id).state == ReplyState.SENT

    # A supervisor retries the failed one (the mailbox exists again): to that address only.
    del fake_server.script[f"rcpt {GONE}"]
    with pytest.raises(ConflictError):
        outbox.retry(demo_db, supervisor, sent.id)  # sent: never again
    outbox.retry(demo_db, supervisor, failed.id, T0 + timedelta(hours=3))
    drain_outbox(demo_db, secrets, now=T0 + timedelta(hours=3))
    assert fake_server.envelopes()[2:] == [[GONE]]
    assert [r.state for r in replies_of(demo_db, email_id)] == [ReplyState.SENT] * 3
    assert drain_outbox(demo_db, secrets, now=T0 + timedelta(days=1)).claimed == 0
    assert len(fake_server.envelopes()) == 3


def test_after_a_partial_refusal_a_refused_message_is_retried_to_the_accepted_only(
    demo_db: Database, secrets: Any, fake_server: FakeServer
) -> None:
    email_id = new_email(demo_db)
    reply = queue(demo_db, email_id, to=f"{ZOE}, {GONE}")
    fake_server.script.update(
        {f"rcpt {GONE}": (550, b"5.1.1 unknown"), "final": (451, b"4.3.0 queue trouble")}
    )
    report = drain_outbox(demo_db, secrets, now=T0)
    assert (report.sent, report.refused, report.retrying) == (0, 1, 1)
    first, refused = replies_of(demo_db, email_id)
    assert (first.id, first.state, first.to_addrs) == (reply.id, ReplyState.QUEUED, ZOE)
    assert (refused.state, refused.to_addrs) == (ReplyState.FAILED, GONE)
    del fake_server.script["final"]
    report = drain_outbox(demo_db, secrets, now=T0 + timedelta(hours=1))
    assert report.sent == 1
    assert fake_server.envelopes() == [["zoe@customers.example", GONE], ["zoe@customers.example"]]
    assert row(demo_db, reply.id).state == ReplyState.SENT


def test_a_reply_taken_over_before_its_refusals_are_recorded_is_not_sent(
    demo_db: Database, secrets: Any, fake_server: FakeServer
) -> None:
    email_id = new_email(demo_db)
    reply = queue(demo_db, email_id, to=f"{ZOE}, {GONE}")
    fake_server.script[f"rcpt {GONE}"] = (550, b"5.1.1 unknown")
    later = T0 + timedelta(hours=5)

    def take_over(conn: FakeConnection) -> None:  # another process's claim, meanwhile
        with demo_db.session() as s:
            s.execute(
                update(Reply)
                .where(Reply.id == reply.id)
                .values(next_attempt_at=later, claimed_by="another")
            )

    fake_server.on_mail[1] = take_over
    report = drain_outbox(demo_db, secrets, now=T0)
    assert "taken over" in report.errors[0]
    assert (report.sent, report.refused, fake_server.envelopes()) == (0, 0, [])
    [left] = replies_of(demo_db, email_id)  # untouched, for the process that has it
    assert (left.state, left.to_addrs, left.next_attempt_at) == (
        ReplyState.SENDING,
        f"{ZOE}, {GONE}",
        later,
    )


# ---- more recipients than the server takes; "not now" again and again (issue 11, item 6) ----


def test_more_recipients_than_the_server_takes_go_out_in_parts_each_once(
    demo_db: Database, secrets: Any, fake_server: FakeServer
) -> None:
    fake_server.rcpt_limit = 2
    email_id = new_email(demo_db)
    everyone = [f"c{n}@customers.example" for n in range(5)]
    reply = queue(demo_db, email_id, to=", ".join(everyone[:3]), bcc=", ".join(everyone[3:]))
    reports = [drain_outbox(demo_db, secrets, now=T0 + timedelta(seconds=n)) for n in range(4)]
    assert [(r.claimed, r.sent, r.refused, r.retrying) for r in reports] == [
        (1, 1, 3, 0),
        (1, 1, 1, 0),  # the next part is due at once: no back-off, it is no failure
        (1, 1, 0, 0),
        (0, 0, 0, 0),
    ]
    # (the recipients asked for in each message: the one answered 452 too)
    assert fake_server.envelopes() == [everyone[:3], everyone[2:], everyone[4:]]
    parts = replies_of(demo_db, email_id)
    assert [(p.state, p.attempts) for p in parts] == [(ReplyState.SENT, 1)] * 3
    assert parts[0].id == reply.id and parts[0].bcc_addrs == ""
    assert (parts[1].to_addrs, parts[1].bcc_addrs) == (everyone[2], everyone[3])
    assert (parts[2].to_addrs, parts[2].bcc_addrs) == ("", everyone[4])
    told = [d for a, d in history(demo_db, email_id) if a == "partially refused"]
    assert told[0] == (
        "The mail server refused c2@customers.example: 452 4.5.3 Error: too many recipients; "
        "c3@customers.example: 452 not asked for in this message, after c2@customers.example: "
        "452 4.5.3 Error: too many recipients; c4@customers.example: 452 not asked for in this "
        "message, after c2@customers.example: 452 4.5.3 Error: too many recipients. The reply "
        "goes to the recipient(s) it accepted (c0@customers.example, c1@customers.example); "
        "c2@customers.example, c3@customers.example, c4@customers.example sent it in another "
        "message."
    )


def test_a_server_that_takes_no_recipient_now_fails_the_reply_after_max_attempts(
    demo_db: Database, secrets: Any, fake_server: FakeServer
) -> None:
    """Every recipient refused for now (or the connection ended among them), pass after
    pass: retried with back-off, then failed with the server's words."""
    fake_server.rcpt_limit = 0  # 452 to the first recipient already
    reply = queue(demo_db, to="a@customers.example, b@customers.example")
    when, states = T0, []
    for _ in range(outbox.MAX_ATTEMPTS + 2):
        report = drain_outbox(demo_db, secrets, now=when)
        states.append((report.claimed, report.retrying, report.failed))
        when += timedelta(hours=2)
    assert states == [(1, 1, 0)] * (outbox.MAX_ATTEMPTS - 1) + [(1, 0, 1), (0, 0, 0), (0, 0, 0)]
    got = row(demo_db, reply.id)
    assert (got.state, got.attempts) == (ReplyState.FAILED, outbox.MAX_ATTEMPTS)
    assert got.last_error == (
        "The mail server refused the recipient(s) a@customers.example: 452 4.5.3 Error: too "
        "many recipients; b@customers.example: 452 not asked for in this message, after "
        "a@customers.example: 452 4.5.3 Error: too many recipients (the same after 10 "
        "attempts: it is not tried again automatically)"
    )
    assert fake_server.delivered() == 0
    assert [f.reply_id for f in outbox.failed_sends(demo_db)] == [reply.id]


def test_a_recipient_refused_for_now_at_every_attempt_ends_in_failed_sends(
    demo_db: Database, secrets: Any, fake_server: FakeServer
) -> None:
    email_id = new_email(demo_db)
    reply = queue(demo_db, email_id, to=f"{ZOE}, {BUSY}")
    with demo_db.session() as s:  # refused for now at each attempt so far
        s.execute(update(Reply).values(attempts=outbox.MAX_ATTEMPTS - 1))
    fake_server.script[f"rcpt {BUSY}"] = (450, b"4.2.1 <busy@customers.example>: busy")
    report = drain_outbox(demo_db, secrets, now=T0)
    assert (report.sent, report.refused) == (1, 1)
    sent, busy = replies_of(demo_db, email_id)
    assert (sent.id, sent.state) == (reply.id, ReplyState.SENT)
    assert (busy.state, busy.to_addrs, busy.next_attempt_at) == (ReplyState.FAILED, BUSY, None)
    assert busy.last_error == (
        f"The mail server refused the recipient(s) for now at each of {outbox.MAX_ATTEMPTS} "
        f"attempts: {BUSY}: 450 4.2.1 <{BUSY}>: busy. It is not tried again automatically "
        "(the other recipient(s), zoe@customers.example, are sent the reply separately)."
    )
    assert history(demo_db, email_id)[-2][1].endswith(f"{BUSY} kept in Failed sends.")
    assert drain_outbox(demo_db, secrets, now=T0 + timedelta(days=1)).claimed == 0


def test_a_long_list_of_refusals_is_told_in_short(
    demo_db: Database, secrets: Any, fake_server: FakeServer
) -> None:
    email_id = new_email(demo_db)
    gone = [f"gone{n}@customers.example" for n in range(30)]
    queue(demo_db, email_id, to=ZOE, bcc=", ".join(gone))
    for address in gone:
        fake_server.script[f"rcpt {address}"] = (550, b"5.1.1 unknown")
    assert drain_outbox(demo_db, secrets, now=T0).refused == 30
    failed = replies_of(demo_db, email_id)[1]
    assert failed.last_error is not None and "; and 20 more." in failed.last_error
    assert len(failed.bcc_addrs.split(", ")) == 30  # (the reply itself keeps them all)
    told = history(demo_db, email_id)[-2][1]
    assert "gone9@customers.example: 550 5.1.1 unknown; and 20 more. The reply" in told
    assert told.endswith("gone9@customers.example, and 20 more kept in Failed sends.")


def test_threads_asking_first_at_once_share_the_process_s_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every thread of a process claims under one name: threads that ask for it first at
    the same moment must not each make one (the claims of all but one would look foreign)."""
    import sys

    from app.services.outbox import claims

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        for _ in range(50):
            monkeypatch.setattr(claims, "_process", None)
            start = threading.Barrier(8)
            names: list[str] = []

            def ask(start: threading.Barrier, names: list[str]) -> None:
                start.wait()
                names.append(outbox.process_sender())

            threads = [threading.Thread(target=ask, args=(start, names)) for _ in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(10)
            assert len(names) == 8 and len(set(names)) == 1
    finally:
        sys.setswitchinterval(interval)
