"""The fault campaign (issue 13, item 4), shared by tests/integration/test_faults_postgres.py
(about twenty short trials) and bench/faults.py (outages up to a minute, more trials).

Everything is real: PostgreSQL, Dovecot and Postfix from tests/servers; ``email-campaigns
serve`` retrieving the channel and draining the outbox; agents' workstations as processes
(tests/workstation.py: Take next, then Send, through the services). Every one of them
reaches the database through a ``FaultProxy``; the campaign itself reads it directly.

A trial delivers a few customers' emails to Dovecot, waits for a point of the work — while
they are retrieved, while they are taken and answered, while the outbox sends a reply, or
any time — and breaks something there: the database stopped (a fast shutdown, then started
again), ``serve`` or a workstation killed (SIGKILL; started again at once, as a service
manager or the agent would), every database connection reset by the proxy, or the proxy
forwarding nothing for a while (then resuming, or resetting everything). A stop or a black
hole sometimes has a kill inside it. A process that ends by itself is started again, as
``Restart=always`` would (none should: ``serve`` started in an outage waits). When the fault
is over a probe email is delivered, and the time until it is answered (stored, taken,
replied) is the trial's time to recover. Then the trial waits for the work to settle:
everything delivered stored, retrieved from the server, and answered.

The invariants, checked against the database and the mail servers after every trial:
- every delivered message is stored once (Message-ID) and gone from the server;
- every email is actioned at most once (one reply, one 'replied' in its History) — and,
  settled, every one is answered;
- no reply is transmitted twice (the copies Postfix delivered, by In-Reply-To) — and,
  settled, exactly one is transmitted for each answered email;
- settled, no reply is left 'sending'.

Settling waits for the replies too after every trial with ``Plan.full_settle`` (the bench),
else once at the end (the suite: the outbox of ``serve`` looks every 5 s, which would double
the time of a trial). A reply still 'sending' ``STUCK_AFTER`` seconds on is not waited for
(a send takes under a second; a claim cut off is settled within a second of the database's
return): it is counted as left 'sending', and that fails.
"""

from __future__ import annotations

import email.parser
import os
import random
import secrets as tokens
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select, update
from sqlalchemy.engine import make_url

from app.db.engine import Database
from app.db.models import (
    AfterRetrieval,
    Campaign,
    Email,
    EmailStatus,
    History,
    Reply,
    ReplyState,
    Security,
    utcnow,
)
from app.services import outbox
from app.services.auth import SYSTEM
from app.services.channels import ChannelData, ChannelService
from app.services.secrets import choose_plain_file_fallback
from tests.servers import HOST
from tests.servers.mail import Mailbox, MailServer
from tests.servers.postgres import PostgresServer
from tests.servers.proxy import FaultProxy

ROOT = Path(__file__).resolve().parents[1]
DATABASE_STOP = "database stop"
SERVE_KILLED = "serve killed"
WORKSTATION_KILLED = "workstation killed"
DROPPED = "connections reset"
BLACK_HOLE = "black hole"
KILLED, RECONNECT, UNEXPLAINED = "serve killed", "reconnect", "unexplained"
KINDS = (DATABASE_STOP, SERVE_KILLED, WORKSTATION_KILLED, DROPPED, BLACK_HOLE)
# Where in the work the fault falls: while the trial's emails are retrieved; once one is
# stored (taken, opened, answered); while the outbox holds one of their replies 'sending';
# any time in the first 1.5 s.
MOMENTS = ("retrieval", "take", "drain", "any")
STUCK_AFTER = 8.0  # seconds 'sending' after which a reply is not waited for (a send: < 1 s)
POLL = 0.1
CAMPAIGN = "General Enquiries"  # Front Line's: alice and bob take it; free-format replies


@dataclass(frozen=True)
class Plan:
    trials: int = 20
    seed: int = 0
    shortest_outage: float = 1.0
    # Most stops and black holes last shortest_outage .. SHORT_OUTAGE s; ``long_share`` of
    # them between a third of ``longest_outage`` (3 s at least) and ``longest_outage``.
    longest_outage: float = 10.0
    long_share: float = 0.25
    messages: tuple[int, int] = (2, 4)  # emails a trial delivers (and a probe after it)
    logins: tuple[str, ...] = ("alice", "bob")
    settle_seconds: float = 40.0
    full_settle: bool = False
    kill_inside: float = 0.3  # share of stops and black holes with a kill inside them


SHORT_OUTAGE = 2.5


@dataclass
class Trial:
    number: int
    kind: str
    moment: str
    detail: str = ""
    messages: int = 0
    outage: float = 0.0  # seconds the database was away or the proxy black-holed
    answered_after: float | None = None  # fault over → the probe answered
    transmitted_after: float | None = None  # fault over → the probe's reply sent (full settle)
    settled: bool = False
    problems: list[str] = field(default_factory=list)  # invariants broken, first seen here
    began: datetime = field(default_factory=utcnow)
    left_sending: list[int] = field(default_factory=list)  # replies claimed in it, left so
    left_sending_transmitted: int = 0  # of those, transmitted nevertheless

    @property
    def cause(self) -> str:
        """What a reply claimed in this trial and left 'sending' would point at: the claims
        of a killed ``serve`` not given back or settled, those cut off from the database
        not settled at reconnect, or nothing that would explain it."""
        if "serve killed" in self.detail:
            return KILLED
        if self.kind in (DATABASE_STOP, BLACK_HOLE, DROPPED):
            return RECONNECT
        return UNEXPLAINED


@dataclass
class State:
    """What the database and the mail servers hold of the campaign's emails."""

    stored: dict[str, list[int]]  # Message-ID → ids of the emails stored for it
    status: dict[int, EmailStatus]
    replies: dict[int, list[tuple[int, ReplyState]]]  # email id → (reply id, state)
    replied: Counter[int]  # 'replied' History rows per email
    copies: Counter[str]  # replies Postfix delivered, per Message-ID answered
    on_server: int  # messages left in the channel's mailbox
    postfix_idle: bool

    def sending(self) -> set[int]:
        return {r for rows in self.replies.values() for r, st in rows if st == ReplyState.SENDING}


@dataclass
class Outcome:
    plan: Plan
    trials: list[Trial]
    delivered: int
    seconds: float
    stored_twice: list[str]
    missing: list[str]  # delivered, never stored (or still on the server)
    actioned_twice: list[int]
    transmitted_twice: list[str]
    unanswered: list[int]  # not answered once settled (stuck 'sending' apart)
    not_transmitted_once: list[int]  # replies sent whose copies ≠ 1
    left_sending: list[int]  # reply ids still 'sending' at the end
    left_sending_transmitted: int  # of those, how many reached the customer anyway
    unsettled: list[int]  # trials that did not settle in time
    exits: list[str]  # processes that ended by themselves (name and code)
    tracebacks: list[str]  # tracebacks in the processes' logs

    @property
    def safety(self) -> list[str]:
        """Broken invariants that no settling can explain."""
        found = []
        if self.stored_twice:
            found.append(f"stored twice: {self.stored_twice}")
        if self.actioned_twice:
            found.append(f"actioned twice: {self.actioned_twice}")
        if self.transmitted_twice:
            found.append(f"replies transmitted twice: {self.transmitted_twice}")
        return found

    def left_sending_by(self, cause: str) -> list[int]:
        """Replies left 'sending' by ``cause`` (``Trial.cause``) of the trial they were
        claimed in."""
        return [r for t in self.trials if t.cause == cause for r in t.left_sending]

    @property
    def liveness(self) -> list[str]:
        """Work not done once settled (but for replies left 'sending': ``left_sending``)."""
        found = []
        if self.missing:
            found.append(f"delivered, not stored (or left on the server): {self.missing}")
        if self.unanswered:
            found.append(f"emails not answered: {self.unanswered}")
        if self.not_transmitted_once:
            found.append(f"sent replies not delivered exactly once: {self.not_transmitted_once}")
        if self.unsettled:
            found.append(f"trials that did not settle in time: {self.unsettled}")
        return found

    def recovery(self, attribute: str = "answered_after") -> list[float]:
        return [
            value
            for t in self.trials
            if t.kind != "none" and (value := getattr(t, attribute)) is not None
        ]

    def summary(self) -> str:
        answered = self.recovery()
        sent = self.recovery("transmitted_after")
        kinds = Counter(t.kind for t in self.trials)
        outages = [t.outage for t in self.trials if t.outage]
        lines = [
            f"fault campaign: seed {self.plan.seed}, {len(self.trials)} trials in "
            f"{self.seconds:.0f} s, {self.delivered} emails delivered",
            "faults: " + ", ".join(f"{kind} ×{n}" for kind, n in sorted(kinds.items())),
            "moments: "
            + ", ".join(
                f"{m} ×{n}" for m, n in sorted(Counter(t.moment for t in self.trials).items())
            ),
        ]
        if outages:
            lines.append(
                f"outages (database stopped or black hole): {len(outages)}, "
                f"{min(outages):.1f}–{max(outages):.1f} s, {sum(outages):.0f} s in all"
            )
        lines += [
            f"stored twice: {len(self.stored_twice)}; not stored: {len(self.missing)}; "
            f"actioned twice: {len(self.actioned_twice)}; replies transmitted twice: "
            f"{len(self.transmitted_twice)}; sent but not delivered once: "
            f"{len(self.not_transmitted_once)}; unanswered: {len(self.unanswered)}",
            f"replies left 'sending': {len(self.left_sending)} "
            f"({self.left_sending_transmitted} of them transmitted nevertheless)",
        ]
        for trial in self.trials:
            if trial.left_sending:
                lines.append(
                    f"  {len(trial.left_sending)} claimed in trial {trial.number} "
                    f"({trial.kind} at {trial.moment}: {trial.detail}), "
                    f"{trial.left_sending_transmitted} of them transmitted"
                )
        if answered:
            lines.append(
                f"time to recover (fault over → probe answered): median "
                f"{statistics.median(answered):.2f} s, max {max(answered):.2f} s "
                f"({len(answered)} trials)"
            )
        if sent:
            lines.append(
                f"fault over → probe's reply sent: median {statistics.median(sent):.2f} s, "
                f"max {max(sent):.2f} s (the outbox of serve looks every 5 s)"
            )
        if self.unsettled:
            lines.append(f"trials that did not settle in time: {self.unsettled}")
        if self.exits:
            lines.append(f"processes that ended by themselves: {Counter(self.exits)}")
        if self.tracebacks:
            lines.append(f"tracebacks in the logs: {len(self.tracebacks)}")
        return "\n".join(lines)


# ---- processes -----------------------------------------------------------------------------


class Process:
    """``serve`` or a workstation: started, killed, started again; its output in a log."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.name, self.argv, self.env, self.log = name, argv, env, log
        self.proc: subprocess.Popen[bytes] | None = None
        self.exits: list[int] = []  # codes of the times it ended by itself

    def start(self) -> None:
        with self.log.open("ab") as out:
            out.write(f"==== {time.strftime('%H:%M:%S')} started\n".encode())
            out.flush()
            self.proc = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        with self.log.open("ab") as out:
            out.write(f"==== {time.strftime('%H:%M:%S')} SIGKILL\n".encode())
        self.proc = None

    def keep_running(self) -> None:
        """Start it again if it ended by itself (noting its exit code)."""
        if self.proc is not None and self.proc.poll() is not None:
            self.exits.append(self.proc.returncode)
            self.start()

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None


# ---- the campaign --------------------------------------------------------------------------


def default_seed() -> int:
    """``EMAIL_CAMPAIGNS_FAULT_SEED`` when set (to replay a campaign), else a new one."""
    given = os.environ.get("EMAIL_CAMPAIGNS_FAULT_SEED", "").strip()
    return int(given) if given else random.SystemRandom().randrange(1, 10**6)


class FaultCampaign:
    """See the module. ``db`` holds the demo organisation, on ``postgres``; ``home`` is the
    EMAIL_CAMPAIGNS_HOME of this process (the channel's passwords go to its unencrypted
    file, where the processes, without a keyring, find them)."""

    def __init__(
        self,
        plan: Plan,
        postgres: PostgresServer,
        mail: MailServer,
        db: Database,
        home: Path,
        logs: Path,
        say: Callable[[str], None] = print,
    ) -> None:
        if os.environ.get("EMAIL_CAMPAIGNS_HOME") != str(home):
            raise ValueError("EMAIL_CAMPAIGNS_HOME must be the campaign's home")
        self.plan, self.postgres, self.mail, self.db = plan, postgres, mail, db
        self.home, self.logs, self.say = home, logs, say
        self.rng = random.Random(plan.seed)
        self.tag = f"{plan.seed}-{tokens.token_hex(3)}"
        self.box: Mailbox = mail.new_mailbox("faults")
        self.delivered: list[str] = []
        self.numbers = iter(range(1, 10**9))
        self.proxy = FaultProxy(postgres.host, postgres.port)
        self.serve: Process | None = None
        self.workstations: dict[str, Process] = {}
        self.sending_since: dict[int, float] = {}
        self.trials: list[Trial] = []
        self.seen: set[str] = set()  # problems already attributed to a trial

    # ---- set-up ------------------------------------------------------------------------
    def add_channel(self) -> int:
        """The campaign's channel, on its Dovecot mailbox; its campaign's replies go out
        through it."""
        store = choose_plain_file_fallback()
        channels = ChannelService(self.db, SYSTEM, store)
        with self.db.session() as s:
            campaign_id = s.scalars(select(Campaign.id).where(Campaign.title == CAMPAIGN)).one()
        channel = channels.create_channel(
            ChannelData(
                name="Faults",
                email_address=self.box.address,
                display_name="Fault Support",
                default_campaign_id=campaign_id,
                enabled=True,
                imap_host="127.0.0.1",
                imap_port=self.mail.imaps_port,
                imap_security=Security.SSL,
                imap_username=self.box.address,
                after_retrieval=AfterRetrieval.DELETE,
                ca_file=str(self.mail.ca_file),
                smtp_host="127.0.0.1",
                smtp_port=self.mail.smtp_port,
                smtp_security=Security.STARTTLS,
                smtp_username=self.box.address,
            )
        )
        channels.set_password(channel.id, "inbound", self.box.password)
        channels.set_password(channel.id, "outbound", self.box.password)
        with self.db.session() as s:  # its replies go out through this channel
            s.execute(
                update(Campaign).where(Campaign.id == campaign_id).values(channel_id=channel.id)
            )
        return channel.id

    def _processes(self) -> None:
        url = make_url(self.db.url).set(host=HOST, port=self.proxy.port)
        proxied = url.render_as_string(hide_password=False)
        env = {
            **os.environ,
            "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
            "EMAIL_CAMPAIGNS_HOME": str(self.home),
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p
            ),
        }
        self.logs.mkdir(parents=True, exist_ok=True)
        self.serve = Process(
            "serve",
            [
                sys.executable,
                "-m",
                "app",
                "--database",
                proxied,
                "serve",
                "--housekeeping-seconds",
                "1",
                "--lease-seconds",
                "3",
            ],
            env,
            self.logs / "serve.log",
        )
        for login in self.plan.logins:
            self.workstations[login] = Process(
                login,
                [sys.executable, "-m", "tests.workstation", proxied, login],
                env,
                self.logs / f"workstation-{login}.log",
            )

    @contextmanager
    def running(self) -> Iterator[FaultCampaign]:
        """The channel, the proxy and the processes, for as long as the campaign runs."""
        self.add_channel()
        self.proxy.start()
        try:
            self._processes()
            for process in self.processes():
                process.start()
            yield self
        finally:
            for process in self.processes():
                process.stop()
            self.proxy.stop()
            self.postgres.start()  # (nothing when it runs)

    def processes(self) -> list[Process]:
        return [p for p in (self.serve, *self.workstations.values()) if p is not None]

    # ---- what the servers hold -----------------------------------------------------------
    def deliver(self, n: int) -> list[str]:
        ids = []
        for _ in range(n):
            number = next(self.numbers)
            message_id = f"<fault-{self.tag}-{number}@customers.example>"
            raw = (
                f"From: Customer {number} <fault-{self.tag}-{number}@example.com>\r\n"
                f"To: {self.box.address}\r\n"
                f"Subject: Question {number} of the fault campaign\r\n"
                "Date: Sat, 05 Dec 2026 10:00:00 +0000\r\n"
                f"Message-ID: {message_id}\r\n"
                "Content-Type: text/plain; charset=utf-8\r\n\r\n"
                f"Grüße, question number {number}\r\n"
            ).encode()
            self.mail.deliver(self.box.address, raw)
            self.delivered.append(message_id)
            ids.append(message_id)
        return ids

    def state(self) -> State:
        like = f"<fault-{self.tag}-%"
        with self.db.session() as s:
            emails = s.execute(
                select(Email.id, Email.message_id, Email.status).where(Email.message_id.like(like))
            ).all()
            replies = s.execute(
                select(Reply.id, Reply.email_id, Reply.state)
                .join(Email, Reply.email_id == Email.id)
                .where(Email.message_id.like(like), Reply.state != ReplyState.DRAFT)
            ).all()
            replied = s.execute(
                select(History.email_id, func.count())
                .join(Email, History.email_id == Email.id)
                .where(Email.message_id.like(like), History.action == "replied")
                .group_by(History.email_id)
            ).all()
        stored: dict[str, list[int]] = {}
        for email_id, message_id, _status in emails:
            stored.setdefault(str(message_id), []).append(email_id)
        by_email: dict[int, list[tuple[int, ReplyState]]] = {}
        for reply_id, email_id, state in replies:
            by_email.setdefault(email_id, []).append((reply_id, ReplyState(state)))
        return State(
            stored=stored,
            status={email_id: EmailStatus(status) for email_id, _m, status in emails},
            replies=by_email,
            replied=Counter({email_id: n for email_id, n in replied}),
            copies=self.copies(),
            on_server=self.on_server(),
            postfix_idle=postfix_idle(self.mail),
        )

    def copies(self) -> Counter[str]:
        """The replies Postfix delivered to the customers (all rewritten to the outbound
        mailbox), counted by the Message-ID they answer."""
        with self.mail.imap(self.mail.outbound) as client:
            client.select_folder("INBOX", readonly=True)
            uids = client.search(["HEADER", "In-Reply-To", f"fault-{self.tag}-"])
            fetched = client.fetch(uids, ["BODY.PEEK[HEADER.FIELDS (IN-REPLY-TO)]"]) if uids else {}
        parser = email.parser.BytesHeaderParser()
        found: Counter[str] = Counter()
        for item in fetched.values():
            header = item[b"BODY[HEADER.FIELDS (IN-REPLY-TO)]"]
            found[str(parser.parsebytes(header)["In-Reply-To"]).strip()] += 1
        return found

    def on_server(self) -> int:
        with self.mail.imap(self.box.address) as client:
            client.select_folder("INBOX", readonly=True)
            return len(client.search(["NOT", "DELETED"]))

    # ---- checks ------------------------------------------------------------------------
    def problems(self, state: State, settled: bool) -> list[str]:
        """The invariants ``state`` breaks (those about settled work only if ``settled``)."""
        found = []
        for message_id, ids in state.stored.items():
            if len(ids) > 1:
                found.append(f"{message_id} stored {len(ids)} times")
        for email_id, rows in state.replies.items():
            if len(rows) > 1 or state.replied[email_id] > 1:
                found.append(f"email {email_id} actioned twice: {rows}")
        message_ids = {eid: mid for mid, ids in state.stored.items() for eid in ids}
        for message_id, n in state.copies.items():
            if n > 1:
                found.append(f"the reply to {message_id} transmitted {n} times")
        if not settled:
            return found
        for message_id in self.delivered:
            if message_id not in state.stored:
                found.append(f"{message_id} not stored")
        if state.on_server:
            found.append(f"{state.on_server} message(s) left on the IMAP server")
        for email_id, status in state.status.items():
            rows = state.replies.get(email_id, [])
            if status != EmailStatus.ACTIONED or not rows:
                found.append(f"email {email_id} not answered ({status.value})")
                continue
            reply_id, reply_state = rows[0]
            if reply_state == ReplyState.SENT and state.copies[message_ids[email_id]] != 1:
                n = state.copies[message_ids[email_id]]
                found.append(f"reply {reply_id} sent, delivered {n} time(s)")
            elif reply_state not in (ReplyState.SENT, ReplyState.SENDING):
                found.append(f"reply {reply_id} {reply_state.value}")
        return found

    def pending(self, state: State, full: bool) -> list[str]:
        """What the work has still to do before the campaign looks at it settled."""
        now = time.monotonic()
        sending = state.sending()
        for reply_id in list(self.sending_since):
            if reply_id not in sending:
                del self.sending_since[reply_id]
        for reply_id in sending:
            self.sending_since.setdefault(reply_id, now)
        waiting = [m for m in self.delivered if m not in state.stored]
        if waiting:
            return [f"{len(waiting)} not stored"]
        if state.on_server:
            return [f"{state.on_server} on the server"]
        open_ = [e for e, st in state.status.items() if st != EmailStatus.ACTIONED]
        if open_:
            return [f"{len(open_)} not answered"]
        if not full:
            return []
        states = Counter(st for rows in state.replies.values() for _r, st in rows)
        if states[ReplyState.QUEUED]:
            return [f"{states[ReplyState.QUEUED]} replies queued"]
        young = [r for r in sending if now - self.sending_since[r] < STUCK_AFTER]
        if young:
            return [f"{len(young)} replies sending"]
        if not state.postfix_idle:
            return ["Postfix is delivering"]
        message_ids = {eid: mid for mid, ids in state.stored.items() for eid in ids}
        unseen = [
            e
            for e, rows in state.replies.items()
            if rows[0][1] == ReplyState.SENT and not state.copies[message_ids[e]]
        ]
        return [f"{len(unseen)} sent replies not delivered yet"] if unseen else []

    def settle(self, trial: Trial | None, probe: str | None, since: float, full: bool) -> State:
        """Wait (keeping the processes running) until nothing is pending, at most
        ``Plan.settle_seconds``; note when the probe was answered and its reply sent."""
        deadline = time.monotonic() + self.plan.settle_seconds
        while True:
            for process in self.processes():
                process.keep_running()
            state = self.state()
            if trial is not None and probe is not None:
                self._probe(trial, state, probe, since)
            left = self.pending(state, full)
            if not left:
                if trial is not None:
                    trial.settled = True
                return state
            if time.monotonic() >= deadline:
                self.say(f"  not settled after {self.plan.settle_seconds:.0f} s: {left}")
                return state
            time.sleep(POLL)

    @staticmethod
    def _probe(trial: Trial, state: State, probe: str, since: float) -> None:
        ids = state.stored.get(probe, [])
        if not ids:
            return
        now = time.monotonic() - since
        if trial.answered_after is None and state.status.get(ids[0]) == EmailStatus.ACTIONED:
            trial.answered_after = now
        rows = state.replies.get(ids[0], [])
        if trial.transmitted_after is None and rows and rows[0][1] == ReplyState.SENT:
            trial.transmitted_after = now

    # ---- faults --------------------------------------------------------------------------
    def schedule(self) -> list[tuple[str, str]]:
        """Every fault at every moment once (5 × 4 = 20), shuffled; again for more trials."""
        pairs: list[tuple[str, str]] = []
        while len(pairs) < self.plan.trials:
            block = [(k, m) for k in KINDS for m in MOMENTS]
            self.rng.shuffle(block)
            pairs += block
        return pairs[: self.plan.trials]

    def outage_seconds(self) -> float:
        plan = self.plan
        if self.rng.random() < plan.long_share and plan.longest_outage > SHORT_OUTAGE:
            return self.rng.uniform(max(3.0, plan.longest_outage / 3), plan.longest_outage)
        return self.rng.uniform(plan.shortest_outage, min(SHORT_OUTAGE, plan.longest_outage))

    def wait_for_moment(self, moment: str, ids: Sequence[str]) -> str:
        """Return at the moment asked for (or say it was missed)."""
        rng = self.rng
        if moment == "retrieval":
            time.sleep(rng.uniform(0, 0.3))
            return ""
        if moment == "any":
            time.sleep(rng.uniform(0, 1.5))
            return ""
        with self.db.session() as s:
            email_ids = select(Email.id).where(Email.message_id.in_(list(ids)))
            if moment == "take":
                found = wait(lambda: s.scalar(email_ids.limit(1)), 10, 0.01)
                s.rollback()
                time.sleep(rng.uniform(0, 0.1))
            else:  # drain: one of their replies claimed by the outbox
                sending = select(Reply.id).where(
                    Reply.email_id.in_(email_ids), Reply.state == ReplyState.SENDING
                )

                def claimed() -> object:
                    found = s.scalar(sending.limit(1))
                    s.rollback()  # a new snapshot at each look
                    return found

                found = wait(claimed, 10, 0.005)
                time.sleep(rng.uniform(0, 0.03))
        return "" if found else f" ({moment} missed)"

    def kill(self, name: str) -> str:
        if name == "serve":
            assert self.serve is not None
            self.serve.kill()
            self.serve.start()
            return "serve killed"
        process = self.workstations[name]
        process.kill()
        time.sleep(self.rng.uniform(0, 0.5))  # the agent starts it again
        process.start()
        return f"workstation {name} killed"

    def victim(self) -> str:
        return self.rng.choice(["serve", *self.plan.logins])

    def inject(self, kind: str, trial: Trial) -> None:
        """Break it (and mend it: when this returns, the fault is over)."""
        rng = self.rng
        if kind in (DATABASE_STOP, BLACK_HOLE):
            seconds = self.outage_seconds()
            inside = self.victim() if rng.random() < self.plan.kill_inside else None
            started = time.monotonic()
            if kind == DATABASE_STOP:
                self.postgres.stop()
            else:
                self.proxy.black_hole()
            notes = []
            if inside is not None:
                time.sleep(rng.uniform(0, seconds))
                notes.append(self.kill(inside) + " inside it")
            time.sleep(max(0.0, seconds - (time.monotonic() - started)))
            if kind == DATABASE_STOP:
                self.postgres.start()
                trial.detail = f"database stopped {time.monotonic() - started:.1f} s"
            else:
                ends = rng.choice(["forwarding again", "every connection reset"])
                if ends == "every connection reset":
                    self.proxy.drop()
                self.proxy.flow()
                trial.detail = f"black hole {time.monotonic() - started:.1f} s, then {ends}"
            trial.outage = time.monotonic() - started
            trial.detail = "; ".join([trial.detail, *notes])
            self.db.drop_idle_connections()  # (the campaign's own, after a restart)
        elif kind == DROPPED:
            trial.detail = f"{self.proxy.drop()} connections reset"
        elif kind == SERVE_KILLED:
            trial.detail = self.kill("serve")
        else:
            trial.detail = self.kill(rng.choice(self.plan.logins))

    # ---- the campaign --------------------------------------------------------------------
    def run(self) -> Outcome:
        started = time.monotonic()
        with self.running():
            self.say(f"fault campaign: seed {self.plan.seed}, {self.plan.trials} trials")
            # The processes up, the channel retrieved once: the first trial starts from work.
            first = self.deliver(1)
            self.settle(None, None, time.monotonic(), full=True)
            if first[0] not in self.state().stored:
                raise RuntimeError(f"nothing retrieved before the faults: see {self.logs}")
            for number, (kind, moment) in enumerate(self.schedule(), 1):
                self._trial(number, kind, moment)
            self.say("settling: every reply sent or left 'sending'")
            final = self.settle(None, None, time.monotonic(), full=True)
            outcome = self._outcome(final, time.monotonic() - started)
        return outcome

    def _trial(self, number: int, kind: str, moment: str) -> None:
        trial = Trial(number, kind, moment)
        self.trials.append(trial)
        lo, hi = self.plan.messages
        ids = self.deliver(self.rng.randint(lo, hi))
        missed = self.wait_for_moment(moment, ids)
        self.inject(kind, trial)
        over = time.monotonic()
        probe = self.deliver(1)[0]
        trial.messages = len(ids) + 1
        state = self.settle(trial, probe, over, full=self.plan.full_settle)
        for problem in self.problems(state, settled=False):
            if problem not in self.seen:
                self.seen.add(problem)
                trial.problems.append(problem)
        answered = f"{trial.answered_after:.2f} s" if trial.answered_after is not None else "-"
        self.say(
            f"trial {number:>3}: {kind:<19} at {moment:<9} {trial.detail}{missed}; "
            f"answered {answered} after it"
            + (f"; PROBLEMS {trial.problems}" if trial.problems else "")
        )

    def _attribute(self, left: list[int], transmitted: set[int]) -> list[int]:
        """Note each reply left 'sending' on the trial in which it was claimed (its claim's
        deadline, set or renewed just before it is transmitted, less the claim's length),
        and whether it was transmitted nevertheless."""
        if not left:
            return left
        with self.db.session() as s:
            deadlines = dict(
                s.execute(select(Reply.id, Reply.next_attempt_at).where(Reply.id.in_(left))).all()
            )
        for reply_id in left:
            deadline = deadlines[reply_id]
            if deadline is None:
                continue
            claimed = deadline - outbox.LEASE
            trial = next((t for t in reversed(self.trials) if t.began <= claimed), None)
            if trial is not None:
                trial.left_sending.append(reply_id)
                trial.left_sending_transmitted += 1 if reply_id in transmitted else 0
        return left

    def _outcome(self, state: State, seconds: float) -> Outcome:
        message_ids = {eid: mid for mid, ids in state.stored.items() for eid in ids}
        left = sorted(state.sending())
        transmitted = {
            r
            for e, rows in state.replies.items()
            for r, _s in rows
            if r in left and state.copies[message_ids[e]]
        }
        unanswered = [
            e
            for e, st in state.status.items()
            if st != EmailStatus.ACTIONED or not state.replies.get(e)
        ]
        not_once = [
            e
            for e, rows in state.replies.items()
            if rows[0][1] == ReplyState.SENT and state.copies[message_ids[e]] != 1
        ] + [
            e
            for e, rows in state.replies.items()
            if rows[0][1] not in (ReplyState.SENT, ReplyState.SENDING)
        ]
        exits = [f"{p.name} {code}" for p in self.processes() for code in p.exits]
        tracebacks = [t for log in sorted(self.logs.glob("*.log")) for t in tracebacks_in(log)]
        return Outcome(
            plan=self.plan,
            trials=self.trials,
            delivered=len(self.delivered),
            seconds=seconds,
            stored_twice=[m for m, ids in state.stored.items() if len(ids) > 1],
            missing=[m for m in self.delivered if m not in state.stored]
            + (["(left on the server)"] if state.on_server else []),
            actioned_twice=[
                e for e, rows in state.replies.items() if len(rows) > 1 or state.replied[e] > 1
            ],
            transmitted_twice=[m for m, n in state.copies.items() if n > 1],
            unanswered=unanswered,
            not_transmitted_once=not_once,
            left_sending=self._attribute(left, transmitted),
            left_sending_transmitted=len(transmitted),
            unsettled=[t.number for t in self.trials if not t.settled],
            exits=exits,
            tracebacks=tracebacks,
        )


def tracebacks_in(log: Path) -> list[str]:
    """The exception line of every traceback in a process's log, after its file's name."""
    lines = log.read_text(errors="replace").splitlines()
    found = []
    for n, line in enumerate(lines):
        if line.startswith("Traceback (most recent call last)"):
            end = next((x for x in lines[n + 1 :] if x and not x[0].isspace()), "?")
            found.append(f"{log.name}: {end}")
    return found


def wait(check: Callable[[], object], seconds: float, interval: float) -> object:
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found or time.monotonic() >= deadline:
            return found
        time.sleep(interval)


def postfix_idle(server: MailServer) -> bool:
    """Nothing waiting in Postfix's queues (every message it took delivered)."""
    spool = server.base_dir / "spool"
    return not any(
        p.is_file()
        for d in ("maildrop", "incoming", "active", "deferred")
        for p in (spool / d).rglob("*")
    )
