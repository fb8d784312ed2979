"""Taking the oldest queued email of an agent's campaigns: the statements behind Take next.

The hot path of a busy contact centre (every agent, hundreds of times a day), so it is a few
Core statements, built once and run on a plain connection:

* one index lookup per campaign — the first entry of its queue on ``ix_emails_queue`` — and
  the oldest of those; a campaign's queue may be long, the lookup stays one index probe;
* the change of hands is one ``UPDATE … WHERE id = (that) AND status = 'queued'``: two agents
  never get the same email, whatever the database;
* on PostgreSQL the look-ups lock ``FOR UPDATE SKIP LOCKED``, so an agent never waits for a
  row another agent is taking: it gets the next one. There the agent's campaigns, the take and
  its History row are one statement (one round trip); SQLite, which has neither LATERAL nor
  writing CTEs, runs the same steps as three statements in one transaction.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Integer,
    bindparam,
    select,
    true,
    union_all,
    update,
)

from app.db.models import (
    Email,
    EmailStatus,
    History,
    UTCDateTime,
    campaign_teams,
    team_members,
)

from .driver import DriverStatement, single_statements
from .history import history_for_each, insert_history

# The campaigns of the teams a user (bound as ``user_id``) is a member of.
CAMPAIGN_IDS = (
    select(campaign_teams.c.campaign_id)
    .join(team_members, team_members.c.team_id == campaign_teams.c.team_id)
    .where(team_members.c.user_id == bindparam("user_id", type_=Integer()))
    .distinct()
)


_ANY_QUEUED = (
    select(Email.id)
    .where(
        Email.status == EmailStatus.QUEUED,
        Email.campaign_id.in_(bindparam("ids", expanding=True)),
    )
    .limit(1)
)


def _first_queued(campaign_id: Any, locking: bool) -> Any:
    """The first entry of one campaign's queue (id, queued_at)."""
    first = (
        select(Email.id, Email.queued_at)
        .where(Email.status == EmailStatus.QUEUED, Email.campaign_id == campaign_id)
        .order_by(Email.queued_at, Email.id)
        .limit(1)
    )
    return first.with_for_update(skip_locked=True) if locking else first


def _taking(oldest: Any) -> Any:
    """Queued → assigned for the email ``oldest`` (a scalar subquery) names, bound with
    ``user_id`` and ``taken_at``; returns its id (none when another agent was first)."""
    return (
        update(Email)
        .where(Email.id == oldest, Email.status == EmailStatus.QUEUED)
        .values(
            status=EmailStatus.ASSIGNED,
            agent_id=bindparam("user_id", type_=Integer()),
            taken_at=bindparam("taken_at", type_=UTCDateTime()),
        )
        .returning(Email.id)
    )


# Statements are built once per set of campaigns: building them costs more than running them.
@lru_cache(maxsize=256)
def _take_oldest_of(campaign_ids: tuple[int, ...]) -> Any:
    """SQLite: take the oldest queued email of these campaigns."""
    firsts = [_first_queued(cid, False).subquery() for cid in campaign_ids]
    if len(firsts) == 1:
        oldest = select(firsts[0].c.id).scalar_subquery()
    else:
        every = union_all(*(select(f.c.id, f.c.queued_at) for f in firsts)).subquery()
        oldest = (
            select(every.c.id).order_by(every.c.queued_at, every.c.id).limit(1).scalar_subquery()
        )
    return _taking(oldest)


@lru_cache(maxsize=2)
def _take_and_log(one_campaign: bool) -> DriverStatement:
    """PostgreSQL, one statement: the user's campaigns (or ``campaign_id`` if it is one of
    them), the first unlocked entry of each queue, the oldest of those taken, and its History
    row; returns the email's id. Bound: ``user_id``, ``taken_at``, ``detail`` (and
    ``only_campaign``)."""
    mine = CAMPAIGN_IDS
    if one_campaign:
        mine = mine.where(
            campaign_teams.c.campaign_id == bindparam("only_campaign", type_=Integer())
        )
    campaigns = mine.subquery("mine")
    first = _first_queued(campaigns.c.campaign_id, True).lateral("first")
    oldest = (
        select(first.c.id)
        .select_from(campaigns)
        .join(first, true())
        .order_by(first.c.queued_at, first.c.id)
        .limit(1)
        .scalar_subquery()
    )
    taken = _taking(oldest).cte("taken")
    logged = (
        history_for_each(taken.c.id, "taken", "taken_at", "user_id")
        .returning(History.email_id)
        .cte("logged")
    )
    return DriverStatement(select(logged.c.email_id))


def campaign_ids(conn: Connection, user_id: int | None) -> list[int]:
    """The campaigns assigned to the teams ``user_id`` is a member of."""
    return list(conn.scalars(CAMPAIGN_IDS, {"user_id": user_id}))


def any_queued(conn: Connection, campaign_ids: list[int]) -> bool:
    """Whether any email waits in these campaigns' queues."""
    return conn.scalar(_ANY_QUEUED, {"ids": campaign_ids}) is not None


def take_oldest(
    conn: Connection, user_id: int, now: datetime, detail: str, campaign_id: int | None = None
) -> int | None:
    """Take the oldest queued email of the user's campaigns (of ``campaign_id`` alone, if
    it is one of them) for the user and write its History row ('taken', ``detail``), in
    ``conn``'s transaction; on PostgreSQL that is one statement, atomic alone (``conn`` may
    be in autocommit). Returns the email's id, or None: nothing queued, every first entry
    was being taken by another agent, or ``campaign_id`` is not one of the user's."""
    params = {"user_id": user_id, "taken_at": now, "detail": detail}
    if single_statements(conn):
        one = campaign_id is not None
        if one:
            params["only_campaign"] = campaign_id
        return cast(int | None, _take_and_log(one).scalar(conn, params))
    mine = campaign_ids(conn, user_id)
    ids = mine if campaign_id is None else [campaign_id] if campaign_id in mine else []
    if not ids:
        return None
    taken = conn.scalar(_take_oldest_of(tuple(ids)), params)
    if taken is not None:
        insert_history(
            conn,
            [
                {
                    "email_id": taken,
                    "at": now,
                    "user_id": user_id,
                    "action": "taken",
                    "detail": detail,
                }
            ],
        )
    return cast(int | None, taken)
