"""Delivering the outbox over SMTP: one connection per channel batch, each failure classified.

- The server accepted the message (250 after the end of DATA): sent. A copy is then appended
  to the channel's Sent folder when configured; a failure there is noted on the reply.
- Refused with 5xx (sender, every recipient, DATA or the message): failed, with the server's
  text.
- Some recipients refused, others accepted: before the message is handed over, the refused
  ones are moved to a reply of their own (``outbox.split_refused``: failed with the server's
  words, or retried later for a 4xx), and the message goes to the accepted ones. The reply
  then holds only them, so no retry can ever send it to them twice.
- 4xx, or the connection failing before the message was handed over: retried with back-off;
  a server that keeps answering "not now" (or ends the connection in the middle of the
  exchange) fails the reply with its words after ``outbox.MAX_ATTEMPTS`` attempts. A 452 to
  a recipient ends the recipients of that message (RFC 5321: too many): those not asked for
  yet go in another message at once, so that a list longer than the server's limit goes out
  in parts instead of being refused, or cut off, forever.
- The connection lost after the end-of-data mark was handed over but before the server's
  answer: the server may have the message. It is never sent again automatically. With a Sent
  folder configured the folder is searched for the Message-ID. The copy there can only have
  been put by a sender that saw the server's 250 (this code appends only after a 250, e.g.
  a process that crashed before recording "sent") or by a server that files submitted mail
  itself (as Gmail and Microsoft 365 do); found → sent. Otherwise → uncertain, for a person.

Claims (``outbox.claims``): each pass claims under a name of its own, keeps its claims alive
(``settling.ClaimKeeper``) and records, committed, that a transmission starts just before
DATA. So the claims of a sender that is gone (a process of this machine that ended, or one
silent past ``outbox.LEASE``) are settled by the next pass of any sender: never handed over →
given back and sent once; maybe handed over → the unknown outcome above. A sender that loses
the database keeps what it knows (``settling.Unsettled``: not handed over, accepted, refused)
and records it first thing when the database is back; its pass's other claims are settled
then by the same rule, without waiting for their lease.
"""

from __future__ import annotations

import contextlib
import logging
import re
import smtplib
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from imapclient.exceptions import IMAPClientError

from app.db.engine import Database
from app.db.models import Channel, ReplyState, utcnow
from app.mail import smtp
from app.mail.imap import ConnectionProblem, ImapSession
from app.services import outage, outbox
from app.services.errors import ServiceError, database_unavailable
from app.services.outbox import Prepared, Refusal
from app.services.secrets import SecretStore

from .servers import imap_settings, smtp_settings
from .settling import ClaimKeeper, Fate, Outcome, Unsettled

log = logging.getLogger(__name__)
BATCH_LIMIT = 100
POLL_INTERVAL = 5.0  # seconds between outbox passes when nobody wakes the worker

UNKNOWN_OUTCOME = (
    "The connection to the mail server was lost after the message was handed over and "
    "before the server confirmed it, so it may or may not have been sent. It is not sent "
    "again automatically: check (with the customer, or the mailbox's Sent folder), then "
    "retry it or accept it as sent."
)


class Temporary(Exception):
    """Try again later: a 4xx answer or a connection that failed before the hand-over."""

    def __init__(self, message: str, connection_lost: bool = False) -> None:
        super().__init__(message)
        self.connection_lost = connection_lost


class Permanent(Exception):
    """A 5xx answer: the server will not take this message as it is."""


class UnknownOutcome(Exception):
    """The message was handed over, the server's verdict never arrived."""


class TakenOver(Exception):
    """The reply stopped being this sender's (its lease ran out) in the middle of sending."""


@dataclass
class OutboxReport:
    claimed: int = 0
    recovered: int = 0
    sent: int = 0
    refused: int = 0  # recipients refused while others were accepted
    retrying: int = 0
    failed: int = 0
    uncertain: int = 0
    released: int = 0
    given_back: int = 0  # claims of senders that were gone, never handed over: sent again
    settled: int = 0  # outcomes known before an outage, recorded once the database was back
    connections: int = 0
    copies_saved: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = (
            f"Outbox: {self.claimed} due, {self.sent} sent, {self.retrying} to retry, "
            f"{self.failed} failed, {self.uncertain} uncertain"
        )
        if self.refused:
            text += f", {self.refused} recipient(s) refused while others were accepted"
        if self.settled:
            text += f", {self.settled} settled once the database was back"
        if self.given_back:
            text += f", {self.given_back} given back by a sender gone before handing them over"
        if self.recovered:
            text += f", {self.recovered} left 'sending' by an earlier run"
        if self.released:
            text += f", {self.released} put back (stopping)"
        text += (
            f"; {self.connections} SMTP connection(s), {self.copies_saved} copies saved to "
            f"Sent, in {self.seconds:.2f} s"
        )
        if self.errors:
            text += "; errors: " + "; ".join(self.errors)
        return text


# ---- one message over an open connection ---------------------------------------------


def _text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return " ".join(text.split())


def _refusal(code: int, reply: bytes | str, what: str) -> Exception:
    message = f"The mail server refused {what}: {code} {_text(reply)}"
    return Permanent(message) if 500 <= code < 600 else Temporary(message)


def _for_data(message: bytes) -> bytes:
    """CRLF line ends, dot-stuffed, with the end-of-data mark (as smtplib's data() does)."""
    data = re.sub(rb"\r\n|\r|\n", b"\r\n", message)
    data = re.sub(rb"(?m)^\.", b"..", data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


def transmit(
    conn: smtplib.SMTP,
    sender: str,
    recipients: Sequence[str],
    message: bytes,
    on_refused: Callable[[list[Refusal]], None] | None = None,
    before_data: Callable[[], None] | None = None,
) -> list[Refusal]:
    """MAIL, RCPT, DATA by hand, so that a failure is known to be before or after the
    hand-over of the message (smtplib's sendmail() does not tell). Raises Temporary,
    Permanent or UnknownOutcome; returns when the server accepted the message, with the
    recipients it refused while it accepted others. Those are given to ``on_refused``
    before the message is handed over (to record who is sent it; what it raises ends the
    exchange), so that they are known even if the server's final answer is lost.
    ``before_data`` is called just before DATA (to record that the transmission starts;
    what it raises ends the exchange, the message not handed over)."""
    handed_over = False
    try:
        conn.ehlo_or_helo_if_needed()
        code, reply = conn.mail(sender)
        if code != 250:
            raise _refusal(code, reply, f"the sender {sender}")
        refused: list[Refusal] = []
        for n, rcpt in enumerate(recipients):
            code, reply = conn.rcpt(rcpt)
            if code in (250, 251):
                continue
            if code == 421:  # the server is closing the connection: nothing goes out
                raise smtplib.SMTPServerDisconnected(f"{code} {_text(reply)}")
            refused.append(Refusal(rcpt, code, _text(reply)))
            if refused[-1].too_many:
                # RFC 5321 4.5.3.1.10: the others go in another message. Asking on would
                # only be refused again (and Postfix ends the connection after 1,000 more).
                untried = f"not asked for in this message, after {refused[-1]}"
                refused += [Refusal(r, code, untried) for r in recipients[n + 1 :]]
                break
        if refused and len(refused) == len(recipients):  # nobody to send it to
            detail = "; ".join(str(r) for r in refused)
            message_text = f"The mail server refused the recipient(s) {detail}"
            if any(r.permanent for r in refused):
                raise Permanent(message_text)
            raise Temporary(message_text)
        if refused and on_refused is not None:
            on_refused(refused)
        if before_data is not None:
            before_data()
        code, reply = conn.docmd("DATA")
        if code != 354:
            raise _refusal(code, reply, "to take the message (DATA)")
        conn.send(_for_data(message))
        # The end-of-data mark is out: from here the server may have accepted the message.
        handed_over = True
        code, reply = conn.getreply()
    except (smtplib.SMTPServerDisconnected, OSError, smtplib.SMTPResponseException) as exc:
        if handed_over:
            raise UnknownOutcome(f"{UNKNOWN_OUTCOME} ({_problem(exc)})") from exc
        if isinstance(exc, smtplib.SMTPResponseException):
            raise _refusal(exc.smtp_code, exc.smtp_error, "the message") from exc
        raise Temporary(
            f"The connection to the mail server was lost: {_problem(exc)}", connection_lost=True
        ) from exc
    if code != 250:
        raise _refusal(code, reply, "the message")
    return refused


def _problem(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _reset(conn: smtplib.SMTP) -> bool:
    """End a failed transaction; False when the connection is not usable any more."""
    try:
        return conn.rset()[0] == 250
    except (smtplib.SMTPException, OSError):
        return False


def _close(conn: smtplib.SMTP) -> None:
    try:
        conn.quit()
    except (smtplib.SMTPException, OSError):
        with contextlib.suppress(Exception):
            conn.close()


# ---- one channel's batch -------------------------------------------------------------


class ChannelDown(Exception):
    """The batch cannot send through its channel. ``here_only``: only this process cannot
    (no password in its keyring): the replies are given back untouched for another sender."""

    def __init__(self, message: str, *, here_only: bool = False) -> None:
        super().__init__(message)
        self.here_only = here_only

    """No SMTP connection could be made: every remaining reply of the batch waits."""


class _Pass:
    """What the batches of one pass share: the database and keyring, the report, the
    clock, the pass's name on its claims, the claims not handed over yet (given back if the
    pass ends early: stopping, an outage) and where outcomes go when the database is lost."""

    def __init__(
        self,
        db: Database,
        secrets: SecretStore | None,
        report: OutboxReport,
        clock: Callable[[], datetime],
        unsettled: Unsettled,
    ) -> None:
        self.db, self.secrets, self.report, self.clock = db, secrets, report, clock
        self.unsettled = unsettled
        self.claimer = outbox.sender_name()
        self.untried: set[int] = set()

    def record(
        self, reply_id: int, fate: Fate, text: str | None = None, recipients: tuple[str, ...] = ()
    ) -> None:
        """Record the fate of a claimed reply (kept for later if the database is lost) and
        count it."""
        self.untried.discard(reply_id)
        outcome = Outcome(reply_id, self.claimer, fate, self.clock(), text, recipients)
        count(self.report, fate, self.unsettled.record(self.db, outcome))


def count(report: OutboxReport, fate: Fate, state: ReplyState | None) -> None:
    """Count a recorded outcome in ``report`` (nothing when the reply was settled already)."""
    if state == ReplyState.SENT:
        report.sent += 1
    elif state == ReplyState.FAILED:
        report.failed += 1
    elif state == ReplyState.QUEUED:
        if fate == Fate.UNTRIED:
            report.released += 1
        else:
            report.retrying += 1


class _Batch:
    """The replies of one channel in one pass, over one SMTP connection (and one IMAP
    connection for the Sent folder, opened only when needed)."""

    def __init__(self, run: _Pass, channel_id: int) -> None:
        self.run_, self.db, self.secrets, self.channel_id = run, run.db, run.secrets, channel_id
        self.report, self.clock = run.report, run.clock
        with self.db.session() as s:
            channel = s.get(Channel, channel_id)
            self.exists = channel is not None
            self.name = channel.name if channel else f"channel {channel_id}"
            self.sent_folder = (
                channel.sent_folder.strip() if channel and channel.save_sent_copy else ""
            )
        self.conn: smtplib.SMTP | None = None
        self.conn_used = False
        self.imap: ImapSession | None = None

    # connections
    def smtp(self) -> tuple[smtplib.SMTP, bool]:
        """The batch's connection and whether it carried a message already."""
        if self.conn is None:
            if not self.exists:
                raise ChannelDown("The email channel was removed; sending waits for another.")
            try:
                settings = smtp_settings(self.db, self.channel_id, self.secrets)
            except (ConnectionProblem, ServiceError) as exc:  # ServiceError: the keyring
                raise ChannelDown(str(exc), here_only=True) from exc
            try:
                self.conn = smtp.connect(settings)
            except ConnectionProblem as exc:
                raise ChannelDown(str(exc)) from exc
            self.report.connections += 1
            self.conn_used = False
        return self.conn, self.conn_used

    def drop_smtp(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.close()
        self.conn = None

    def sent_session(self) -> ImapSession:
        if self.imap is None:
            settings = replace(
                imap_settings(self.db, self.channel_id, self.secrets), folder=self.sent_folder
            )
            self.imap = ImapSession(settings)
        return self.imap

    def drop_imap(self) -> None:
        if self.imap is not None:
            self.imap.close()  # logs out, or just drops a broken connection
            self.imap = None

    def close(self) -> None:
        if self.conn is not None:
            _close(self.conn)
            self.conn = None
        self.drop_imap()

    # sending
    def run(
        self, unknown: list[Prepared], to_send: list[Prepared], stop: threading.Event | None
    ) -> None:
        for item in unknown:
            self.unknown_outcome(
                item.reply_id,
                item.message_id,
                "The program stopped while sending this reply. " + UNKNOWN_OUTCOME,
            )
        for n, item in enumerate(to_send):
            if stop is not None and stop.is_set():
                return
            try:
                self.send(item)
            except ChannelDown as exc:
                self.report.errors.append(f"{self.name}: {exc}")
                if exc.here_only:
                    # Left untried: given back with the attempt not counted; the next pass
                    # notes on them why they wait (the channel is blocked from the start).
                    return
                for waiting in to_send[n:]:
                    self.run_.record(waiting.reply_id, Fate.UNREACHABLE, str(exc))
                return

    def send(self, item: Prepared) -> None:
        recipients = list(item.recipients)
        refusals: list[Refusal] = []
        run = self.run_

        def split(refused: list[Refusal]) -> None:
            # Recorded before the hand-over: who gets the message is known whatever follows.
            if not outbox.split_refused(self.db, item.reply_id, refused, self.clock(), run.claimer):
                raise TakenOver
            gone = {r.recipient for r in refused}
            recipients[:] = [r for r in recipients if r not in gone]
            refusals.extend(refused)
            self.report.refused += len(refused)

        def hand_over() -> None:
            # Committed before DATA, and the claim checked once more: a reply without this
            # mark was never handed over, and whoever finds it left can send it again.
            if not outbox.start_transmission(self.db, item.reply_id, run.claimer, self.clock()):
                raise TakenOver
            run.untried.discard(item.reply_id)  # from here the server may have it

        for attempt in (1, 2):
            conn, reused = self.smtp()
            try:
                transmit(conn, item.sender, recipients, item.data, split, hand_over)
                self.conn_used = True
            except TakenOver:
                run.untried.discard(item.reply_id)  # another sender's now: left to it
                if not _reset(conn):
                    self.drop_smtp()
                self.report.errors.append(f"reply {item.reply_id} was taken over by another sender")
            except Temporary as exc:
                if exc.connection_lost:
                    self.drop_smtp()
                    if reused and attempt == 1:
                        continue  # a kept connection the server dropped meanwhile: once more
                elif not _reset(conn):
                    self.drop_smtp()
                # the server's "not now" to this message: retried a bounded number of times
                run.record(item.reply_id, Fate.REFUSED_FOR_NOW, str(exc))
            except Permanent as exc:
                if not _reset(conn):
                    self.drop_smtp()
                run.record(item.reply_id, Fate.FAILED, str(exc))
            except UnknownOutcome as exc:
                self.drop_smtp()
                self.unknown_outcome(item.reply_id, item.message_id, str(exc))
            else:
                note = self.save_copy(item)
                accepted = tuple(recipients) if refusals else ()
                run.record(item.reply_id, Fate.ACCEPTED, note, accepted)
            return

    def save_copy(self, item: Prepared) -> str | None:
        """Append the sent message to the Sent folder; a note for the reply if that failed
        (the message went out: it is not sent again for a missing copy)."""
        if not self.sent_folder:
            return None
        try:
            session = self.sent_session()
            session.client.append(
                self.sent_folder, item.data, flags=(b"\\Seen",), msg_time=self.clock()
            )
        except (ConnectionProblem, ServiceError, IMAPClientError, OSError) as exc:
            self.drop_imap()
            text = f"Sent, but the copy could not be saved to '{self.sent_folder}': {exc}"
            self.report.errors.append(f"reply {item.reply_id}: {text}")
            return text
        self.report.copies_saved += 1
        return None

    def unknown_outcome(self, reply_id: int, message_id: str, reason: str) -> None:
        """The server may have the message: sent if its copy is in the Sent folder, else
        uncertain. (If the database is lost meanwhile, the pass's name is kept: the next
        pass looks again.)"""
        if self.sent_folder:
            try:
                session = self.sent_session()
                session.client.noop()  # see copies appended by others since we selected
                found = bool(session.client.search(["HEADER", "Message-ID", message_id]))
            except (ConnectionProblem, ServiceError, IMAPClientError, OSError) as exc:
                self.drop_imap()
                reason += f" The Sent folder '{self.sent_folder}' could not be searched: {exc}"
            else:
                if found:
                    note = (
                        "The server's confirmation was lost, but the message is in the Sent "
                        f"folder '{self.sent_folder}': it was sent."
                    )
                    if outbox.mark_sent(self.db, reply_id, self.clock(), note):
                        self.report.sent += 1
                    return
                reason += f" It is not in the Sent folder '{self.sent_folder}'."
        if outbox.mark_uncertain(self.db, reply_id, reason, self.clock(), self.run_.claimer):
            self.report.uncertain += 1


# ---- a pass over the outbox ------------------------------------------------------------


def drain_outbox(
    db: Database,
    secrets: SecretStore | None,
    now: datetime | None = None,
    channel_id: int | None = None,
    *,
    limit: int = BATCH_LIMIT,
    stop: threading.Event | None = None,
    unsettled: Unsettled | None = None,
) -> OutboxReport:
    """One pass: record what an earlier pass of this sender knew but could not record
    (``unsettled``, kept by the caller across passes: the outbox worker), settle the claims
    of senders that are gone, then send what is due, one SMTP connection per channel.
    ``now`` (default: the clock) is when the pass starts."""
    started = time.monotonic()
    start_time = now or utcnow()

    def clock() -> datetime:  # ``now`` moved on by the time spent, for leases and sent_at
        return start_time + timedelta(seconds=time.monotonic() - started)

    report = OutboxReport()
    run = _Pass(db, secrets, report, clock, Unsettled() if unsettled is None else unsettled)
    try:
        stale = _settle_earlier(run, limit, channel_id)
        with ClaimKeeper(db, run.claimer, clock):
            try:
                _send_due(run, stale, limit, channel_id, stop)
            finally:
                _give_back_untried(run)
    except Exception as exc:
        if database_unavailable(exc):
            # The pass's claims not settled are known by its name: once the database is
            # back, the next pass settles them at once (``_settle_earlier``).
            run.unsettled.claimers.add(run.claimer)
        raise
    finally:
        report.seconds = time.monotonic() - started
    return report


def _settle_earlier(run: _Pass, limit: int, channel_id: int | None) -> dict[int, datetime]:
    """Before claiming anything: the outcomes this sender could not record, then the claims
    of senders that are gone (passes of this sender cut off by an outage, processes of this
    machine that ended, any sender silent past its lease). Never handed over: given back
    to the queue, to be sent by this very pass. Maybe handed over: taken over by this pass
    (returned) for the unknown outcome."""
    db, unsettled, report = run.db, run.unsettled, run.report
    for outcome in unsettled.pending():
        count(report, outcome.fate, unsettled.record(db, outcome))
        report.settled += 1
    gone = outbox.gone_claimers(db, unsettled.claimers)
    given = outbox.give_back_untransmitted(db, run.clock(), gone, channel_id)
    report.given_back = len(given)
    stale = outbox.recover_stale(db, run.clock(), limit, channel_id, claimer=run.claimer, gone=gone)
    if unsettled.claimers:
        # (those with claims left, beyond ``limit`` or in other channels, are kept)
        unsettled.claimers &= outbox.claimers(db)
    report.recovered = len(stale)
    return stale


def _send_due(
    run: _Pass,
    stale: dict[int, datetime],
    limit: int,
    channel_id: int | None,
    stop: threading.Event | None,
) -> None:
    db, report, clock = run.db, run.report, run.clock
    # Passwords live in each computer's keyring: replies of a channel this process cannot
    # log in to are left to one that can (the channel service, another workstation) instead
    # of being claimed, failed and pushed back by the back-off.
    blocked: list[int] = []
    for cid in outbox.due_channel_ids(db, clock(), channel_id):
        try:
            smtp_settings(db, cid, run.secrets)
        except (ConnectionProblem, ServiceError) as exc:
            blocked.append(cid)
            outbox.note_waiting(db, cid, clock(), f"Waiting: {exc} (on {socket.gethostname()})")
            with db.session() as s:
                name = s.get_one(Channel, cid).name
            report.errors.append(f"{name}: {exc} Its replies are left to another sender.")
    # Claimed replies not handed to the server yet: given back if this pass ends early
    # (stopping, a database error), so that nothing untried ends up 'uncertain'.
    claimed = outbox.claim_due(db, clock(), limit, channel_id, blocked, run.claimer)
    run.untried.update(claimed)
    report.claimed = len(claimed)
    by_channel: dict[int, tuple[list[Prepared], list[Prepared]]] = {}
    for item in outbox.prepare(db, stale):
        if item.channel_id is None:
            if outbox.mark_uncertain(db, item.reply_id, UNKNOWN_OUTCOME, clock(), run.claimer):
                report.uncertain += 1
        else:
            by_channel.setdefault(item.channel_id, ([], []))[0].append(item)
    for item in outbox.prepare(db, claimed):
        if item.error is not None or item.channel_id is None:
            run.record(item.reply_id, Fate.FAILED, item.error or "No channel.")
        else:
            by_channel.setdefault(item.channel_id, ([], []))[1].append(item)
    for cid, (unknown, to_send) in sorted(by_channel.items()):
        if stop is not None and stop.is_set():
            break
        batch = _Batch(run, cid)
        try:
            batch.run(unknown, to_send, stop)
        finally:
            batch.close()


def _give_back_untried(run: _Pass) -> None:
    """Give back the claims the pass did not hand over (stopping, a channel this process
    cannot use, an error); when the database is lost, they are kept to give back later."""
    untried = sorted(run.untried)
    if not untried:
        return
    try:
        run.report.released += outbox.release(run.db, untried, run.claimer)
    except Exception as exc:
        if database_unavailable(exc):
            for reply_id in untried:
                run.unsettled.keep(Outcome(reply_id, run.claimer, Fate.UNTRIED, run.clock()))
        raise


# ---- the background sender ---------------------------------------------------------------


class OutboxWorker(threading.Thread):
    """Drains the outbox every few seconds, or at once when woken; stops cooperatively
    (the current message is finished, the rest of the batch goes back to the queue).
    Through a database outage it tries again every ``outage.RETRY_SECONDS``; what it knew
    of its claims when the database went (``unsettled``) is recorded first thing when the
    database is back."""

    def __init__(
        self,
        db: Database,
        secrets: SecretStore | None,
        stopping: threading.Event,
        interval: float = POLL_INTERVAL,
    ) -> None:
        super().__init__(name="outbox", daemon=True)
        self.db, self.secrets, self.stopping = db, secrets, stopping
        self.interval = interval
        self.wake = threading.Event()
        self.last_report: OutboxReport | None = None
        self.last_error: str | None = None
        self.unsettled = Unsettled()

    def run(self) -> None:
        watch = outage.watch(self.db)
        while not self.stopping.is_set():
            self.wake.clear()
            busy = False
            wait = self.interval
            try:
                report = drain_outbox(
                    self.db, self.secrets, stop=self.stopping, unsettled=self.unsettled
                )
                self.last_report, self.last_error = report, None
                watch.back()
                if report.claimed or report.recovered or report.settled or report.given_back:
                    log.info("%s", report.summary())
                busy = report.claimed >= BATCH_LIMIT  # more are waiting: go on at once
            except Exception as exc:  # an outage or a bug: keep the thread alive
                self.last_error = str(exc) or type(exc).__name__
                if database_unavailable(exc):  # logged once per outage; tried again soon
                    watch.lost(exc, "sending the outbox")
                    wait = outage.RETRY_SECONDS
                else:
                    log.exception("outbox pass failed")
            if not busy:
                self.wake.wait(wait)
        if self.unsettled.outcomes or self.unsettled.claimers:
            log.warning(
                "stopping with %d outbox outcome(s) not recorded (the database is away): the "
                "next sender settles their replies by what the database holds",
                len(self.unsettled),
            )
