"""The fault campaign (issue 13, item 4) against real PostgreSQL, Dovecot and Postfix, with
``serve`` and two agents' workstations as processes (tests/faults.py): twenty trials of
database stops (1–10 s), SIGKILLs of ``serve`` and of workstations, connections reset and
black-holed by a proxy, each at a point of retrieval, take and send, or the outbox's drain.
After them: every message stored once, each email actioned at most once with exactly one
reply transmitted, nothing left 'sending'.

The seed is printed; ``EMAIL_CAMPAIGNS_FAULT_SEED=N`` replays a campaign's plan (the faults,
their moments and lengths; not the processes' timing), ``EMAIL_CAMPAIGNS_FAULT_TRIALS``
changes the number of trials. The logs of ``serve`` and the workstations are in the test's
tmp_path (``logs/``). The longer campaign is bench/faults.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import select, update
from sqlalchemy.engine import make_url

from app.db.engine import Database
from app.db.models import Channel, Email, EmailStatus, Reply, ReplyState
from app.services.work import ReplyText, WorkService
from tests.conftest import ON_POSTGRES, actor_of
from tests.faults import (
    KILLED,
    KINDS,
    MOMENTS,
    RECONNECT,
    UNEXPLAINED,
    FaultCampaign,
    Plan,
    default_seed,
)
from tests.servers.mail import MailServer
from tests.servers.proxy import FaultProxy
from tests.waiting import wait_for
from tests.work_data import add_email

pytestmark = [
    pytest.mark.server,
    pytest.mark.skipif(not ON_POSTGRES, reason="the PostgreSQL run has it (once is enough)"),
]


@pytest.mark.timeout(900)
def test_twenty_trials_of_faults_leave_every_email_stored_once_and_answered_once(  # type: ignore[no-untyped-def]
    outage, mail_server, demo_db, isolated_home, tmp_path
):
    seed = default_seed()
    trials = int(os.environ.get("EMAIL_CAMPAIGNS_FAULT_TRIALS", "20"))
    print(f"fault campaign seed {seed} (EMAIL_CAMPAIGNS_FAULT_SEED={seed} replays its plan)")
    plan = Plan(trials=trials, seed=seed)
    campaign = FaultCampaign(plan, outage, mail_server, demo_db, isolated_home, tmp_path / "logs")
    outcome = campaign.run()
    print(outcome.summary())

    # What was tried: each fault at each moment (trials ≥ 20), stops of 1 to 10 s.
    if trials >= len(KINDS) * len(MOMENTS):
        assert {(t.kind, t.moment) for t in outcome.trials} == {
            (k, m) for k in KINDS for m in MOMENTS
        }
    outages = [t.outage for t in outcome.trials if t.outage]
    assert outages and all(0.9 <= s <= plan.longest_outage + 2 for s in outages), outages
    assert outcome.delivered >= 3 * trials

    assert outcome.safety == [], outcome.summary()
    assert outcome.liveness == [], outcome.summary()
    # Nothing ends by itself (serve started while the database is down waits for it), and
    # nothing logs a traceback.
    assert outcome.exits == [], outcome.exits
    assert outcome.tracebacks == [], outcome.tracebacks
    # No reply left 'sending': claims cut off from the database are settled at reconnect,
    # those of a killed serve given back (never handed over) or settled (handed over).
    for cause in (RECONNECT, KILLED, UNEXPLAINED):
        assert outcome.left_sending_by(cause) == [], outcome.summary()


# ---- the claims of a killed serve (outages: tests/integration/test_outbox_outage.py) ---------


def queued_reply(db: Database, customer: str) -> int:
    """Alice takes the oldest email and answers it: a reply in the outbox."""
    work = WorkService(db, actor_of(db, "alice"))
    email_id = work.take_next()
    assert email_id is not None
    return work.send(email_id, ReplyText(to=customer, subject="Re: Question", body="Hello\n"))


def reply_state(db: Database, reply_id: int) -> ReplyState:
    with db.session() as s:
        return ReplyState(s.scalars(select(Reply.state).where(Reply.id == reply_id)).one())


def delivered_copies(server: MailServer, message_id: str) -> int:
    with server.imap(server.outbound) as client:
        client.select_folder("INBOX", readonly=True)
        return len(client.search(["HEADER", "Message-ID", message_id]))


def smtp_through(db: Database, proxy: FaultProxy) -> None:
    with db.session() as s:
        s.execute(update(Channel).where(Channel.name == "Faults").values(smtp_port=proxy.port))


def test_a_reply_claimed_by_a_killed_serve_is_sent_by_the_next(  # type: ignore[no-untyped-def]
    outage, mail_server, demo_db, isolated_home, tmp_path
):
    campaign = FaultCampaign(
        Plan(trials=0, logins=()), outage, mail_server, demo_db, isolated_home, tmp_path / "logs"
    )
    smtp = FaultProxy("127.0.0.1", mail_server.smtp_port).start()
    try:
        with campaign.running():
            smtp_through(demo_db, smtp)
            campaign.deliver(1)
            assert wait_for(lambda: campaign.state().stored, 20), "not retrieved"
            smtp.black_hole()  # the outbox of serve will wait for the server's greeting
            reply_id = queued_reply(demo_db, "customer-y@example.com")
            with demo_db.session() as s:
                message_id = s.scalars(select(Reply.message_id).where(Reply.id == reply_id)).one()
            # claimed at the next look of its outbox (every 5 s)
            assert wait_for(lambda: reply_state(demo_db, reply_id) == ReplyState.SENDING, 10)
            campaign.kill("serve")  # killed before it handed anything over; another serve
            smtp.flow()
            sent = wait_for(lambda: reply_state(demo_db, reply_id) == ReplyState.SENT, 12)
            assert sent, f"the reply is {reply_state(demo_db, reply_id).value} 12 s later"
            assert delivered_copies(mail_server, message_id) == 1
    finally:
        smtp.stop()


# ---- the proxy itself ---------------------------------------------------------------------


def test_the_proxy_resets_and_black_holes_database_connections(outage, postgres_url):  # type: ignore[no-untyped-def]
    target = make_url(postgres_url)
    with FaultProxy(outage.host, outage.port) as proxy:
        dsn = outage.dsn_for(str(target.database)).replace(f":{outage.port}/", f":{proxy.port}/")
        with psycopg.connect(dsn, autocommit=True) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
            proxy.black_hole()
            answered: list[object] = []
            asking = threading.Thread(
                target=lambda: answered.append(conn.execute("SELECT 2").fetchone())
            )
            asking.start()
            asking.join(1)
            assert asking.is_alive() and answered == []  # no answer while black-holed
            proxy.flow()
            asking.join(5)
            assert answered == [(2,)]  # the question waited, nothing was lost
            assert proxy.drop() == 1
            with pytest.raises(psycopg.OperationalError):
                conn.execute("SELECT 3")
        with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
            assert conn.execute("SELECT 4").fetchone() == (4,)  # new connections go through
        outage.stop()
        try:
            started = time.monotonic()
            with pytest.raises(psycopg.OperationalError):
                psycopg.connect(dsn, connect_timeout=5)
            assert time.monotonic() - started < 2  # reset at once, as a refused port
        finally:
            outage.start()


def test_a_workstation_process_waits_out_an_outage(  # type: ignore[no-untyped-def]
    outage, demo_db, tmp_path: Path
):
    """tests/workstation.py answers what is queued, and goes on after the database's
    return (what the campaign relies on)."""
    ids = [add_email(demo_db, "General Enquiries") for _ in range(3)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.workstation", demo_db.url, "alice"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert wait_for(lambda: answered(demo_db, ids) == 3, 20)
        outage.stop()
        time.sleep(1.5)
        outage.start()
        demo_db.drop_idle_connections()
        more = [add_email(demo_db, "General Enquiries") for _ in range(2)]
        assert wait_for(lambda: answered(demo_db, more) == 2, 20)
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, out
    events = Counter(line.split()[0] for line in out.splitlines())
    assert events["took"] == 5 and events["sent"] == 5, out
    assert events["unavailable"] >= 1 and events["back"] >= 1, out
    assert "Traceback" not in out


def answered(db: Database, ids: list[int]) -> int:
    with db.session() as s:
        return len(
            s.scalars(
                select(Email.id).where(Email.id.in_(ids), Email.status == EmailStatus.ACTIONED)
            ).all()
        )
