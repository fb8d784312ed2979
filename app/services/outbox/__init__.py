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

Modules: ``message`` (the sending channel, recipient limits, threading, the message),
``queueing`` (an agent's reply put in the outbox), ``sending`` (the sender's state machine),
``refusals`` (some recipients refused, the others sent), ``review`` (failed sends, for
people). Their public names are this package's.
"""

from .message import (
    Answered,
    SendingChannel,
    check_recipient_count,
    sending_channel_id,
    threading_headers,
)
from .queueing import ReplyToQueue, queue_reply
from .refusals import Refusal, split_refused
from .review import FailedSend, accept_as_sent, failed_sends, recipients_text, retry
from .sending import (
    BACKOFF,
    LEASE,
    MAX_ATTEMPTS,
    Prepared,
    backoff,
    claim_due,
    claim_ids,
    due_channel_ids,
    due_ids,
    mark_failed,
    mark_refused_for_now,
    mark_retry,
    mark_sent,
    mark_uncertain,
    note_waiting,
    prepare,
    recover_stale,
    release,
    renew,
)

__all__ = [
    "BACKOFF",
    "LEASE",
    "MAX_ATTEMPTS",
    "Answered",
    "FailedSend",
    "Prepared",
    "Refusal",
    "ReplyToQueue",
    "SendingChannel",
    "accept_as_sent",
    "backoff",
    "check_recipient_count",
    "claim_due",
    "claim_ids",
    "due_channel_ids",
    "due_ids",
    "failed_sends",
    "mark_failed",
    "mark_refused_for_now",
    "mark_retry",
    "mark_sent",
    "mark_uncertain",
    "note_waiting",
    "prepare",
    "queue_reply",
    "recipients_text",
    "recover_stale",
    "release",
    "renew",
    "retry",
    "sending_channel_id",
    "split_refused",
    "threading_headers",
]
