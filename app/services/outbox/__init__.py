"""The outbox: queueing an agent's reply and the states a reply goes through while sent.

    queued ──claim──▶ sending ──▶ sent
    ▲   ▲                 ├──▶ queued, after a back-off (4xx, connection lost before hand-over)
    │   │                 ├──▶ failed      (5xx: the server's text is kept and shown)
    │   │                 └──▶ uncertain   (the server's answer to the message was lost)
    │   └── retry (supervisor) ── failed, uncertain;  accept_as_sent: uncertain ──▶ sent

Every transition is one ``UPDATE … WHERE state = …``: two processes sharing a database (the
channel service and workstations on PostgreSQL) never both claim or settle the same reply.

While a reply is ``sending``, it is under a sender's claim (``claims``): ``claimed_by``
names the sender, ``next_attempt_at`` holds the deadline of its lease (renewed every few
seconds while it works), and ``transmission_started_at`` says, committed before DATA, that
the server may have the message. A claim whose sender is gone — ended on this machine, or
silent past the lease — is settled by any other: never handed over, it is given back to the
queue and sent once; maybe handed over, it is recovered as an unknown outcome
(``recover_stale``: the Sent folder looked in), never simply sent again.

Modules: ``message`` (the sending channel, recipient limits, threading, the message),
``queueing`` (an agent's reply put in the outbox), ``claims`` (who holds a reply being
sent, and whether it may have been handed over), ``sending`` (the sender's state machine),
``refusals`` (some recipients refused, the others sent), ``review`` (failed sends and
stalled ones, for people). Their public names are this package's.
"""

from .claims import (
    LEASE,
    RENEW_EVERY,
    claim_ids,
    claimers,
    give_back_untransmitted,
    gone_claimers,
    process_sender,
    recover_stale,
    release,
    renew_claims,
    sender_name,
    start_transmission,
)
from .message import (
    Answered,
    SendingChannel,
    check_recipient_count,
    sending_channel_id,
    threading_headers,
)
from .queueing import ReplyToQueue, queue_reply
from .refusals import Refusal, split_refused
from .review import (
    FailedSend,
    FailedSends,
    accept_as_sent,
    failed_sends,
    recipients_text,
    retry,
    review,
)
from .sending import (
    BACKOFF,
    MAX_ATTEMPTS,
    Prepared,
    backoff,
    claim_due,
    due_channel_ids,
    due_ids,
    mark_failed,
    mark_refused_for_now,
    mark_retry,
    mark_sent,
    mark_uncertain,
    note_waiting,
    prepare,
)

__all__ = [
    "BACKOFF",
    "LEASE",
    "MAX_ATTEMPTS",
    "RENEW_EVERY",
    "Answered",
    "FailedSend",
    "FailedSends",
    "Prepared",
    "Refusal",
    "ReplyToQueue",
    "SendingChannel",
    "accept_as_sent",
    "backoff",
    "check_recipient_count",
    "claim_due",
    "claim_ids",
    "claimers",
    "due_channel_ids",
    "due_ids",
    "failed_sends",
    "give_back_untransmitted",
    "gone_claimers",
    "mark_failed",
    "mark_refused_for_now",
    "mark_retry",
    "mark_sent",
    "mark_uncertain",
    "note_waiting",
    "prepare",
    "process_sender",
    "queue_reply",
    "recipients_text",
    "recover_stale",
    "release",
    "renew_claims",
    "retry",
    "review",
    "sender_name",
    "sending_channel_id",
    "split_refused",
    "start_transmission",
    "threading_headers",
]
