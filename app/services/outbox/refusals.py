"""Recipients the mail server refused while it accepted the others: the reply goes to those
it accepted, the refused ones become a reply of their own."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update

from app.db.engine import Database
from app.db.models import Reply, ReplyState
from app.mail import compose
from app.services.base import changed_rows
from app.services.history import Entry, write_history

from .message import aware
from .sending import MAX_ATTEMPTS, backoff, some


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


_RECIPIENT_FIELDS = (("To", "to_addrs"), ("Cc", "cc_addrs"), ("Bcc", "bcc_addrs"))


def split_refused(
    db: Database,
    reply_id: int,
    refused: Sequence[Refusal],
    now: datetime | None = None,
    claimer: str | None = None,
) -> bool:
    """The server refused some recipients of a reply being sent and accepted the others,
    before the message was handed over. The reply keeps only the accepted recipients (it
    goes to them now, and a retry of it can never reach the others twice); the refused ones
    move to a new reply of the same text: failed with the server's words when refused for
    good (5xx), for the agent to correct and send again or a supervisor to retry; queued
    after the back-off when refused for now (4xx). One transaction, with the email's
    History. False when the reply is no longer ``sending`` under the claim of ``claimer``
    (when given): it is not this sender's any more, nothing is changed, and it must not be
    sent."""
    now = aware(now)
    gone = {r.recipient for r in refused}
    ours = [Reply.id == reply_id, Reply.state == ReplyState.SENDING]
    if claimer is not None:
        ours.append(Reply.claimed_by == claimer)
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
        accepted = some(list(dict.fromkeys(b.address for c in kept.values() for b in c)))
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
            reasons = some(group, sep="; ")
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
            f"The mail server refused {some(refused, sep='; ')}. The reply goes to "
            f"the recipient(s) it accepted ({accepted})"
        )
        failed = for_good + for_now if gave_up else for_good
        if failed:
            detail += f"; {some([r.recipient for r in failed])} kept in Failed sends"
        if for_now and not gave_up:
            detail += f"; {some([r.recipient for r in for_now])} tried again later"
        if too_many:
            detail += f"; {some([r.recipient for r in too_many])} sent it in another message"
        write_history(s, [Entry(reply.email_id, "partially refused", detail + ".", now)])
    return True
