"""Outbox claims through a database outage and a sender's death, against real PostgreSQL and
Postfix: what the sender knew when the database went is recorded when it comes back (none
of 42 replies left 'sending' or made 'uncertain', each delivered once); a reply cut off
after the end of data is looked up in the Sent folder at once; a sender killed before the
hand-over has its replies sent by another at once, and once; one killed after it has them
settled at once, never sent again."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import select

from app.channel_service.outbox import OutboxWorker, drain_outbox
from app.db.engine import Database
from app.db.models import History, Reply, ReplyState, Security
from app.services import outbox
from app.services.secrets import SecretStore, choose_plain_file_fallback
from tests.integration.test_outbox import copies, customer, customer_email, delivered, make_channel
from tests.integration.test_outbox import queue as queue_reply
from tests.integration.test_retrieval import demo_by_cli
from tests.servers.mail import Mailbox, MailServer
from tests.servers.smtp_proxy import SmtpProxy
from tests.waiting import wait_for

pytestmark = pytest.mark.server


@pytest.fixture
def proxies(mail_server: MailServer) -> Iterator[Callable[..., SmtpProxy]]:
    made: list[SmtpProxy] = []

    def make(**kwargs: object) -> SmtpProxy:
        made.append(SmtpProxy(mail_server.smtp_port, **kwargs))  # type: ignore[arg-type]
        return made[-1]

    yield make
    for proxy in made:
        proxy.close()


def states(url: str, ids: list[int]) -> dict[int, ReplyState] | None:
    """The replies' states, read on a connection of its own; None while unreachable."""
    db = Database(url)
    try:
        with db.session() as s:
            return dict(s.execute(select(Reply.id, Reply.state).where(Reply.id.in_(ids))).all())  # type: ignore[arg-type]
    except Exception:
        return None
    finally:
        db.dispose()


def through_proxy(
    db: Database,
    mail_server: MailServer,
    mailbox: Mailbox,
    store: SecretStore,
    proxy: SmtpProxy,
    **kw: object,
) -> int:
    return make_channel(
        db,
        mail_server,
        mailbox,
        store,
        smtp_port=proxy.port,
        smtp_security=Security.NONE,
        **kw,  # type: ignore[arg-type]
    )


def history_actions(db: Database, action: str) -> list[str]:
    with db.session() as s:
        return list(s.scalars(select(History.detail).where(History.action == action)))


# ---- the database lost while the outbox holds claims --------------------------------------


def test_replies_claimed_when_the_database_went_are_all_sent_once_when_it_is_back(  # type: ignore[no-untyped-def]
    mail_server, mailbox, outage, pg_demo, postgres_url, secrets, proxies
):
    """The acceptance run's case: 42 replies claimed, the database stopped in the middle
    of the batch (after Postfix took the 10th, before the sender heard its 250)."""
    went = threading.Event()

    def stop_database(n: int) -> str:
        if n == 10:
            outage.stop()
            went.set()
        return "relay"

    proxy = proxies(at_end_of_data=stop_database)
    channel = through_proxy(pg_demo, mail_server, mailbox, secrets, proxy)
    replies = [
        queue_reply(pg_demo, customer_email(pg_demo, channel), customer()) for _ in range(42)
    ]
    ids = [r.id for r in replies]
    stopping = threading.Event()
    worker = OutboxWorker(pg_demo, secrets, stopping, interval=0.2)
    worker.start()
    try:
        assert went.wait(60), "the 10th message never reached Postfix"
        time.sleep(2)  # the worker tries again and again meanwhile
        assert states(postgres_url, ids) is None
        outage.start()
        back = time.monotonic()
        done = wait_for(
            lambda: (
                (s := states(postgres_url, ids)) is not None
                and set(s.values()) == {ReplyState.SENT}
            ),
            30,
        )
        took = time.monotonic() - back
        print(f"42 replies claimed during the outage: all sent {took:.2f} s after its return")
        assert done, states(postgres_url, ids)
        assert took < 3
    finally:
        outage.start()
        stopping.set()
        worker.wake.set()
        worker.join(10)
    for reply in replies:  # each delivered once: the 10th was not sent again
        assert len(delivered(mail_server, reply.message_id)) == 1, reply.id
    with pg_demo.session() as s:
        rows = s.execute(select(Reply.attempts, Reply.claimed_by).where(Reply.id.in_(ids))).all()
    assert {tuple(r) for r in rows} == {(1, None)}  # the untried ones' attempt not counted
    assert history_actions(pg_demo, "uncertain send") == []
    assert proxy.ends == 42


@pytest.mark.parametrize(
    ("filed_by_server", "outcome"),
    [(True, ReplyState.SENT), (False, ReplyState.UNCERTAIN)],
    ids=["found-in-sent", "no-copy"],
)
def test_a_reply_cut_off_after_the_data_while_the_database_is_away_is_looked_up_at_once(  # type: ignore[no-untyped-def]
    mail_server, mailbox, outage, pg_demo, postgres_url, secrets, proxies, filed_by_server, outcome
):
    holder: dict[str, bytes] = {}
    went = threading.Event()

    def cut_off(n: int) -> str:
        if n == 1:
            outage.stop()
            if filed_by_server:  # as Gmail and Microsoft 365 do
                with mail_server.imap(mailbox.address) as client:
                    client.append("Sent", holder["data"], flags=(b"\\Seen",))
            went.set()
            return "drop"
        return "relay"

    proxy = proxies(at_end_of_data=cut_off)
    channel = through_proxy(pg_demo, mail_server, mailbox, secrets, proxy, sent_folder="Sent")
    first, second = (
        queue_reply(pg_demo, customer_email(pg_demo, channel), customer()) for _ in range(2)
    )
    holder["data"] = outbox.prepare(pg_demo, {first.id: first.created_at})[0].data
    stopping = threading.Event()
    worker = OutboxWorker(pg_demo, secrets, stopping, interval=0.2)
    worker.start()
    try:
        assert went.wait(60)
        time.sleep(1)
        outage.start()
        back = time.monotonic()
        settled = wait_for(
            lambda: (
                (s := states(postgres_url, [first.id, second.id])) is not None
                and s == {first.id: outcome, second.id: ReplyState.SENT}
            ),
            30,
        )
        took = time.monotonic() - back
        print(f"cut off after the data, {outcome.value}: settled {took:.2f} s after the return")
        assert settled, states(postgres_url, [first.id, second.id])
        assert took < 3
    finally:
        outage.start()
        stopping.set()
        worker.wake.set()
        worker.join(10)
    assert len(delivered(mail_server, first.message_id)) == 1  # Postfix had it: never again
    assert len(delivered(mail_server, second.message_id)) == 1
    if outcome == ReplyState.UNCERTAIN:
        [shown] = outbox.failed_sends(pg_demo)
        assert shown.reply_id == first.id and "not in the Sent folder" in (shown.last_error or "")


# ---- a sender killed while it holds claims -----------------------------------------------


def drain_by_cli(cli: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*cli, "outbox", "drain"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)


def test_a_sender_killed_before_the_hand_over_has_its_replies_sent_at_once_by_another(  # type: ignore[no-untyped-def]
    mail_server, mailbox, postgres_url, isolated_home, proxies
):
    cli, env, db = demo_by_cli(postgres_url, isolated_home)
    store = choose_plain_file_fallback()
    proxy = proxies()
    proxy.silent.set()  # the server never greets: the sender waits, its claims held
    channel = through_proxy(db, mail_server, mailbox, store, proxy)
    replies = [queue_reply(db, customer_email(db, channel), customer()) for _ in range(3)]
    ids = [r.id for r in replies]
    proc = drain_by_cli(cli, env)
    try:
        assert proxy.greeted.wait(60), proc.stderr.read() if proc.poll() is not None else ""
        with db.session() as s:
            holders = set(s.scalars(select(Reply.claimed_by).where(Reply.id.in_(ids))))
        assert len(holders) == 1 and f"pid {proc.pid} " in str(holders.pop())
    finally:
        kill(proc)
    proxy.silent.clear()
    killed = time.monotonic()
    report = drain_outbox(db, store)  # long before the claims' lease runs out
    took = time.monotonic() - killed
    print(f"killed before the hand-over: given back and sent {took:.2f} s after the kill")
    assert (report.given_back, report.claimed, report.sent, report.uncertain) == (3, 3, 3, 0)
    for reply in replies:
        assert len(delivered(mail_server, reply.message_id)) == 1
    assert len(history_actions(db, "send resumed")) == 3
    db.dispose()


def test_a_sender_killed_after_the_hand_over_is_settled_at_once_and_never_resent(  # type: ignore[no-untyped-def]
    mail_server, mailbox, postgres_url, isolated_home, proxies
):
    cli, env, db = demo_by_cli(postgres_url, isolated_home)
    store = choose_plain_file_fallback()
    handed = threading.Event()

    def hold(n: int) -> str:
        handed.set()
        return "hold"  # Postfix takes it; its 250 never reaches the sender

    proxy = proxies(at_end_of_data=hold)
    channel = through_proxy(db, mail_server, mailbox, store, proxy)
    reply = queue_reply(db, customer_email(db, channel), customer())
    proc = drain_by_cli(cli, env)
    try:
        assert handed.wait(60)
        assert wait_for(lambda: proxy.answers_kept, 10)  # Postfix answered (to nobody)
    finally:
        kill(proc)
    killed = time.monotonic()
    report = drain_outbox(db, store)
    took = time.monotonic() - killed
    print(f"killed after the hand-over: uncertain {took:.2f} s after the kill")
    assert (report.recovered, report.uncertain, report.claimed, report.connections) == (1, 1, 0, 0)
    [shown] = outbox.failed_sends(db)
    assert (shown.reply_id, shown.state) == (reply.id, ReplyState.UNCERTAIN)
    assert len(delivered(mail_server, reply.message_id)) == 1
    assert copies(mail_server, reply.message_id, mailbox.address, "Sent") == []
    db.dispose()
