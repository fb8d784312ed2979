"""The hot paths: the few statements run thousands of times, fenced off in one package.

What every agent repeats all day (Take next, Send) and what a retrieval pass does for every
message (inserting emails, their UIDs and History in bulk) is written here for speed, below
what the rest of the code uses (ORM sessions, SQLAlchemy Core statements):

- ``driver``: statements compiled once and run on the pooled connection's own cursor
  (PostgreSQL); ``single_statements`` is the one place these paths choose by database.
- ``taking``: Take next (the oldest queued email of an agent's campaigns, and its History).
- ``opening``: what opening an email shows (the email, its draft, templates, attachments,
  replies and History), read in one round trip; and what its first view decoded, kept.
- ``sending``: what Send checks (one read) and the write that queues the reply only while the
  agent still holds the email (with its History).
- ``bulk``: many rows in one go (SQLite through the DB-API cursor).
- ``history``: History rows as these paths write them (a plain insert, or inside a
  statement); the services write theirs through ``app.services.history``.

Callers never choose by database: each function here takes a connection and does what
suits it. Every statement has a test against a plain SQLAlchemy/ORM reference, on SQLite
and on PostgreSQL (``tests/unit/test_hotpath.py``).
"""

from .bulk import insert_returning_ids, insert_rows
from .history import insert_history
from .opening import OpeningRows, read_opening, save_decoded
from .sending import queue_held_reply, reply_channel_id, sending_facts
from .taking import CAMPAIGN_IDS, any_queued, campaign_ids, take_oldest

__all__ = [
    "CAMPAIGN_IDS",
    "OpeningRows",
    "any_queued",
    "campaign_ids",
    "insert_history",
    "insert_returning_ids",
    "insert_rows",
    "queue_held_reply",
    "read_opening",
    "reply_channel_id",
    "save_decoded",
    "sending_facts",
    "take_oldest",
]
