"""The outbox: queueing an agent's reply and the states a reply goes through while sent.

    queued ──claim──▶ sending ──▶ sent
    ▲   ▲                 ├──▶ queued, after a back-off (4xx, connection lost before hand-over)
    │   │                 ├──▶ failed      (5xx: the server's text is kept and shown)
    │   │                 └──▶ uncertain   (the server's answer to the message was lost)
    │   └── retry (supervisor) ── failed, uncertain;  accept_as_sent: uncertain ──▶ sent

Every transition is one ``UPDATE … WHERE state = …``: two processes sharing a database (the
channel service and workstations on PostgreSQL) never both claim or settle the same reply.

While a reply is ``sending``, ``next_attempt_at`` holds the deadline of the sender's lease.
A sender renews it just before transmitting; a reply still ``sending`` after its lease ran
out was left by a process that crashed or hung, maybe after the server took the message.
It is recovered as an unknown outcome (``recover_stale``), never simply sent again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import (
    Connection,
    and_,
    case,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from app.db import hotpath
from app.db.engine import Database
from app.db.models import (
    Campaign,
    Channel,
    Email,
    Reply,
    ReplyState,
    User,
    utcnow,
)
from app.mail import compose
from app.services.auth import Actor, Permission
from app.services.base import changed_rows
from app.services.errors import ConflictError, NotFound, ValidationError
from app.services.history import Entry, write_history

# Waits after the 1st, 2nd, … failed attempt; the last one repeats.
BACKOFF: tuple[timedelta, ...] = (
    timedelta(seconds=30),
    timedelta(minutes=1),
    timedelta(minutes=2),
    timedelta(minutes=5),
    timedelta(minutes=15),
    timedelta(hours=1),
)
# Far longer than one send can take (connect, TLS, login and a message: a few timeouts).
LEASE = timedelta(minutes=10)
# Attempts the server may answer "not now" (4xx, or ending the connection in the middle of
# the exchange) before the reply is failed with its words: about 5 hours of back-off. A
# server that cannot be reached at all is waited for without limit.
MAX_ATTEMPTS = 10


def backoff(attempts: int) -> timedelta:
    """How long to wait after ``attempts`` failed attempts (1 → 30 s … 6 and more → 1 h)."""
    return BACKOFF[min(max(attempts, 1), len(BACKOFF)) - 1]


def _aware(value: datetime | None) -> datetime:
    now = value or utcnow()
    if now.tzinfo is None:
        raise ValueError("naive datetime given to the outbox")
    return now


# ---- which channel sends a reply --------------------------------------------------


# The channel a reply goes out through (the campaign's, else the organisation's default,
# else the mailbox written to), in a query that joins Email and Campaign.
_channel_column = hotpath.reply_channel_id


def _with_channel(statement: Any) -> Any:
    return statement.join(Email, Reply.email_id == Email.id).outerjoin(
        Campaign, Email.campaign_id == Campaign.id
    )


def sending_channel_id(session: Session, email: Email) -> int | None:
    stmt = (
        select(_channel_column())
        .select_from(Email)
        .outerjoin(Campaign, Email.campaign_id == Campaign.id)
        .where(Email.id == email.id)
    )
    return session.scalar(stmt)


class Answered(Protocol):
    """What a reply needs of the email it answers (an ``Email``, or a row of its columns)."""

    @property
    def message_id(self) -> str | None: ...
    @property
    def in_reply_to(self) -> str | None: ...
    @property
    def references(self) -> str | None: ...


class SendingChannel(Protocol):
    """What a reply needs of the channel it goes out through (a ``Channel``, or a row)."""

    @property
    def name(self) -> str: ...
    @property
    def display_name(self) -> str: ...
    @property
    def email_address(self) -> str: ...
    @property
    def max_recipients(self) -> int: ...


def check_recipient_count(
    channel: SendingChannel,
    to: str | Sequence[str],
    cc: str | Sequence[str],
    bcc: str | Sequence[str],
) -> None:
    """Refuse (next to To) a reply to more recipients than the channel's Max Recipients per
    Reply, counted as typed (To, Cc and Bcc together; the same text once) before anything
    else is read of them: 100,000 pasted addresses are refused at once, not parsed."""
    texts = [
        text for field in (to, cc, bcc) for text in ([field] if isinstance(field, str) else field)
    ]
    if sum(text.count("@") for text in texts) <= channel.max_recipients:
        return  # (every recipient has an '@': the usual case costs nothing more)
    typed = dict.fromkeys(item for text in texts for item in compose.split_addresses(text))
    _refuse_over(channel, len(typed))


def _refuse_over(channel: SendingChannel, count: int) -> None:
    if count > channel.max_recipients:
        raise ValidationError(
            "To",
            f"has {count:,} recipients (To, Cc and Bcc together): the channel {channel.name} "
            f"sends a reply to at most {channel.max_recipients:,} (its Max Recipients per "
            "Reply). Send it in parts, or ask an administrator to raise the limit.",
        )


def threading_headers(email: Answered) -> tuple[str | None, list[str]]:
    """(In-Reply-To, References) of a reply to ``email``."""
    parent_refs = (email.references or "").split()
    if not parent_refs and email.in_reply_to and len(email.in_reply_to.split()) == 1:
        parent_refs = [email.in_reply_to]  # RFC 5322 3.6.4: no References, one In-Reply-To
    # An id that cannot be written (8-bit, from a hostile or broken mailer) is left out,
    # instead of making the reply impossible to send.
    in_reply_to = email.message_id if compose.is_message_id(email.message_id) else None
    return in_reply_to, compose.thread_references(email.message_id, parent_refs)


def _message(
    email: Answered,
    channel: SendingChannel,
    to: Sequence[compose.Mailbox],
    cc: Sequence[compose.Mailbox],
    bcc: Sequence[compose.Mailbox],
    subject: str,
    body: str,
    message_id: str,
    created_at: datetime,
) -> compose.Outgoing:
    in_reply_to, references = threading_headers(email)
    return compose.Outgoing(
        sender=compose.Mailbox(
            channel.display_name, compose.parse_mailbox("From", channel.email_address).address
        ),
        to=to,
        cc=cc,
        bcc=bcc,
        subject=subject,
        body=body,
        message_id=message_id,
        # Fixed when queued (when the agent finished it): the same bytes on every attempt.
        date=created_at,
        in_reply_to=in_reply_to,
        references=references,
    )


def _outgoing(reply: Reply, email: Answered, channel: SendingChannel) -> compose.Outgoing:
    return _message(
        email,
        channel,
        compose.parse_mailboxes("To", reply.to_addrs),
        compose.parse_mailboxes("Cc", reply.cc_addrs),
        compose.parse_mailboxes("Bcc", reply.bcc_addrs),
        reply.subject,
        reply.body,
        reply.message_id,
        reply.created_at,
    )


# ---- queueing -----------------------------------------------------------------------


@dataclass(frozen=True)
class ReplyToQueue:
    """An agent's reply to put in the outbox: to the email ``email_id``, written by
    ``agent_id``, who must still hold the email. ``draft_id``: the agent's draft of it, whose
    row becomes the reply."""

    email_id: int
    agent_id: int | None
    to: str | Sequence[str]
    cc: str | Sequence[str] = ""
    bcc: str | Sequence[str] = ""
    subject: str = ""
    body: str = ""
    template_id: int | None = None
    draft_id: int | None = None


_NOT_HELD = "You no longer hold this email: it was not sent."


def queue_reply(
    conn: Connection,
    reply: ReplyToQueue,
    answered: Answered,
    channel: SendingChannel | None,
    now: datetime,
) -> int:
    """Put an agent's reply in the outbox, in ``conn``'s transaction, with what it reads
    given: the email answered and its sending channel (None: there is none). The email
    becomes Actioned and the Message-ID is fixed now (kept across retries), only while the
    agent still holds the email (else ConflictError): one statement on PostgreSQL, so
    ``conn`` may be in autocommit there. Anything that could not go into the message — a
    line break in the subject, an address that is not exactly one address — is a
    ValidationError naming the field, and nothing is queued. Returns the reply's id."""
    to, cc, bcc, subject, body = reply.to, reply.cc, reply.bcc, reply.subject, reply.body
    if channel is None:
        raise ValidationError(
            "Email Channel",
            "no channel to send the reply through: the email's channel was removed and "
            "neither its campaign nor the organisation names one.",
        )
    check_recipient_count(channel, to, cc, bcc)
    try:
        to_boxes = compose.parse_mailboxes("To", to)
        cc_boxes = compose.parse_mailboxes("Cc", cc)
        bcc_boxes = compose.parse_mailboxes("Bcc", bcc)
        if not (to_boxes or cc_boxes or bcc_boxes):
            raise compose.HeaderError("To", "is required: add at least one recipient.")
        compose.check_header_text("Subject", subject)
        message_id = compose.make_message_id(channel.email_address)
        # Whatever would fail at sending time fails here, in front of the agent, instead of
        # in the background.
        compose.check(
            _message(
                answered, channel, to_boxes, cc_boxes, bcc_boxes, subject, body, message_id, now
            )
        )
    except compose.HeaderError as exc:
        raise ValidationError(exc.field, exc.message) from exc
    # the envelope's recipients, each address once (a confirmed "a@x b@y" is two)
    _refuse_over(channel, len({m.address for m in (*to_boxes, *cc_boxes, *bcc_boxes)}))
    values: dict[str, Any] = {
        "email_id": reply.email_id,
        "agent_id": reply.agent_id,
        "template_id": reply.template_id,
        "to_addrs": compose.format_mailboxes(to_boxes),
        "cc_addrs": compose.format_mailboxes(cc_boxes),
        "bcc_addrs": compose.format_mailboxes(bcc_boxes),
        "subject": subject,
        "body": body,
        "message_id": message_id,
        "state": ReplyState.QUEUED,
        "attempts": 0,
        "last_error": None,
        "next_attempt_at": None,
        "created_at": now,
    }
    recipients = ", ".join(m.address for m in (*to_boxes, *cc_boxes, *bcc_boxes))
    detail = f"Reply to {recipients} queued for sending through {channel.name}"
    reply_id = hotpath.queue_held_reply(
        conn, values, holder=reply.agent_id, now=now, detail=detail, draft_id=reply.draft_id
    )
    if reply_id is None:
        raise ConflictError(_NOT_HELD)
    return reply_id


# ---- the sender's state machine -------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    """A claimed reply ready to go: the message bytes (or why they cannot be made) and the
    lease the sender holds on it."""

    reply_id: int
    email_id: int
    channel_id: int | None
    message_id: str
    lease: datetime
    sender: str = ""
    recipients: tuple[str, ...] = ()
    data: bytes = b""
    error: str | None = None


def _due(now: datetime) -> ColumnElement[bool]:
    return and_(
        Reply.state == ReplyState.QUEUED,
        or_(Reply.next_attempt_at.is_(None), Reply.next_attempt_at <= now),
    )


def due_ids(
    db: Database,
    now: datetime,
    limit: int,
    channel_id: int | None = None,
    skip_channels: Sequence[int] = (),
) -> list[int]:
    """Replies waiting to be sent: queued, and not waiting out a back-off."""
    stmt = _with_channel(select(Reply.id)).where(_due(now))
    if channel_id is not None:
        stmt = stmt.where(_channel_column() == channel_id)
    if skip_channels:
        channel = _channel_column()
        stmt = stmt.where(or_(channel.is_(None), channel.not_in(list(skip_channels))))
    with db.session() as s:
        return list(s.scalars(stmt.order_by(Reply.id).limit(limit)))


def due_channel_ids(db: Database, now: datetime, channel_id: int | None = None) -> list[int]:
    """The channels that have replies due (to check that this process can send through them
    before claiming any)."""
    stmt = _with_channel(select(_channel_column()).select_from(Reply)).where(_due(now))
    if channel_id is not None:
        stmt = stmt.where(_channel_column() == channel_id)
    with db.session() as s:
        return sorted(c for c in s.scalars(stmt.distinct()) if c is not None)


def note_waiting(db: Database, channel_id: int, now: datetime, reason: str) -> int:
    """Say on the due replies of a channel why they wait, without claiming them (e.g. no SMTP
    password on this computer: another computer, or the channel service, may have it)."""
    ids = _with_channel(select(Reply.id)).where(_due(now), _channel_column() == channel_id)
    with db.session() as s:
        return changed_rows(
            s,
            update(Reply)
            .where(Reply.id.in_(ids.scalar_subquery()), _due(now))
            .where(or_(Reply.last_error.is_(None), Reply.last_error != reason))
            .values(last_error=reason)
            .execution_options(synchronize_session=False),
        )


def claim_ids(db: Database, ids: Sequence[int], now: datetime) -> dict[int, datetime]:
    """Claim these replies for sending: {reply id: lease deadline} of those this call got.

    Each claim is an UPDATE guarded by the state it expects, so of two processes racing for
    a reply exactly one sees a row changed (PostgreSQL re-checks the WHERE after waiting for
    the other's row lock; SQLite serialises writers)."""
    lease = now + LEASE
    claimed: dict[int, datetime] = {}
    with db.session() as s:
        for reply_id in ids:
            changed = changed_rows(
                s,
                update(Reply)
                .where(
                    Reply.id == reply_id,
                    Reply.state == ReplyState.QUEUED,
                    or_(Reply.next_attempt_at.is_(None), Reply.next_attempt_at <= now),
                )
                .values(
                    state=ReplyState.SENDING, attempts=Reply.attempts + 1, next_attempt_at=lease
                )
                .execution_options(synchronize_session=False),
            )
            if changed:
                claimed[reply_id] = lease
    return claimed


def claim_due(
    db: Database,
    now: datetime,
    limit: int,
    channel_id: int | None = None,
    skip_channels: Sequence[int] = (),
) -> dict[int, datetime]:
    """Claim up to ``limit`` due replies (queued → sending): {reply id: lease deadline}."""
    now = _aware(now)
    return claim_ids(db, due_ids(db, now, limit, channel_id, skip_channels), now)


def recover_stale(
    db: Database, now: datetime, limit: int = 100, channel_id: int | None = None
) -> dict[int, datetime]:
    """Take over replies left ``sending`` past their lease (a crashed or hung sender).

    The caller must treat each as an unknown outcome: the server may have the message."""
    now = _aware(now)
    stale = or_(Reply.next_attempt_at.is_(None), Reply.next_attempt_at < now)
    stmt = select(Reply.id).where(Reply.state == ReplyState.SENDING, stale)
    if channel_id is not None:
        stmt = _with_channel(stmt).where(_channel_column() == channel_id)
    lease = now + LEASE
    taken: dict[int, datetime] = {}
    with db.session() as s:
        for reply_id in list(s.scalars(stmt.order_by(Reply.id).limit(limit))):
            if changed_rows(
                s,
                update(Reply)
                .where(Reply.id == reply_id, Reply.state == ReplyState.SENDING, stale)
                .values(next_attempt_at=lease)
                .execution_options(synchronize_session=False),
            ):
                taken[reply_id] = lease
    return taken


def renew(db: Database, reply_id: int, held: datetime, now: datetime) -> datetime | None:
    """Renew the lease just before transmitting; None when it is no longer ours (it ran out
    and another process took the reply over), in which case it must not be sent."""
    lease = now + LEASE
    with db.session() as s:
        changed = changed_rows(
            s,
            update(Reply)
            .where(
                Reply.id == reply_id,
                Reply.state == ReplyState.SENDING,
                Reply.next_attempt_at == held,
            )
            .values(next_attempt_at=lease)
            .execution_options(synchronize_session=False),
        )
    return lease if changed else None


def prepare(db: Database, leases: dict[int, datetime]) -> list[Prepared]:
    """The messages of claimed replies, built from what is stored now. A reply whose message
    cannot be built (an address or subject changed in the database behind the services'
    back, no channel) gets ``error`` instead of bytes."""
    out: list[Prepared] = []
    with db.session() as s:
        for reply_id, lease in sorted(leases.items()):
            reply = s.get(Reply, reply_id)
            if reply is None:
                continue
            email = reply.email
            channel_id = sending_channel_id(s, email)
            channel = s.get(Channel, channel_id) if channel_id is not None else None
            base = Prepared(reply.id, email.id, channel_id, reply.message_id, lease)
            if channel is None:
                out.append(_with(base, error="There is no email channel to send it through."))
                continue
            try:
                message = _outgoing(reply, email, channel)
                data = compose.message_bytes(message)  # built, and read back
            except ValueError as exc:  # HeaderError; any other is failed alone, too: one
                # reply that cannot be built never holds up the outbox behind it
                out.append(_with(base, error=f"The reply cannot be sent as it is: {exc}"))
                continue
            out.append(
                _with(
                    base,
                    sender=message.sender.address,
                    recipients=tuple(message.envelope_recipients),
                    data=data,
                )
            )
    return out


def _with(base: Prepared, **changes: Any) -> Prepared:
    return replace(base, **changes)


def _settle(s: Session, reply_id: int, **values: Any) -> bool:
    """sending → another state; False when the reply is not ``sending`` any more."""
    return bool(
        changed_rows(
            s,
            update(Reply)
            .where(Reply.id == reply_id, Reply.state == ReplyState.SENDING)
            .values(**values)
            .execution_options(synchronize_session=False),
        )
    )


def _history(s: Session, reply_id: int, at: datetime, action: str, detail: str) -> None:
    email_id = s.scalar(select(Reply.email_id).where(Reply.id == reply_id))
    if email_id is not None:
        write_history(s, [Entry(email_id, action, detail, at)])


def _first_reply(s: Session, reply_id: int, at: datetime) -> None:
    # The service level's clock stops at the first reply that actually went out.
    email_id = select(Reply.email_id).where(Reply.id == reply_id).scalar_subquery()
    s.execute(
        update(Email)
        .where(Email.id == email_id, Email.first_reply_at.is_(None))
        .values(first_reply_at=at)
        .execution_options(synchronize_session=False)
    )


def mark_sent(
    db: Database,
    reply_id: int,
    now: datetime | None = None,
    note: str | None = None,
    recipients: Sequence[str] = (),
) -> bool:
    """The server accepted it. ``note`` (e.g. the Sent copy failed) is kept as last_error;
    ``recipients``, when the server refused others (``split_refused``), are named in History."""
    now = _aware(now)
    with db.session() as s:
        if not _settle(
            s, reply_id, state=ReplyState.SENT, sent_at=now, next_attempt_at=None, last_error=note
        ):
            return False
        _first_reply(s, reply_id, now)
        accepted = "Reply accepted by the mail server"
        if recipients:
            accepted += f" for {_some(recipients)}"
        _history(s, reply_id, now, "sent", note or accepted)
    return True


@dataclass(frozen=True)
class Refusal:
    """A recipient the mail server refused (RCPT TO), with its answer."""

    recipient: str
    code: int
    text: str

    @property
    def permanent(self) -> bool:
        return 500 <= self.code < 600

    @property
    def too_many(self) -> bool:
        """452: no more recipients in this message (RFC 5321 4.5.3.1.10); the others go in
        another one."""
        return self.code == 452

    def __str__(self) -> str:
        return f"{self.recipient}: {self.code} {self.text}"


def _some(texts: Sequence[object], shown: int = 10, sep: str = ", ") -> str:
    """``texts`` joined, the first ``shown`` of a long list named and the rest counted."""
    named = sep.join(str(t) for t in texts[:shown])
    return named if len(texts) <= shown else f"{named}{sep}and {len(texts) - shown:,} more"


_RECIPIENT_FIELDS = (("To", "to_addrs"), ("Cc", "cc_addrs"), ("Bcc", "bcc_addrs"))


def split_refused(
    db: Database,
    reply_id: int,
    refused: Sequence[Refusal],
    now: datetime | None = None,
    lease: datetime | None = None,
) -> bool:
    """The server refused some recipients of a reply being sent and accepted the others,
    before the message was handed over. The reply keeps only the accepted recipients (it
    goes to them now, and a retry of it can never reach the others twice); the refused ones
    move to a new reply of the same text: failed with the server's words when refused for
    good (5xx), for the agent to correct and send again or a supervisor to retry; queued
    after the back-off when refused for now (4xx). One transaction, with the email's
    History. False when the reply is no longer ``sending`` under ``lease`` (when given): it
    is not this sender's any more, nothing is changed, and it must not be sent."""
    now = _aware(now)
    gone = {r.recipient for r in refused}
    ours = [Reply.id == reply_id, Reply.state == ReplyState.SENDING]
    if lease is not None:
        ours.append(Reply.next_attempt_at == lease)
    with db.session() as s:
        reply = s.scalar(select(Reply).where(*ours))
        if reply is None:
            return False
        kept: dict[str, list[compose.Mailbox]] = {}
        moved: dict[str, list[compose.Mailbox]] = {}
        for label, column in _RECIPIENT_FIELDS:
            boxes = compose.parse_mailboxes(label, getattr(reply, column))
            kept[column] = [b for b in boxes if b.address not in gone]
            moved[column] = [b for b in boxes if b.address in gone]
        accepted = _some(list(dict.fromkeys(b.address for c in kept.values() for b in c)))
        if not changed_rows(
            s,
            update(Reply)
            .where(*ours)
            .values({c: compose.format_mailboxes(b) for c, b in kept.items()})
            .execution_options(synchronize_session=False),
        ):
            return False
        for_good = [r for r in refused if r.permanent]
        too_many = [r for r in refused if r.too_many]
        for_now = [r for r in refused if not r.permanent and not r.too_many]
        # Refused for now again and again: failed with the server's words, never a loop.
        gave_up = bool(for_now) and reply.attempts >= MAX_ATTEMPTS
        groups = (
            (for_good, ReplyState.FAILED),
            (for_now, ReplyState.FAILED if gave_up else ReplyState.QUEUED),
            (too_many, ReplyState.QUEUED),
        )
        for group, state in groups:
            if not group:
                continue
            addresses = {r.recipient for r in group}
            reasons = _some(group, sep="; ")
            attempts, when = reply.attempts, now + backoff(reply.attempts)
            if group is too_many:
                # Progress, not a failure (the others were accepted): the rest goes in
                # another message at once, and so on until all are sent.
                attempts, when = 0, now
                error = (
                    f"The mail server takes fewer recipients in one message ({group[0]}): "
                    f"the other {len(group):,} are sent the reply in another message (the "
                    f"recipient(s) it accepted, {accepted}, are sent it in this one)."
                )
            elif group is for_good:
                error = (
                    f"The mail server refused the recipient(s) {reasons}. The reply is sent "
                    f"to the other recipient(s) ({accepted}) separately: this is the reply to "
                    "the refused one(s) only."
                )
            elif gave_up:
                error = (
                    f"The mail server refused the recipient(s) for now at each of "
                    f"{reply.attempts} attempts: {reasons}. It is not tried again "
                    f"automatically (the other recipient(s), {accepted}, are sent the reply "
                    "separately)."
                )
            else:
                error = (
                    f"The mail server refused the recipient(s) for now: {reasons}. It is tried "
                    f"again later, to them only (the other recipient(s), {accepted}, are sent "
                    "the reply separately)."
                )
            s.add(
                Reply(
                    email_id=reply.email_id,
                    agent_id=reply.agent_id,
                    template_id=reply.template_id,
                    subject=reply.subject,
                    body=reply.body,
                    # A message of its own (to other recipients), written at the same time.
                    message_id=compose.make_message_id(reply.message_id.strip("<>")),
                    created_at=reply.created_at,
                    state=state,
                    attempts=attempts,
                    last_error=error,
                    next_attempt_at=when if state == ReplyState.QUEUED else None,
                    **{
                        c: compose.format_mailboxes([b for b in boxes if b.address in addresses])
                        for c, boxes in moved.items()
                    },
                )
            )
        detail = (
            f"The mail server refused {_some(refused, sep='; ')}. The reply goes to "
            f"the recipient(s) it accepted ({accepted})"
        )
        failed = for_good + for_now if gave_up else for_good
        if failed:
            detail += f"; {_some([r.recipient for r in failed])} kept in Failed sends"
        if for_now and not gave_up:
            detail += f"; {_some([r.recipient for r in for_now])} tried again later"
        if too_many:
            detail += f"; {_some([r.recipient for r in too_many])} sent it in another message"
        write_history(s, [Entry(reply.email_id, "partially refused", detail + ".", now)])
    return True


def mark_retry(
    db: Database,
    reply_id: int,
    error: str,
    now: datetime | None = None,
    next_attempt_at: datetime | None = None,
) -> datetime | None:
    """A temporary failure: queued again after the back-off for its attempts so far.
    Returns the time of the next attempt (None if the reply was not ``sending``)."""
    now = _aware(now)
    with db.session() as s:
        attempts = s.scalar(select(Reply.attempts).where(Reply.id == reply_id)) or 1
        when = next_attempt_at or now + backoff(attempts)
        if not _settle(
            s, reply_id, state=ReplyState.QUEUED, next_attempt_at=when, last_error=error
        ):
            return None
    return when


def mark_refused_for_now(
    db: Database, reply_id: int, error: str, now: datetime | None = None
) -> ReplyState | None:
    """The server answered "not now" (4xx, or ended the connection in the middle of the
    exchange): queued again after the back-off (``mark_retry``), or — after ``MAX_ATTEMPTS``
    attempts — failed with its words, so that a refusal the server keeps giving never loops.
    Returns the state it went to (None if the reply was not ``sending``)."""
    with db.session() as s:
        attempts = s.scalar(select(Reply.attempts).where(Reply.id == reply_id)) or 0
    if attempts >= MAX_ATTEMPTS:
        text = f"{error} (the same after {attempts} attempts: it is not tried again automatically)"
        return ReplyState.FAILED if mark_failed(db, reply_id, text, now) else None
    return ReplyState.QUEUED if mark_retry(db, reply_id, error, now) is not None else None


def _give_up(
    db: Database, reply_id: int, state: ReplyState, text: str, action: str, now: datetime | None
) -> bool:
    """The reply is no longer sent automatically (failed, or uncertain): ``text`` is kept on
    it and in the email's History. False when the reply was not ``sending``."""
    now = _aware(now)
    with db.session() as s:
        if not _settle(s, reply_id, state=state, next_attempt_at=None, last_error=text):
            return False
        _history(s, reply_id, now, action, text)
    return True


def mark_failed(db: Database, reply_id: int, error: str, now: datetime | None = None) -> bool:
    """A permanent failure: the server's text is kept and shown; a supervisor may retry."""
    return _give_up(db, reply_id, ReplyState.FAILED, error, "failed send", now)


def mark_uncertain(db: Database, reply_id: int, reason: str, now: datetime | None = None) -> bool:
    """The outcome is unknown: not resent automatically; a person decides."""
    return _give_up(db, reply_id, ReplyState.UNCERTAIN, reason, "uncertain send", now)


def release(db: Database, ids: Sequence[int]) -> int:
    """Give back claimed replies that were not transmitted at all (the sender is stopping):
    queued again at once, the attempt not counted."""
    with db.session() as s:
        return sum(
            changed_rows(
                s,
                update(Reply)
                .where(Reply.id == reply_id, Reply.state == ReplyState.SENDING)
                .values(
                    state=ReplyState.QUEUED,
                    next_attempt_at=None,
                    attempts=case((Reply.attempts > 0, Reply.attempts - 1), else_=0),
                )
                .execution_options(synchronize_session=False),
            )
            for reply_id in ids
        )


# ---- for people ---------------------------------------------------------------------


def retry(db: Database, actor: Actor, reply_id: int, now: datetime | None = None) -> None:
    """A supervisor sends a failed or uncertain reply again (for an uncertain one, after
    making sure the customer did not get it). The back-off starts afresh."""
    actor.require(Permission.CONFIGURE_CAMPAIGNS)
    now = _aware(now)
    with db.session() as s:
        state = s.scalar(select(Reply.state).where(Reply.id == reply_id))
        if state is None:
            raise NotFound("The reply no longer exists.")
        changed = changed_rows(
            s,
            update(Reply)
            .where(
                Reply.id == reply_id,
                Reply.state.in_([ReplyState.FAILED, ReplyState.UNCERTAIN]),
            )
            .values(state=ReplyState.QUEUED, attempts=0, next_attempt_at=None)
            .execution_options(synchronize_session=False),
        )
        if not changed:
            raise ConflictError(
                f"Only a failed or uncertain reply can be sent again; this one is {state.value}."
            )
        email_id = s.scalars(select(Reply.email_id).where(Reply.id == reply_id)).one()
        detail = f"{actor.display_name} queued the reply again (was {state.value})"
        write_history(s, [Entry(email_id, "send retried", detail, now, actor.user_id)])


def accept_as_sent(db: Database, actor: Actor, reply_id: int, now: datetime | None = None) -> None:
    """A supervisor settles an uncertain reply as delivered (e.g. the customer has it)."""
    actor.require(Permission.CONFIGURE_CAMPAIGNS)
    now = _aware(now)
    with db.session() as s:
        changed = changed_rows(
            s,
            update(Reply)
            .where(Reply.id == reply_id, Reply.state == ReplyState.UNCERTAIN)
            .values(state=ReplyState.SENT, sent_at=now)
            .execution_options(synchronize_session=False),
        )
        if not changed:
            raise ConflictError("Only an uncertain reply can be accepted as sent.")
        _first_reply(s, reply_id, now)
        email_id = s.scalars(select(Reply.email_id).where(Reply.id == reply_id)).one()
        detail = f"{actor.display_name} confirmed that the uncertain reply was sent"
        write_history(s, [Entry(email_id, "sent", detail, now, actor.user_id)])


def recipients_text(to: str, cc: str, bcc: str) -> str:
    """To, Cc and Bcc in one line, for a list of replies ("a@x; Cc: b@y; Bcc: c@z")."""
    parts = [to] if to else []
    parts += [f"{label}: {text}" for label, text in (("Cc", cc), ("Bcc", bcc)) if text]
    return "; ".join(parts)


@dataclass(frozen=True)
class FailedSend:
    reply_id: int
    email_id: int
    state: ReplyState
    subject: str
    to_addrs: str
    agent: str | None
    attempts: int
    last_error: str | None
    created_at: datetime
    cc_addrs: str = ""
    bcc_addrs: str = ""

    @property
    def recipients(self) -> str:
        return recipients_text(self.to_addrs, self.cc_addrs, self.bcc_addrs)


def failed_sends(db: Database) -> list[FailedSend]:
    """Replies a person should look at, oldest first: failed and uncertain ones."""
    stmt = (
        select(Reply, User.display_name)
        .outerjoin(User, Reply.agent_id == User.id)
        .where(Reply.state.in_([ReplyState.FAILED, ReplyState.UNCERTAIN]))
        .order_by(Reply.created_at, Reply.id)
    )
    with db.session() as s:
        return [
            FailedSend(
                reply_id=r.id,
                email_id=r.email_id,
                state=r.state,
                subject=r.subject,
                to_addrs=r.to_addrs,
                agent=agent,
                attempts=r.attempts,
                last_error=r.last_error,
                created_at=r.created_at,
                cc_addrs=r.cc_addrs,
                bcc_addrs=r.bcc_addrs,
            )
            for r, agent in s.execute(stmt)
        ]
